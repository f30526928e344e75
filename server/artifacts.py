"""The artifact store: files a run produced, kept under `<var_dir>/artifacts` and moved aside to
`<var_dir>/quarantine/<org>/<run_id>/` when the run is quarantined (seed 002: "Quarantines
artifacts to runs/QUARANTINE/<run_id>/"), with their SHA-256 re-verified before release.

A run references its artifacts by URI. `artifact:<path>` is a file in this store (the ledger
import uploads local files here); any other URI (https:, s3:) is an external reference: its hash is
recorded as given, and quarantine is a state we enforce (dispatch blocked), not a file we move.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from riskops.server.errors import Invalid
from riskops.server.settings import get_settings

MANAGED = "artifact:"
CHUNK = 1 << 20


def root() -> Path:
    return get_settings().var_dir / "artifacts"


def quarantine_root() -> Path:
    return get_settings().var_dir / "quarantine"


def is_managed(uri: str) -> bool:
    return uri.startswith(MANAGED)


def _relative(uri: str) -> PurePosixPath:
    rel = PurePosixPath(uri[len(MANAGED) :])
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise Invalid(f"artifact URI {uri!r} must name a file inside the store.", field="uri")
    return rel


def stored_path(uri: str) -> Path:
    return root() / _relative(uri)


def quarantine_path(org_id: int, run_id: str, uri: str) -> str:
    """Where a managed artifact goes in quarantine, relative to the quarantine root."""
    safe_run = run_id.replace("/", "_")
    return f"{org_id}/{safe_run}/{_relative(uri).name}"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Stored:
    uri: str
    sha256: str
    size: int


def upload(org_id: int, run_id: str, source: Path) -> Stored:
    """Copy a local file into the store (`artifact:<org>/<run_id>/<name>`) with its hash."""
    safe_run = run_id.replace("/", "_")
    rel = PurePosixPath(str(org_id), safe_run, source.name)
    target = root() / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return Stored(MANAGED + rel.as_posix(), sha256_of(target), target.stat().st_size)


def move_to_quarantine(uri: str, qpath: str) -> bool:
    """Move a managed file aside; False when it is not in the store (already moved, or never
    uploaded), which leaves the quarantine logical."""
    src = stored_path(uri)
    dst = quarantine_root() / qpath
    if not src.exists():
        return dst.exists()
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)
    return True


@dataclass(frozen=True)
class Check:
    uri: str
    held: bool  # a managed file we hold in quarantine
    ok: bool
    detail: str


def verify_quarantined(uri: str, qpath: str | None, expected: str | None) -> Check:
    """Re-verify a quarantined artifact's SHA-256 before release."""
    if not is_managed(uri) or qpath is None:
        return Check(uri, False, True, "external reference: not held by riskops")
    path = quarantine_root() / qpath
    if not path.exists():
        return Check(uri, True, False, f"missing from quarantine ({qpath})")
    actual = sha256_of(path)
    if expected is not None and actual != expected:
        return Check(uri, True, False, f"SHA-256 is {actual}, recorded {expected}")
    return Check(uri, True, True, f"SHA-256 {actual} verified")


def move_back(uri: str, qpath: str) -> None:
    src = quarantine_root() / qpath
    if src.exists():
        dst = stored_path(uri)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
