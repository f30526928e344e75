"""The assistant's GraphQL: the request mutations, rating, saving a draft as a case note, the
queries (a response, a target's responses, usage, status) and Case.assistantCost; and the bad
input table of every mutation: each refusal says what is wrong and changes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from riskops.audit.models import AuditRefusal
from riskops.server.assistant.models import (
    AssistantResponse,
    ResponseKind,
    ResponseStatus,
    TargetType,
)
from riskops.server.triage import cases
from riskops.server.triage.models import Case, CaseStatus
from tests.assistant.scene import Scene, answered, same_shape, scene, state

K = ResponseKind
T = TargetType
S = ResponseStatus

ERRORS = "errors { code message field }"
RESPONSE = (
    "id kind targetType targetId status reason output model tokensIn tokensOut cost helpful "
    "feedbackComment requestedBy { id name } citations { kind ref label url } jobId"
)
ASKED = f"response {{ {RESPONSE} }} jobId replayed {ERRORS}"
# mutation -> (argument types, the payload's selection)
MUTATIONS: dict[str, tuple[dict[str, str], str]] = {
    "requestExplanation": ({"alertId": "ID!", "idempotencyKey": "String"}, ASKED),
    "requestSimilarCases": (
        {"alertId": "ID", "caseId": "ID", "idempotencyKey": "String"}, ASKED
    ),
    "requestEscalationDraft": (
        {"alertId": "ID", "caseId": "ID", "idempotencyKey": "String"}, ASKED
    ),
    "requestRunExplanation": ({"runId": "ID!", "idempotencyKey": "String"}, ASKED),
    "rateAssistantResponse": (
        {"id": "ID!", "helpful": "Boolean!", "comment": "String"},
        f"response {{ {RESPONSE} }} {ERRORS}",
    ),
    "saveAssistantDraftAsNote": (
        {"responseId": "ID!", "body": "String!", "caseId": "ID"},
        f"note {{ id body fromResponseId }} caseId {ERRORS}",
    ),
}  # fmt: skip


def document(name: str, args: dict[str, Any]) -> str:
    types, selection = MUTATIONS[name]
    declared = ", ".join(f"${a}: {types[a]}" for a in args)
    passed = ", ".join(f"{a}: ${a}" for a in args)
    if not args:
        return f"mutation {{ {name} {{ {selection} }} }}"
    return f"mutation({declared}) {{ {name}({passed}) {{ {selection} }} }}"


@dataclass
class Caller:
    api: Any
    secrets: dict[str, str]

    async def call(self, role: str, name: str, **args: Any) -> dict[str, Any]:
        data = await self.api.data(self.secrets[role], document(name, args), args)
        return data[name]  # type: ignore[no-any-return]

    async def read(self, role: str, query: str, **args: Any) -> dict[str, Any]:
        return await self.api.gql(self.secrets[role], query, args)  # type: ignore[no-any-return]


async def callers(tenant: Any, api: Any, s: Scene) -> Caller:
    from riskops.server.identity.models import User

    secrets = {}
    for role, principal in (
        ("strategist", s.strategist), ("viewer", s.viewer), ("operator", s.operator),
    ):  # fmt: skip
        secrets[role] = await api.token(tenant, await User.get(id=principal.user_id))
    for role in ("approver", "admin"):
        user, _ = await tenant.user(role)
        secrets[role] = await api.token(tenant, user)
    return Caller(api, secrets)


# ----------------------------------------------------------------------------- what works


async def test_asking_returns_the_response_and_reading_it_back(tenant: Any, api: Any) -> None:
    s = await scene(tenant)
    c = await callers(tenant, api, s)
    out = await c.call("strategist", "requestExplanation", alertId=str(s.alert.id),
                       idempotencyKey="gql-1")  # fmt: skip
    assert out["errors"] == [] and out["replayed"] is False and out["jobId"] is None
    r = out["response"]
    assert (r["kind"], r["targetType"], r["targetId"]) == (
        "EXPLAIN_ALERT",
        "ALERT",
        str(s.alert.id),
    )
    assert r["status"] == "UNAVAILABLE" and "no model is configured" in r["reason"]
    assert r["requestedBy"] == {"id": str(s.strategist.user_id), "name": "Sam Strategist"}

    again = await c.call("strategist", "requestExplanation", alertId=str(s.alert.id),
                         idempotencyKey="gql-1")  # fmt: skip
    assert again["replayed"] is True and again["response"]["id"] == r["id"]

    one = f"query($id: ID!) {{ assistantResponse(id: $id) {{ {RESPONSE} }} }}"
    read = await c.read("viewer", one, id=r["id"])
    assert read["data"]["assistantResponse"]["id"] == r["id"]
    missing = await c.read("viewer", one, id="2000000000")
    assert missing == {"data": {"assistantResponse": None}}

    draft = await answered(s.org_id, K.ESCALATION_DRAFT, T.ALERT, s.alert.id)
    many = (
        "query($t: AssistantTargetType!, $id: ID!) { assistantResponses(targetType: $t, "
        "targetId: $id) { id kind citations { kind ref label url } cost } }"
    )
    listed = (await c.read("viewer", many, t="ALERT", id=str(s.alert.id)))["data"]
    assert [x["id"] for x in listed["assistantResponses"]] == [str(draft.id), r["id"]]
    assert listed["assistantResponses"][0]["citations"] == [
        {"kind": "rule", "ref": "R-17", "label": "rule R-17", "url": None}
    ]
    assert listed["assistantResponses"][0]["cost"] == "0.001000"


async def test_similar_cases_and_drafts_take_an_alert_or_a_case(tenant: Any, api: Any) -> None:
    s = await scene(tenant)
    c = await callers(tenant, api, s)
    on_case = await c.call("strategist", "requestSimilarCases", caseId=str(s.case.id))
    assert on_case["response"]["targetType"] == "CASE" and on_case["errors"] == []
    on_alert = await c.call("strategist", "requestEscalationDraft", alertId=str(s.alert.id))
    assert on_alert["response"]["targetType"] == "ALERT"
    run = await c.call("operator", "requestRunExplanation", runId=str(s.sev0.id))
    assert run["response"]["kind"] == "EXPLAIN_RUN" and run["errors"] == []


async def test_rating_and_saving_a_draft_through_graphql(tenant: Any, api: Any) -> None:
    s = await scene(tenant)
    c = await callers(tenant, api, s)
    draft = await answered(s.org_id, K.ESCALATION_DRAFT, T.CASE, s.case.id, by=s.strategist)
    rated = await c.call("strategist", "rateAssistantResponse", id=str(draft.id), helpful=True,
                         comment="Good start.")  # fmt: skip
    assert rated["errors"] == []
    assert (rated["response"]["helpful"], rated["response"]["feedbackComment"]) == (
        True, "Good start."
    )  # fmt: skip
    saved = await c.call("strategist", "saveAssistantDraftAsNote", responseId=str(draft.id),
                         body="Escalate to the fraud desk.")  # fmt: skip
    assert saved["errors"] == [] and saved["caseId"] == str(s.case.id)
    assert saved["note"]["fromResponseId"] == str(draft.id)
    case = "query($id: ID!) { case(id: $id) { assistantCost notes { body fromResponseId } } }"
    got = (await c.read("viewer", case, id=str(s.case.id)))["data"]["case"]
    assert got["notes"][-1] == {
        "body": "Escalate to the fraud desk.",
        "fromResponseId": str(draft.id),
    }
    assert got["assistantCost"] == "0.001000"
    listed = "{ cases(first: 10) { edges { node { id assistantCost } } } }"
    costs = {
        e["node"]["id"]: e["node"]["assistantCost"]
        for e in (await c.read("viewer", listed))["data"]["cases"]["edges"]
    }
    assert costs[str(s.case.id)] == "0.001000"
    assert set(costs.values()) <= {"0.001000", "0"}


async def test_usage_and_status(tenant: Any, api: Any) -> None:
    s = await scene(tenant)
    c = await callers(tenant, api, s)
    await answered(s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id, by=s.strategist, cost="0.25")
    usage = (
        "query($g: AssistantUsageGroup!, $p: AssistantUsagePeriod) { assistantUsage(groupBy: $g, "
        "period: $p) { key label responses failures tokensIn tokensOut cost } }"
    )
    rows = (await c.read("approver", usage, g="CASE", p="TODAY"))["data"]["assistantUsage"]
    assert rows == [
        {"key": str(s.case.id), "label": s.case.display_number, "responses": 1, "failures": 0,
         "tokensIn": 100, "tokensOut": 40, "cost": "0.250000"}
    ]  # fmt: skip
    people = (await c.read("admin", usage, g="USER"))["data"]["assistantUsage"]
    assert [p["label"] for p in people] == ["Sam Strategist"]
    refused = await c.read("strategist", usage, g="KIND")
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    status = "{ assistantStatus { on reason budget spent } }"
    for role in ("viewer", "admin"):
        got = (await c.read(role, status))["data"]["assistantStatus"]
        assert got["on"] is False and "no model is configured" in got["reason"]
        assert Decimal(got["spent"]) == Decimal("0.25") and Decimal(got["budget"]) > 0


# ----------------------------------------------------------------------------- the bad input


@dataclass(frozen=True)
class Bad:
    """One bad call: who, which mutation, its arguments (from the scene), and the one error it
    must answer with (`message` with `<id>` for the id of the row named, or a fragment)."""

    role: str
    name: str
    args: Callable[[Scene, dict[str, Any]], dict[str, Any]]
    code: str
    message: str
    field: str | None = None


def _id(value: Any) -> str:
    return str(value)


async def _prepare(s: Scene, other: Scene) -> dict[str, Any]:
    """The rows the bad calls name: answers in every state, another organization's scene."""
    extra: dict[str, Any] = {"other": other}
    extra["pending"] = await answered(s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id,
                                      status=S.PENDING)  # fmt: skip
    extra["explained"] = await answered(s.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id)
    extra["draft"] = await answered(s.org_id, K.ESCALATION_DRAFT, T.CASE, s.case.id)
    extra["failed_draft"] = await answered(s.org_id, K.ESCALATION_DRAFT, T.CASE, s.case.id,
                                           status=S.FAILED)  # fmt: skip
    extra["pending_draft"] = await answered(s.org_id, K.ESCALATION_DRAFT, T.CASE, s.case.id,
                                            status=S.PENDING)  # fmt: skip
    extra["run_answer"] = await answered(s.org_id, K.EXPLAIN_RUN, T.RUN, s.sev0.id)
    extra["their_draft"] = await answered(other.org_id, K.ESCALATION_DRAFT, T.CASE, other.case.id)
    return extra


