"""Assistant usage and cost (server/assistant/usage.py), aggregated in SQL: by person, model,
case and kind over a period, most expensive first; a response counts toward a case when it is
about the case or one of the case's alerts; the cost of one case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from riskops.server.assistant.models import ResponseKind, ResponseStatus, TargetType
from riskops.server.assistant.usage import UsageRow, case_cost, case_costs, usage
from riskops.server.core.errors import Forbidden, Invalid, NotFound
from riskops.server.triage import case_create
from tests.assistant.scene import answered, scene

K = ResponseKind
T = TargetType
S = ResponseStatus


def by_key(rows: list[UsageRow]) -> dict[str, tuple[Any, ...]]:
    return {
        r.key: (r.label, r.responses, r.failures, r.tokens_in, r.tokens_out, r.cost) for r in rows
    }


async def test_usage_by_person_model_kind_and_case_most_expensive_first(
    tenant: Any, other_tenant: Any
) -> None:
    s = await scene(tenant)
    _, approver = await tenant.user("approver")
    second = (await case_create.create_case(s.strategist, title="Two", alert_ids=[s.alert.id])).case
    mini, big = "openai/gpt-4o-mini", "openai/gpt-4o"
    await answered(s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id, by=s.strategist,
                   model=mini, cost="0.001250", tokens=(100, 40))  # fmt: skip
    await answered(s.org_id, K.ESCALATION_DRAFT, T.CASE, s.case.id, by=s.strategist,
                   model=big, cost="0.020000", tokens=(900, 300))  # fmt: skip
    await answered(s.org_id, K.SIMILAR_CASES, T.ALERT, s.loose.id, by=s.strategist,
                   model=mini, cost="0.000500", tokens=(50, 10))  # fmt: skip
    await answered(s.org_id, K.EXPLAIN_RUN, T.RUN, s.sev0.id, by=s.operator,
                   model=None, status=S.UNAVAILABLE, cost="0", tokens=(0, 0))  # fmt: skip
    await answered(s.org_id, K.EXPLAIN_RUN, T.RUN, s.sev0.id, by=s.operator,
                   model=big, status=S.FAILED, cost="0.003000", tokens=(200, 0))  # fmt: skip
    await answered(other_tenant.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id,
                   cost="9.000000")  # another organization's: never counted  # fmt: skip

    people = await usage(approver, "7d", "user")
    assert [r.label for r in people] == ["Sam Strategist", "Otto Operator"]
    assert by_key(people) == {
        str(s.strategist.user_id): ("Sam Strategist", 3, 0, 1050, 350, Decimal("0.021750")),
        str(s.operator.user_id): ("Otto Operator", 2, 2, 200, 0, Decimal("0.003000")),
    }
    models = await usage(approver, "7d", "model")
    assert [(r.key, r.label, r.responses, r.cost) for r in models] == [
        (big, big, 2, Decimal("0.023000")),
        (mini, mini, 2, Decimal("0.001750")),
        ("", "no model (unavailable before a call)", 1, Decimal("0.000000")),
    ]
    kinds = await usage(approver, "today", "kind")
    assert [(r.key, r.label) for r in kinds] == [
        ("escalation_draft", "escalation draft"),
        ("explain_run", "explanation of a run"),
        ("explain_alert", "explanation of an alert"),
        ("similar_cases", "similar cases"),
    ]
    # The case's own answer and its alert's count toward it; the alert is in both cases; the
    # loose alert and the run are in none.
    by_case = await usage(approver, "30d", "case")
    assert by_key(by_case) == {
        str(s.case.id): (s.case.display_number, 2, 0, 1000, 340, Decimal("0.021250")),
        str(second.id): (second.display_number, 1, 0, 100, 40, Decimal("0.001250")),
    }
    assert [r.key for r in by_case] == [str(s.case.id), str(second.id)]


async def test_the_period_counts_from_the_start_of_the_utc_day_or_back_from_now(
    tenant: Any,
) -> None:
    s = await scene(tenant)
    _, approver = await tenant.user("approver")
    now = datetime.now(UTC)
    for days, cost in ((0, "0.000001"), (2, "0.000010"), (10, "0.000100"), (40, "0.001000")):
        await answered(s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id, cost=cost,
                       created_at=now - timedelta(days=days))  # fmt: skip
    totals = {p: sum(r.cost for r in await usage(approver, p, "kind")) for p in
              ("today", "7d", "30d", "all")}  # fmt: skip
    assert totals == {
        "today": Decimal("0.000001"), "7d": Decimal("0.000011"), "30d": Decimal("0.000111"),
        "all": Decimal("0.001111"),
    }  # fmt: skip
    assert await usage(approver, "today", "case") == [
        UsageRow(str(s.case.id), s.case.display_number, 1, 0, 100, 40, Decimal("0.000001"))
    ]


async def test_usage_needs_assistant_usage_and_says_what_it_accepts(tenant: Any) -> None:
    s = await scene(tenant)
    for who in (s.strategist, s.viewer, s.operator):
        with pytest.raises(Forbidden) as refused:
            await usage(who, "7d", "case")
        assert refused.value.permission == "assistant.usage"
    assert await usage(tenant.admin, "all", "user") == []
    with pytest.raises(Invalid) as invalid:
        await usage(tenant.admin, "week", "case")
    assert (invalid.value.field, invalid.value.message) == (
        "period",
        "Period 'week' is unknown; choose one of today, 7d, 30d, all.",
    )
    with pytest.raises(Invalid) as invalid:
        await usage(tenant.admin, "7d", "team")
    assert invalid.value.field == "group_by" and "user, model, case, kind" in invalid.value.message


async def test_the_cost_of_a_case_counts_its_alerts_and_reads_like_the_case(
    tenant: Any, other_tenant: Any
) -> None:
    s = await scene(tenant)
    theirs = await scene(other_tenant)
    assert await case_cost(s.viewer, s.case.id) == Decimal(0)
    await answered(s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id, cost="0.001250")
    await answered(s.org_id, K.SIMILAR_CASES, T.CASE, s.case.id, cost="0.000750")
    await answered(s.org_id, K.SIMILAR_CASES, T.ALERT, s.loose.id, cost="0.5")  # in no case
    assert await case_cost(s.viewer, str(s.case.id)) == Decimal("0.002000")
    assert await case_costs(s.viewer, [s.case.id, theirs.case.id]) == {
        s.case.id: Decimal("0.002000")
    }
    for value in (theirs.case.id, 2_000_000_000, "nope"):
        with pytest.raises(NotFound) as nf:
            await case_cost(s.viewer, value)
        assert nf.value.message == f"Case {value} not found."
    _, admin = await tenant.user("admin")
    with pytest.raises(Forbidden):
        await case_cost(admin, s.case.id)
