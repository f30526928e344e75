"""A case note that began as a draft of an assistant answer keeps `from_response_id` after
retention removed that answer: the case page and GraphQL say "since removed" instead of linking
to nothing, and another organization's answer id never reads as present."""

from __future__ import annotations

import html
import uuid
from datetime import UTC, datetime, timedelta

from riskops.server.assistant.models import AssistantResponse, ResponseStatus
from riskops.server.operations import retention
from riskops.server.triage import cases
from riskops.server.triage.models import Case, CaseStatus

LONG_AGO = datetime.now(UTC) - timedelta(days=400)
NOTES = "query($id: ID!) { case(id: $id) { notes { body fromResponseId fromResponseRemoved } } }"


async def _answer(org_id: int, case_id: int, *, created: datetime) -> AssistantResponse:
    return await AssistantResponse.create(
        org_id=org_id, kind="escalation_draft", target_type="case", target_id=case_id,
        status=ResponseStatus.SUCCEEDED, created_at=created,
    )  # fmt: skip


async def test_a_note_from_a_removed_answer_says_so(
    tenant, other_tenant, api, browser, monkeypatch
) -> None:
    org = tenant.org_id
    case = await Case.create(org_id=org, number=int(uuid.uuid4().int % 10**6), title="c",
                             status=CaseStatus.INVESTIGATING, opened_at=LONG_AGO)  # fmt: skip
    old = await _answer(org, case.id, created=LONG_AGO)
    fresh = await _answer(org, case.id, created=datetime.now(UTC))
    operator, person = await tenant.user("operator")
    await cases.add_case_note(person, case.id, "from the old draft", from_response=old.id)
    await cases.add_case_note(person, case.id, "from the new draft", from_response=fresh.id)
    await cases.add_case_note(person, case.id, "typed by hand")
    await retention.set_policy(tenant.admin, assistant_days=30)
    done = await retention.enforce(tenant.admin, trigger="cli")
    assert done is not None and done.removed == {"assistant": 1}
    assert not await AssistantResponse.exists(id=old.id)

    # The service: only the removed one; another organization's answer reads as removed.
    theirs = await _answer(other_tenant.org_id, 0, created=datetime.now(UTC))
    assert await retention.removed_responses(person, [old.id, fresh.id, None]) == {old.id}
    assert await retention.removed_responses(person, [theirs.id]) == {theirs.id}

    secret = await api.token(tenant, operator)
    asked: list[list[int | None]] = []
    real = retention.removed_responses

    async def counted(principal, ids):  # type: ignore[no-untyped-def]
        asked.append(list(ids))
        return await real(principal, ids)

    monkeypatch.setattr(retention, "removed_responses", counted)
    notes = (await api.data(secret, NOTES, {"id": case.id}))["case"]["notes"]
    monkeypatch.setattr(retention, "removed_responses", real)
    assert len(asked) == 1, asked  # the three notes' answers in one read, not one per note
    by_body = {n["body"]: n for n in notes}
    assert by_body["from the old draft"] == {
        "body": "from the old draft", "fromResponseId": str(old.id), "fromResponseRemoved": True
    }  # fmt: skip
    assert by_body["from the new draft"]["fromResponseRemoved"] is False
    assert by_body["typed by hand"] == {
        "body": "typed by hand", "fromResponseId": None, "fromResponseRemoved": False
    }  # fmt: skip

    client = await browser(operator, tenant.password)
    page = await client.get(f"/cases/{case.id}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "began as a draft of an assistant answer since removed" in text
    assert f'href="/assistant/responses/{old.id}"' not in text  # no dead link
    assert f'href="/assistant/responses/{fresh.id}"' in text