FORBIDDEN_USE = "do not allow 'assistant.use'"
NOTE_LIMIT = cases.MAX_NOTE

BAD: dict[str, Bad] = {
    # wrong role
    "explain-viewer": Bad("viewer", "requestExplanation",
                          lambda s, x: {"alertId": _id(s.alert.id)}, "FORBIDDEN", FORBIDDEN_USE),
    "similar-operator": Bad("operator", "requestSimilarCases",
                            lambda s, x: {"caseId": _id(s.case.id)}, "FORBIDDEN", FORBIDDEN_USE),
    "draft-approver": Bad("approver", "requestEscalationDraft",
                          lambda s, x: {"alertId": _id(s.alert.id)}, "FORBIDDEN", FORBIDDEN_USE),
    "run-strategist": Bad("strategist", "requestRunExplanation",
                          lambda s, x: {"runId": _id(s.sev0.id)}, "FORBIDDEN",
                          "do not allow 'assistant.runs'"),
    "rate-viewer": Bad("viewer", "rateAssistantResponse",
                       lambda s, x: {"id": _id(x["explained"].id), "helpful": True}, "FORBIDDEN",
                       FORBIDDEN_USE),
    "rate-run-strategist": Bad("strategist", "rateAssistantResponse",
                               lambda s, x: {"id": _id(x["run_answer"].id), "helpful": True},
                               "FORBIDDEN", "do not allow 'assistant.runs'"),
    "save-operator": Bad("operator", "saveAssistantDraftAsNote",
                         lambda s, x: {"responseId": _id(x["draft"].id), "body": "b"},
                         "FORBIDDEN", FORBIDDEN_USE),
    # another organization's ids read as missing (compared with a missing id below)
    "explain-foreign": Bad("strategist", "requestExplanation",
                           lambda s, x: {"alertId": _id(x["other"].alert.id)}, "NOT_FOUND",
                           "Alert <id> not found."),
    "similar-foreign": Bad("strategist", "requestSimilarCases",
                           lambda s, x: {"caseId": _id(x["other"].case.id)}, "NOT_FOUND",
                           "Case <id> not found."),
    "draft-foreign": Bad("strategist", "requestEscalationDraft",
                         lambda s, x: {"caseId": _id(x["other"].case.id)}, "NOT_FOUND",
                         "Case <id> not found."),
    "run-foreign": Bad("operator", "requestRunExplanation",
                       lambda s, x: {"runId": _id(x["other"].sev0.id)}, "NOT_FOUND",
                       "Run <id> not found."),
    "rate-foreign": Bad("strategist", "rateAssistantResponse",
                        lambda s, x: {"id": _id(x["their_draft"].id), "helpful": False},
                        "NOT_FOUND", "Assistant response <id> not found."),
    "save-foreign": Bad("strategist", "saveAssistantDraftAsNote",
                        lambda s, x: {"responseId": _id(x["their_draft"].id), "body": "b"},
                        "NOT_FOUND", "Assistant response <id> not found."),
    "save-foreign-case": Bad("strategist", "saveAssistantDraftAsNote",
                             lambda s, x: {"responseId": _id(x["draft"].id), "body": "b",
                                           "caseId": _id(x["other"].case.id)},
                             "NOT_FOUND", "Case <id> not found."),
    # garbled ids
    "explain-garbled": Bad("strategist", "requestExplanation", lambda s, x: {"alertId": "x'1"},
                           "NOT_FOUND", "Alert x'1 not found."),
    "run-garbled": Bad("operator", "requestRunExplanation", lambda s, x: {"runId": "-4"},
                       "NOT_FOUND", "Run -4 not found."),
    "rate-garbled": Bad("strategist", "rateAssistantResponse",
                        lambda s, x: {"id": "99999999999", "helpful": True}, "NOT_FOUND",
                        "Assistant response 99999999999 not found."),
    "save-garbled": Bad("strategist", "saveAssistantDraftAsNote",
                        lambda s, x: {"responseId": "1.5", "body": "b"}, "NOT_FOUND",
                        "Assistant response 1.5 not found."),
    # malformed: neither or both targets, a run that is not SEV0 to SEV2
    "similar-neither": Bad("strategist", "requestSimilarCases", lambda s, x: {}, "INVALID",
                           "Give the alert or the case to ask about: alertId or caseId, exactly "
                           "one of them.", "alert_id"),
    "draft-both": Bad("strategist", "requestEscalationDraft",
                      lambda s, x: {"alertId": _id(s.alert.id), "caseId": _id(s.case.id)},
                      "INVALID", "alertId or caseId, exactly one of them.", "alert_id"),
    "run-calm": Bad("operator", "requestRunExplanation", lambda s, x: {"runId": _id(s.sev3.id)},
                    "INVALID", "is SEV3; the assistant explains SEV0, SEV1 and SEV2 runs only.",
                    "run_id"),
    "explain-key-too-long": Bad("strategist", "requestExplanation",
                                lambda s, x: {"alertId": _id(s.alert.id),
                                              "idempotencyKey": "k" * 101},
                                "INVALID", "characters long; the limit is 100.",
                                "idempotency_key"),
    # oversized and empty payloads
    "rate-comment-2001": Bad("strategist", "rateAssistantResponse",
                             lambda s, x: {"id": _id(x["explained"].id), "helpful": True,
                                           "comment": "c" * 2001},
                             "INVALID", "Comment is 2001 characters long; the limit is 2000.",
                             "comment"),
    "save-body-empty": Bad("strategist", "saveAssistantDraftAsNote",
                           lambda s, x: {"responseId": _id(x["draft"].id), "body": " \n "},
                           "INVALID", "Note is required.", "body"),
    "save-body-too-long": Bad("strategist", "saveAssistantDraftAsNote",
                              lambda s, x: {"responseId": _id(x["draft"].id),
                                            "body": "b" * (NOTE_LIMIT + 1)},
                              "INVALID", f"Note is {NOTE_LIMIT + 1} characters long; the limit "
                              f"is {NOTE_LIMIT}.", "body"),
    # the state of the response or the case
    "rate-pending": Bad("strategist", "rateAssistantResponse",
                        lambda s, x: {"id": _id(x["pending"].id), "helpful": True}, "CONFLICT",
                        "is still being answered; rate it once the answer is there."),
    "save-not-a-draft": Bad("strategist", "saveAssistantDraftAsNote",
                            lambda s, x: {"responseId": _id(x["explained"].id), "body": "b"},
                            "INVALID", "is an explanation of an alert; only an escalation draft "
                            "can be saved as a case note.", "response_id"),
    "save-failed-draft": Bad("strategist", "saveAssistantDraftAsNote",
                             lambda s, x: {"responseId": _id(x["failed_draft"].id), "body": "b"},
                             "CONFLICT", "failed; it has no draft to save. Ask for a new "
                             "escalation draft."),
    "save-pending-draft": Bad("strategist", "saveAssistantDraftAsNote",
                              lambda s, x: {"responseId": _id(x["pending_draft"].id),
                                            "body": "b"},
                              "CONFLICT", "is still being answered; save it once the draft is "
                              "there."),
}  # fmt: skip


