"""A false-positive PII flag (issue 16, seed 002 troubleshooting "False positive PII flag" and the
monthly "false positive rate for PII flags"), on SQLite and PostgreSQL, on both faces: an
approver declassifies a run's pii_exposure / regulatory_data flag with a note (on its case),
optionally releasing the quarantine in the same step; the rate counts, of a period's flagged
runs, how many were declassified, in one aggregate, in the weekly report and over GraphQL.
Every refusal changes nothing."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core.errors import Conflict, Forbidden, Invalid, NotFound
from riskops.server.credit import pii_rate, quarantine, reports
from riskops.server.credit import recording as svc
from riskops.server.credit.models import Baseline, BaselineSource, Run, Scenario
from riskops.server.identity.models import Organization, User
from riskops.server.triage.models import Case, CaseNote, CaseStatus
from tests.credit.test_manual_quarantine import CHANGES
from tests.support.pages import flash_code

NOW = datetime.now(UTC)
NOTE = "Checked the export: test fixtures only, no customer data."

DECLASSIFY = """
mutation($run: ID!, $note: String!, $v: Int!, $release: Boolean) {
  declassifyRun(runId: $run, note: $note, expectedVersion: $v, release: $release) {
    run { id quarantined declassifiedAt declassifiedById version }
    released checks { ok held }
    errors { code message field }
  }
}"""
RATE = """
query($s: DateTime, $e: DateTime) {
  piiFalsePositiveRate(periodStart: $s, periodEnd: $e) {
    periodStart periodEnd flagged declassified rate
  }
}"""


def key() -> str:
    return f"SCEN_{uuid.uuid4().hex[:8].upper()}"


async def scenario_with_baseline(tenant: Any) -> str:
    k = key()
    s = await Scenario.create(org_id=tenant.org_id, key=k, name=k, created_at=NOW)
    await Baseline.create(
        org_id=tenant.org_id, scenario_id=s.id, median=100.0, cv=0.1, sample_size=20,
        source=BaselineSource.MANUAL, set_at=NOW,
    )  # fmt: skip
    return k


async def record(tenant: Any, k: str, credits: float, *, started: datetime | None = None,
                 **over: Any) -> Run:  # fmt: skip
    item: dict[str, Any] = {
        "run_id": f"RUN-{uuid.uuid4().hex[:10]}", "scenario": k, "credits_total": credits,
        "started_at": (started or NOW - timedelta(minutes=5)).isoformat(),
    }  # fmt: skip
    item.update(over)
    result = await svc.record_runs(tenant.admin, [item])
    assert not result.errors, result.errors
    return await Run.get(id=result.recorded[0].pk)


async def flagged_sev0(tenant: Any) -> Run:
    """A SEV0 on PII data: flagged pii_exposure, quarantined, with a case."""
    return await record(tenant, await scenario_with_baseline(tenant), 2000.0,
                        data_classification="pii")  # fmt: skip


async def snapshot(org_id: int, run_id: int) -> tuple[object, ...]:
    run = await Run.get(id=run_id)
    return (
        run.declassified_at, run.declassified_by_id, run.quarantined, run.version,
        await CaseNote.filter(case__org_id=org_id).count(),
        await AuditEvent.filter(org_id=org_id, action__in=CHANGES).count(),
    )  # fmt: skip


# --- the service ---------------------------------------------------------------------------------


async def test_an_approver_declassifies_a_false_positive(tenant):
    run = await flagged_sev0(tenant)
    assert "pii_exposure" in run.flags and run.case_id is not None
    user, approver = await tenant.user("approver", name="Olive")

    done = await quarantine.declassify_run(approver, run.id, NOTE, expected_version=1)
    assert done.release is None
    row = await Run.get(id=run.id)
    assert row.declassified_at is not None and row.declassified_by_id == user.id
    assert row.version == 2 and row.quarantined  # declassified, still quarantined
    assert "pii_exposure" in row.flags  # the flag stays as it was raised
    note = await CaseNote.filter(case_id=run.case_id).order_by("-id").first()
    assert note is not None and NOTE in note.body and "false positive" in note.body
    assert "Olive" in note.body
    event = await AuditEvent.filter(org_id=tenant.org_id, action="run.declassify").get()
    assert json.loads(event.new_values) == {
        "declassified": True, "flags": ["pii_exposure"], "note_length": len(NOTE),
        "case": (await Case.get(id=run.case_id)).display_number, "release": False,
    }  # fmt: skip
    assert "fixtures" not in event.new_values

    rate = await pii_rate.pii_false_positive_rate(approver)
    assert (rate.flagged, rate.declassified, rate.rate) == (1, 1, 1.0)


async def test_declassify_and_release_together_or_not_at_all(tenant):
    run = await flagged_sev0(tenant)
    _, approver = await tenant.user("approver")
    before = await snapshot(tenant.org_id, run.id)
    # The case is open: the release is refused, and so the declassification with it.
    with pytest.raises(Conflict, match="Resolve the case first"):
        await quarantine.declassify_run(approver, run.id, NOTE, expected_version=1, release=True)
    assert await snapshot(tenant.org_id, run.id) == before

    await Case.filter(id=run.case_id).update(status=CaseStatus.RESOLVED, resolved_at=NOW)
    done = await quarantine.declassify_run(approver, run.id, NOTE, expected_version=1, release=True)
    assert done.release is not None and all(c.ok for c in done.release.checks)
    row = await Run.get(id=run.id)
    assert row.declassified_at is not None and not row.quarantined and not row.dispatch_blocked
    assert row.version == 3
    actions = await AuditEvent.filter(
        org_id=tenant.org_id, action__in=("run.declassify", "run.release")
    ).values_list("action", flat=True)
    assert sorted(actions) == ["run.declassify", "run.release"]


async def test_refusals_change_nothing(tenant, other_tenant):
    run = await flagged_sev0(tenant)
    k = await scenario_with_baseline(tenant)
    plain = await record(tenant, k, 101.0, data_classification="internal")
    uncased = await record(tenant, k, 101.0, data_classification="regulatory")
    assert uncased.case_id is None and "regulatory_data" in uncased.flags
    _, approver = await tenant.user("approver")
    before = [await snapshot(tenant.org_id, r.id) for r in (run, plain, uncased)]

    for role in ("viewer", "operator", "strategist", "compliance_reviewer"):
        _, who = await tenant.user(role)
        with pytest.raises(Forbidden):
            await quarantine.declassify_run(who, run.id, NOTE, expected_version=1)
    _, stranger = await other_tenant.user("approver")
    with pytest.raises(NotFound) as theirs:
        await quarantine.declassify_run(stranger, run.id, NOTE, expected_version=1)
    with pytest.raises(NotFound) as missing:
        await quarantine.declassify_run(stranger, 2_000_000_000, NOTE, expected_version=1)
    assert theirs.value.message.replace(str(run.id), "N") == missing.value.message.replace(
        "2000000000", "N"
    )
    with pytest.raises(Conflict) as stale:
        await quarantine.declassify_run(approver, run.id, NOTE, expected_version=4)
    assert stale.value.field == "expected_version"
    for note, why in (("", "is required"), ("x" * 2001, "limit is 2000"), ("a\x07b", "control")):
        with pytest.raises(Invalid, match=why) as exc:
            await quarantine.declassify_run(approver, run.id, note, expected_version=1)
        assert exc.value.field == "note"
    with pytest.raises(Invalid) as flag:
        await quarantine.declassify_run(approver, run.id, NOTE, expected_version=1,
                                        release="yes")  # type: ignore[arg-type]  # fmt: skip
    assert flag.value.field == "release"
    with pytest.raises(Conflict, match="no pii_exposure or regulatory_data flag"):
        await quarantine.declassify_run(approver, plain.id, NOTE, expected_version=1)
    with pytest.raises(Conflict, match="has no case to keep the declassification note in"):
        await quarantine.declassify_run(approver, uncased.id, NOTE, expected_version=1)
    assert [await snapshot(tenant.org_id, r.id) for r in (run, plain, uncased)] == before

    await quarantine.declassify_run(approver, run.id, NOTE, expected_version=1)
    after = await snapshot(tenant.org_id, run.id)
    with pytest.raises(Conflict, match="already declassified"):
        await quarantine.declassify_run(approver, run.id, NOTE, expected_version=2)
    assert await snapshot(tenant.org_id, run.id) == after


# --- the rate ------------------------------------------------------------------------------------


async def test_the_rate_counts_flagged_runs_of_the_period_in_one_query(tenant, other_tenant):
    k = await scenario_with_baseline(tenant)
    _, approver = await tenant.user("approver")
    _, viewer = await tenant.user("viewer")
    sev0 = await flagged_sev0(tenant)
    await record(tenant, k, 101.0, data_classification="regulatory")
    # A producer's own flag counts too, whatever the data classification.
    await record(tenant, k, 101.0, data_classification="internal", risk_flags=["pii_exposure"])
    await record(tenant, k, 101.0, data_classification="internal")  # not flagged
    await record(tenant, k, 101.0, data_classification="pii",
                 started=NOW - timedelta(days=45))  # before the default 30 days  # fmt: skip
    await flagged_sev0(other_tenant)  # another organization's
    await quarantine.declassify_run(approver, sev0.id, NOTE, expected_version=1)

    rate = await pii_rate.pii_false_positive_rate(viewer)
    assert (rate.flagged, rate.declassified) == (3, 1)
    assert rate.rate == pytest.approx(1 / 3)
    assert rate.period_end - rate.period_start == timedelta(days=30)
    wide = await pii_rate.pii_false_positive_rate(
        viewer, NOW - timedelta(days=60), NOW + timedelta(minutes=1)
    )
    assert (wide.flagged, wide.declassified) == (4, 1)
    empty = await pii_rate.pii_false_positive_rate(
        viewer, NOW - timedelta(days=300), NOW - timedelta(days=200)
    )
    assert (empty.flagged, empty.declassified, empty.rate) == (0, 0, None)

    for start, end, why in (
        (NOW, NOW - timedelta(days=1), "must be before"),
        (NOW - timedelta(days=400), NOW, "the limit is 366 days"),
        (datetime(2026, 1, 1), NOW, "with a time zone"),
        ("2026-01-01", NOW, "with a time zone"),
    ):
        with pytest.raises(Invalid, match=why):
            await pii_rate.pii_false_positive_rate(viewer, start, end)
    nobody = dataclasses.replace(viewer, roles=frozenset({"product_reviewer"}))
    with pytest.raises(Forbidden):
        await pii_rate.pii_false_positive_rate(nobody)


async def test_the_weekly_report_carries_the_rate(tenant):
    k = await scenario_with_baseline(tenant)
    _, approver = await tenant.user("approver")
    monday = reports.last_complete_week()
    start, _ = reports.period_bounds(monday)
    sev0 = await record(tenant, k, 2000.0, data_classification="pii",
                        started=start + timedelta(days=1))  # fmt: skip
    await record(tenant, k, 101.0, data_classification="pii", started=start + timedelta(days=2))
    await quarantine.declassify_run(approver, sev0.id, NOTE, expected_version=1)

    org = await Organization.get(id=tenant.org_id)
    payload = await reports.build_payload(org, monday, NOW)
    fp = payload["pii_false_positives"]
    assert fp["week"]["flagged"] == 2 and fp["week"]["declassified"] == 1
    assert fp["week"]["rate"] == 0.5
    assert fp["last_30_days"]["flagged"] >= 2
    assert fp["week"]["period_start"] == payload["period_start"]


# --- GraphQL and pages ---------------------------------------------------------------------------


async def _token(api: Any, tenant: Any, role: str) -> tuple[str, int]:
    _, p = await tenant.user(role)
    return await api.token(tenant, await User.get(id=p.user_id)), p.user_id


async def test_declassify_and_the_rate_over_graphql(api, tenant, other_tenant):
    run = await flagged_sev0(tenant)
    ap, ap_id = await _token(api, tenant, "approver")
    op, _ = await _token(api, tenant, "operator")
    viewer, _ = await _token(api, tenant, "viewer")
    v = {"run": str(run.id), "note": NOTE, "v": 1}
    before = await snapshot(tenant.org_id, run.id)
    denied = (await api.data(op, DECLASSIFY, v))["declassifyRun"]
    assert denied["errors"][0]["code"] == "FORBIDDEN" and denied["run"] is None
    empty = (await api.data(ap, DECLASSIFY, {**v, "note": ""}))["declassifyRun"]
    assert empty["errors"][0]["field"] == "note"
    theirs, _ = await _token(api, other_tenant, "approver")
    other = (await api.data(theirs, DECLASSIFY, v))["declassifyRun"]
    assert other["errors"][0]["code"] == "NOT_FOUND"
    refused = (await api.data(ap, DECLASSIFY, {**v, "release": True}))["declassifyRun"]
    assert refused["errors"][0]["code"] == "CONFLICT" and refused["run"] is None
    assert await snapshot(tenant.org_id, run.id) == before

    done = (await api.data(ap, DECLASSIFY, v))["declassifyRun"]
    assert done["errors"] == [] and done["released"] is False and done["checks"] == []
    assert done["run"]["declassifiedById"] == str(ap_id) and done["run"]["version"] == 2
    assert done["run"]["declassifiedAt"] is not None and done["run"]["quarantined"] is True

    rate = (await api.data(viewer, RATE))["piiFalsePositiveRate"]
    assert (rate["flagged"], rate["declassified"], rate["rate"]) == (1, 1, 1.0)
    body = await api.gql(viewer, RATE, {"s": "2026-01-02T00:00:00Z", "e": "2026-01-01T00:00:00Z"})
    assert body["errors"][0]["extensions"]["code"] == "INVALID"


async def test_the_run_page_declassifies(browser, tenant):
    run = await flagged_sev0(tenant)
    k = await scenario_with_baseline(tenant)
    uncased = await record(tenant, k, 101.0, data_classification="pii")
    ap_user, _ = await tenant.user("approver", name="Olive")
    op_user, _ = await tenant.user("operator")
    op = await browser(op_user, tenant.password)
    page = await op.get(f"/runs/{run.id}")
    assert 'id="declassify"' in page.text and f'action="/runs/{run.id}/declassify"' not in page.text

    b = await browser(ap_user, tenant.password)
    page = await b.get(f"/runs/{run.id}")
    assert f'action="/runs/{run.id}/declassify"' in page.text and 'name="release"' in page.text
    no_case = await b.get(f"/runs/{uncased.id}")
    assert "Declassifying needs a case" in no_case.text
    assert f'action="/runs/{uncased.id}/declassify"' not in no_case.text
    before = await snapshot(tenant.org_id, run.id)
    empty = await b.post(f"/runs/{run.id}/declassify", {"expected_version": "1", "note": ""})
    assert empty.status_code == 422 and 'id="note-error"' in empty.text
    both = await b.post(f"/runs/{run.id}/declassify",
                        {"expected_version": "1", "note": NOTE, "release": "1"})  # fmt: skip
    assert both.status_code == 409 and "Resolve the case first" in both.text
    assert 'name="release" value="1" checked' in both.text  # what was typed is kept
    assert await snapshot(tenant.org_id, run.id) == before

    ok = await b.post(f"/runs/{run.id}/declassify", {"expected_version": "1", "note": NOTE})
    assert ok.status_code == 303 and flash_code(ok) == "run.declassified"
    shown = await b.get(ok.headers["location"])
    assert "false positive" in shown.text and "Declassified by <strong>Olive</strong>" in shown.text
    assert f'action="/runs/{run.id}/declassify"' not in shown.text


async def test_the_report_page_shows_the_rate(browser, tenant):
    k = await scenario_with_baseline(tenant)
    _, approver = await tenant.user("approver")
    monday = reports.last_complete_week()
    start, _ = reports.period_bounds(monday)
    sev0 = await record(tenant, k, 2000.0, data_classification="pii",
                        started=start + timedelta(days=1))  # fmt: skip
    await record(tenant, k, 101.0, data_classification="pii", started=start + timedelta(days=2))
    await quarantine.declassify_run(approver, sev0.id, NOTE, expected_version=1)
    report = await reports.generate_weekly_report(approver, monday)
    user, _ = await tenant.user("viewer")
    b = await browser(user, tenant.password)
    page = await b.get(f"/reports/{report.id}")
    assert page.status_code == 200 and 'id="pii-false-positives"' in page.text
    assert "50.0%" in page.text


async def test_the_rate_is_one_query_whatever_the_number_of_runs(tenant):
    from tests.support.statements import Statements

    k = await scenario_with_baseline(tenant)
    _, viewer = await tenant.user("viewer")
    counts = []
    for n in (1, 20):
        items = [
            {"run_id": f"RUN-{uuid.uuid4().hex[:10]}", "scenario": k, "credits_total": 101.0,
             "data_classification": "pii",
             "started_at": (NOW - timedelta(hours=1)).isoformat()}
            for _ in range(n)
        ]  # fmt: skip
        assert not (await svc.record_runs(tenant.admin, items)).errors
        with Statements() as sql:
            rate = await pii_rate.false_positive_counts(
                tenant.org_id, NOW - timedelta(days=1), NOW + timedelta(minutes=1)
            )
        counts.append(len(sql.sent))
        assert rate.flagged >= n
    assert counts == [1, 1], counts
    assert viewer.org_id == tenant.org_id


async def test_the_rate_counts_a_run_once_whichever_sensitive_flags_it_has(tenant):
    """The PII runs are picked by the ledger's own flag filter (`runs.with_flag`), any of the
    flags a declassification answers: one flag or both count once, another flag not at all."""
    k = await scenario_with_baseline(tenant)
    at = NOW - timedelta(days=100)
    flags = [["pii_exposure"], ["regulatory_data"], ["regulatory_data", "pii_exposure"],
             ["retry_loop"], []]  # fmt: skip
    for i, those in enumerate(flags):
        run = await record(tenant, k, 101.0, started=at + timedelta(minutes=i))
        await Run.filter(id=run.id).update(flags=those)
    _, viewer = await tenant.user("viewer")
    rate = await pii_rate.pii_false_positive_rate(
        viewer, at - timedelta(hours=1), at + timedelta(hours=1)
    )
    assert (rate.flagged, rate.declassified) == (3, 0)
