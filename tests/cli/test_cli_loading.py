"""The CLI loads a command group's module only when one of its commands runs (docs/PERFORMANCE.md,
"CLI start"): `riskops --help` imports no group and no job module, `riskops backup create` only
the backup code. Every command a module registers is listed in `main.COMMANDS` with that module.
Checked in fresh interpreters (the test session has imported everything)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from riskops.server.cli.main import COMMANDS, load_every_group

CLI_DIR = Path(__file__).resolve().parents[2] / "server" / "cli"
NOT_GROUPS = {"__init__", "__main__", "main", "common", "jsonl"}


def _fresh(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=env
    )


def _registered(path: Path) -> set[str]:
    """The top-level names a module registers on `app`, read from its source."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        owner = node.func.value
        if not (isinstance(owner, ast.Name) and owner.id == "app"):
            continue
        if node.func.attr == "command" and node.args:
            names.add(ast.literal_eval(node.args[0]))
        elif node.func.attr == "add_typer":
            given = [k.value for k in node.keywords if k.arg == "name"]
            if given:
                names.add(ast.literal_eval(given[0]))
            else:  # the sub-app's own name=
                sub = node.args[0].id  # type: ignore[attr-defined]
                m = re.search(rf"{sub} = typer\.Typer\(\s*name=\"([^\"]+)\"", path.read_text())
                assert m, f"{path.name}: {sub} has no name"
                names.add(m.group(1))
    return names


def test_every_registered_command_is_listed_with_its_module() -> None:
    found: dict[str, str] = {}
    for path in sorted(CLI_DIR.glob("*.py")):
        if path.stem in NOT_GROUPS:
            continue
        for name in _registered(path):
            found[name] = path.stem
    listed = {name: module for name, (module, _) in COMMANDS.items()}
    assert listed == found, (
        "server/cli/main.py COMMANDS must list every command a module registers, as "
        '"name": ("module", "Its line in --help.")'
    )
    assert all(line.strip() and len(line) <= 70 for _, line in COMMANDS.values())


def test_the_complete_group_has_every_listed_command() -> None:
    group = load_every_group()
    assert list(COMMANDS) == [n for n in group.list_commands(None) if n in COMMANDS]  # type: ignore[arg-type]
    assert set(COMMANDS) <= set(group.commands)


def test_help_imports_no_group_and_no_job() -> None:
    code = (
        "import sys\n"
        "from riskops.server.cli.main import main\n"
        "sys.argv = ['riskops', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "mods = [m for m in sys.modules if m.startswith(('riskops.server.cli.', 'riskops.jobs'))]\n"
        "print('LOADED', sorted(mods))\n"
    )
    done = _fresh(code)
    assert done.returncode == 0, done.stderr
    for name in COMMANDS:
        assert name in done.stdout  # every command is listed by its line
    loaded = done.stdout.split("LOADED", 1)[1]
    assert "riskops.server.cli.common" in loaded and "riskops.server.cli.main" in loaded
    assert "riskops.jobs.catalog" not in loaded
    for module in {m for m, _ in COMMANDS.values()}:
        assert f"'riskops.server.cli.{module}'" not in loaded, module


def test_a_command_loads_its_own_module_only() -> None:
    code = (
        "import sys\n"
        "from riskops.server.cli.main import main\n"
        "sys.argv = ['riskops', 'backup', 'create', '--help']\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
        "mods = [m for m in sys.modules if m.startswith(('riskops.server.cli.', 'riskops.jobs'))]\n"
        "print('LOADED', sorted(mods))\n"
    )
    done = _fresh(code)
    assert done.returncode == 0, done.stderr
    assert "--keep-days" in done.stdout
    loaded = done.stdout.split("LOADED", 1)[1]
    assert "'riskops.server.cli.backups'" in loaded
    assert "riskops.jobs.catalog" not in loaded
    for module in {m for m, _ in COMMANDS.values()} - {"backups"}:
        assert f"'riskops.server.cli.{module}'" not in loaded, module


def test_an_unknown_command_suggests_from_every_command() -> None:
    done = _fresh(
        "import sys\nfrom riskops.server.cli.main import main\n"
        "sys.argv = ['riskops', 'bakup', 'create']\nmain()\n"
    )
    assert done.returncode == 2
    assert "No such command" in done.stderr and "'backup'" in done.stderr