async def _run_bad(
    tenant: Any, other_tenant: Any, api: Any, bad: Bad, before_call: Callable[..., Awaitable[Any]]
) -> tuple[Scene, dict[str, Any], dict[str, Any]]:
    s = await scene(tenant)
    other = await scene(other_tenant)
    extra = await _prepare(s, other)
    c = await callers(tenant, api, s)
    await before_call(s, extra)
    args = bad.args(s, extra)
    before = await state(s.org_id), await state(other.org_id)
    out = await c.call(bad.role, bad.name, **args)
    assert await state(s.org_id) == before[0], f"{bad.name} changed something"
    assert await state(other.org_id) == before[1], f"{bad.name} changed the other organization"
    return s, args, out


async def _nothing(s: Scene, extra: dict[str, Any]) -> None:
    return None


@pytest.mark.parametrize("case", sorted(BAD))
async def test_bad_input_is_refused_with_its_message_and_changes_nothing(
    tenant: Any, other_tenant: Any, api: Any, case: str
) -> None:
    bad = BAD[case]
    s, args, out = await _run_bad(tenant, other_tenant, api, bad, _nothing)
    (error,) = out["errors"]
    assert error["code"] == bad.code, error
    named = [v for k, v in args.items() if k in ("alertId", "caseId", "runId", "id", "responseId")]
    message = error["message"]
    for value in named:
        message = same_shape(message, value)
    assert bad.message in message or bad.message in error["message"], error
    if bad.field is not None:
        assert error["field"] == bad.field
    assert {k: v for k, v in out.items() if k != "errors"}.get("response") is None
    if bad.code == "FORBIDDEN":  # a refused attempt is audited
        assert await AuditRefusal.filter(org_id=s.org_id, operation=f"mutation {bad.name}").exists()


