"""Structural tenancy: no code starts a query on an organization's data except through
`riskops.server.core.scoping.scoped` (see that module for the rule and its exceptions).

The test needs no database. It reads the Tortoise models to find what an organization owns, then
walks the product code (`server/`, `graphql/`, `ui/`, `jobs/`) with `ast` and names, file and
line, every query that starts on such a model directly (`Alert.filter(...)`,
`models.User.get(...)`, `Run.select_for_update()...`, `Subquery(RuleHit.filter(...))`, or a
generic `model.filter(...)` on a `type[...]` parameter) instead of on `scoped(...)`.

- Owned by an organization: every model with an `org` foreign key or an `org_id` column, and
  the organization model itself (the target of those keys, scoped by its own id).
- Child rows (no organization column of their own, a non-null key to an owned row: rule hits,
  signals, info requests, case notes, case links, run artifacts) are reached through their parent:
  their query must filter on that key (`alert_id=...`, `run_id__in=...`, `run__org_id=...`) with
  the id of a row read through `scoped` (the test can check the key, not where its value came
  from).
- Creating rows (`create`, `bulk_create`) is not a query: the new row's organization is the one
  the service passes in, and no row of another organization can be read or changed that way.
- Instance methods (`row.save()`, `row.delete()`, `row.fetch_related(...)`, reverse relations
  such as `case.notes`) act on a row that was itself read through `scoped`.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from tortoise.fields.relational import ForeignKeyFieldInstance, OneToOneFieldInstance
from tortoise.models import Model
from tortoise.queryset import QuerySet

from riskops.server.core.scoping import UNSCOPED_QUERIES
from riskops.server.settings import MODEL_MODULES

ROOT = Path(__file__).resolve().parents[2]
WALKED = ("server", "graphql", "ui", "jobs")
SKIPPED_DIRS = {"tests", "bench", "migrations", "templates", "static", "__pycache__"}

# Model classmethods that start no query of their own: creating rows, describing the model, and
# `fetch_for_list` (the relations of rows already read, like `row.fetch_related`). Every other
# public classmethod of `Model` starts a query, so one that a new Tortoise version adds is
# checked without anyone updating this list.
NOT_QUERIES = {
    "create", "bulk_create", "construct", "describe", "get_table", "register_listener",
    "fetch_for_list",
}  # fmt: skip
QUERY_METHODS = {
    name
    for name, attr in vars(Model).items()
    if isinstance(attr, classmethod) and not name.startswith("_") and name not in NOT_QUERIES
}


# The manager every Model query starts from (Tortoise's `objects`), and its query builders.
MANAGER_ATTRS = {"manager", "basequery", "basequery_all_fields"}


# --- what an organization owns, from the models themselves -------------------------------------


def _models() -> dict[str, type[Model]]:
    found: dict[str, type[Model]] = {}
    for module_name in MODEL_MODULES:
        module = importlib.import_module(module_name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, Model) and obj.__module__ == module_name:
                found[name] = obj
    return found


MODELS = _models()


def _target(field: Any) -> type[Model]:
    # Before Tortoise.init a relation names its model as "app.Name"; no database is needed here.
    return MODELS[field.model_name.split(".")[-1]]


def _relations(model: type[Model]) -> Iterator[tuple[str, Any]]:
    for name, field in model._meta.fields_map.items():
        if isinstance(field, ForeignKeyFieldInstance | OneToOneFieldInstance):
            yield name, field


def _owned() -> set[type[Model]]:
    owned = {
        m for m in MODELS.values() if "org_id" in m._meta.fields_map or "org" in m._meta.fk_fields
    }
    tenants = {_target(f) for m in owned for n, f in _relations(m) if n == "org"}
    return owned | tenants


def _children(owned: set[type[Model]]) -> dict[type[Model], set[str]]:
    """Each model without an organization column of its own, with its non-null keys to rows that
    are owned (or children themselves, transitively)."""
    children: dict[type[Model], set[str]] = {}
    changed = True
    while changed:
        changed = False
        for model in MODELS.values():
            if model in owned:
                continue
            parents = {
                name
                for name, field in _relations(model)
                if not field.null and (_target(field) in owned or _target(field) in children)
            }
            if parents and children.get(model) != parents:
                children[model] = parents
                changed = True
    return children


OWNED = _owned()
CHILDREN = _children(OWNED)


def test_the_owned_set_is_computed_from_the_models() -> None:
    names = {m.__name__ for m in OWNED}
    # A few that must be there whatever else is added: a direct FK, a bare org_id column, the
    # tenant itself, and a nullable org_id (jobs).
    assert {"Alert", "AlertEvent", "Organization", "Job", "AuditEvent", "Session"} <= names
    assert "LoginFailure" not in names
    children = {m.__name__: p for m, p in CHILDREN.items()}
    assert (
        children.items()
        >= {
            "RuleHit": {"alert"},
            "SignalContribution": {"alert"},
            "InfoRequest": {"alert"},
            "CaseNote": {"case"},
            "CaseAlert": {"case", "alert"},
            "RunArtifact": {"run"},
        }.items()
    )
    assert not {m.__name__ for m in OWNED} & set(children)


# --- walking the code --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bypass:
    path: str
    line: int
    function: str
    what: str

    @property
    def key(self) -> str:
        return f"{self.path}:{self.function}"

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what} in {self.function}()"


def _files() -> Iterator[Path]:
    for top in WALKED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts):
                yield path


def _module_name(path: Path) -> str:
    parts = ["riskops", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class _Walker(ast.NodeVisitor):
    def __init__(self, path: Path, tree: ast.Module) -> None:
        self.rel = path.relative_to(ROOT).as_posix()
        self.package = _module_name(path)
        if path.name != "__init__.py":
            self.package = self.package.rpartition(".")[0]
        self.names = self._imports(tree)
        self.stack: list[str] = []
        self.generic: list[set[str]] = []  # per function: parameters annotated type[...]
        self.found: list[Bypass] = []

    def _imports(self, tree: ast.Module) -> dict[str, Any]:
        # Function-local imports count too: the CLI imports models inside its commands.
        names: dict[str, Any] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        names[alias.asname] = _import(alias.name)
                    else:
                        top = alias.name.split(".")[0]
                        names[top] = _import(top)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = self.package.rsplit(".", node.level - 1)[0]
                    base = f"{pkg}.{base}" if base else pkg
                module = _import(base)
                for alias in node.names:
                    value = getattr(module, alias.name, None) if module else None
                    if value is None:
                        value = _import(f"{base}.{alias.name}")
                    names[alias.asname or alias.name] = value
        return names

    def _resolve(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Name):
            return self.names.get(node.id)
        if isinstance(node, ast.Attribute):
            owner = self._resolve(node.value)
            if isinstance(owner, ModuleType):
                return getattr(owner, node.attr, None)
        return None

    def _function(self) -> str:
        return ".".join(self.stack) or "<module>"

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        args = node.args
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        self.generic.append(
            {
                a.arg
                for a in params
                if isinstance(a.annotation, ast.Subscript)
                and isinstance(a.annotation.value, ast.Name)
                and a.annotation.value.id == "type"
            }
        )
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()
        self.generic.pop()

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def _flag(self, node: ast.expr, what: str) -> None:
        self.found.append(Bypass(self.rel, node.lineno, self._function(), what))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in QUERY_METHODS:
            what = self._bypass(func.value, func.attr, node)
            if what:
                self._flag(node, what)
        # QuerySet(Model) built by hand.
        queryset = self._resolve(func)
        if inspect.isclass(queryset) and issubclass(queryset, QuerySet) and node.args:
            model = self._resolve(node.args[0])
            if model in OWNED or model in CHILDREN:
                self._flag(node, f"{queryset.__name__}({model.__name__}) built by hand")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        # Model._meta.manager (Tortoise's `objects`) and the query builders behind it.
        meta = node.value
        if node.attr in MANAGER_ATTRS and isinstance(meta, ast.Attribute) and meta.attr == "_meta":
            model = self._resolve(meta.value)
            if model in OWNED or model in CHILDREN:
                self._flag(node, f"{model.__name__}._meta.{node.attr} used directly")
        self.generic_visit(node)

    def _bypass(self, receiver: ast.expr, method: str, call: ast.Call) -> str | None:
        if isinstance(receiver, ast.Name) and self.generic and receiver.id in self.generic[-1]:
            return f"{receiver.id}.{method}() on a type[...] parameter"
        model = self._resolve(receiver)
        if not inspect.isclass(model):
            return None
        if model in OWNED:
            return f"{model.__name__}.{method}() on an organization-owned model"
        if model in CHILDREN:
            parents = CHILDREN[model]
            by_parent = any(
                kw.arg and kw.arg.split("__")[0] in parents | {f"{p}_id" for p in parents}
                for kw in call.keywords
            )
            if not by_parent:
                keys = " or ".join(sorted(f"{p}_id" for p in parents))
                return f"{model.__name__}.{method}() on a child row not filtered by {keys}"
        return None


@cache
def _bypasses() -> tuple[Bypass, ...]:
    found: list[Bypass] = []
    for path in _files():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        walker = _Walker(path, tree)
        walker.visit(tree)
        found += walker.found
    return tuple(found)


def test_every_query_of_an_organizations_data_goes_through_scoped() -> None:
    unlisted = [str(b) for b in _bypasses() if b.key not in UNSCOPED_QUERIES]
    if unlisted:
        pytest.fail(
            "These queries start on an organization's data without scoping.scoped(), so an id "
            "of another organization may not read like a missing one. Start them on "
            "scoped(Model, principal) or scoped(Model, org_id=...); or, when working across "
            "organizations is the point, list the function with its reason in UNSCOPED_QUERIES "
            "(server/core/scoping.py):\n" + "\n".join(unlisted),
            pytrace=False,
        )


def test_every_listed_exception_still_matches_code() -> None:
    used = {b.key for b in _bypasses()}
    stale = sorted(set(UNSCOPED_QUERIES) - used)
    if stale:
        pytest.fail(
            "UNSCOPED_QUERIES (server/core/scoping.py) lists functions that no longer query "
            "unscoped (moved, renamed or fixed): remove them so the list stays true:\n"
            + "\n".join(stale),
            pytrace=False,
        )


def test_every_exception_gives_a_reason() -> None:
    assert all(len(reason.split()) >= 4 for reason in UNSCOPED_QUERIES.values())


def test_the_walker_finds_each_kind_of_bypass() -> None:
    """The detector itself: each way of starting a query is seen; the entry point, a child row
    filtered by its parent and creating a row are not."""
    source = """
