"""The assistant's pages, driven like a browser (tests/support/pages.py): the panel of an alert,
a case and a run as each role sees it, asking (pending, then finished through the job run in
process against the loopback LLM), rating, saving an escalation draft as a case note, the panel
when the assistant is off, the usage page, and the bad inputs of every form, each shown where
it was typed with nothing changed."""

from __future__ import annotations

import dataclasses
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from riskops.jobs.runner import drain
from riskops.server.assistant import provider
from riskops.server.assistant.models import (
    AssistantResponse,
    ResponseKind,
    ResponseStatus,
    TargetType,
)
from riskops.server.core.principal import Principal
from riskops.server.credit import kill_switches, recording
from riskops.server.credit.models import Run
from riskops.server.settings import use_settings
from riskops.server.triage import case_create, ingest
from riskops.server.triage.models import CaseNote
from tests.assistant.conftest import assistant_settings
from tests.support.pages import flash_code

HX = {"HX-Request": "true"}
PANEL = {**HX, "HX-Target": "assistant-panel"}
ASK = {"explain_alert": "Explain this alert", "similar_cases": "Similar cases",
       "escalation_draft": "Draft an escalation", "explain_run": "Explain this run"}  # fmt: skip


def alert_item(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "external_id": f"ext-{uuid.uuid4().hex[:10]}",
        "source": "card-rules",
        "title": "Card testing burst",
        "score": 80.0,
        "priority": "high",
        "customer_ref": "cust-1",
        "account_ref": "acct-9",
        "amount": "125.40",
        "currency": "EUR",
        "rule_hits": [{"rule_id": "R-17", "name": "Velocity", "version": "3",
                       "score_contribution": 40, "matched_values": {"tx_1h": 14}}],
        "signals": [
            {"signal": "geo_mismatch", "value": True, "contribution": 12.5, "direction": "up"},
            {"signal": "tenure_days", "value": 900, "contribution": -5, "direction": "down"},
        ],
    }  # fmt: skip
    base.update(over)
    return base


async def new_alert(tenant: Any, **over: Any) -> int:
    _, strategist = await tenant.user("strategist")
    result = await ingest.ingest_alerts(strategist, [alert_item(**over)])
    assert not result.errors, result.errors
    return result.created[0].alert_id


async def new_case(principal: Principal, *alert_ids: int) -> int:
    worker = dataclasses.replace(principal, roles=frozenset({"strategist"}))
    created = await case_create.create_case(worker, title="Card testing", alert_ids=list(alert_ids))
    return created.case.id


async def stored(
    org_id: int, kind: ResponseKind, target_type: TargetType, target_id: int, **over: Any
) -> AssistantResponse:
    """A response as the assistant's job leaves it (succeeded unless told otherwise)."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "org_id": org_id, "kind": kind, "target_type": target_type, "target_id": target_id,
        "status": ResponseStatus.SUCCEEDED, "model": "openai/gpt-4o-mini",
        "output": "It fired on velocity [rule:R-17].", "tokens_in": 310, "tokens_out": 42,
        "cost": Decimal("0.000072"), "latency_ms": 840, "created_at": now, "finished_at": now,
        "citations": [{"kind": "rule", "ref": "R-17", "label": "R-17 Velocity",
                       "url": f"/alerts/{target_id}#rule-R-17"}],
    }  # fmt: skip
    values.update(over)
    return await AssistantResponse.create(**values)


async def signed_in(browser: Any, tenant: Any, *roles: str) -> tuple[Any, Principal]:
    user, principal = await tenant.user(*roles)
    return await browser(user, tenant.password), principal


def buttons(html: str) -> list[str]:
    return re.findall(r'name="kind" value="([a-z_]+)"', html)


def form_of(html: str, action: str) -> str:
    return html.split(f'action="{action}"', 1)[1].split("</form>", 1)[0]


def hidden(html: str, action: str) -> dict[str, str]:
    return dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form_of(html, action))
    )


def said(html: str) -> str:
    """The error page's message."""
    found = re.search(r'error-card">(.*?)<p class="muted small">', html, re.S)
    assert found, html
    return " ".join(found.group(1).split())


async def snapshot(org_id: int) -> tuple[Any, ...]:
    rows = await AssistantResponse.filter(org_id=org_id).order_by("id")
    notes = await CaseNote.filter(case__org_id=org_id).count()
    return tuple((r.id, r.status, r.helpful, r.feedback_comment) for r in rows), notes


