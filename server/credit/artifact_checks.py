"""Artifacts as service operations, the same for every face: uploading the local files a ledger
record names into the organization's store (`run.record`), and re-hashing the files riskops holds
against their recorded SHA-256 (`run.read`; seed 002's daily "Check SHA-256 integrity of recent
runs"), which is a data-access event whose risk is HIGH when any file differs.

`riskops.server.credit.artifacts` owns the files themselves (paths, hashing, quarantine moves);
this module owns who may do it, for which runs (the caller's organization only) and the audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise.expressions import Subquery

from riskops.audit.chain import format_ts
from riskops.audit.types import RiskLevel
from riskops.server.core.audit_trail import access
from riskops.server.core.errors import DomainError, Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit import artifacts, ledger, runs
from riskops.server.credit.models import Run, RunArtifact

MAX_DAYS = 3650
# Mismatches named one by one in the audit event (the counts are always complete): an event
# stays small even when a whole store went bad.
MAX_NAMED = 20


# --------------------------------------------------------------------------- runs by ledger id


# --------------------------------------------------------------------------- upload


def _spelling(record: Mapping[str, Any], name: str) -> list[str]:
    """The keys the record may use for the canonical field `name` (ours, then the seed's)."""
    return [k for k in (name, *ledger.ALIASES[name]) if k in record]


async def upload_local_artifacts(
    principal: Principal, record: Any, base: Path, line: int, copied_out: list[str] | None = None
) -> Any:
    """A ledger record (as read: our field names or the seed's) whose artifacts are given as
    local file paths, relative to the ledger's folder `base` and inside it: each file is copied
    into the organization's store and referenced by its `artifact:` URI with its SHA-256 (a hash
    the record gives must match). Returns the record to record; `line` names a run without an id
    (the recording refuses that record anyway).

    A run the organization recorded before is left alone: importing a ledger again must not put a
    quarantined run's file back into the store. Another organization's run of the same id is no
    different from a new one: the files go into the caller's store. A refused record leaves no
    file behind; `copied_out` gets the URIs copied, for the caller to discard when the record
    is refused later (`discard_uploads`)."""
    principal.require(Perm.RUN_RECORD)
    if not isinstance(record, dict):
        return record
    keys = _spelling(record, "artifacts")
    key = keys[0] if keys else "artifacts"
    items = record.get(key)
    if not isinstance(items, list):
        return record
    given_ids = [record[k] for k in _spelling(record, "run_id") if record[k]]
    run_id = str(given_ids[0]) if given_ids else f"line-{line}"
    if await scoped(Run, principal).filter(run_id=run_id).exists():
        return record
    uploaded = []
    copied: list[str] = []
    try:
        for item in items:
            uri = item.get("uri") if isinstance(item, dict) else None
            if isinstance(uri, str) and ":" not in uri.split("/", 1)[0]:
                item = _upload(principal.org_id, run_id, base, uri, item.get("sha256"), key)
                copied.append(item["uri"])
            uploaded.append(item)
    except Invalid:
        # A refused record leaves nothing behind: the files of this record copied so far go.
        discard_uploads(copied)
        raise
    if copied_out is not None:
        copied_out.extend(copied)
    return {**record, key: uploaded}


def discard_uploads(uris: list[str]) -> None:
    """Remove files uploaded for records that were then refused: a refused ledger line leaves
    nothing in the store (`copied_out` of `upload_local_artifacts` names them)."""
    for uri in uris:
        artifacts.remove(uri)


def _upload(org_id: int, run_id: str, base: Path, uri: str, given: Any, key: str) -> Any:
    """One local file (a path without a scheme) into the store, with its hash checked."""
    root = base.resolve()
    path = (root / uri).resolve()
    if not path.is_relative_to(root):
        raise Invalid(
            f"artifact {uri!r}: only files in the ledger's folder are uploaded.", field=key
        )
    if not path.is_file():
        raise Invalid(f"artifact {uri!r}: no such file next to the ledger.", field=key)
    # The hash is checked on the file as read before it is copied, and again on the copy (the
    # file may change meanwhile): a mismatch copies nothing, or removes the copy.
    source_sha = artifacts.sha256_of(path)
    if given and str(given).lower() != source_sha:
        raise Invalid(
            f"artifact {uri!r}: SHA-256 is {source_sha}, the ledger says {given}.", field=key
        )
    stored = artifacts.upload(org_id, run_id, path)
    if given and str(given).lower() != stored.sha256:
        artifacts.remove(stored.uri)
        raise Invalid(
            f"artifact {uri!r}: SHA-256 is {stored.sha256}, the ledger says {given}.", field=key
        )
    return {"uri": stored.uri, "sha256": stored.sha256}


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class ArtifactCheck:
    artifact_id: int
    run_id: str  # the run's ledger id
    uri: str
    quarantined: bool  # checked where quarantine holds it (not released)
    ok: bool
    detail: str  # "SHA-256 <hex>…", or what is wrong


@dataclass(frozen=True)
class ArtifactVerification:
    checks: list[ArtifactCheck]

    @property
    def mismatches(self) -> list[ArtifactCheck]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _check(a: RunArtifact, run_id: str) -> ArtifactCheck:
    held = a.quarantine_path is not None and a.released_at is None
    try:
        if held:
            found = artifacts.verify_quarantined(a.uri, a.quarantine_path, a.sha256 or None)
        else:
            found = artifacts.verify_stored(a.uri, a.sha256 or None)
    except DomainError as exc:  # a recorded URI the store cannot resolve: report, go on
        return ArtifactCheck(a.id, run_id, a.uri, held, False, exc.message)
    return ArtifactCheck(a.id, run_id, a.uri, held, found.ok, found.detail)


def _outcome(result: ArtifactVerification) -> tuple[dict[str, Any], RiskLevel]:
    bad = result.mismatches
    detail: dict[str, Any] = {
        "checked": len(result.checks),
        "mismatches": len(bad),
        "mismatched": [
            {"run_id": c.run_id, "uri": c.uri, "detail": c.detail} for c in bad[:MAX_NAMED]
        ],
    }
    # A file that no longer has its recorded hash was changed or lost: a security signal.
    return detail, RiskLevel.HIGH if bad else RiskLevel.LOW


async def verify_recent_artifacts(principal: Principal, days: int) -> ArtifactVerification:
    """Re-hash every file riskops holds (in the store or in quarantine) for the organization's
    runs recorded in the last `days` days; external references are not held, so not checked.
    Audited as `artifact.verify` on the organization, naming the window and the outcome."""
    principal.require(Perm.RUN_READ)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise Invalid(f"days must be a whole number from 1 to {MAX_DAYS}.", field="days")
    since = datetime.now(UTC) - timedelta(days=days)
    recent = scoped(Run, principal).filter(recorded_at__gte=since).values("id")
    rows = (
        await RunArtifact.filter(run_id__in=Subquery(recent))
        .select_related("run")
        .order_by("run_id", "id")
    )
    result = ArtifactVerification(
        [_check(a, a.run.run_id) for a in rows if artifacts.is_managed(a.uri)]
    )
    detail, risk = _outcome(result)
    detail = {"days": days, "since": format_ts(since), **detail}
    await access(
        principal, "artifact.verify", "organization", principal.org_id, detail=detail, risk=risk
    )
    return result


async def verify_run_artifacts(principal: Principal, run_id: str) -> ArtifactVerification:
    """Re-hash the files riskops holds for one run of the organization (by its ledger id), as
    `runs show` does for its quarantined files. Audited as `artifact.verify` on the run."""
    run = await runs.get_run_by_run_id(principal, run_id)
    rows = await RunArtifact.filter(run_id=run.id).order_by("id")
    result = ArtifactVerification(
        [_check(a, run.run_id) for a in rows if artifacts.is_managed(a.uri)]
    )
    detail, risk = _outcome(result)
    detail = {"run_id": run.run_id, **detail}
    await access(principal, "artifact.verify", "run", run.id, detail=detail, risk=risk)
    return result
