"""The artifact store: files a run produced, kept under `<var_dir>/artifacts` and moved aside to
`<var_dir>/quarantine/<org>/<run_id>/` when the run is quarantined (seed 002: "Quarantines
artifacts to runs/QUARANTINE/<run_id>/"), with their SHA-256 re-verified before release.

A run references its artifacts by URI. `artifact:<path>` is a file in this store (the ledger
import uploads local files here); any other URI (https:, s3:) is an external reference: its hash is
recorded as given, and quarantine is a state we enforce (dispatch blocked), not a file we move.

This module owns the files; who may upload or verify them, for which runs, and the audit of it
are `riskops.server.credit.artifact_checks`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from riskops.server.core.errors import Invalid
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
    if rel.is_absolute() or ".." in rel.parts or "." in rel.parts or len(rel.parts) < 2:
        raise Invalid(f"artifact URI {uri!r} must name a file inside the store.", field="uri")
    return rel


def check_owner(uri: str, org_id: int) -> None:
    """A managed artifact belongs to the organization whose folder holds it: a run may only
    reference (and so quarantine, move, release) files of its own organization."""
    rel = _relative(uri)
    if rel.parts[0] != str(org_id):
        raise Invalid(
            f"artifact URI {uri!r} is not in your organization's store; managed artifacts are "
            f"artifact:{org_id}/<run_id>/<file> (upload them with `riskops runs import`).",
            field="uri",
        )


def stored_path(uri: str) -> Path:
    return root() / _relative(uri)


def _segment(run_id: str) -> str:
    """A run id as one folder name, reversibly ("a/b" and "a_b" stay apart)."""
    return quote(run_id, safe="")


def quarantine_path(org_id: int, run_id: str, uri: str) -> str:
    """Where a managed artifact goes in quarantine, relative to the quarantine root: its whole
    path in the store under <org>/<run_id>/, so two files of one run never collide."""
    rest = PurePosixPath(*_relative(uri).parts[1:])
    return f"{org_id}/{_segment(run_id)}/{rest.as_posix()}"


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
    rel = PurePosixPath(str(org_id), _segment(run_id), source.name)
    target = root() / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return Stored(MANAGED + rel.as_posix(), sha256_of(target), target.stat().st_size)


def remove(uri: str) -> None:
    """Delete a stored file (an upload whose record was refused), and its run folder once
    empty; a file already gone is fine."""
    path = stored_path(uri)
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty (other files of the run) or already gone
        path.parent.rmdir()


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
        stored = stored_path(uri)
        if not stored.exists():
            return Check(uri, True, False, f"missing from quarantine ({qpath}) and the store")
        # The move after the commit did not happen (crash, disk): the file is still where it
        # was; it is verified there, and release leaves it in place.
        path = stored
    return _compared(uri, path, expected)


def _compared(uri: str, path: Path, expected: str | None) -> Check:
    """The file's SHA-256 against the one recorded with it (none recorded: nothing to differ)."""
    actual = sha256_of(path)
    if expected and actual != expected:
        return Check(uri, True, False, f"SHA-256 is {actual}, recorded {expected}")
    return Check(uri, True, True, f"SHA-256 {actual} verified")


def verify_stored(uri: str, expected: str | None) -> Check:
    """Re-hash a managed artifact where the store keeps it (not quarantined, or released) against
    its recorded SHA-256; a file missing from the store is a mismatch."""
    if not is_managed(uri):
        return Check(uri, False, True, "external reference: not held by riskops")
    path = stored_path(uri)
    if not path.exists():
        return Check(uri, True, False, "missing from the store")
    return _compared(uri, path, expected)


def move_back(uri: str, qpath: str) -> None:
    src = quarantine_root() / qpath
    if src.exists():
        dst = stored_path(uri)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