# ----------------------------------------------------------------------------- the panel


async def test_detail_pages_load_the_panel_lazily(browser: Any, tenant: Any) -> None:
    alert = await new_alert(tenant)
    b, strategist = await signed_in(browser, tenant, "strategist")
    case = await new_case(strategist, alert)
    for path, url in ((f"/alerts/{alert}", f"/assistant/alert/{alert}"),
                      (f"/cases/{case}", f"/assistant/case/{case}")):  # fmt: skip
        page = (await b.get(path)).text
        assert f'hx-get="{url}" hx-trigger="load"' in page, path
        assert f'<a href="{url}">Open the assistant</a>' in page  # without script
    # The rows a citation links to have anchors.
    alert_page = (await b.get(f"/alerts/{alert}")).text
    assert 'id="rule-R-17"' in alert_page
    assert 'id="signal-geo_mismatch"' in alert_page


async def test_each_role_sees_its_buttons_or_none(
    browser: Any, tenant: Any, assistant_on: Any
) -> None:
    alert = await new_alert(tenant)
    expected = {
        "strategist": ["explain_alert", "similar_cases", "escalation_draft"],
        "viewer": [],
        "operator": [],
        "approver": [],
    }
    await stored(tenant.org_id, ResponseKind.EXPLAIN_ALERT, TargetType.ALERT, alert)
    for role, kinds in expected.items():
        b, _ = await signed_in(browser, tenant, role)
        r = await b.get(f"/assistant/alert/{alert}", headers=PANEL)
        assert r.status_code == 200, (role, r.text)
        assert buttons(r.text) == kinds, role
        for kind in kinds:
            assert ASK[kind] in r.text
        # Everyone who reads the alert sees the stored answer, its citation linked to its row.
        assert f'href="/alerts/{alert}#rule-R-17"' in r.text, role
        assert ("/rate" in r.text) == (role == "strategist"), role
    # Who may not read answers gets the 403 page.
    b, _ = await signed_in(browser, tenant, "compliance_reviewer")
    assert (await b.get(f"/assistant/alert/{alert}")).status_code == 403


async def test_a_run_panel_for_operators_and_approvers(
    browser: Any, tenant: Any, assistant_on: Any
) -> None:
    recorded = await recording.record_runs(
        tenant.admin,
        [{"run_id": "ASSIST-SEV0", "scenario": "ASSIST_SCENARIO", "credits_total": 1.0}],
    )
    run_pk = recorded.recorded[0].pk
    await Run.filter(id=run_pk).update(severity="SEV1")  # a spike: the assistant explains it
    for role, kinds in (("operator", ["explain_run"]), ("approver", ["explain_run"]),
                        ("viewer", [])):  # fmt: skip
        b, _ = await signed_in(browser, tenant, role)
        page = (await b.get(f"/runs/{run_pk}")).text
        assert f'hx-get="/assistant/run/{run_pk}"' in page, role
        r = await b.get(f"/assistant/run/{run_pk}", headers=PANEL)
        assert buttons(r.text) == kinds, role
    # An operator asks; the answer cites the run's own rows, linked.
    b, _ = await signed_in(browser, tenant, "operator")
    panel = (await b.get(f"/assistant/run/{run_pk}", headers=PANEL)).text
    r = await b.post(f"/assistant/run/{run_pk}/ask", hidden(panel, f"/assistant/run/{run_pk}/ask"),
                     headers=PANEL)  # fmt: skip
    assert r.status_code == 303 and flash_code(r) == "assistant.asked"
    await drain()
    shown = (await b.get(f"/assistant/run/{run_pk}", headers=PANEL)).text
    assert "Run explanation" in shown and "answered" in shown, shown
    assert f'href="/runs/{run_pk}' in shown.split('class="assistant-output', 1)[1]
    # A run that did not spike has no panel on its page.
    quiet = await recording.record_runs(
        tenant.admin,
        [{"run_id": "ASSIST-QUIET", "scenario": "ASSIST_SCENARIO", "credits_total": 1.0}],
    )
    quiet_pk = quiet.recorded[0].pk
    assert 'id="assistant-panel"' not in (await b.get(f"/runs/{quiet_pk}")).text


