"""The rooms and their import directions (docs/ARCHITECTURE.md): faces (graphql, ui, cli) →
domain services → core → models and audit; nothing imports a face but the composition root;
services enqueue jobs by name and never import job modules; and no module imports itself back
through others, not even by a function-local import.

Imports are read from the source (every `import` and `from … import` anywhere in a module,
except under `if TYPE_CHECKING:`), so a late import inside a function counts like any other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("server", "graphql", "ui", "jobs", "audit")
DOMAINS = ("core", "identity", "triage", "credit", "notify", "operations")
FACES = ("riskops.graphql", "riskops.ui", "riskops.server.cli")
COMPOSITION_ROOTS = {"riskops.server.app"}  # the only module that imports the faces


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["riskops", *parts])


def _files() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((REPO / package).rglob("*.py"))


def _type_checking(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Name | ast.Attribute)
        and "TYPE_CHECKING" in ast.unparse(node.test)
    )


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every riskops import of `path`; `from pkg import name`
    counts as importing `pkg.name` when that is a module, else `pkg`."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                continue
            if isinstance(child, ast.Import):
                found.extend((a.name, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for a in child.names:
                    sub = f"{child.module}.{a.name}"
                    found.append((sub if sub in MODULES else child.module, child.lineno))
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return [(m, line) for m, line in found if m.startswith("riskops.")]


MODULES = {_module(p): p for p in _files()}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _where(name: str, line: int) -> str:
    return f"{MODULES[name].relative_to(REPO)}:{line}"


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_graph_is_read() -> None:
    assert len(MODULES) > 100
    imported = {m for m, _ in GRAPH["riskops.server.triage.alerts"]}
    assert {"riskops.server.core.principal", "riskops.server.triage.workflow"} <= imported
    # `from riskops.server.credit import kill_switches` is an import of that module
    cli_imports = {m for m, _ in GRAPH["riskops.server.cli.controls"]}
    assert "riskops.server.credit.kill_switches" in cli_imports


@pytest.mark.parametrize("domain", DOMAINS)
def test_no_domain_imports_a_face(domain: str) -> None:
    bad = [
        f"{_where(name, line)} imports {target}"
        for name, imports in GRAPH.items()
        if _under(name, f"riskops.server.{domain}")
        for target, line in imports
        if any(_under(target, face) for face in FACES)
    ]
    assert not bad, "a domain must not know its faces:\n" + "\n".join(bad)


def test_only_the_composition_root_imports_the_faces() -> None:
    bad = [
        f"{_where(name, line)} imports {target}"
        for name, imports in GRAPH.items()
        if name not in COMPOSITION_ROOTS
        for target, line in imports
        for face in FACES
        if _under(target, face) and not _under(name, face)
    ]
    assert not bad, "only riskops.server.app composes the faces:\n" + "\n".join(bad)


def test_the_core_imports_no_domain() -> None:
    others = [d for d in DOMAINS if d != "core"] + ["cli"]
    bad = [
        f"{_where(name, line)} imports {target}"
        for name, imports in GRAPH.items()
        if _under(name, "riskops.server.core")
        for target, line in imports
        if any(_under(target, f"riskops.server.{d}") for d in others)
    ]
    assert not bad, "the shared kernel must not depend on a domain:\n" + "\n".join(bad)


def test_services_enqueue_by_name_and_import_no_job_module() -> None:
    # A domain's own job functions live in its `jobs.py` (or `delivery.py` for the outbox);
    # everything else of a domain reaches the queue through riskops.jobs.runner only.
    allowed = {"riskops.jobs.runner", "riskops.jobs.registry", "riskops.jobs.models"}
    bad = [
        f"{_where(name, line)} imports {target}"
        for name, imports in GRAPH.items()
        if any(_under(name, f"riskops.server.{d}") for d in DOMAINS)
        for target, line in imports
        if (_under(target, "riskops.jobs") and target not in allowed)
        or (target.endswith(".jobs") and _under(target, "riskops.server") and target != name)
    ]
    assert not bad, "services enqueue jobs by name (riskops.jobs.runner):\n" + "\n".join(bad)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w, _ in GRAPH.get(v, []):
            if w not in MODULES:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(MODULES):
        if v not in index:
            strong(v)
    return found


def test_no_import_cycles() -> None:
    described = []
    for component in _cycles():
        members = set(component)
        edges = [
            f"  {_where(a, line)} imports {b}"
            for a in component
            for b, line in GRAPH[a]
            if b in members
        ]
        described.append(" ↔ ".join(component) + "\n" + "\n".join(edges))
    assert not described, "import cycles:\n" + "\n\n".join(described)


def test_each_process_registers_every_job_kind_itself() -> None:
    # A process that can enqueue must know every kind, whatever else it happens to import (the
    # test session imports the catalog in conftest, so this is checked in fresh interpreters).
    # The web app and the arq worker import the catalog at start. The CLI does not (each command
    # loads only its own modules, docs/PERFORMANCE.md "CLI start"): the runner loads the catalog
    # itself the first time it creates or runs a job, which is what is checked for the CLI, on
    # the enqueue path.
    import subprocess
    import sys

    from riskops.jobs.catalog import kinds

    def fresh(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout.strip()

    for root in ("riskops.server.app", "riskops.jobs.worker"):
        code = f"import {root}\nfrom riskops.jobs import registry as r\n"
        code += "print(*sorted(r.JOBS), sep=',')"
        assert fresh(code) == ",".join(kinds()), root
        listed = [m for m, _ in GRAPH[root]]
        assert "riskops.jobs.catalog" in listed, f"{root} must import riskops.jobs.catalog"
    code = (
        "import asyncio, sys, riskops.server.cli.main\n"
        "assert 'riskops.jobs.catalog' not in sys.modules, 'the CLI imports the catalog at start'\n"
        "from riskops.jobs import runner\n"
        "try:\n    asyncio.run(runner.create_job('no.such.kind'))\n"
        "except ValueError as exc:\n    print(exc)\n"
    )
    refused = fresh(code)
    assert all(k in refused for k in kinds()), refused
    assert "riskops.jobs.catalog" not in [m for m, _ in GRAPH["riskops.server.cli.main"]]
