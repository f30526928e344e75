"""The shared pieces of the GraphQL face: `as_payload` (a service's expected errors become the
payload's `errors`, CONFLICT may carry the current state), `input_dict` (input objects as the
services' records) and the id conversions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import strawberry

from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.ids import as_id, as_opt_id
from riskops.graphql.core.inputs import input_dict, value_of
from riskops.graphql.credit.run_types import ArtifactInput, RunInput
from riskops.graphql.triage.types import AlertInput, RuleHitInput, SignalInput
from riskops.server.core.errors import Conflict, ErrorCode, NotFound
from riskops.server.credit.terms import DataClassification, RiskFlag
from riskops.server.triage.models import AlertPriority, CaseSeverity


@strawberry.type
class ThingPayload:
    thing: str | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


async def _returns(value: str) -> str:
    return value


async def _raises(exc: Exception) -> str:
    raise exc


async def _current(errors: list[UserError]) -> ThingPayload:
    return ThingPayload(thing="as it is now", errors=errors)


async def test_as_payload_builds_the_success_payload_plain_or_async():
    plain = await as_payload(ThingPayload, _returns("a"), lambda t: ThingPayload(thing=t))
    assert (plain.thing, plain.errors) == ("a", [])

    async def done(t: str) -> ThingPayload:
        return ThingPayload(thing=t.upper())

    assert (await as_payload(ThingPayload, _returns("b"), done)).thing == "B"


async def test_as_payload_turns_expected_errors_into_data():
    missing = NotFound("Thing 7 not found.", field="id")
    out = await as_payload(ThingPayload, _raises(missing), ThingPayload, conflict=_current)
    assert out.thing is None  # the CONFLICT builder is for CONFLICT only
    assert [(e.code, e.message, e.field) for e in out.errors] == [
        (ErrorCode.NOT_FOUND, "Thing 7 not found.", "id")
    ]


async def test_a_conflict_carries_the_current_state_when_asked_to():
    stale = Conflict("Changed by someone else.", field="expectedVersion")
    out = await as_payload(ThingPayload, _raises(stale), ThingPayload, conflict=_current)
    assert out.thing == "as it is now"
    assert [(e.code, e.field) for e in out.errors] == [(ErrorCode.CONFLICT, "expectedVersion")]
    bare = await as_payload(ThingPayload, _raises(stale), ThingPayload)
    assert bare.thing is None and bare.errors[0].code == ErrorCode.CONFLICT


async def test_an_unexpected_error_is_not_data():
    with pytest.raises(RuntimeError, match="bug"):
        await as_payload(ThingPayload, _raises(RuntimeError("bug")), ThingPayload)


def test_an_input_object_becomes_the_services_record():
    alert = AlertInput(
        external_id="E-1", source="rules", title="T", score=80.0, priority=AlertPriority.HIGH,
        amount=Decimal("12.50"), transaction={"mcc": "5999", "tags": [1, None]},
        rule_hits=[RuleHitInput(rule_id="R1", name="Velocity", score_contribution=20.0,
                                matched_values=[3, "x"])],
        signals=[SignalInput(signal="s", contribution=-0.5, direction="down", value=[1.5])],
    )  # fmt: skip
    assert input_dict(alert) == {
        "external_id": "E-1", "source": "rules", "title": "T", "score": 80.0,
        "priority": "high", "amount": "12.50", "transaction": {"mcc": "5999", "tags": [1, None]},
        "rule_hits": [{"rule_id": "R1", "name": "Velocity", "score_contribution": 20.0,
                       "matched_values": [3, "x"]}],
        "signals": [{"signal": "s", "contribution": -0.5, "direction": "down", "value": [1.5]}],
    }  # fmt: skip
    # A JSON value that is a list passes as it is (the service says what it accepts).
    assert input_dict(AlertInput(external_id="E", source="s", title="t", score=1.0,
                                 priority=AlertPriority.LOW, transaction=[1, 2]))[
        "transaction"
    ] == [1, 2]  # fmt: skip

    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    run = RunInput(
        run_id="RUN-1", scenario="S", credits_total=90.0, started_at=at,
        data_classification=DataClassification.PII, risk_flags=[RiskFlag.RETRY_LOOP],
        artifacts=[ArtifactInput(uri="https://f.test/a", sha256="a" * 64),
                   ArtifactInput(uri="https://f.test/b")],
    )  # fmt: skip
    assert input_dict(run) == {
        "run_id": "RUN-1", "scenario": "S", "credits_total": 90.0,
        "started_at": "2026-01-05T09:30:00+00:00", "data_classification": "pii",
        "risk_flags": ["retry_loop"],
        "artifacts": [{"uri": "https://f.test/a", "sha256": "a" * 64}, {"uri": "https://f.test/b"}],
    }  # fmt: skip


def test_enum_arguments_and_ids():
    assert value_of(CaseSeverity.HIGH) == "high" and value_of(None) is None
    assert as_id(42) == "42" and as_id("7") == "7"
    assert as_opt_id(None) is None and as_opt_id(3) == "3"


INGEST = """
mutation($input: [AlertInput!]!) {
  ingestAlerts(input: $input) { created itemErrors { index field code message } errors { code } }
}"""


async def test_a_json_list_where_an_object_is_wanted_is_an_item_error(api, tenant):
    """The service judges JSON values: a list as `transaction` is its INVALID item error (it
    once crashed in the face while the input was converted)."""
    token = await api.token(tenant, tenant.admin_user)
    item = {"externalId": "E-json", "source": "rules", "title": "t", "score": 10,
            "priority": "LOW", "transaction": [1, 2]}  # fmt: skip
    out = (await api.data(token, INGEST, {"input": [item]}))["ingestAlerts"]
    assert out["created"] == 0 and out["errors"] == []
    assert [(e["index"], e["field"], e["code"]) for e in out["itemErrors"]] == [
        (0, "transaction", "INVALID")
    ]