async def test_ask_pending_then_finished(
    browser: Any, tenant: Any, assistant_on: Any, fake_llm: Any
) -> None:
    alert = await new_alert(tenant)
    b, _ = await signed_in(browser, tenant, "strategist")
    panel = (await b.get(f"/assistant/alert/{alert}", headers=PANEL)).text
    fields = hidden(panel, f"/assistant/alert/{alert}/ask")
    assert fields["kind"] == "explain_alert" and len(fields["idempotency_key"]) == 32
    # Slow enough to be seen pending, well within a timeout a loaded machine cannot reach.
    use_settings(assistant_settings(assistant_on, fake_llm, assistant_timeout_seconds=20.0))
    provider.reset()
    fake_llm.behave("gpt-4o-mini", "slow", delay=0.5)
    r = await b.post(f"/assistant/alert/{alert}/ask", fields, headers=PANEL)
    assert r.status_code == 303 and flash_code(r) == "assistant.asked"
    assert r.headers["location"] == f"/assistant/alert/{alert}"
    # The same key again (a double click) asks once.
    again = await b.post(f"/assistant/alert/{alert}/ask", fields, headers=PANEL)
    assert again.status_code == 303
    assert await AssistantResponse.filter(org_id=tenant.org_id).count() == 1
    response = await AssistantResponse.get(org_id=tenant.org_id)

    pending = await b.get(r.headers["location"], headers=PANEL)
    assert "Asking the assistant" in pending.text
    box = f"assistant-response-{response.id}"
    poll = f'hx-get="/assistant/responses/{response.id}" hx-trigger="every 1s"'
    assert poll in pending.text
    polled = await b.get(f"/assistant/responses/{response.id}", headers={**HX, "HX-Target": box})
    if (await AssistantResponse.get(id=response.id)).status is ResponseStatus.PENDING:
        assert poll in polled.text
    await drain()
    finished = await b.get(f"/assistant/responses/{response.id}", headers={**HX, "HX-Target": box})
    assert finished.status_code == 200
    assert "every 1s" not in finished.text  # nothing polls any more
    assert f'hx-get="/assistant/alert/{alert}" hx-trigger="load"' in finished.text

    shown = (await b.get(f"/assistant/alert/{alert}", headers=PANEL)).text
    done = await AssistantResponse.get(id=response.id)
    assert done.status is ResponseStatus.SUCCEEDED, (done.status, done.reason, done.error)
    assert "every 1s" not in shown
    assert "Explanation" in shown and "answered" in shown
    assert done.citations, "the loopback model cites what it was given"
    for c in done.citations:
        assert f'href="{c["url"]}"' in shown  # linked to the row it cites
    assert done.model and done.model in shown
    assert f"tokens {done.tokens_in:,} in, {done.tokens_out:,} out" in shown
    assert " USD" in shown
    # Without script, the answer has a page of its own.
    page = await b.get(f"/assistant/responses/{response.id}")
    assert page.status_code == 200 and f"Assistant response {response.id}" in page.text


async def test_invented_citations_are_counted_on_the_panel(browser: Any, tenant: Any) -> None:
    alert = await new_alert(tenant)
    await stored(tenant.org_id, ResponseKind.EXPLAIN_ALERT, TargetType.ALERT, alert,
                 dropped_citations=2)  # fmt: skip
    b, _ = await signed_in(browser, tenant, "viewer")
    shown = (await b.get(f"/assistant/alert/{alert}", headers=PANEL)).text
    assert "2 citations dropped" in shown


