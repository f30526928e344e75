"""The response loop through its services, on SQLite and PostgreSQL: response targets per
severity (business days too), clocks opened with the run or case, re-timed and closed with the
case; acknowledge (case and run together, idempotent, by a named person); the escalation pass
(once per level, even with two passes at once; acknowledging stops it; suppression); and the
incident record. Every refused request is checked to leave everything as it was."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.expressions import Q

from riskops.audit.models import AuditEvent
from riskops.server.core.errors import Conflict, Forbidden, Invalid, NotFound
from riskops.server.credit.models import KillSwitch, Run
from riskops.server.credit.terms import Policy
from riskops.server.identity.models import UserKind
from riskops.server.notify.models import OutboxMessage, OutboxStatus
from riskops.server.response import clocks as rc
from riskops.server.response import escalation
from riskops.server.response import service as svc
from riskops.server.response.models import ResponseClock, SubjectKind
from riskops.server.triage import case_resolution
from riskops.server.triage import cases as case_svc
from riskops.server.triage.models import Case, CaseEvent, CaseSeverity, CaseStatus, RootCause
from tests.response.helpers import (
    ask_to_resolve,
    clock,
    head,
    new_case,
    record,
    scenario,
    sev0_item,
    sev0_run,
    sev1_run,
    state,
)
from tests.support.statements import Statements

P = Policy()


# --- targets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (datetime(2026, 12, 7, 10, 0, tzinfo=UTC), 1, datetime(2026, 12, 8, 10, 0, tzinfo=UTC)),
        # Friday + 1 business day = Monday, same time
        (datetime(2026, 12, 4, 15, 30, tzinfo=UTC), 1, datetime(2026, 12, 7, 15, 30, tzinfo=UTC)),
        # Saturday counts from Monday 00:00
        (datetime(2026, 12, 5, 9, 0, tzinfo=UTC), 1, datetime(2026, 12, 8, 0, 0, tzinfo=UTC)),
        (datetime(2026, 12, 6, 23, 0, tzinfo=UTC), 2, datetime(2026, 12, 9, 0, 0, tzinfo=UTC)),
        (datetime(2026, 12, 3, 8, 0, tzinfo=UTC), 3, datetime(2026, 12, 8, 8, 0, tzinfo=UTC)),
    ],
)
def test_business_days(start: datetime, days: int, expected: datetime) -> None:
    assert rc.add_business_days(start, days) == expected


def test_targets_per_severity() -> None:
    t = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday
    assert rc.run_target(P, "SEV0", t) == t + timedelta(minutes=15)
    assert rc.run_target(P, "SEV1", t) == t + timedelta(hours=1)
    assert rc.case_target(P, CaseSeverity.CRITICAL, t) == t
    assert rc.case_target(P, CaseSeverity.HIGH, t) == t + timedelta(minutes=30)
    assert rc.case_target(P, CaseSeverity.MEDIUM, t) == t + timedelta(hours=2)
    assert rc.case_target(P, CaseSeverity.LOW, t) == t + timedelta(days=1)


def test_display_words() -> None:
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    c = rc.ResponseClock(due_at=now + timedelta(minutes=12, seconds=30), needs_ack=True)
    assert rc.view(c, now).text == "12 min left"
    c = rc.ResponseClock(due_at=now - timedelta(hours=1, minutes=5), needs_ack=True)
    v = rc.view(c, now)
    assert v.text == "overdue by 1 h 5 min" and v.overdue
    c.acknowledged_at = now
    assert rc.view(c, now).text == "acknowledged"


def test_dedup_key_is_bounded() -> None:
    assert rc.dedup_key("acme", SubjectKind.CASE, 12) == "riskops-acme-case-12"
    long = rc.dedup_key("a" * 64, SubjectKind.RUN, "R" * 128)
    assert len(long) <= 128 and long == rc.dedup_key("a" * 64, SubjectKind.RUN, "R" * 128)


# --- clocks with runs and cases -----------------------------------------------------------------


async def test_sev0_run_and_its_case_get_the_run_target(tenant) -> None:
    run = await sev0_run(tenant)
    rclock, cclock = await clock("run", run.id), await clock("case", run.case_id)
    assert rclock.needs_ack and rclock.severity == "SEV0"
    assert rclock.due_at - rclock.started_at == timedelta(minutes=15)
    assert rclock.next_escalation_at is None  # its case escalates for it
    assert cclock.needs_ack and cclock.severity == "SEV0"
    assert cclock.due_at - cclock.started_at == timedelta(minutes=15)  # the run's, not 0
    assert cclock.next_escalation_at == cclock.due_at
    case = await Case.get(id=run.case_id)
    assert cclock.dedup_key == f"riskops-{tenant.slug}-case-{case.number}"
    assert rclock.dedup_key == f"riskops-{tenant.slug}-run-{run.run_id}"


async def test_sev1_run_target_is_an_hour(tenant) -> None:
    run = await sev1_run(tenant)
    rclock = await clock("run", run.id)
    assert rclock.due_at - rclock.started_at == timedelta(hours=1)
    assert (await clock("case", run.case_id)).severity == "SEV1"


async def test_case_clock_per_severity_and_retimed(tenant) -> None:
    _, strategist = await tenant.user("strategist")
    case = await new_case(strategist, "medium")
    c = await clock("case", case.id)
    assert not c.needs_ack and c.next_escalation_at is None
    assert c.due_at - c.started_at == timedelta(hours=2)
    await case_svc.update_case(strategist, case.id, expected_version=case.version, severity="high")
    c = await clock("case", case.id)
    assert c.needs_ack and c.severity == "SEV1" and c.due_at - c.started_at == timedelta(minutes=30)
    assert c.next_escalation_at == c.due_at


# --- acknowledge --------------------------------------------------------------------------------


async def test_ack_case_acknowledges_its_run_in_one_go(tenant) -> None:
    run = await sev0_run(tenant)
    user, operator = await tenant.user("operator")
    result = await svc.acknowledge(operator, "case", run.case_id)
    assert not result.already and len(result.acknowledged) == 2
    for kind, pk in (("case", run.case_id), ("run", run.id)):
        c = await clock(kind, pk)
        assert c.acknowledged_by_id == user.id and c.next_escalation_at is None
    events = await AuditEvent.filter(org_id=tenant.org_id, action="response.acknowledge")
    assert {e.entity_type for e in events} == {"case", "run"}
    assert await CaseEvent.filter(case_id=run.case_id, action="acknowledge").count() == 1
    # nothing was triggered: no PagerDuty acknowledge
    assert not await OutboxMessage.filter(org_id=tenant.org_id, channel="escalation").exists()
    # the same person again: no change, a clear message
    before = await state(tenant.org_id)
    again = await svc.acknowledge(operator, "run", run.id)
    assert again.already and "already" in again.message
    assert await state(tenant.org_id) == before


async def test_ack_of_a_group_moves_every_version_in_one_statement(tenant) -> None:
    """A case with three SEV0 runs: one acknowledgement acknowledges the four clocks, each one
    version up from where it was, in one UPDATE of response_clock (not one per clock)."""
    k = await scenario(tenant.org_id)
    runs = await record(tenant.admin, *(sev0_item(k) for _ in range(3)))
    case_id = runs[0].case_id
    assert case_id is not None
    await Run.filter(id__in=[r.id for r in runs]).update(case_id=case_id)  # one incident
    group = await ResponseClock.filter(
        Q(subject_kind=SubjectKind.CASE, subject_id=case_id)
        | Q(subject_kind=SubjectKind.RUN, subject_id__in=[r.id for r in runs]),
        org_id=tenant.org_id,
    ).order_by("id")  # fmt: skip
    assert len(group) == 4
    await ResponseClock.filter(id=group[1].id).update(version=7)  # versions need not agree
    clocks = ResponseClock.filter(org_id=tenant.org_id)
    before = {c.id: c.version for c in await clocks}
    user, operator = await tenant.user("operator")
    with Statements() as sql:
        result = await svc.acknowledge(operator, "case", case_id)
    assert len(result.acknowledged) == 4
    ids = {c.id for c in group}
    assert {c.id: c.version for c in await clocks} == {
        i: v + 1 if i in ids else v for i, v in before.items()
    }  # the other cases' clocks are untouched
    acked = await ResponseClock.filter(id__in=ids)
    assert all(c.acknowledged_by_id == user.id and c.acknowledged_at is not None
               and c.next_escalation_at is None for c in acked)  # fmt: skip
    updates = [q for q in sql.sent if q.lstrip().upper().startswith('UPDATE "RESPONSE_CLOCK"')]
    assert len(updates) == 1, updates
    assert result.clock.version == before[result.clock.id] + 1


async def test_ack_run_acknowledges_its_case(tenant) -> None:
    run = await sev1_run(tenant)
    _, approver = await tenant.user("approver")
    await svc.acknowledge(approver, "run", run.id)
    assert (await clock("case", run.case_id)).acknowledged_at is not None


async def test_ack_refusals_change_nothing(tenant, other_tenant) -> None:
    run = await sev0_run(tenant)
    foreign = await sev0_run(other_tenant)
    _, viewer = await tenant.user("viewer")
    _, operator = await tenant.user("operator")
    _, reviewer = await tenant.user("compliance_reviewer")
    bot_user, bot = await tenant.user("operator")
    bot_user.kind = UserKind.SERVICE
    await bot_user.save()
    c = await clock("case", run.case_id)
    cases = [
        (viewer, "case", run.case_id, None, Forbidden),
        (reviewer, "case", run.case_id, None, Forbidden),
        (operator, "case", foreign.case_id, None, NotFound),  # another organization's
        (operator, "run", foreign.id, None, NotFound),
        (operator, "case", 2**40, None, NotFound),
        (operator, "case", "abc", None, NotFound),
        (operator, "alert", run.case_id, None, Invalid),
        (operator, "case", run.case_id, c.version + 5, Conflict),  # stale version
        (operator, "case", run.case_id, "1", Invalid),  # malformed version
        (bot, "case", run.case_id, None, Forbidden),  # a service account is not a person
    ]
    before = await state(tenant.org_id), await state(other_tenant.org_id)
    for principal, kind, pk, version, error in cases:
        with pytest.raises(error) as exc:
            await svc.acknowledge(principal, kind, pk, expected_version=version)
        assert str(exc.value)
        assert (await state(tenant.org_id), await state(other_tenant.org_id)) == before, (kind, pk)
    # someone else acknowledged it first: a Conflict naming them
    _first, approver = await tenant.user("approver", name="Ada")
    await svc.acknowledge(approver, "case", run.case_id)
    after = await state(tenant.org_id)
    with pytest.raises(Conflict, match="already by Ada"):
        await svc.acknowledge(operator, "case", run.case_id)
    assert await state(tenant.org_id) == after


async def test_ack_of_a_case_without_target_need(tenant) -> None:
    _, strategist = await tenant.user("strategist")
    case = await new_case(strategist, "low")
    result = await svc.acknowledge(strategist, "case", case.id)
    assert result.acknowledged and (await clock("case", case.id)).acknowledged_at


# --- escalation ---------------------------------------------------------------------------------


async def escalation_rows(org_id: int) -> list[OutboxMessage]:
    return list(await OutboxMessage.filter(org_id=org_id, channel="escalation").order_by("id"))


async def test_escalation_once_per_level_then_ack_and_resolve(tenant) -> None:
    run = await sev0_run(tenant)
    cclock = await clock("case", run.case_id)
    t1 = cclock.due_at + timedelta(minutes=1)
    # two passes at once: level 1 is sent once
    await asyncio.gather(escalation.escalate_due(t1), escalation.escalate_due(t1))
    await escalation.escalate_due(t1 + timedelta(minutes=1))
    rows = await escalation_rows(tenant.org_id)
    assert len(rows) == 1
    # level 1 is for the chat channels: no dedup_key, so it never reaches PagerDuty
    assert rows[0].kind == "response.escalated" and rows[0].dedup_key is None
    assert rows[0].payload["level"] == 1 and "event_action" not in rows[0].payload
    assert rows[0].payload["text"].startswith("SEV0 CASE-")
    assert rows[0].payload["runs"] == [run.run_id] and rows[0].payload["severity"] == "SEV0"
    assert (await clock("run", run.id)).level == 0  # the case escalated for it
    # level 2, one step later: a PagerDuty trigger, once
    t2 = t1 + timedelta(minutes=P.escalation_step_minutes, seconds=1)
    await asyncio.gather(escalation.escalate_due(t2), escalation.escalate_due(t2))
    await escalation.escalate_due(t2 + timedelta(hours=5))
    rows = await escalation_rows(tenant.org_id)
    assert [r.payload.get("event_action") for r in rows] == [None, "trigger"]
    assert rows[1].dedup_key == cclock.dedup_key  # the trigger opens the case's incident
    c = await clock("case", run.case_id)
    assert c.level == 2 and c.next_escalation_at is None
    audit = await AuditEvent.filter(org_id=tenant.org_id, action="response.escalate")
    assert sorted(e.actor for e in audit) == ["scheduler", "scheduler"]
    assert await CaseEvent.filter(case_id=run.case_id, action="escalate").count() == 2
    # acknowledging: a PagerDuty acknowledge with the same key
    _, approver = await tenant.user("approver")
    await svc.acknowledge(approver, "case", run.case_id)
    rows = await escalation_rows(tenant.org_id)
    assert rows[-1].payload["event_action"] == "acknowledge"
    assert rows[-1].dedup_key == cclock.dedup_key
    # resolving closes both clocks and resolves the incident
    res = await ask_to_resolve(tenant, run.case_id)
    await case_resolution.approve_case_resolution(
        approver, run.case_id, expected_version=res.case.version
    )
    rows = await escalation_rows(tenant.org_id)
    assert rows[-1].payload["event_action"] == "resolve" and rows[-1].dedup_key == c.dedup_key
    assert (await clock("case", run.case_id)).closed_at is not None
    assert (await clock("run", run.id)).closed_at is not None
    case = await Case.get(id=run.case_id)
    assert case.status is CaseStatus.RESOLVED
    assert case.postmortem_due_at is not None
    assert case.postmortem_due_at - case.resolved_at == timedelta(hours=48)


async def test_escalation_levels_reach_the_channels_routed_for_escalation(tenant) -> None:
    """With a Slack channel and a PagerDuty channel both routed for `escalation`: level 1 goes to
    Slack only (no key: never PagerDuty), level 2 to both (the trigger with the case's key), the
    acknowledgement to both; a channel routed for something else gets nothing."""
    from riskops.server.notify import channels
    from riskops.server.notify.channels import ChannelInput

    dead = "http://127.0.0.1:9"  # nothing is delivered here: only the routed rows are checked
    chat = await channels.create_channel(
        tenant.admin, "slack",
        ChannelInput(name="esc chat", events=["escalation"], url=f"{dead}/chat"),
    )  # fmt: skip
    other = await channels.create_channel(
        tenant.admin, "slack", ChannelInput(name="review chat", events=["review"], url=f"{dead}/r")
    )
    pd = await channels.create_channel(
        tenant.admin, "pagerduty",
        ChannelInput(name="esc pd", events=["escalation"], secret="r" * 32,
                     events_url=f"{dead}/v2/enqueue"),
    )  # fmt: skip
    run = await sev0_run(tenant)
    cclock = await clock("case", run.case_id)
    t1 = cclock.due_at + timedelta(minutes=1)
    await escalation.escalate_due(t1)
    rows = await escalation_rows(tenant.org_id)
    assert [(r.destination_id, r.payload["level"]) for r in rows] == [(chat.id, 1)]
    t2 = t1 + timedelta(minutes=P.escalation_step_minutes, seconds=1)
    await escalation.escalate_due(t2)
    rows = (await escalation_rows(tenant.org_id))[1:]
    assert sorted((r.destination_id, r.payload["event_action"], r.dedup_key) for r in rows) == [
        (chat.id, "trigger", cclock.dedup_key), (pd.id, "trigger", cclock.dedup_key),
    ]  # fmt: skip
    _, approver = await tenant.user("approver")
    await svc.acknowledge(approver, "case", run.case_id)
    rows = (await escalation_rows(tenant.org_id))[3:]
    assert sorted((r.destination_id, r.payload["event_action"]) for r in rows) == [
        (chat.id, "acknowledge"), (pd.id, "acknowledge"),
    ]  # fmt: skip
    assert not await OutboxMessage.filter(destination_id=other.id).exists()


async def test_many_escalations_at_once_reach_a_chat_channel_as_one_digest(
    tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More than DIGEST_AT escalations of one level in a pass: Slack (people read it) gets one
    digest naming every item; a generic webhook (a program) gets one message per item;
    PagerDuty one trigger per item at the last level. The history, the audit events and the
    levels are per item as ever; nothing is named twice, also with two passes at once."""
    from riskops.audit.verify import verify_org
    from riskops.server.notify import channels, webhooks
    from riskops.server.notify.channels import ChannelInput
    from riskops.server.settings import get_settings

    monkeypatch.setattr(escalation, "DIGEST_AT", 2)  # three items are "many" here
    dead = "http://127.0.0.1:9"  # nothing is delivered: only the written rows are checked
    chat = await channels.create_channel(
        tenant.admin, "slack",
        ChannelInput(name="esc chat", events=["escalation"], url=f"{dead}/chat"),
    )  # fmt: skip
    hook = await channels.create_channel(
        tenant.admin, "webhook",
        ChannelInput(name="esc hook", events=["escalation"], url=f"{dead}/hook",
                     secret="s" * 32),
    )  # fmt: skip
    pd = await channels.create_channel(
        tenant.admin, "pagerduty",
        ChannelInput(name="esc pd", events=["escalation"], secret="r" * 32,
                     events_url=f"{dead}/v2/enqueue"),
    )  # fmt: skip
    runs = [await sev0_run(tenant) for _ in range(3)]
    cases = sorted(r.case_id for r in runs)
    t1 = max([(await clock("case", c)).due_at for c in cases]) + timedelta(minutes=1)
    await asyncio.gather(escalation.escalate_due(t1), escalation.escalate_due(t1))
    t2 = t1 + timedelta(minutes=P.escalation_step_minutes, seconds=1)
    await asyncio.gather(escalation.escalate_due(t2), escalation.escalate_due(t2))
    rows = await escalation_rows(tenant.org_id)

    def named(dest: int, level: int) -> list[int]:
        out = []
        for r in rows:
            if r.destination_id == dest and r.payload["level"] == level:
                digest = r.payload["subject"] == "digest"
                out += (
                    [i for _, i in r.payload["subjects"]] if digest else [r.payload["subject_id"]]
                )
        return sorted(out)

    for level in (1, 2):
        (digest,) = [r for r in rows if r.destination_id == chat.id and r.payload["level"] == level]
        assert digest.payload["subject"] == "digest" and digest.payload["count"] == 3
        assert named(chat.id, level) == cases and named(hook.id, level) == cases
        assert len([r for r in rows if r.destination_id == hook.id
                    and r.payload["level"] == level]) == 3  # fmt: skip
    assert named(pd.id, 1) == [] and named(pd.id, 2) == cases
    assert {r.dedup_key for r in rows if r.destination_id == pd.id} == {
        (await clock("case", c)).dedup_key for c in cases
    }
    level2 = next(r for r in rows if r.destination_id == chat.id and r.payload["level"] == 2)
    assert level2.payload["text"].startswith("3 items not acknowledged past their target: ")
    assert level2.payload["text"].endswith(": paging PagerDuty")
    # the longest overdue first (the first case recorded), then by reference
    assert [i["item"] for i in level2.payload["items"]] == [
        f"CASE-{n:06d}" for n in sorted([(await Case.get(id=c)).number for c in cases])
    ]
    for c in cases:
        assert await CaseEvent.filter(case_id=c, action="escalate").count() == 2
        assert (await clock("case", c)).level == 2
    assert await AuditEvent.filter(org_id=tenant.org_id, action="response.escalate").count() == 6
    assert (await verify_org(tenant.org_id, get_settings().key)).ok
    # What Slack shows: the count and each item with its link
    text, lines = webhooks.summary(level2, get_settings().base_url)
    assert text.startswith("3 items not acknowledged")
    assert "*Count*: 3" in lines
    assert sum(1 for line in lines if line.startswith("• <")) == 3


def test_a_digest_of_many_lists_the_first_and_counts_the_rest() -> None:
    """A digest of 250 shows DIGEST_LIST items and says how many more there are, in Slack and
    in mail (the same lines)."""
    from riskops.server.notify import routing, webhooks

    payloads = [
        {"subject": "case", "subject_id": i, "item": f"CASE-{i:06d}", "title": f"t{i}",
         "severity": "SEV1" if i % 2 else "SEV0", "late": "5 min", "late_seconds": 300,
         "level": 1, "link": f"http://x/cases/{i}"}
        for i in reversed(range(1, 251))  # listed by how late, then by reference
    ]  # fmt: skip
    group = [
        routing.Pending(
            org_id=1, channel="escalation", kind="response.escalated", payload=p,
            status=OutboxStatus.PENDING, attempts=0, next_attempt_at=datetime.now(UTC),
            created_at=datetime.now(UTC), destination_id=7,
        )
        for p in payloads
    ]  # fmt: skip
    digest = escalation._digest(group, 1)
    assert digest.destination_id == 7 and digest.dedup_key is None
    p = digest.payload
    assert p["count"] == 250 and len(p["subjects"]) == 250 and p["severity"] == "SEV0"
    assert len(p["items"]) == escalation.DIGEST_LIST
    assert p["text"] == (
        "250 items not acknowledged past their target: CASE-000001, CASE-000002, CASE-000003, "
        "CASE-000004, CASE-000005 and 245 more: escalation level 1"
    )
    message = OutboxMessage(org_id=1, channel="escalation", kind="response.escalated", payload=p)
    _, lines = webhooks.summary(message, "http://x")
    assert lines[-1] == f"… and {250 - escalation.DIGEST_LIST} more on My work"


async def test_ack_before_target_stops_escalation(tenant) -> None:
    run = await sev1_run(tenant)
    _, operator = await tenant.user("operator")
    await svc.acknowledge(operator, "run", run.id)
    await escalation.escalate_due(datetime.now(UTC) + timedelta(days=3))
    assert await escalation_rows(tenant.org_id) == []


async def test_escalation_suppressed_by_kill_switch(tenant) -> None:
    run = await sev0_run(tenant)
    await KillSwitch.create(
        org_id=tenant.org_id, name="alert_suppression", scope="", reason="storm",
        set_at=datetime.now(UTC) - timedelta(minutes=1),
    )  # fmt: skip
    c = await clock("case", run.case_id)
    await escalation.escalate_due(c.due_at + timedelta(minutes=1))
    (row,) = await escalation_rows(tenant.org_id)
    assert row.status == OutboxStatus.SUPPRESSED
    assert (await clock("case", run.case_id)).level == 1


async def test_run_without_waiting_case_escalates_on_its_own(tenant) -> None:
    run = await sev1_run(tenant)
    _, strategist = await tenant.user("strategist")
    case = await Case.get(id=run.case_id)
    # the case is lowered to medium: it no longer needs an acknowledgement, the run still does
    await case_svc.update_case(
        strategist, case.id, expected_version=case.version, severity="medium"
    )
    r = await clock("run", run.id)
    assert r.next_escalation_at == r.due_at
    await escalation.escalate_due(r.due_at + timedelta(seconds=1))
    (row,) = await escalation_rows(tenant.org_id)
    assert row.payload["subject"] == "run" and row.payload["item"] == run.run_id
    assert row.dedup_key is None  # level 1; its trigger a step later carries r.dedup_key


# --- the incident record ------------------------------------------------------------------------


async def test_incident_record(tenant) -> None:
    run = await sev0_run(tenant)
    user, operator = await tenant.user("operator")
    case = await Case.get(id=run.case_id)
    res = await svc.take_command(operator, case.id, expected_version=case.version)
    assert res.case.incident_commander_id == user.id
    ev = await AuditEvent.filter(org_id=tenant.org_id, action="case.take_command").first()
    assert ev is not None
    entry = await svc.add_timeline_entry(operator, case.id, "Paused the export job at 10:02")
    assert entry.data == {"text": "Paused the export job at 10:02"}
    ev = await AuditEvent.filter(org_id=tenant.org_id, action="case.timeline").first()
    assert ev is not None and "Paused" not in ev.new_values and '"length":30' in ev.new_values
    # the report waits for the resolution
    with pytest.raises(Conflict, match="once it is resolved"):
        await svc.submit_postmortem(operator, case.id, "Report", expected_version=res.case.version)
    _, strategist = await tenant.user("strategist")
    _, approver = await tenant.user("approver")
    case = await Case.get(id=case.id)
    r = await case_resolution.request_case_resolution(
        strategist, case.id, expected_version=case.version, summary="Fixed",
        root_cause=RootCause.MISCONFIG.value,
    )  # fmt: skip
    r = await case_resolution.approve_case_resolution(
        approver, case.id, expected_version=r.case.version
    )
    # overdue after 48 h
    await Case.filter(id=case.id).update(postmortem_due_at=datetime.now(UTC) - timedelta(hours=1))
    assert [c.id for c in await svc.overdue_reports(operator)] == [case.id]
    with pytest.raises(Invalid, match="empty template"):
        await svc.submit_postmortem(
            operator, case.id, svc.report_template(), expected_version=r.case.version
        )
    text = svc.report_template().replace("[Why it happened.]", "A loop in the export job.")
    done = await svc.submit_postmortem(operator, case.id, text, expected_version=r.case.version)
    assert done.case.postmortem == text.strip() and done.case.postmortem_by_id == user.id
    ev = await AuditEvent.filter(org_id=tenant.org_id, action="case.postmortem").first()
    assert (
        ev is not None
        and "loop" not in ev.new_values
        and f'"length":{len(text.strip())}' in ev.new_values
    )
    assert await svc.overdue_reports(operator) == []


async def test_incident_record_refusals_change_nothing(tenant, other_tenant) -> None:
    run = await sev0_run(tenant)
    foreign = await sev0_run(other_tenant)
    _, operator = await tenant.user("operator")
    _, viewer = await tenant.user("viewer")
    _, strategist = await tenant.user("strategist")
    low = await new_case(strategist, "low")
    case = await Case.get(id=run.case_id)
    v = case.version
    attempts = [
        (lambda: svc.take_command(viewer, case.id, expected_version=v), Forbidden),
        (lambda: svc.take_command(operator, foreign.case_id, expected_version=v), NotFound),
        (lambda: svc.take_command(operator, case.id, expected_version=v + 3), Conflict),
        (lambda: svc.take_command(operator, case.id, expected_version="x"), Invalid),
        (lambda: svc.take_command(operator, low.id, expected_version=low.version), Conflict),
        (lambda: svc.add_timeline_entry(viewer, case.id, "x"), Forbidden),
        (lambda: svc.add_timeline_entry(operator, foreign.case_id, "x"), NotFound),
        (lambda: svc.add_timeline_entry(operator, case.id, ""), Invalid),
        (lambda: svc.add_timeline_entry(operator, case.id, "x" * 2001), Invalid),
        (lambda: svc.add_timeline_entry(operator, case.id, "bad\x00char"), Invalid),
        (lambda: svc.add_timeline_entry(operator, low.id, "x"), Conflict),
        (lambda: svc.submit_postmortem(viewer, case.id, "x", expected_version=v), Forbidden),
        (lambda: svc.submit_postmortem(operator, foreign.case_id, "x", expected_version=v),
         NotFound),
        (lambda: svc.submit_postmortem(operator, case.id, "x" * 50_001, expected_version=v),
         Invalid),
    ]  # fmt: skip
    before = await state(tenant.org_id), await state(other_tenant.org_id)
    for attempt, error in attempts:
        with pytest.raises(error) as exc:
            await attempt()
        assert str(exc.value)
        assert (await state(tenant.org_id), await state(other_tenant.org_id)) == before
    assert await head(tenant.org_id) == before[0][-1]
