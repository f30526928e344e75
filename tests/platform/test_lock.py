"""Reproducible installs: the hash-pinned locks agree with pyproject.toml, offline.

`make install` and the Docker image install only what requirements/lock.txt and
requirements/lock-prod.txt pin. These tests fail, naming `make lock`, when pyproject.toml's
dependency lists were edited without locking again, or when a lock cannot serve them.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.platform import lockfile
from tests.platform.lockfile import FIX, LOCK, LOCK_PROD, PYPROJECT, ROOT


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: tuple[str, ...]

    def applies(self, env: dict[str, str]) -> bool:
        return self.marker is None or self.marker.evaluate(env)


PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][\w.-]*)==(?P<version>[^\s;\\]+)\s*(?:;(?P<marker>[^\\]+))?"
)


def read_lock(lock: Path) -> list[Pin]:
    """The pins of a lock written by `make lock`: `name==version ; marker \\` and its hashes."""
    pins: list[Pin] = []
    for line in lock.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("--hash="):
            assert pins, f"{lock.name}: a hash before any pin: {line!r}"
            last = pins.pop()
            digest = stripped.removeprefix("--hash=").rstrip(" \\")
            pins.append(Pin(last.name, last.version, last.marker, (*last.hashes, digest)))
            continue
        match = PIN.match(line)
        assert match, f"{lock.name}: not an exact pin: {line!r}. {FIX}"
        marker = Marker(match["marker"].strip()) if match["marker"] else None
        pins.append(Pin(canonicalize_name(match["name"]), Version(match["version"]), marker, ()))
    return pins


def platform(sys_platform: str, machine: str, python: str) -> dict[str, str]:
    system, os_name = {"linux": ("Linux", "posix"), "darwin": ("Darwin", "posix"),
                       "win32": ("Windows", "nt")}[sys_platform]  # fmt: skip
    return {
        **default_environment(),
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "sys_platform": sys_platform,
        "platform_system": system,
        "os_name": os_name,
        "platform_machine": machine,
        "python_version": python,
        "python_full_version": f"{python}.0",
    }


# The platforms a lock must serve: this machine, the Docker image (Linux, the oldest Python we
# support), a developer's Mac, Windows (where uvloop does not exist), a newer Python on ARM.
ENVIRONMENTS = {
    "here": default_environment(),
    "linux-3.11": platform("linux", "x86_64", "3.11"),
    "linux-3.14-arm": platform("linux", "aarch64", "3.14"),
    "macos-3.12": platform("darwin", "arm64", "3.12"),
    "windows-3.13": platform("win32", "AMD64", "3.13"),
}


def pyproject_requirements(*, extras: bool) -> list[Requirement]:
    data = tomllib.loads(PYPROJECT.read_text())
    reqs = list(data["project"]["dependencies"])
    if extras:
        for group in data["project"].get("optional-dependencies", {}).values():
            reqs += group
    reqs += lockfile.extra_inputs()  # the build backend and the installer are locked too
    return [Requirement(r) for r in reqs]


def installed_by(pins: list[Pin], env: dict[str, str]) -> dict[str, Pin]:
    chosen: dict[str, Pin] = {}
    for pin in pins:
        if pin.applies(env):
            assert pin.name not in chosen, (
                f"two pins of {pin.name} apply on the same platform: {chosen[pin.name]} and "
                f"{pin}. {FIX}"
            )
            chosen[pin.name] = pin
    return chosen


LOCKS = {"lock.txt": (LOCK, True), "lock-prod.txt": (LOCK_PROD, False)}


def test_the_locks_record_the_digest_of_pyprojects_dependency_lists():
    problems = lockfile.problems()
    assert not problems, "\n".join(problems)


def test_a_changed_dependency_list_is_caught_with_the_fix(tmp_path):
    # The check itself: edit a range in a copy of pyproject.toml and the stamped locks disagree.
    edited = tmp_path / "pyproject.toml"
    edited.write_text(PYPROJECT.read_text().replace('"jinja2>=3.1"', '"jinja2>=3.2"', 1))
    assert edited.read_text() != PYPROJECT.read_text()
    problems = lockfile.problems(pyproject=edited)
    assert len(problems) == 2
    assert all("out of date" in p and "make lock" in p for p in problems), problems
    # ...while settings outside the dependency lists need no new lock.
    edited.write_text(PYPROJECT.read_text().replace("line-length = 100", "line-length = 99", 1))
    assert lockfile.problems(pyproject=edited) == []


@pytest.mark.parametrize("lock_name", LOCKS)
@pytest.mark.parametrize("platform", ENVIRONMENTS)
def test_every_requirement_of_pyproject_is_pinned_in_the_lock(lock_name, platform):
    lock, extras = LOCKS[lock_name]
    env = ENVIRONMENTS[platform]
    chosen = installed_by(read_lock(lock), env)
    for req in pyproject_requirements(extras=extras):
        name = canonicalize_name(req.name)
        if req.marker is not None and not req.marker.evaluate({**env, "extra": ""}):
            # pyproject's platform markers survive locking (uvloop: not on Windows).
            assert name not in chosen, (
                f"{lock_name} installs {name} on {platform}, where pyproject.toml says "
                f"'{req.marker}'. {FIX}"
            )
            continue
        assert name in chosen, f"{lock_name} has no pin of {req} for {platform}. {FIX}"
        assert req.specifier.contains(chosen[name].version, prereleases=True), (
            f"{lock_name} pins {name}=={chosen[name].version}, outside pyproject's {req}. {FIX}"
        )


@pytest.mark.parametrize("lock_name", LOCKS)
def test_every_pin_is_exact_and_hashed(lock_name):
    lock, _ = LOCKS[lock_name]
    pins = read_lock(lock)
    assert pins
    for pin in pins:
        assert pin.hashes and all(h.startswith("sha256:") for h in pin.hashes), (
            f"{lock_name}: {pin.name} has no sha256 hash (pip --require-hashes refuses it). {FIX}"
        )


def test_uvloop_keeps_its_platform_marker():
    for lock, _ in LOCKS.values():
        (uvloop,) = [p for p in read_lock(lock) if p.name == "uvloop"]
        assert uvloop.applies(ENVIRONMENTS["linux-3.11"])
        assert not uvloop.applies(ENVIRONMENTS["windows-3.13"])


def test_the_prod_lock_is_the_apps_part_of_the_full_lock():
    full = {(p.name, p.version, str(p.marker)) for p in read_lock(LOCK)}
    prod = read_lock(LOCK_PROD)
    strays = [p for p in prod if (p.name, p.version, str(p.marker)) not in full]
    assert not strays, f"lock-prod.txt pins versions lock.txt does not: {strays}. {FIX}"
    runtime = {canonicalize_name(r.name) for r in pyproject_requirements(extras=False)}
    tools = {canonicalize_name(r.name) for r in pyproject_requirements(extras=True)} - runtime
    # The image carries no test or dev tool (pytest, playwright, mypy, ruff, uv...).
    assert not tools & {p.name for p in prod}, sorted(tools & {p.name for p in prod})


def test_the_prod_lock_holds_every_package_the_app_imports():
    # The image installs lock-prod.txt only: a package the app imports but pyproject lists only
    # as a test or dev tool (httpx once was) would break it at its first start.
    providers = metadata.packages_distributions()
    prod = {p.name for p in read_lock(LOCK_PROD)}
    missing: dict[str, str] = {}
    for folder in ("server", "graphql", "ui", "jobs", "audit", "migrations"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.partition(".")[0]
                    if top in sys.stdlib_module_names or top == "riskops":
                        continue
                    dists = {canonicalize_name(d) for d in providers.get(top, [top])}
                    if not dists & prod:
                        where = f"{path.relative_to(ROOT)}:{node.lineno}"
                        missing.setdefault(top, where)
    assert not missing, (
        f"the app imports what the production lock lacks: {missing}. Add it to [project] "
        f"dependencies in pyproject.toml, then `make lock`."
    )


def test_this_environment_is_installed_from_the_lock():
    # `make install` installs lock.txt exactly; a different version here means .venv was
    # installed some other way (or before the lock changed).
    chosen = installed_by(read_lock(LOCK), default_environment())
    wrong = {}
    for name, pin in chosen.items():
        try:
            have = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            have = None
        if have != pin.version:
            wrong[name] = f"{have} instead of {pin.version}"
    assert not wrong, f"{wrong}: run `make install` (it installs requirements/lock.txt)"
