"""Opening a case (`riskops.server.triage.cases` changes it afterwards): from alerts (by id or
external id), from runs (by run id), or from neither, on a person's request (`create_case`,
idempotent) or inside another change's transaction (`open_case`: an automatic action of a run).
A case is numbered per organization under the organization's row lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.server.core.audit_trail import record
from riskops.server.core.idempotency import (
    key_race,
    parse_idempotency_key,
    remember_key,
    used_idempotency_key,
)
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit.models import Run
from riskops.server.identity.orgs import lock_organization
from riskops.server.response import clocks
from riskops.server.triage import case_alerts, case_run_links
from riskops.server.triage.cases import (
    MAX_TITLE,
    CaseResult,
    case_history,
    parse_choice,
    parse_text,
)
from riskops.server.triage.models import Case, CaseAlert, CaseSeverity, CaseStatus


async def create_case(
    principal: Principal,
    *,
    title: str,
    alert_ids: Sequence[int | str] = (),
    alert_external_ids: Sequence[str] | None = None,
    severity: str | CaseSeverity = CaseSeverity.MEDIUM,
    idempotency_key: str | None = None,
    run_ids: Sequence[str] | None = None,
) -> CaseResult:
    """Open a case, numbered per organization, from up to 100 alerts of the caller's
    organization (by id or by the external id the queue shows) and up to 100 of its runs (by the
    run id the pages show, `RUN-…`), or from neither (a pattern someone spotted). A run already
    in another case is refused, naming that case."""
    principal.require(Perm.CASE_WORK)
    title = parse_text(title, "title", MAX_TITLE)
    sev = parse_choice(CaseSeverity, severity, "severity", required=True)
    assert sev is not None
    ids = case_alerts.alert_ids(list(alert_ids), alert_external_ids, required=False)
    external = case_alerts.external_ids(alert_external_ids)
    refs = case_run_links.run_refs(run_ids)
    key = parse_idempotency_key(idempotency_key)
    with key_race(key):
        return await _create_in_transaction(principal, title, sev, ids, external, key, refs)


async def _create_in_transaction(
    principal: Principal,
    title: str,
    severity: CaseSeverity,
    ids: list[int],
    external: list[str],
    key: str | None,
    refs: list[str],
) -> CaseResult:
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        if key is not None:
            used = await used_idempotency_key(principal, conn, key, "case.create", None)
            if used is not None:
                case = await scoped(Case, principal).using_db(conn).get(id=int(used.entity_id))
                return CaseResult(case, replayed=True)
        ids = await case_alerts.alerts_in_org(principal, conn, ids, external)
        runs = await case_run_links.runs_in_org(principal, conn, refs)
        await case_run_links.refuse_held_elsewhere(principal, conn, runs, None)
        case = await open_case(principal, conn, title, severity, now, alert_ids=ids, runs=runs)
        if key is not None:
            await remember_key(
                principal, conn, key, "case.create", case.id, now,
                entity=f"case {case.display_number}",
            )  # fmt: skip
    return CaseResult(case)


async def open_case(
    principal: Principal,
    conn: BaseDBAsyncClient,
    title: str,
    severity: CaseSeverity,
    now: datetime,
    *,
    alert_ids: Sequence[int] = (),
    source: dict[str, Any] | None = None,
    runs: Sequence[Run] = (),
) -> Case:
    """Create a case in the caller's transaction: the next number, the alert links, the history
    row and the audit event. `source` says what opened it when it was not a person's request
    (an automatic action: {"run_id": ..., "reason": "sev0"})."""
    # Numbers are allocated under the organization's row lock (PostgreSQL; SQLite writers are
    # serialized anyway): concurrent creates queue here and get consecutive numbers.
    await lock_organization(principal, conn)
    last = (
        await scoped(Case, principal)
        .using_db(conn)
        .order_by("-number")
        .first()
        .values_list("number", flat=True)
    )
    top = last if isinstance(last, int) else 0
    case = await Case.create(
        org_id=principal.org_id,
        number=top + 1,
        title=title,
        status=CaseStatus.OPEN,
        severity=severity,
        opened_by_id=principal.user_id or None,
        opened_at=now,
        updated_at=now,
        using_db=conn,
    )
    ids = list(alert_ids)
    if ids:
        await CaseAlert.bulk_create(
            [
                CaseAlert(
                    case_id=case.id, alert_id=a, linked_by_id=principal.user_id, linked_at=now
                )
                for a in ids
            ],
            using_db=conn,
        )
    # the severity it opened with stays in its history: resolving alone looks at the most
    # severe one a case has had (case_resolution.resolve_alone)
    data: dict[str, Any] = {"alert_ids": ids, "severity": severity.value, **(source or {})}
    if runs:  # the runs a person named (an automatic action links its run itself)
        await case_run_links.attach(principal, conn, runs, case.id, now)
        data["run_ids"] = [r.run_id for r in runs]
    await case_history(principal, conn, case, "create", None, data, now)
    await clocks.open_case_clock(conn, case, now, source)  # its response target (issue 16)
    await record(
        principal, conn, "case.create", "case", case.id,
        new={"number": case.display_number, "status": case.status.value,
             "severity": severity.value, "version": case.version, **data},
    )  # fmt: skip
    return case
