"""What the assistant may use (issue 13): the facts, citable rows, PII to hide and structured
explanation of each kind, read in the response's organization only. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from riskops.server.assistant import grounding, prompts
from riskops.server.assistant.models import AssistantResponse, ResponseKind, TargetType
from riskops.server.assistant.redaction import Redactor
from riskops.server.core.errors import Invalid, NotFound
from riskops.server.triage import case_create
from riskops.server.triage.ingest import ingest_alerts
from riskops.server.triage.models import CaseAlert
from tests.assistant.scenes import (
    CARD,
    EMAIL,
    IBAN,
    NAME,
    PHONE,
    STAFF_NAME,
    pii_scene,
    run_scene,
)

X = "\u00d7"  # the times sign of formatting.multiplier
K = ResponseKind
T = TargetType


async def _response(org_id: int, kind: K, target_type: T, target_id: int) -> AssistantResponse:
    return await AssistantResponse.create(
        org_id=org_id, kind=kind, target_type=target_type, target_id=target_id,
        created_at=datetime.now(UTC),
    )  # fmt: skip


def _lines(s: grounding.Structured) -> list[str]:
    return [text for text, _ in s.lines]


async def test_explain_alert_holds_hits_signals_and_the_transaction(tenant):
    s = await pii_scene(tenant)
    a = s.alert

    g = await grounding.gather(await _response(tenant.org_id, K.EXPLAIN_ALERT, T.ALERT, a.id))

    facts = g.facts["alert"]
    assert g.facts["kind"] == "explain_alert"
    assert [h["cite"] for h in facts["rule_hits"]] == [f"rule:VEL-{s.tag}", f"rule:SAN-{s.tag}"]
    assert facts["rule_hits"][0]["score_contribution"] == 30.0
    assert facts["rule_hits"][1]["matched_values"]["matched_name"] == NAME  # redacted later
    assert [x["cite"] for x in facts["signals"]] == [
        "signal:velocity_1h", "signal:account_age_days", "signal:ip_risk",
    ]  # fmt: skip
    assert facts["signals"][2]["direction"] == "lowers the risk"
    tx = facts["transaction"]
    assert tx["amount"] == "1,250.00 EUR"
    assert tx["merchant"]["name"] == "Northwind Electronics"
    assert (tx["channel"], tx["country"]) == ("ecommerce", "DE")
    # the rows it may cite, linked to their anchors on the alert page
    rule = g.citable[f"rule:VEL-{s.tag}"]
    assert rule.url == f"/alerts/{a.id}#rule-VEL-{s.tag}"
    assert rule.label == f"VEL-{s.tag} Card velocity spike (1h)"
    assert g.citable["signal:ip_risk"].url == f"/alerts/{a.id}#signal-ip_risk"
    assert g.citable[f"alert:{a.id}"].url == f"/alerts/{a.id}"
    # what the redactor must hide, from the columns, the transaction and the matched values
    assert g.known_pii[s.customer] == "CUSTOMER"
    assert g.known_pii[s.account] == "ACCOUNT"
    assert g.known_pii[NAME] == "NAME"
    assert g.known_pii[EMAIL] == "EMAIL"
    assert g.known_pii[PHONE] == "PHONE"
    assert g.known_pii[IBAN] == "IBAN"
    assert g.known_pii[CARD] == "CARD"
    assert "Northwind Electronics" not in g.known_pii  # a merchant is not a person
    assert _lines(g.structured) == [
        "Score 87.5 (critical), assigned.",
        f"Fired on 2 rules: VEL-{s.tag} Card velocity spike (1h) (+30.00), SAN-{s.tag} "
        "Sanctions list fuzzy match (+12.50).",
        "Strongest signals: velocity_1h = 14 (+12.00, raises the risk), account_age_days = 3 "
        "(+4.50, raises the risk), ip_risk = 0.1 (-2.25, lowers the risk).",
        "Transaction: 1,250.00 EUR at Northwind Electronics (MCC 5732, US) by ecommerce from DE.",
    ]
    assert [c.key for c in g.structured.lines[1][1]] == [f"rule:VEL-{s.tag}", f"rule:SAN-{s.tag}"]


async def test_the_redacted_prompt_of_an_alert_is_small_and_holds_no_pii(tenant):
    s = await pii_scene(tenant)
    g = await grounding.gather(await _response(tenant.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id))
    r = Redactor(g.known_pii)

    messages = prompts.build(K.EXPLAIN_ALERT, r.redact_value(g.facts), list(g.citable))

    sent = json.dumps(messages, ensure_ascii=False)
    for secret in s.secrets:
        assert secret not in sent, secret
    assert "<CUSTOMER_1>" in sent and "<IBAN_1>" in sent and "<CARD_1>" in sent
    assert f"[rule:VEL-{s.tag}]" in messages[0]["content"]
    assert len(sent.encode()) < 6000


async def test_similar_cases_are_closed_look_alikes_with_their_cases(tenant):
    s = await pii_scene(tenant)

    g = await grounding.gather(await _response(tenant.org_id, K.SIMILAR_CASES, T.ALERT, s.alert.id))

    similar = g.facts["similar_closed_alerts"]
    assert [x["cite"] for x in similar] == [f"alert:{s.closed.id}"]  # the open one is not
    first = similar[0]
    assert first["disposition"] == "false_positive"
    assert "same customer" in first["why_similar"]
    by_case = {c["cite"]: c for c in first["cases"]}
    resolved = by_case[f"case:{s.closed_case.display_number}"]
    assert resolved["root_cause"] == "false_positive"
    assert resolved["status"] == "pending_approval"
    assert NAME in resolved["resolution_summary"]  # free text: the job redacts it
    assert g.citable[f"case:{s.closed_case.display_number}"].url == f"/cases/{s.closed_case.id}"
    assert g.citable[f"alert:{s.closed.id}"].url == f"/alerts/{s.closed.id}"
    lines = _lines(g.structured)
    assert lines[0] == "1 similar closed alert, most similar first."
    assert lines[1].startswith(f"Alert pii-{s.tag}-2 (")
    assert "closed as false positive on " in lines[1]
    assert f"Case {s.closed_case.display_number} pending approval, root cause false" in lines[1]


async def test_similar_cases_of_a_case_start_from_its_first_alert_and_skip_its_own(tenant):
    s = await pii_scene(tenant)
    # the scene's case holds the closed look-alike itself: nothing else is like it
    own = await grounding.structured(tenant.org_id, K.SIMILAR_CASES, T.CASE, s.case.id)
    fresh = (await case_create.create_case(s.strat, title="Other", alert_ids=[s.other.id])).case
    empty = (await case_create.create_case(s.strat, title="Empty", alert_ids=[s.other.id])).case
    await CaseAlert.filter(case_id=empty.id).delete()  # a case opened by a run has no alerts

    g = await grounding.gather(await _response(tenant.org_id, K.SIMILAR_CASES, T.CASE, fresh.id))
    none = await grounding.gather(await _response(tenant.org_id, K.SIMILAR_CASES, T.CASE, empty.id))

    assert _lines(own) == [
        "No closed alert shares its customer, account, merchant, rules or signals."
    ]
    assert g.facts["alert"]["cite"] == f"alert:{s.other.id}"
    assert [x["cite"] for x in g.facts["similar_closed_alerts"]] == [f"alert:{s.closed.id}"]
    assert none.facts["similar_closed_alerts"] == []
    assert _lines(none.structured) == ["This case has no alerts to compare."]


async def test_an_alert_escalation_has_history_questions_and_cases_by_role(tenant):
    s = await pii_scene(tenant)

    g = await grounding.gather(
        await _response(tenant.org_id, K.ESCALATION_DRAFT, T.ALERT, s.alert.id)
    )

    f = g.facts
    assert [h["action"] for h in f["history"]] == [
        "ingest",
        "assign",
        "request_info",
        "answer_info",
    ]
    assert f["history"][1]["by"] == "strategist"
    assert f["assignee"] == "strategist"
    (info,) = f["information_requests"]
    assert info["asked_by"] == info["answerer"] == "strategist"
    assert EMAIL in info["question"] and "020 7946 0958" in info["answer"]
    assert [c["cite"] for c in f["cases"]] == [f"case:{s.case.display_number}"]
    assert STAFF_NAME not in json.dumps(f)  # people appear by role
    assert g.known_pii[STAFF_NAME] == "NAME"  # and are hidden if the free text names them
    assert g.known_pii[s.strat.email] == "EMAIL"
    lines = _lines(g.structured)
    assert lines[0].startswith(f"Alert pii-{s.tag}-1: ")
    assert lines[-1] == f"In 1 case: {s.case.display_number}."


async def test_a_case_escalation_has_its_alerts_notes_and_status(tenant):
    s = await pii_scene(tenant)

    g = await grounding.gather(
        await _response(tenant.org_id, K.ESCALATION_DRAFT, T.CASE, s.case.id)
    )

    f = g.facts
    assert f["case"]["cite"] == f"case:{s.case.display_number}"
    assert (f["case"]["status"], f["case"]["severity"], f["case"]["alert_count"]) == (
        "open", "high", 2,
    )  # fmt: skip
    assert [a["cite"] for a in f["alerts"]] == [f"alert:{s.alert.id}", f"alert:{s.closed.id}"]
    assert f["more_alerts"] == 0
    (note,) = f["notes"]
    assert note["by"] == "strategist" and NAME in note["text"]
    assert [h["action"] for h in f["history"]] == ["create", "add_note"]
    assert g.known_pii[s.customer] == "CUSTOMER"
    assert _lines(g.structured)[0] == (
        f"{s.case.display_number} Velocity burst of {s.customer}: open, severity high, 2 alerts."
    )


async def test_a_run_explanation_has_flags_baseline_thresholds_and_recent_runs(tenant):
    rs = await run_scene(tenant)
    run = rs.run
    assert run.severity is not None and run.severity.value == "SEV1"

    g = await grounding.gather(await _response(tenant.org_id, K.EXPLAIN_RUN, T.RUN, run.id))

    f = g.facts
    assert f["run"]["cite"] == f"run:{run.run_id}"
    assert (f["run"]["multiplier"], f["run"]["severity"], f["run"]["baseline_median"]) == (
        6.0, "SEV1", 100.0,
    )  # fmt: skip
    flags = {x["cite"]: x["why"] for x in f["flags"]}
    assert flags.get("flag:retry_loop")
    assert f["baseline"]["cite"] == f"baseline:{rs.scenario.key}"
    assert f["policy"]["sev1_multiplier"] == 5.0 and f["policy"]["version"] == "defaults"
    recent = [r["cite"] for r in f["recent_runs_of_scenario"]]
    assert recent == [f"run:{r.run_id}" for r in rs.recent[:10]]
    assert g.citable[f"run:{run.run_id}"].url == f"/runs/{run.id}"
    assert g.citable["flag:retry_loop"].url == f"/runs/{run.id}#flag-retry_loop"
    assert g.citable[f"baseline:{rs.scenario.key}"].url == f"/scenarios/{rs.scenario.key}"
    lines = _lines(g.structured)
    assert lines[0].startswith(f"SEV1: {X}6 the baseline of 100.00 credits (600.00 used); flags: ")
    assert "retry_loop" in lines[0]
    assert lines[1].startswith(f"Thresholds of policy defaults: SEV0 ≥ {X}10 and PII")
    assert any(line.startswith("retry_loop: ") for line in lines)
    assert (
        lines[-1]
        == f"The last 10 runs of {rs.scenario.key}: 0 with a severity, median {X}1.02 the baseline."
    )
    assert g.structured.title == f"Why run {run.run_id} is SEV1"


@pytest.mark.parametrize(
    ("kind", "target_type"),
    [
        (K.EXPLAIN_ALERT, T.ALERT),
        (K.SIMILAR_CASES, T.CASE),
        (K.ESCALATION_DRAFT, T.CASE),
        (K.EXPLAIN_RUN, T.RUN),
    ],
)
async def test_another_organizations_target_reads_like_a_missing_one(
    tenant, other_tenant, kind, target_type
):
    s = await pii_scene(tenant)
    rs = await run_scene(tenant)
    target = {T.ALERT: s.alert.id, T.CASE: s.case.id, T.RUN: rs.run.id}[target_type]

    with pytest.raises(NotFound) as theirs:
        await grounding.gather(await _response(other_tenant.org_id, kind, target_type, target))
    with pytest.raises(NotFound) as missing:
        await grounding.structured(other_tenant.org_id, kind, target_type, 2**31 - 1)

    assert str(theirs.value) == str(missing.value).replace(str(2**31 - 1), str(target))


async def test_a_kind_asked_of_the_wrong_target_is_refused(tenant):
    with pytest.raises(Invalid) as e:
        await grounding.structured(tenant.org_id, K.EXPLAIN_RUN, T.ALERT, 1)
    assert str(e.value) == "explain_run is asked of a run, not of an alert."


async def test_a_case_a_run_opened_is_drafted_from_its_runs(tenant):
    rs = await run_scene(tenant)
    assert rs.run.case_id is not None  # SEV1 opens a case

    g = await grounding.gather(
        await _response(tenant.org_id, K.ESCALATION_DRAFT, T.CASE, rs.run.case_id)
    )

    assert g.facts["alerts"] == []
    (run,) = g.facts["runs"]
    assert (run["cite"], run["severity"], run["flags"]) == (
        f"run:{rs.run.run_id}", "SEV1", ["retry_loop"],
    )  # fmt: skip
    assert g.citable[f"run:{rs.run.run_id}"].url == f"/runs/{rs.run.id}"
    assert _lines(g.structured)[-1] == (
        f"Run {rs.run.run_id}: SEV1, {X}6 the baseline; flags: retry_loop."
    )


async def test_a_signal_whose_name_says_it_holds_a_person_is_hidden(tenant):
    _, strat = await tenant.user("strategist")
    made = await ingest_alerts(
        strat,
        [
            {
                "external_id": f"sig-{uuid.uuid4().hex[:8]}", "source": "s", "title": "t",
                "score": 50, "priority": "medium",
                "signals": [
                    {"signal": "payee_name", "value": "Jane Roe", "contribution": 1,
                     "direction": "up"},
                    {"signal": "payee_risk", "value": "high", "contribution": 1,
                     "direction": "up"},
                ],
            }
        ],
    )  # fmt: skip
    alert_id = made.created[0].alert_id

    g = await grounding.gather(await _response(tenant.org_id, K.EXPLAIN_ALERT, T.ALERT, alert_id))

    assert g.known_pii == {"Jane Roe": "NAME"}