from riskops.server.triage.models import Alert, RuleHit
from riskops.server.triage import models as tm
from riskops.server.core.scoping import scoped
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

async def f(principal, conn, model: type[Alert]):
    await Alert.filter(id=1)
    await tm.Case.get(id=1)
    await Alert.select_for_update().using_db(conn).get(id=1)
    Subquery(RuleHit.filter(rule_id="R").values("alert_id"))
    await model.filter(id=1)
    await Alert._meta.manager.get_queryset().filter(id=1)
    await QuerySet(tm.Case).filter(id=1)
    await scoped(Alert, principal).filter(id=1)
    await scoped(tm.Alert, org_id=1).select_for_update().using_db(conn).get(id=1)
    await RuleHit.filter(alert_id__in=[1])
    await Alert.create(org_id=1)
"""
    tree = ast.parse(source)
    walker = _Walker(ROOT / "server" / "_probe.py", tree)
    walker.visit(tree)
    assert [str(b) for b in walker.found] == [
        "server/_probe.py:9: Alert.filter() on an organization-owned model in f()",
        "server/_probe.py:10: Case.get() on an organization-owned model in f()",
        "server/_probe.py:11: Alert.select_for_update() on an organization-owned model in f()",
        "server/_probe.py:12: RuleHit.filter() on a child row not filtered by alert_id in f()",
        "server/_probe.py:13: model.filter() on a type[...] parameter in f()",
        "server/_probe.py:14: Alert._meta.manager used directly in f()",
        "server/_probe.py:15: QuerySet(Case) built by hand in f()",
    ]