async def test_bad_asks_change_nothing(
    browser: Any, tenant: Any, other_tenant: Any, assistant_on: Any
) -> None:
    alert = await new_alert(tenant)
    theirs = await new_alert(other_tenant)
    b, strategist = await signed_in(browser, tenant, "strategist")
    await b.get(f"/assistant/alert/{alert}")
    before = await snapshot(tenant.org_id)
    # Another organization's alert reads exactly like a missing one.
    foreign = await b.post(f"/assistant/alert/{theirs}/ask", {"kind": "explain_alert"})
    missing = await b.post("/assistant/alert/2000000000/ask", {"kind": "explain_alert"})
    assert foreign.status_code == missing.status_code == 404
    assert said(foreign.text).replace(str(theirs), "N") == said(missing.text).replace(
        "2000000000", "N"
    )
    garbled = await b.post("/assistant/alert/abc/ask", {"kind": "explain_alert"})
    assert garbled.status_code == 404
    # An unknown kind, none at all, or one the target has not: said in the panel.
    b_case = await new_case(strategist, alert)
    for path, kind in ((f"/assistant/alert/{alert}", "poem"), (f"/assistant/alert/{alert}", ""),
                       (f"/assistant/case/{b_case}", "explain_alert")):  # fmt: skip
        r = await b.post(f"{path}/ask", {"kind": kind}, headers=PANEL)
        assert r.status_code == 422, (kind, r.status_code)
        assert 'role="alert"' in r.text and 'id="assistant-panel"' in r.text
    # A run's explanation is not a strategist's to ask for.
    r = await b.post(f"/assistant/alert/{alert}/ask", {"kind": "explain_run"}, headers=PANEL)
    assert r.status_code == 403
    bad_target = await b.post(f"/assistant/poem/{alert}/ask", {"kind": "explain_alert"})
    assert bad_target.status_code in (404, 422)
    # A viewer may not ask.
    viewer, _ = await signed_in(browser, tenant, "viewer")
    await viewer.get(f"/assistant/alert/{alert}")
    refused = await viewer.post(f"/assistant/alert/{alert}/ask", {"kind": "explain_alert"})
    assert refused.status_code == 403 and "Not allowed" in refused.text
    assert await snapshot(tenant.org_id) == before


# ----------------------------------------------------------------------------- feedback


async def test_rate_an_answer_and_the_bad_inputs(
    browser: Any, tenant: Any, other_tenant: Any
) -> None:
    alert = await new_alert(tenant)
    answer = await stored(tenant.org_id, ResponseKind.EXPLAIN_ALERT, TargetType.ALERT, alert)
    other_alert = await new_alert(other_tenant)
    theirs = await stored(other_tenant.org_id, ResponseKind.EXPLAIN_ALERT, TargetType.ALERT,
                          other_alert)  # fmt: skip
    b, _ = await signed_in(browser, tenant, "strategist")
    await b.get(f"/assistant/alert/{alert}")
    before = await snapshot(tenant.org_id)
    url = f"/assistant/responses/{answer.id}/rate"

    r = await b.post(url, {"helpful": "maybe"}, headers=PANEL)
    assert r.status_code == 422 and "Choose Helpful or Not helpful." in r.text
    long = "x" * 2001
    r = await b.post(url, {"helpful": "yes", "comment": long}, headers=PANEL)
    assert r.status_code == 422
    assert 'name="comment"' in r.text and 'aria-invalid="true"' in form_of(r.text, url)
    assert long in r.text  # what was typed is kept
    assert "2000" in r.text
    for bad in (f"/assistant/responses/{theirs.id}/rate", "/assistant/responses/2000000000/rate",
                "/assistant/responses/abc/rate"):  # fmt: skip
        r = await b.post(bad, {"helpful": "yes"})
        assert r.status_code == 404, bad
    viewer, _ = await signed_in(browser, tenant, "viewer")
    await viewer.get("/")
    assert (await viewer.post(url, {"helpful": "yes"})).status_code == 403
    assert await snapshot(tenant.org_id) == before

    r = await b.post(url, {"helpful": "no", "comment": "Misses the device."}, headers=PANEL)
    assert r.status_code == 303 and flash_code(r) == "assistant.rated"
    shown = (await b.get(r.headers["location"], headers=PANEL)).text
    assert "Rated <strong>not helpful</strong>" in shown and "Misses the device." in shown
    rated = await AssistantResponse.get(id=answer.id)
    assert rated.helpful is False and rated.feedback_comment == "Misses the device."


# ----------------------------------------------------------------------------- drafts


