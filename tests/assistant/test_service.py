"""The assistant's service (server/assistant/service.py): asking (permission first, the target
in the caller's organization, idempotency, one pending request per person, unavailable without a
job when off, a queue that cannot be reached), reading, rating, saving a draft as a case note,
and the panel."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from riskops.jobs import runner
from riskops.jobs.models import Job
from riskops.server.assistant import service
from riskops.server.assistant.models import (
    AssistantResponse,
    ResponseKind,
    ResponseStatus,
    TargetType,
)
from riskops.server.core.errors import Conflict, Duplicate, Forbidden, Invalid, NotFound
from riskops.server.settings import get_settings, use_settings
from riskops.server.triage import case_create, cases
from riskops.server.triage.models import Case, CaseStatus
from tests.assistant.scene import answered, events, same_shape, scene, state

K = ResponseKind
T = TargetType
S = ResponseStatus


# ----------------------------------------------------------------------------- asking


async def test_off_answers_unavailable_at_once_with_the_reason_and_queues_nothing(
    tenant: Any,
) -> None:
    s = await scene(tenant)
    assert not get_settings().assistant_model  # the test settings configure no model
    done = await service.request_response(s.strategist, "explain_alert", "alert", s.alert.id)
    r = done.response
    assert (r.status, done.job_id, r.job_id) == (S.UNAVAILABLE, None, None)
    assert r.reason and "model" in r.reason.lower(), r.reason
    assert r.finished_at is not None and r.requested_by_id == s.strategist.user_id
    assert not await Job.filter(dedupe_key=f"assistant.respond:{r.id}").exists()
    (event,) = await events(s.org_id, "assistant.request")
    assert event.entity_id == str(r.id)
    assert event.new["status"] == "unavailable" and event.new["reason"] == r.reason
    assert event.new["target_type"] == "alert" and event.new["target_id"] == s.alert.id


async def test_on_writes_pending_queues_the_job_and_the_job_answers(
    tenant: Any, assistant_on: Any
) -> None:
    s = await scene(tenant)
    done = await service.request_response(s.strategist, K.EXPLAIN_ALERT, T.ALERT, s.alert.id)
    assert done.response.status is S.PENDING and done.job_id is not None
    job = await Job.get(id=done.job_id)
    assert (
        job.kind == "assistant.respond"
        and job.dedupe_key == f"assistant.respond:{done.response.id}"
    )
    assert job.payload == {"response_id": done.response.id, "org_id": s.org_id}
    assert (await AssistantResponse.get(id=done.response.id)).job_id == done.job_id
    (event,) = await events(s.org_id, "assistant.request")
    assert event.new["status"] == "pending" and event.new["kind"] == "explain_alert"
    await runner.drain()
    finished = await AssistantResponse.get(id=done.response.id)
    assert finished.status is S.SUCCEEDED, (finished.status, finished.reason, finished.error)
    assert finished.output and finished.tokens_out > 0


async def test_the_same_key_replays_the_first_response_and_another_request_is_refused(
    tenant: Any,
) -> None:
    s = await scene(tenant)
    first = await service.request_response(
        s.strategist, K.EXPLAIN_ALERT, T.ALERT, s.alert.id, idempotency_key="k-1"
    )
    assert not first.replayed
    before = await state(s.org_id)
    again = await service.request_response(
        s.strategist, K.EXPLAIN_ALERT, T.ALERT, str(s.alert.id), idempotency_key="k-1"
    )
    assert again.replayed and again.response.id == first.response.id
    assert await state(s.org_id) == before

    for kind, target_type, target in (
        (K.EXPLAIN_ALERT, T.ALERT, s.loose.id),  # another target
        (K.SIMILAR_CASES, T.ALERT, s.alert.id),  # another kind
        (K.SIMILAR_CASES, T.CASE, s.case.id),
    ):
        with pytest.raises(Duplicate) as caught:
            await service.request_response(
                s.strategist, kind, target_type, target, idempotency_key="k-1"
            )
        assert caught.value.field == "idempotency_key"
        assert f"(explain alert on alert {s.alert.external_id})" in caught.value.message
        assert "use a new key" in caught.value.message
        assert await state(s.org_id) == before


async def test_a_key_of_another_action_names_what_it_was_used_for(tenant: Any) -> None:
    s = await scene(tenant)
    made = await case_create.create_case(
        s.strategist, title="Second", alert_ids=[s.loose.id], idempotency_key="k-case"
    )
    before = await state(s.org_id)
    with pytest.raises(Duplicate) as caught:
        await service.request_response(
            s.strategist, K.ESCALATION_DRAFT, T.ALERT, s.loose.id, idempotency_key="k-case"
        )
    assert f"(create on case {made.case.display_number})" in caught.value.message
    assert await state(s.org_id) == before


async def test_a_pending_request_of_the_same_person_is_returned_not_repeated(tenant: Any) -> None:
    s = await scene(tenant)
    pending = await answered(
        s.org_id, K.SIMILAR_CASES, T.CASE, s.case.id, by=s.strategist, status=S.PENDING
    )
    before = await state(s.org_id)
    done = await service.request_response(s.strategist, K.SIMILAR_CASES, T.CASE, s.case.id)
    assert done.replayed and done.response.id == pending.id
    assert await state(s.org_id) == before
    # Someone else's pending request is theirs: this person gets a response of their own.
    _, other = await tenant.user("strategist")
    mine = await service.request_response(other, K.SIMILAR_CASES, T.CASE, s.case.id)
    assert mine.response.id != pending.id and not mine.replayed


@pytest.mark.parametrize(
    ("role", "kind", "target", "perm"),
    [
        ("viewer", K.EXPLAIN_ALERT, "alert", "assistant.use"),
        ("operator", K.ESCALATION_DRAFT, "case", "assistant.use"),
        ("approver", K.SIMILAR_CASES, "alert", "assistant.use"),
        ("strategist", K.EXPLAIN_RUN, "sev0", "assistant.runs"),
        ("viewer", K.EXPLAIN_RUN, "sev0", "assistant.runs"),
        ("admin", K.EXPLAIN_ALERT, "alert", "assistant.use"),
    ],
)
async def test_a_role_without_the_permission_is_refused_and_nothing_is_written(
    tenant: Any, role: str, kind: ResponseKind, target: str, perm: str
) -> None:
    s = await scene(tenant)
    _, who = await tenant.user(role)
    row = getattr(s, target)
    target_type = {"alert": T.ALERT, "case": T.CASE, "sev0": T.RUN}[target]
    before = await state(s.org_id)
    with pytest.raises(Forbidden) as caught:
        await service.request_response(who, kind, target_type, row.id)
    assert caught.value.permission == perm and f"'{perm}'" in caught.value.message
    assert await state(s.org_id) == before


async def test_operators_and_approvers_ask_about_sev0_to_sev2_runs_only(tenant: Any) -> None:
    s = await scene(tenant)
    done = await service.request_response(s.operator, K.EXPLAIN_RUN, T.RUN, s.sev0.id)
    assert done.response.target_type is T.RUN and done.response.target_id == s.sev0.id
    before = await state(s.org_id)
    with pytest.raises(Invalid) as caught:
        await service.request_response(s.operator, K.EXPLAIN_RUN, T.RUN, s.sev3.id)
    assert caught.value.message == (
        f"Run {s.sev3.run_id} is SEV3; the assistant explains SEV0, SEV1 and SEV2 runs only."
    )
    assert await state(s.org_id) == before


@pytest.mark.parametrize(
    ("kind", "target_type", "message"),
    [
        ("explain_alert", "case", "The assistant gives explanation of an alert only for alerts"),
        ("explain_run", "alert", "The assistant gives explanation of a run only for runs"),
        ("similar_cases", "run", "only for alerts or cases, not for runs"),
        ("poem", "alert", "Kind 'poem' is unknown; choose one of explain alert"),
        ("explain alert", "case", "gives explanation of an alert only for alerts"),
        ("explain_alert", "user", "Target type 'user' is unknown"),
    ],
)
async def test_a_kind_and_target_that_do_not_go_together_are_invalid(
    tenant: Any, kind: str, target_type: str, message: str
) -> None:
    s = await scene(tenant)
    before = await state(s.org_id)
    who = s.operator if kind == "explain_run" else s.strategist
    with pytest.raises(Invalid) as caught:
        await service.request_response(who, kind, target_type, s.alert.id)
    assert message in caught.value.message
    assert await state(s.org_id) == before


async def test_another_organizations_ids_answer_like_missing_and_garbled_ones(
    tenant: Any, other_tenant: Any
) -> None:
    s = await scene(tenant)
    theirs = await scene(other_tenant)
    cases_ = [
        (s.strategist, K.EXPLAIN_ALERT, T.ALERT, theirs.alert.id, "Alert"),
        (s.strategist, K.ESCALATION_DRAFT, T.CASE, theirs.case.id, "Case"),
        (s.operator, K.EXPLAIN_RUN, T.RUN, theirs.sev0.id, "Run"),
    ]
    before = await state(s.org_id), await state(theirs.org_id)
    for who, kind, target_type, foreign, name in cases_:
        answers = []
        for value in (foreign, 2_000_000_000):
            with pytest.raises(NotFound) as caught:
                await service.request_response(who, kind, target_type, value)
            answers.append(same_shape(caught.value.message, value))
        assert answers == [f"{name} <id> not found."] * 2
        for garbled in ("abc", "-1", "1e3", "99999999999"):
            with pytest.raises(NotFound) as caught:
                await service.request_response(who, kind, target_type, garbled)
            assert caught.value.message == f"{name} {garbled} not found."
    assert (await state(s.org_id), await state(theirs.org_id)) == before


@pytest.mark.postgres_only  # backend-independent; arq's connection retries take ~5 s
@pytest.mark.slow
async def test_a_queue_that_cannot_be_reached_finishes_the_response_unavailable(
    tenant: Any, assistant_on: Any
) -> None:
    s = await scene(tenant)
    before = get_settings()
    use_settings(
        before.model_copy(
            update={"redis_url": "redis://127.0.0.1:1/0", "job_queue": f"q:{uuid.uuid4().hex}"}
        )
    )
    try:
        done = await service.request_response(s.strategist, K.EXPLAIN_ALERT, T.ALERT, s.alert.id)
    finally:
        await runner.close_pool()
        use_settings(before)
    r = await AssistantResponse.get(id=done.response.id)
    assert done.job_id is None and r.job_id is None
    assert (r.status, r.reason) == (S.UNAVAILABLE, service.QUEUE_DOWN)
    assert r.finished_at is not None and "onnect" in (r.error or "")
    assert not await Job.filter(dedupe_key=f"assistant.respond:{r.id}").exists()
    (call,) = await events(s.org_id, "assistant.call")
    assert call.new["outcome"] == "unavailable" and call.new["reason"] == service.QUEUE_DOWN


# ----------------------------------------------------------------------------- reading


async def test_get_and_list_read_in_the_organization_with_the_targets_permission(
    tenant: Any, other_tenant: Any
) -> None:
    s = await scene(tenant)
    older = await answered(s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id, by=s.strategist)
    newer = await answered(s.org_id, K.SIMILAR_CASES, T.ALERT, s.alert.id, by=s.strategist)
    await answered(s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.loose.id)  # another alert's
    run_answer = await answered(s.org_id, K.EXPLAIN_RUN, T.RUN, s.sev0.id, by=s.operator)

    got = await service.get_response(s.viewer, str(older.id))
    assert got.id == older.id
    (view,) = await events(s.org_id, "assistant.view")
    assert view.entity_id == str(older.id)
    # A pending answer is polled every second by its panel: it shows no content, no event.
    pending = await answered(s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.loose.id, status=S.PENDING)
    assert (await service.get_response(s.viewer, pending.id)).status is S.PENDING
    assert len(await events(s.org_id, "assistant.view")) == 1
    listed = await service.list_responses(s.viewer, "alert", s.alert.id)
    assert [r.id for r in listed] == [newer.id, older.id]
    assert [r.id for r in await service.list_responses(s.viewer, T.ALERT, s.alert.id, 1)] == [
        newer.id
    ]
    with pytest.raises(Invalid, match="first must be between 1 and 100"):
        await service.list_responses(s.viewer, T.ALERT, s.alert.id, 0)

    # A strategist reads no runs: their answers neither.
    with pytest.raises(Forbidden) as caught:
        await service.get_response(s.strategist, run_answer.id)
    assert caught.value.permission == "run.read"
    with pytest.raises(Forbidden):
        await service.list_responses(s.strategist, T.RUN, s.sev0.id)

    theirs = await answered(other_tenant.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id)
    for value in (theirs.id, 2_000_000_000, "x1"):
        with pytest.raises(NotFound) as caught_nf:
            await service.get_response(s.viewer, value)
        assert caught_nf.value.message == f"Assistant response {value} not found."
    _, admin = await tenant.user("admin")
    with pytest.raises(Forbidden) as caught:
        await service.get_response(admin, older.id)
    assert caught.value.permission == "assistant.read"


# ----------------------------------------------------------------------------- rating


async def test_rating_a_finished_answer_is_audited_and_rating_again_replaces_it(
    tenant: Any,
) -> None:
    s = await scene(tenant)
    r = await answered(s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id, by=s.strategist)
    rated = await service.rate_response(s.strategist, r.id, False, "  Missed the merchant.  ")
    assert (rated.helpful, rated.feedback_comment) == (False, "Missed the merchant.")
    assert rated.feedback_by_id == s.strategist.user_id and rated.feedback_at is not None
    again = await service.rate_response(s.strategist, str(r.id), True)
    assert (again.helpful, again.feedback_comment) == (True, None)
    first, second = await events(s.org_id, "assistant.feedback")
    assert (first.old, first.new) == ({"helpful": None}, {"helpful": False, "comment": True})
    assert (second.old, second.new) == ({"helpful": False}, {"helpful": True, "comment": False})
    assert "merchant" not in str(first.new)  # free text stays out of the audit chain


async def test_rating_needs_the_permission_of_the_kind_and_a_finished_answer(
    tenant: Any,
) -> None:
    s = await scene(tenant)
    pending = await answered(s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id, status=S.PENDING)
    run_answer = await answered(s.org_id, K.EXPLAIN_RUN, T.RUN, s.sev0.id)
    unavailable = await answered(
        s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.loose.id, status=S.UNAVAILABLE
    )
    before = await state(s.org_id)
    with pytest.raises(Conflict) as conflict:
        await service.rate_response(s.strategist, pending.id, True)
    assert conflict.value.message == (
        f"Assistant response {pending.id} is still being answered; rate it once the answer is "
        "there."
    )
    with pytest.raises(Forbidden) as refused:
        await service.rate_response(s.viewer, run_answer.id, True)
    assert refused.value.permission == "assistant.use"
    with pytest.raises(Forbidden) as refused:
        await service.rate_response(s.strategist, run_answer.id, True)
    assert refused.value.permission == "assistant.runs"
    with pytest.raises(Forbidden) as refused:
        await service.rate_response(s.operator, pending.id, True)
    assert refused.value.permission == "assistant.use"
    with pytest.raises(Invalid) as invalid:
        await service.rate_response(s.strategist, unavailable.id, True, "x" * 2001)
    assert invalid.value.field == "comment"
    assert invalid.value.message == "Comment is 2001 characters long; the limit is 2000."
    assert await state(s.org_id) == before
    # The operator may rate a run's answer; an unavailable answer may be rated too.
    assert (await service.rate_response(s.operator, run_answer.id, True)).helpful is True
    assert (
        await service.rate_response(s.strategist, unavailable.id, False, "x" * 2000)
    ).helpful is False


# ----------------------------------------------------------------------------- drafts as notes


async def test_a_draft_about_a_case_becomes_its_note_recording_the_response(tenant: Any) -> None:
    s = await scene(tenant)
    draft = await answered(s.org_id, K.ESCALATION_DRAFT, T.CASE, s.case.id, by=s.strategist)
    note = await service.save_draft_as_note(s.strategist, draft.id, "  Escalate: edited.  ")
    assert (note.case_id, note.body, note.from_response_id) == (
        s.case.id,
        "Escalate: edited.",
        draft.id,
    )
    (event,) = await events(s.org_id, "case.add_note")
    assert event.new == {"note_id": note.id, "from_response": draft.id}


async def test_a_draft_about_an_alert_goes_to_the_alerts_case(tenant: Any) -> None:
    s = await scene(tenant)
    draft = await answered(s.org_id, K.ESCALATION_DRAFT, T.ALERT, s.alert.id)
    note = await service.save_draft_as_note(s.strategist, draft.id, "To the only case.")
    assert note.case_id == s.case.id and note.from_response_id == draft.id

    second = (await case_create.create_case(s.strategist, title="Two", alert_ids=[s.alert.id])).case
    before = await state(s.org_id)
    with pytest.raises(Invalid) as caught:
        await service.save_draft_as_note(s.strategist, draft.id, "Which case?")
    assert caught.value.field == "case_id"
    assert caught.value.message == (
        f"Alert {s.alert.external_id} is in 2 cases; choose one of "
        f"{s.case.display_number}, {second.display_number}."
    )
    assert await state(s.org_id) == before
    note = await service.save_draft_as_note(s.strategist, draft.id, "Second.", str(second.id))
    assert note.case_id == second.id


async def test_a_draft_about_an_alert_in_no_case_says_to_open_one(
    tenant: Any, other_tenant: Any
) -> None:
    s = await scene(tenant)
    theirs = await scene(other_tenant)
    draft = await answered(s.org_id, K.ESCALATION_DRAFT, T.ALERT, s.loose.id)
    before = await state(s.org_id)
    with pytest.raises(Invalid) as caught:
        await service.save_draft_as_note(s.strategist, draft.id, "Nowhere to go.")
    assert caught.value.message == (
        f"Alert {s.loose.external_id} is in no case: open a case from the alert first."
    )
    # A case it is not in: one of this organization's, another's, or none at all.
    with pytest.raises(Invalid, match="That case is not one of the cases of alert"):
        await service.save_draft_as_note(s.strategist, draft.id, "Elsewhere.", s.case.id)
    answers = []
    for value in (theirs.case.id, 2_000_000_000):
        with pytest.raises(NotFound) as nf:
            await service.save_draft_as_note(s.strategist, draft.id, "Elsewhere.", value)
        answers.append(same_shape(nf.value.message, value))
    assert answers == ["Case <id> not found."] * 2
    assert await state(s.org_id) == before


@pytest.mark.parametrize(
    ("kind", "status", "error", "message"),
    [
        (K.EXPLAIN_ALERT, S.SUCCEEDED, Invalid, "is an explanation of an alert; only an "
         "escalation draft can be saved as a case note."),
        (K.SIMILAR_CASES, S.SUCCEEDED, Invalid, "is a list of similar cases; only an escalation "
         "draft"),
        (K.ESCALATION_DRAFT, S.PENDING, Conflict, "is still being answered; save it once the "
         "draft is there."),
        (K.ESCALATION_DRAFT, S.FAILED, Conflict, "failed; it has no draft to save. Ask for a new "
         "escalation draft."),
        (K.ESCALATION_DRAFT, S.UNAVAILABLE, Conflict, "was unavailable; it has no draft to save."),
    ],
)  # fmt: skip
async def test_only_an_escalation_draft_that_succeeded_can_be_saved(
    tenant: Any, kind: ResponseKind, status: ResponseStatus, error: type, message: str
) -> None:
    s = await scene(tenant)
    target_type, target = (T.ALERT, s.alert.id) if kind is K.EXPLAIN_ALERT else (T.CASE, s.case.id)
    r = await answered(s.org_id, kind, target_type, target, status=status)
    before = await state(s.org_id)
    with pytest.raises(error) as caught:
        await service.save_draft_as_note(s.strategist, r.id, "Body.")
    assert caught.value.message == f"Assistant response {r.id} {message}" or message in (
        caught.value.message
    )
    assert await state(s.org_id) == before


async def test_a_draft_note_checks_body_permission_and_the_cases_status(tenant: Any) -> None:
    s = await scene(tenant)
    draft = await answered(s.org_id, K.ESCALATION_DRAFT, T.CASE, s.case.id)
    before = await state(s.org_id)
    for body, message in (
        ("   ", "Note is required."),
        ("x" * (cases.MAX_NOTE + 1), f"Note is {cases.MAX_NOTE + 1} characters long; the limit "
         f"is {cases.MAX_NOTE}."),
    ):  # fmt: skip
        with pytest.raises(Invalid) as invalid:
            await service.save_draft_as_note(s.strategist, draft.id, body)
        assert (invalid.value.field, invalid.value.message) == ("body", message)
    for who, perm in ((s.viewer, "assistant.use"), (s.operator, "assistant.use")):
        with pytest.raises(Forbidden) as refused:
            await service.save_draft_as_note(who, draft.id, "Body.")
        assert refused.value.permission == perm
    await Case.filter(id=s.case.id).update(status=CaseStatus.CLOSED)
    with pytest.raises(Conflict) as closed:
        await service.save_draft_as_note(s.strategist, draft.id, "Too late.")
    assert closed.value.message == (
        f"Case {s.case.display_number} is closed; notes can no longer be added."
    )
    assert await state(s.org_id) == before


# ----------------------------------------------------------------------------- the panel


async def test_the_panel_shows_the_buttons_the_caller_may_use_and_the_latest_answers(
    tenant: Any,
) -> None:
    s = await scene(tenant)
    old = await answered(s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id)
    new = await answered(s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id)
    draft = await answered(s.org_id, K.ESCALATION_DRAFT, T.ALERT, s.alert.id)

    mine = await service.panel(s.strategist, "alert", s.alert.id)
    assert mine.kinds == [K.EXPLAIN_ALERT, K.SIMILAR_CASES, K.ESCALATION_DRAFT]
    assert {k: r.id for k, r in mine.latest.items()} == {
        K.EXPLAIN_ALERT: new.id,
        K.ESCALATION_DRAFT: draft.id,
    }
    assert old.id not in {r.id for r in mine.latest.values()}
    assert mine.can_rate and mine.can_save_note
    assert mine.note_cases == [(s.case.id, s.case.display_number)]
    assert not mine.availability.on and mine.availability.reason
    assert mine.structured.title  # the deterministic explanation, shown while it is off

    theirs = await service.panel(s.viewer, T.ALERT, s.alert.id)
    assert theirs.kinds == [] and not theirs.can_rate and not theirs.can_save_note
    assert theirs.latest.keys() == mine.latest.keys() and theirs.note_cases == []

    case_panel = await service.panel(s.strategist, T.CASE, s.case.id)
    assert case_panel.kinds == [K.SIMILAR_CASES, K.ESCALATION_DRAFT]
    hot = await service.panel(s.operator, T.RUN, s.sev0.id)
    assert hot.kinds == [K.EXPLAIN_RUN] and hot.can_rate and not hot.can_save_note
    calm = await service.panel(s.operator, T.RUN, s.sev3.id)
    assert calm.kinds == []
    with pytest.raises(Forbidden):
        await service.panel(s.strategist, T.RUN, s.sev0.id)
