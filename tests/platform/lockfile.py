"""The lock files and the one thing they must agree with: pyproject.toml's dependency lists.

`make lock` resolves pyproject.toml into two hash-pinned files:
- requirements/lock.txt: the app with every extra (test, dev, lock), the installer (pip) and
  the build backend ([build-system]): everything `make install` puts into .venv;
- requirements/lock-prod.txt: the app alone at the same versions: what the Docker image installs.

Then it stamps both with a digest of the lists it resolved. `make check` and test_lock.py
recompute the digest without any network, so a dependency edited in pyproject.toml without
`make lock` fails CI with a message that says so.

The Makefile runs this file as a script (`inputs`, `tool`, `stamp`, `check`): standard library
only, since `make lock` runs it in a .venv that holds nothing yet.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements" / "lock.txt"
LOCK_PROD = ROOT / "requirements" / "lock-prod.txt"
LOCKS = (LOCK, LOCK_PROD)

# Locked with the app so that the installer is the same everywhere too (a fresh venv's bundled
# pip differs between Python patch releases).
INSTALLER = ("pip",)
# The extra that pins the lock tool (see pyproject.toml).
TOOL_EXTRA = "lock"

DIGEST_PREFIX = "# pyproject-digest: sha256:"
STAMP_NOTE = (
    "#   (a digest of pyproject.toml's dependency lists: `make check` and the tests compare it;",
    "#   pip, setuptools and wheel, without a 'via', are the installer and the [build-system])",
)
FIX = (
    "Run `make lock` (it needs the package registry), then commit pyproject.toml and requirements/."
)


def lock_inputs(pyproject: Path = PYPROJECT) -> dict[str, object]:
    """Every list `make lock` resolves, as read from pyproject.toml (plus the installer)."""
    data = tomllib.loads(pyproject.read_text())
    project = data["project"]
    return {
        "requires-python": project.get("requires-python", ""),
        "dependencies": sorted(project.get("dependencies", [])),
        "optional-dependencies": {
            extra: sorted(reqs) for extra, reqs in project.get("optional-dependencies", {}).items()
        },
        "build-system": sorted(data.get("build-system", {}).get("requires", [])),
        "installer": list(INSTALLER),
    }


def digest(pyproject: Path = PYPROJECT) -> str:
    # Only the dependency lists count: editing ruff's or pytest's settings needs no new lock.
    canonical = json.dumps(lock_inputs(pyproject), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def extra_inputs(pyproject: Path = PYPROJECT) -> list[str]:
    """What `make lock` resolves besides pyproject's [project] lists: build backend, installer."""
    data = tomllib.loads(pyproject.read_text())
    return [*sorted(data.get("build-system", {}).get("requires", [])), *INSTALLER]


def tool(pyproject: Path = PYPROJECT) -> str:
    project = tomllib.loads(pyproject.read_text())["project"]
    (pin,) = project["optional-dependencies"][TOOL_EXTRA]
    return str(pin)


def recorded_digest(lock: Path) -> str | None:
    for line in lock.read_text().splitlines():
        if line.startswith(DIGEST_PREFIX):
            return line.removeprefix(DIGEST_PREFIX).strip()
    return None


def stamp(lock: Path, pyproject: Path = PYPROJECT) -> None:
    """Write the digest under uv's header (uv rewrites the whole file on every `make lock`)."""
    lines = [
        line
        for line in lock.read_text().splitlines()
        if not line.startswith(DIGEST_PREFIX) and line not in STAMP_NOTE
    ]
    header_end = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    lines[header_end:header_end] = [f"{DIGEST_PREFIX}{digest(pyproject)}", *STAMP_NOTE]
    lock.write_text("\n".join(lines) + "\n")


def problems(locks: tuple[Path, ...] = LOCKS, pyproject: Path = PYPROJECT) -> list[str]:
    """Why the locks do not match pyproject.toml, one sentence each; empty when they do."""
    expected = digest(pyproject)
    found = []
    for lock in locks:
        name = lock.relative_to(ROOT) if lock.is_relative_to(ROOT) else lock
        if not lock.exists():
            found.append(f"{name} is missing. {FIX}")
        elif recorded_digest(lock) != expected:
            found.append(
                f"{name} is out of date: pyproject.toml's dependencies changed since it was "
                f"made. {FIX}"
            )
    return found


def main(argv: list[str]) -> int:
    command, *args = argv or ["check"]
    if command == "inputs":
        print("\n".join(extra_inputs()))
    elif command == "tool":
        print(tool())
    elif command == "stamp":
        for path in args:
            stamp(Path(path))
    elif command == "check":
        found = problems()
        for problem in found:
            print(problem, file=sys.stderr)
        return 1 if found else 0
    else:
        print(f"usage: {Path(__file__).name} inputs|tool|stamp LOCK...|check", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