async def test_save_a_draft_as_a_case_note(browser: Any, tenant: Any) -> None:
    alert = await new_alert(tenant)
    b, strategist = await signed_in(browser, tenant, "strategist")
    case = await new_case(strategist, alert)
    draft = await stored(tenant.org_id, ResponseKind.ESCALATION_DRAFT, TargetType.ALERT, alert,
                         output="Escalate: card testing on one account.", citations=[])  # fmt: skip
    panel = (await b.get(f"/assistant/alert/{alert}", headers=PANEL)).text
    url = f"/assistant/responses/{draft.id}/note"
    form = form_of(panel, url)
    assert "Escalate: card testing on one account.</textarea>" in form
    assert "Save as case note" in form
    assert hidden(panel, url)["case_id"] == str(case)

    before = await snapshot(tenant.org_id)
    r = await b.post(url, {"body": "   ", "case_id": str(case)}, headers=PANEL)
    assert r.status_code == 422 and 'aria-invalid="true"' in form_of(r.text, url)
    assert await snapshot(tenant.org_id) == before

    # htmx: the whole page goes to the case (the panel is only where the form was).
    r = await b.post(url, {"body": "Escalate: card testing, edited.", "case_id": str(case)},
                     headers=PANEL)  # fmt: skip
    note = await CaseNote.filter(case_id=case).order_by("-id").first()
    assert note and note.body == "Escalate: card testing, edited."
    assert note.from_response_id == draft.id
    assert r.status_code == 200 and r.headers["HX-Redirect"] == f"/cases/{case}#note-{note.id}"
    assert flash_code(r) == "assistant.note"
    page = (await b.get(f"/cases/{case}")).text
    assert "The draft is saved as a note of the case." in page
    assert f'began as a draft of <a href="/assistant/responses/{draft.id}">' in page
    assert f"assistant response {draft.id}</a>" in page

    # Without script: a 303 to the case.
    r = await b.post(url, {"body": "Again, plainly.", "case_id": str(case)})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/cases/{case}#note-")


async def test_a_draft_of_an_alert_in_two_cases_asks_which(browser: Any, tenant: Any) -> None:
    alert = await new_alert(tenant)
    b, strategist = await signed_in(browser, tenant, "strategist")
    first, second = await new_case(strategist, alert), await new_case(strategist, alert)
    draft = await stored(tenant.org_id, ResponseKind.ESCALATION_DRAFT, TargetType.ALERT, alert,
                         output="Escalate.", citations=[])  # fmt: skip
    url = f"/assistant/responses/{draft.id}/note"
    panel = (await b.get(f"/assistant/alert/{alert}", headers=PANEL)).text
    form = form_of(panel, url)
    assert "Choose the case…" in form
    assert form.count('<option value="') == 3  # the blank and both cases
    before = await snapshot(tenant.org_id)
    r = await b.post(url, {"body": "Escalate."}, headers=PANEL)
    assert r.status_code == 422 and "choose one of" in r.text
    assert 'id="case_id-error"' in r.text
    assert await snapshot(tenant.org_id) == before
    r = await b.post(url, {"body": "Escalate.", "case_id": str(second)})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/cases/{second}#note-")
    assert await CaseNote.filter(case_id=first).count() == 0


async def test_bad_drafts_change_nothing(browser: Any, tenant: Any, other_tenant: Any) -> None:
    alert = await new_alert(tenant)
    b, strategist = await signed_in(browser, tenant, "strategist")
    case = await new_case(strategist, alert)
    draft = await stored(tenant.org_id, ResponseKind.ESCALATION_DRAFT, TargetType.CASE, case,
                         output="Escalate.", citations=[])  # fmt: skip
    explanation = await stored(tenant.org_id, ResponseKind.EXPLAIN_ALERT, TargetType.ALERT, alert)
    other_alert = await new_alert(other_tenant)
    _, other_strategist = await other_tenant.user("strategist")
    other_case = await new_case(other_strategist, other_alert)
    await b.get(f"/assistant/case/{case}")
    before = await snapshot(tenant.org_id)
    url = f"/assistant/responses/{draft.id}/note"
    r = await b.post(url, {"body": "y" * 20_001}, headers=PANEL)
    assert r.status_code == 422 and 'aria-invalid="true"' in form_of(r.text, url)
    r = await b.post(url, {"body": "Escalate.", "case_id": str(other_case)}, headers=PANEL)
    missing = await b.post(url, {"body": "Escalate.", "case_id": "2000000000"}, headers=PANEL)
    assert r.status_code == missing.status_code == 404
    r = await b.post(url, {"body": "Escalate.", "case_id": "abc"}, headers=PANEL)
    assert r.status_code == 404
    # Not a draft: an explanation cannot become a note.
    r = await b.post(f"/assistant/responses/{explanation.id}/note", {"body": "x"}, headers=PANEL)
    assert r.status_code == 422 and "only an escalation draft" in r.text
    operator, _ = await signed_in(browser, tenant, "operator")
    await operator.get("/")
    assert (await operator.post(url, {"body": "Escalate."})).status_code == 403
    assert await snapshot(tenant.org_id) == before