@pytest.mark.parametrize("case", sorted(k for k in BAD if k.endswith("-foreign")))
async def test_another_organizations_id_answers_exactly_like_a_missing_one(
    tenant: Any, other_tenant: Any, api: Any, case: str
) -> None:
    bad = BAD[case]
    s = await scene(tenant)
    other = await scene(other_tenant)
    extra = await _prepare(s, other)
    c = await callers(tenant, api, s)
    args = bad.args(s, extra)
    key = next(k for k in ("caseId", "alertId", "runId", "id", "responseId") if k in args
               and args[k] in {_id(v.id) for v in _foreign_rows(other, extra)})  # fmt: skip
    answers = []
    for value in (args[key], "2000000000"):
        before = await state(s.org_id)
        out = await c.call(bad.role, bad.name, **{**args, key: value})
        answers.append((same_shape(str(out["errors"]), value), await state(s.org_id) == before))
    assert answers[0] == answers[1] and answers[0][1]


def _foreign_rows(other: Scene, extra: dict[str, Any]) -> list[Any]:
    return [other.alert, other.case, other.sev0, extra["their_draft"]]


async def test_the_same_key_on_another_target_is_refused_naming_its_first_use(
    tenant: Any, api: Any
) -> None:
    s = await scene(tenant)
    c = await callers(tenant, api, s)
    first = await c.call("strategist", "requestEscalationDraft", caseId=str(s.case.id),
                         idempotencyKey="dup-1")  # fmt: skip
    assert first["errors"] == []
    before = await state(s.org_id)
    for name, args in (
        ("requestEscalationDraft", {"alertId": str(s.alert.id)}),
        ("requestSimilarCases", {"caseId": str(s.case.id)}),
        ("requestExplanation", {"alertId": str(s.loose.id)}),
    ):
        out = await c.call("strategist", name, idempotencyKey="dup-1", **args)
        (error,) = out["errors"]
        assert (error["code"], error["field"]) == ("DUPLICATE", "idempotency_key")
        assert error["message"] == (
            "Idempotency key 'dup-1' was already used for another request (escalation draft on "
            f"case {s.case.display_number}); use a new key for a new request."
        )
        assert out["response"] is None
    assert await state(s.org_id) == before
    same = await c.call("strategist", "requestEscalationDraft", caseId=str(s.case.id),
                        idempotencyKey="dup-1")  # fmt: skip
    assert same["replayed"] and same["response"]["id"] == first["response"]["id"]


async def test_a_draft_cannot_be_saved_to_a_closed_case(tenant: Any, api: Any) -> None:
    s = await scene(tenant)
    c = await callers(tenant, api, s)
    draft = await answered(s.org_id, K.ESCALATION_DRAFT, T.CASE, s.case.id)
    await Case.filter(id=s.case.id).update(status=CaseStatus.CLOSED)
    before = await state(s.org_id)
    out = await c.call("strategist", "saveAssistantDraftAsNote", responseId=str(draft.id),
                       body="Too late.")  # fmt: skip
    assert out["errors"] == [
        {"code": "CONFLICT", "field": None,
         "message": f"Case {s.case.display_number} is closed; notes can no longer be added."}
    ]  # fmt: skip
    assert out["note"] is None and await state(s.org_id) == before
    assert await AssistantResponse.filter(org_id=s.org_id).count() == before[0]