# ----------------------------------------------------------------------------- unavailable


async def test_off_says_why_and_shows_the_structured_explanation(
    browser: Any, tenant: Any, assistant_on: Any
) -> None:
    alert = await new_alert(tenant)
    b, _ = await signed_in(browser, tenant, "strategist")
    _, approver = await tenant.user("approver")
    await kill_switches.set_kill_switch(approver, "assistant", "", "Provider incident")
    shown = (await b.get(f"/assistant/alert/{alert}", headers=PANEL)).text
    assert buttons(shown) == []  # nothing to ask while it is off
    reason = re.search(r'<p class="assistant-off" role="status">(.*?)</p>', shown, re.S)
    assert reason and "kill switch" in reason.group(1).lower()
    assert 'class="assistant-structured"' in shown
    assert 'href="/alerts/' in shown.split('class="assistant-structured"', 1)[1]
    # The alert page itself is untouched by it.
    assert (await b.get(f"/alerts/{alert}")).status_code == 200


async def test_a_failed_answer_says_why(browser: Any, tenant: Any, assistant_on: Any) -> None:
    alert = await new_alert(tenant)
    await stored(tenant.org_id, ResponseKind.EXPLAIN_ALERT, TargetType.ALERT, alert,
                 status=ResponseStatus.FAILED, output=None, citations=[],
                 reason="The model answered with something unusable.")  # fmt: skip
    b, _ = await signed_in(browser, tenant, "viewer")
    shown = (await b.get(f"/assistant/alert/{alert}", headers=PANEL)).text
    assert "The model answered with something unusable." in shown
    assert 'class="assistant-structured"' in shown


# ----------------------------------------------------------------------------- usage and cost


async def test_usage_page_and_case_cost(browser: Any, tenant: Any) -> None:
    alert = await new_alert(tenant)
    b, strategist = await signed_in(browser, tenant, "strategist")
    case = await new_case(strategist, alert)
    await stored(tenant.org_id, ResponseKind.EXPLAIN_ALERT, TargetType.ALERT, alert,
                 requested_by_id=strategist.user_id, cost=Decimal("0.0125"))  # fmt: skip
    await stored(tenant.org_id, ResponseKind.ESCALATION_DRAFT, TargetType.CASE, case,
                 requested_by_id=strategist.user_id, cost=Decimal("0.0005"),
                 status=ResponseStatus.FAILED)  # fmt: skip
    case_page = (await b.get(f"/cases/{case}")).text
    assert re.search(r'class="assistant-cost">0\.013(0)? USD', case_page), "the case and its alert"
    assert "Assistant usage" not in case_page  # no nav link for a strategist
    assert (await b.get("/assistant/usage")).status_code == 403

    for role in ("approver", "admin"):
        a, _ = await signed_in(browser, tenant, role)
        home = (await a.get("/")).text
        assert 'href="/assistant/usage"' in home, role
        r = await a.get("/assistant/usage?period=all&group=case")
        assert r.status_code == 200, r.text
        row = re.search(r"<tr>\s*<td><a href=\"/cases/(\d+)\">(CASE-\d{6})</a></td>(.*?)</tr>",
                        r.text, re.S)  # fmt: skip
        assert row and row.group(1) == str(case), r.text
        cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', row.group(3))
        assert cells[:2] == ["2", "1"] and cells[-1] == "0.013 USD", cells
        assert "Budget today" in r.text and "spent of" in r.text
    by_person = await a.get("/assistant/usage?period=7d&group=user")
    assert strategist.name in by_person.text
    bad = await a.get("/assistant/usage?period=forever&group=case")
    assert bad.status_code == 422 and 'id="period-error"' in bad.text
    bad = await a.get("/assistant/usage?period=all&group=weather")
    assert bad.status_code == 422 and 'id="group-error"' in bad.text


@pytest.mark.parametrize("role", ["compliance_reviewer", "strategist", "viewer"])
async def test_usage_page_refuses_who_may_not_see_cost(
    browser: Any, tenant: Any, role: str
) -> None:
    b, _ = await signed_in(browser, tenant, role)
    r = await b.get("/assistant/usage")
    assert r.status_code == 403 and "Not allowed" in r.text
