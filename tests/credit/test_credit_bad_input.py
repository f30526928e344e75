"""Every bad input tried on the credit-control mutations over GraphQL, on SQLite and PostgreSQL:
proposeBaselineUpdate, rejectBaselineUpdate, setManualBaseline, setKillSwitch and
clearKillSwitch.

For each mutation this pins: no credentials (401), a wrong role (FORBIDDEN, naming the
permission, also for an approver whose token carries only the viewer role), another
organization's ids and scenario keys (answered exactly like a missing one: same code, same field,
same message once the id is swapped, even when the row's state would otherwise give a CONFLICT),
stale state (a decided change, a cleared or expired switch, a proposal already open: CONFLICT
with its field), replayed requests (the second identical call is refused), oversized input (free
text one character above `MAX_RATIONALE` / `MAX_REASON` = 2000, scenario keys above 128, bodies
above the 1 MB request limit: TOO_LARGE), malformed values (blank, control characters, days and
medians out of range, expiries in the past or too far ahead, bad ids) and values GraphQL itself
cannot coerce. None of these mutations takes an expected version or an idempotency key; their
stale-state and replay guards are what is tested instead.

Every refusal is checked to have changed nothing: scenarios, baselines, baseline changes, kill
switches, policy versions, the outbox, identity rows, the audit head and audit event count.
Texts at exactly the limit are accepted, so the oversized cases sit on the boundary.

The last section holds the bad inputs that used to reach the database and fail there with an
unexplained 500: lone UTF-16 surrogates in any text (now refused by the endpoint, 400, before
any resolver), a NUL byte or more than 128 characters in a BACKFILL scope (INVALID on scope)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from riskops.server.core import validation
from riskops.server.credit import baselines as baseline_svc
from riskops.server.credit import kill_switches
from riskops.server.credit import policy as control_svc
from riskops.server.credit.models import (
    Baseline,
    BaselineChange,
    KillSwitch,
    PolicyVersion,
    Scenario,
)
from riskops.server.notify.models import OutboxMessage
from tests.credit.test_baselines_service import (
    STEADY,
    add_history,
    add_runs,
    new_key,
    scenario,
    set_baseline,
)
from tests.support.gql import org_state

ERRORS = "errors { code message field }"
CHANGE = "change { id status }"
SWITCH = "killSwitch { id state }"

PROPOSE = f"""mutation($s: String!, $r: String!, $d: Int) {{
  proposeBaselineUpdate(scenario: $s, rationale: $r, days: $d) {{ {CHANGE} {ERRORS} }} }}"""
REJECT = f"""mutation($id: ID!, $r: String!) {{
  rejectBaselineUpdate(changeId: $id, reason: $r) {{ {CHANGE} {ERRORS} }} }}"""
MANUAL = f"""mutation($s: String!, $m: Float!, $r: String!, $c: Boolean! = false) {{
  setManualBaseline(scenario: $s, median: $m, rationale: $r, confirmLargeChange: $c) {{
    {CHANGE} {ERRORS} }} }}"""
SET = f"""mutation($name: KillSwitchName!, $scope: String!, $reason: String!, $until: DateTime) {{
  setKillSwitch(name: $name, scope: $scope, reason: $reason, expiresAt: $until) {{
    {SWITCH} {ERRORS} }} }}"""
CLEAR = f"""mutation($id: ID!, $reason: String!) {{
  clearKillSwitch(id: $id, reason: $reason) {{ {SWITCH} {ERRORS} }} }}"""

# mutation -> (document, the payload's object field, the variable holding its free text)
MUTATIONS: dict[str, tuple[str, str, str]] = {
    "proposeBaselineUpdate": (PROPOSE, "change", "r"),
    "rejectBaselineUpdate": (REJECT, "change", "r"),
    "setManualBaseline": (MANUAL, "change", "r"),
    "setKillSwitch": (SET, "killSwitch", "reason"),
    "clearKillSwitch": (CLEAR, "killSwitch", "reason"),
}
PERMISSION = {
    "proposeBaselineUpdate": "baseline.propose",
    "rejectBaselineUpdate": "baseline.approve",
    "setManualBaseline": "baseline.approve",
    "setKillSwitch": "policy.manage",
    "clearKillSwitch": "policy.manage",
}
LIMIT = baseline_svc.MAX_RATIONALE
assert LIMIT == control_svc.MAX_REASON == 2000
MISSING_ID = "999999999"


# --- the world every test starts from ----------------------------------------------------------


@dataclass
class World:
    """One organization's tokens, scenarios, baseline changes and kill switches (ids as
    strings, as GraphQL takes them)."""

    org_id: int
    tokens: dict[str, str]  # caller -> bearer secret
    free: str  # scenario: baseline in force, healthy runs, nothing open (every call succeeds)
    opened: str  # scenario: baseline in force, `open_change` open, in backfill mode
    bare: str  # scenario: no baseline, no runs, nothing open
    unset_open: str  # scenario: no baseline yet, a first calculated one proposed
    open_change: str  # PROPOSED change of `opened`, by the operator
    decided_change: str  # REJECTED change of `free`
    switch_on: str  # ALERT_SUPPRESSION, in force
    switch_backfill: str  # BACKFILL of `opened`, in force
    switch_cleared: str  # BACKFILL of `free`, cleared
    switch_expired: str  # BACKFILL of `bare`, expired (not yet recorded by the job)


CALLERS = (
    "viewer", "operator", "approver", "strategist", "compliance_reviewer", "product_reviewer",
)  # fmt: skip


async def build_world(api: Any, tenant: Any) -> World:
    tokens: dict[str, str] = {"admin": await api.token(tenant, tenant.admin_user)}
    principals = {}
    for role in CALLERS:
        user, principals[role] = await tenant.user(role)
        tokens[role] = await api.token(tenant, user)
    checker, _ = await tenant.user("approver", name="Checker")
    tokens["checker"] = await api.token(tenant, checker)
    # An approver (and viewer) whose token carries only the viewer role: the token's roles decide.
    limited, _ = await tenant.user("approver", "viewer")
    tokens["approver_as_viewer"] = await api.token(tenant, limited, roles=["viewer"])
    op, ap = principals["operator"], principals["approver"]

    free, opened, bare, unset_open = [await scenario(tenant.org_id) for _ in range(4)]
    for s in (free, opened, unset_open):
        await add_runs(s, STEADY)
        await add_history(s)
    for s in (free, opened):
        await set_baseline(s, 100.0)
    open_change = await baseline_svc.propose_baseline_update(op, opened.key, None, "steady")
    await baseline_svc.propose_baseline_update(op, unset_open.key, None, "first one")
    decided = await baseline_svc.propose_baseline_update(op, free.key, None, "steady")
    await baseline_svc.reject_baseline_update(ap, decided.id, "not yet")

    on = await kill_switches.set_kill_switch(ap, "alert_suppression", "", "incident 42")
    backfill = await kill_switches.set_kill_switch(ap, "backfill", opened.key, "reprocessing")
    cleared = await kill_switches.set_kill_switch(ap, "backfill", free.key, "reprocessing")
    await kill_switches.clear_kill_switch(ap, cleared.id, "done")
    now = datetime.now(UTC)
    expired = await KillSwitch.create(
        org_id=tenant.org_id, name="backfill", scope=bare.key, reason="old",
        set_by_id=ap.user_id, set_at=now - timedelta(hours=2), expires_at=now - timedelta(hours=1),
    )  # fmt: skip
    return World(
        org_id=tenant.org_id, tokens=tokens, free=free.key, opened=opened.key, bare=bare.key,
        unset_open=unset_open.key, open_change=str(open_change.id),
        decided_change=str(decided.id), switch_on=str(on.id), switch_backfill=str(backfill.id),
        switch_cleared=str(cleared.id), switch_expired=str(expired.id),
    )  # fmt: skip


@pytest_asyncio.fixture
async def world(api, tenant) -> World:
    return await build_world(api, tenant)


@pytest_asyncio.fixture
async def their_world(api, other_tenant) -> World:
    return await build_world(api, other_tenant)


# The columns a refused call must leave as they were, per model.
STATE_COLUMNS: list[tuple[type[Any], tuple[str, ...]]] = [
    (Scenario, ("id", "key", "name", "version", "max_items", "data_classification")),
    (Baseline, ("id", "scenario_id", "median", "cv", "sample_size", "source", "set_at")),
    (BaselineChange, (
        "id", "scenario_id", "status", "old_median", "new_median", "rationale",
        "decision_rationale", "decided_by_id", "decided_at", "confirmed_large_change",
    )),
    (KillSwitch, (
        "id", "name", "scope", "reason", "expires_at", "cleared_at", "clear_reason",
        "cleared_by_id",
    )),
    (PolicyVersion, ("id", "number", "status")),
    (OutboxMessage, ("id", "status")),
]  # fmt: skip


async def credit_state(org_id: int) -> dict[str, Any]:
    """Everything these mutations could change in one organization, with its identity rows,
    audit head and audit event count (`org_state`)."""
    state: dict[str, Any] = {"org": await org_state(org_id)}
    for model, columns in STATE_COLUMNS:
        rows = model.filter(org_id=org_id).order_by("id").values_list(*columns)
        state[model.__name__] = await rows
    return state


# --- calling -----------------------------------------------------------------------------------

Vars = dict[str, Any]
Override = Vars | Callable[[World], Vars]

# A call that succeeds: (caller, variables). Each bad input below changes one thing in it.
VALID: dict[str, tuple[str, Callable[[World], Vars]]] = {
    "proposeBaselineUpdate": ("operator", lambda w: {"s": w.free, "r": "steady for a month"}),
    "rejectBaselineUpdate": ("checker", lambda w: {"id": w.open_change, "r": "not convinced"}),
    "setManualBaseline": ("approver", lambda w: {"s": w.free, "m": 110.0, "r": "by hand"}),
    "setKillSwitch": (
        "approver",
        lambda w: {"name": "BACKFILL", "scope": w.free, "reason": "reprocessing"},
    ),
    "clearKillSwitch": ("approver", lambda w: {"id": w.switch_on, "reason": "incident over"}),
}


def variables(mutation: str, w: World, override: Override | None = None) -> Vars:
    extra = override(w) if callable(override) else (override or {})
    return {**VALID[mutation][1](w), **extra}


async def call(api: Any, secret: str, mutation: str, vs: Vars) -> dict[str, Any]:
    """The mutation's payload; the call must be answered 200 without top-level errors."""
    data = await api.data(secret, MUTATIONS[mutation][0], vs)
    return data[mutation]  # type: ignore[no-any-return]


def refused(payload: dict[str, Any], mutation: str) -> dict[str, Any]:
    """The one error of a refused call, whose payload carries no object."""
    assert payload[MUTATIONS[mutation][1]] is None, payload
    assert len(payload["errors"]) == 1, payload
    return payload["errors"][0]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Bad:
    """One bad input: `override` changes the valid call's variables; `caller` replaces its
    caller. The answer is `code` on `field` (and `message` is contained in its message)."""

    override: Override
    code: str
    field: str | None
    message: str = ""
    caller: str | None = None


async def assert_refused(api: Any, w: World, mutation: str, cases: list[Bad]) -> None:
    before = await credit_state(w.org_id)
    for bad in cases:
        caller = bad.caller or VALID[mutation][0]
        vs = variables(mutation, w, bad.override)
        error = refused(await call(api, w.tokens[caller], mutation, vs), mutation)
        assert (error["code"], error["field"]) == (bad.code, bad.field), (bad, error)
        assert bad.message in error["message"], (bad, error)
    assert await credit_state(w.org_id) == before


# --- no credentials, wrong role ----------------------------------------------------------------


@pytest.mark.parametrize("mutation", list(MUTATIONS))
async def test_without_credentials_is_401_and_changes_nothing(api, world, mutation):
    before = await credit_state(world.org_id)
    r = await api.post(None, MUTATIONS[mutation][0], variables(mutation, world))
    assert r.status_code == 401
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert await credit_state(world.org_id) == before


WRONG_ROLES = {
    "proposeBaselineUpdate": [
        "viewer", "strategist", "compliance_reviewer", "product_reviewer", "admin",
        "approver_as_viewer",
    ],
    "rejectBaselineUpdate": ["viewer", "operator", "strategist", "admin", "approver_as_viewer"],
    "setManualBaseline": ["viewer", "operator", "strategist", "admin", "approver_as_viewer"],
    "setKillSwitch": ["viewer", "operator", "strategist", "admin", "approver_as_viewer"],
    "clearKillSwitch": ["viewer", "operator", "strategist", "admin", "approver_as_viewer"],
}  # fmt: skip


@pytest.mark.parametrize("mutation", list(WRONG_ROLES))
async def test_wrong_role_is_forbidden_and_changes_nothing(api, world, mutation):
    perm = f"'{PERMISSION[mutation]}'"
    cases = [Bad({}, "FORBIDDEN", None, perm, caller=c) for c in WRONG_ROLES[mutation]]
    await assert_refused(api, world, mutation, cases)


# --- another organization's ids ----------------------------------------------------------------

# mutation -> [(World attribute, variable)]: an outsider names our row (in each state that would
# otherwise answer something else, e.g. CONFLICT) and gets what a missing one gets.
THEIRS: dict[str, list[tuple[str, str]]] = {
    "proposeBaselineUpdate": [("free", "s"), ("opened", "s")],
    "rejectBaselineUpdate": [("open_change", "id"), ("decided_change", "id")],
    "setManualBaseline": [("free", "s"), ("opened", "s"), ("bare", "s"), ("unset_open", "s")],
    "setKillSwitch": [("free", "scope"), ("opened", "scope")],
    "clearKillSwitch": [
        ("switch_on", "id"), ("switch_backfill", "id"), ("switch_cleared", "id"),
        ("switch_expired", "id"),
    ],
}  # fmt: skip
EXPECTED_NOT_FOUND = {
    "proposeBaselineUpdate": ("NOT_FOUND", None, "Scenario {} not found."),
    "rejectBaselineUpdate": ("NOT_FOUND", None, "BaselineChange {} not found."),
    "setManualBaseline": ("NOT_FOUND", None, "Scenario {} not found."),
    # A scope is a scenario key, not an id: unknown and foreign keys are the same INVALID.
    "setKillSwitch": ("INVALID", "scope", "scope '{}' is not a scenario of your organization"),
    "clearKillSwitch": ("NOT_FOUND", None, "KillSwitch {} not found."),
}


@pytest.mark.parametrize("mutation", list(THEIRS))
async def test_another_organizations_ids_look_exactly_like_missing_ones(
    api, world, their_world, mutation
):
    # The other organization's user who may make this very call in their own organization.
    outsider = their_world.tokens[VALID[mutation][0]]
    ours_before = await credit_state(world.org_id)
    theirs_before = await credit_state(their_world.org_id)
    code, field, shape = EXPECTED_NOT_FOUND[mutation]
    for attr, var in THEIRS[mutation]:
        target = getattr(world, attr)
        missing = new_key() if var in ("s", "scope") else MISSING_ID
        # The call is valid in the outsider's own organization but for the id.
        base = variables(mutation, their_world)
        got = refused(await call(api, outsider, mutation, {**base, var: target}), mutation)
        gone = refused(await call(api, outsider, mutation, {**base, var: missing}), mutation)
        assert (got["code"], got["field"]) == (gone["code"], gone["field"]) == (code, field), (
            attr, got, gone,
        )  # fmt: skip
        assert got["message"].startswith(shape.format(target)), got
        assert got["message"].replace(target, "<id>") == gone["message"].replace(missing, "<id>")
    assert await credit_state(world.org_id) == ours_before
    assert await credit_state(their_world.org_id) == theirs_before


# --- stale state, replayed requests ------------------------------------------------------------

STALE: dict[str, list[Bad]] = {
    "proposeBaselineUpdate": [
        Bad(lambda w: {"s": w.opened}, "CONFLICT", "scenario_key", "is still open"),
        Bad(lambda w: {"s": w.unset_open}, "CONFLICT", "scenario_key", "is still open"),
    ],
    "rejectBaselineUpdate": [
        Bad(lambda w: {"id": w.decided_change}, "CONFLICT", "change_id", "already rejected"),
    ],
    "setManualBaseline": [
        # Replacing a baseline in force while a proposal is open, and a first one.
        Bad(lambda w: {"s": w.opened}, "CONFLICT", "scenario_key", "is still open"),
        Bad(lambda w: {"s": w.unset_open}, "CONFLICT", "scenario_key", "is still open"),
    ],
    "setKillSwitch": [
        Bad({"name": "ALERT_SUPPRESSION", "scope": ""}, "CONFLICT", "name", "already in force"),
        Bad(lambda w: {"scope": w.opened}, "CONFLICT", "name", "already in force"),
    ],
    "clearKillSwitch": [
        Bad(lambda w: {"id": w.switch_cleared}, "CONFLICT", "switch_id", "already cleared"),
        Bad(lambda w: {"id": w.switch_expired}, "CONFLICT", "switch_id", "already expired"),
    ],
}


@pytest.mark.parametrize("mutation", list(STALE))
async def test_stale_state_is_a_conflict_and_changes_nothing(api, world, mutation):
    await assert_refused(api, world, mutation, STALE[mutation])


REPLAY_REFUSAL = {
    "proposeBaselineUpdate": ("scenario_key", "is still open"),
    "rejectBaselineUpdate": ("change_id", "already rejected"),
    "setManualBaseline": ("scenario_key", "is still open"),  # the first call proposed it
    "setKillSwitch": ("name", "already in force"),
    "clearKillSwitch": ("switch_id", "already cleared"),
}


@pytest.mark.parametrize("mutation", list(REPLAY_REFUSAL))
async def test_a_replayed_request_is_refused_and_changes_nothing(api, world, mutation):
    caller, make = VALID[mutation]
    vs = make(world)
    first = await call(api, world.tokens[caller], mutation, vs)
    assert first["errors"] == [] and first[MUTATIONS[mutation][1]] is not None, first
    before = await credit_state(world.org_id)
    error = refused(await call(api, world.tokens[caller], mutation, vs), mutation)
    field, message = REPLAY_REFUSAL[mutation]
    assert (error["code"], error["field"]) == ("CONFLICT", field) and message in error["message"]
    assert await credit_state(world.org_id) == before


# --- oversized input ---------------------------------------------------------------------------


def too_long(field: str, n: int = LIMIT + 1) -> str:
    return f"{validation.label(field)} is {n} characters long; the limit is {LIMIT}."


def in_days(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


LONG = "x" * (LIMIT + 1)
LONG_LINES = "line\n" * 401  # 2005 characters, 2004 once the final line break is stripped
LONG_KEY = "K" * 129

OVERSIZED: dict[str, list[Bad]] = {
    "proposeBaselineUpdate": [
        Bad({"r": LONG}, "INVALID", "rationale", too_long("rationale")),
        Bad({"r": LONG_LINES}, "INVALID", "rationale", too_long("rationale", 2004)),
        Bad({"s": LONG_KEY}, "INVALID", "scenario_key", "the limit is 128"),
    ],
    "rejectBaselineUpdate": [
        Bad({"r": LONG}, "INVALID", "reason", too_long("reason")),
        Bad({"r": LONG_LINES}, "INVALID", "reason", too_long("reason", 2004)),
    ],
    "setManualBaseline": [
        Bad({"r": LONG}, "INVALID", "rationale", too_long("rationale")),
        Bad({"s": LONG_KEY}, "INVALID", "scenario_key", "the limit is 128"),
        Bad({"m": 1e13}, "INVALID", "median", "at most 1e+12"),
        Bad({"m": 1e308}, "INVALID", "median", "at most 1e+12"),
    ],
    "setKillSwitch": [
        Bad({"reason": LONG}, "INVALID", "reason", too_long("reason")),
        Bad({"name": "ALERT_SUPPRESSION", "scope": "S" * 10_000}, "INVALID", "scope",
            "leave scope empty"),
        Bad(lambda w: {"until": in_days(91)}, "INVALID", "expires_at",
            "more than 90 days ahead"),
    ],
    "clearKillSwitch": [
        Bad({"reason": LONG}, "INVALID", "reason", too_long("reason")),
    ],
}  # fmt: skip


@pytest.mark.parametrize("mutation", list(OVERSIZED))
async def test_oversized_input_is_invalid_and_changes_nothing(api, world, mutation):
    await assert_refused(api, world, mutation, OVERSIZED[mutation])


@pytest.mark.parametrize("mutation", list(MUTATIONS))
async def test_a_body_above_the_request_limit_is_too_large_and_changes_nothing(
    api, world, mutation
):
    caller = VALID[mutation][0]
    text_var = MUTATIONS[mutation][2]
    vs = variables(mutation, world, {text_var: "x" * 1_000_001})
    before = await credit_state(world.org_id)
    r = await api.post(world.tokens[caller], MUTATIONS[mutation][0], vs)
    assert r.status_code == 413
    assert r.json()["errors"][0]["extensions"]["code"] == "TOO_LARGE"
    assert await credit_state(world.org_id) == before


@pytest.mark.parametrize("mutation", list(MUTATIONS))
async def test_text_at_the_limit_is_accepted(api, world, mutation):
    """The limit is exactly 2000 characters after trimming: the oversized cases are on the
    boundary."""
    caller = VALID[mutation][0]
    text_var = MUTATIONS[mutation][2]
    text = "y" * LIMIT
    out = await call(
        api, world.tokens[caller], mutation,
        variables(mutation, world, {text_var: f"  {text}\n"}),
    )  # fmt: skip
    assert out["errors"] == [], out
    row_id = int(out[MUTATIONS[mutation][1]]["id"])
    stored = {
        "proposeBaselineUpdate": (BaselineChange, "rationale"),
        "rejectBaselineUpdate": (BaselineChange, "decision_rationale"),
        "setManualBaseline": (BaselineChange, "rationale"),
        "setKillSwitch": (KillSwitch, "reason"),
        "clearKillSwitch": (KillSwitch, "clear_reason"),
    }[mutation]
    model, column = stored
    assert await model.filter(id=row_id).values_list(column, flat=True) == [text]


# --- malformed values --------------------------------------------------------------------------

MALFORMED: dict[str, list[Bad]] = {
    "proposeBaselineUpdate": [
        Bad({"r": ""}, "INVALID", "rationale", "Rationale is required"),
        Bad({"r": " \n\t "}, "INVALID", "rationale", "Rationale is required"),
        Bad({"r": "ok\x07bell"}, "INVALID", "rationale", "control characters"),
        Bad({"r": "nul\x00"}, "INVALID", "rationale", "control characters"),
        Bad({"s": ""}, "INVALID", "scenario_key", "Scenario key is required"),
        Bad({"s": "   "}, "INVALID", "scenario_key", "Scenario key is required"),
        Bad({"s": "KEY\x00"}, "INVALID", "scenario_key", "control characters"),
        Bad({"d": 0}, "INVALID", "days", "from 1 to 365"),
        Bad({"d": -7}, "INVALID", "days", "from 1 to 365"),
        Bad({"d": 366}, "INVALID", "days", "from 1 to 365"),
    ],
    "rejectBaselineUpdate": [
        Bad({"r": ""}, "INVALID", "reason", "Reason is required"),
        Bad({"r": "\x1b[31mred"}, "INVALID", "reason", "control characters"),
        Bad({"id": "abc"}, "NOT_FOUND", None, "BaselineChange abc not found."),
        Bad({"id": "0"}, "NOT_FOUND", None, "BaselineChange 0 not found."),
        Bad({"id": "-1"}, "NOT_FOUND", None, "BaselineChange -1 not found."),
        Bad({"id": "2147483648"}, "NOT_FOUND", None, "BaselineChange 2147483648 not found."),
        Bad({"id": "1.5"}, "NOT_FOUND", None, "BaselineChange 1.5 not found."),
        Bad({"id": ""}, "NOT_FOUND", None, "not found."),
    ],
    "setManualBaseline": [
        Bad({"m": 0}, "INVALID", "median", "greater than 0"),
        Bad({"m": -5.0}, "INVALID", "median", "greater than 0"),
        Bad({"r": ""}, "INVALID", "rationale", "Rationale is required"),
        Bad({"r": "tab\tok but \x0b not"}, "INVALID", "rationale", "control characters"),
        Bad({"s": ""}, "INVALID", "scenario_key", "Scenario key is required"),
        Bad({"s": "KEY\x01"}, "INVALID", "scenario_key", "control characters"),
        # More than 50% from the baseline in force needs the explicit confirmation.
        Bad({"m": 1000.0}, "INVALID", "confirm_large_change", "needs explicit confirmation"),
    ],
    "setKillSwitch": [
        Bad({"reason": ""}, "INVALID", "reason", "Reason is required"),
        Bad({"reason": "\x00"}, "INVALID", "reason", "control characters"),
        Bad({"scope": ""}, "INVALID", "scope", "backfill needs a scope"),
        Bad({"scope": "   "}, "INVALID", "scope", "backfill needs a scope"),
        Bad({"scope": "NO_SUCH_SCENARIO"}, "INVALID", "scope", "is not a scenario"),
        Bad({"name": "ALERT_SUPPRESSION", "scope": "X"}, "INVALID", "scope",
            "leave scope empty"),
        Bad({"until": "2001-01-01T00:00:00Z"}, "INVALID", "expires_at", "not in the future"),
        Bad(lambda w: {"until": in_days(-1 / 86400)}, "INVALID", "expires_at",
            "not in the future"),
    ],
    "clearKillSwitch": [
        Bad({"reason": ""}, "INVALID", "reason", "Reason is required"),
        Bad({"reason": "bad\x08"}, "INVALID", "reason", "control characters"),
        Bad({"id": "abc"}, "NOT_FOUND", None, "KillSwitch abc not found."),
        Bad({"id": "0"}, "NOT_FOUND", None, "KillSwitch 0 not found."),
        Bad({"id": "99999999999"}, "NOT_FOUND", None, "KillSwitch 99999999999 not found."),
    ],
}  # fmt: skip


@pytest.mark.parametrize("mutation", list(MALFORMED))
async def test_malformed_values_are_refused_and_change_nothing(api, world, mutation):
    await assert_refused(api, world, mutation, MALFORMED[mutation])


# Values GraphQL cannot coerce to the argument's type: a top-level error naming the variable
# (no resolver ran, so no `code`), and no data.
UNCOERCIBLE: dict[str, list[Vars]] = {
    "proposeBaselineUpdate": [{"d": "seven"}, {"d": 2**31}, {"d": 1.5}, {"r": None}, {"s": 7}],
    "rejectBaselineUpdate": [{"id": None}, {"id": {"a": 1}}, {"r": ["a"]}],
    "setManualBaseline": [{"m": "abc"}, {"m": True}, {"m": None}, {"c": "yes"}],
    "setKillSwitch": [
        {"name": "NUKE"}, {"name": "backfill"}, {"until": "tomorrow"}, {"reason": None},
    ],
    "clearKillSwitch": [{"id": None}, {"id": [1]}, {"reason": 5}],
}  # fmt: skip


@pytest.mark.parametrize("mutation", list(UNCOERCIBLE))
async def test_uncoercible_values_are_graphql_errors_and_change_nothing(api, world, mutation):
    caller = VALID[mutation][0]
    before = await credit_state(world.org_id)
    for override in UNCOERCIBLE[mutation]:
        (name,) = override
        body = await api.gql(
            world.tokens[caller], MUTATIONS[mutation][0], variables(mutation, world, override)
        )
        assert body["data"] is None, body
        assert body["errors"][0]["message"].startswith(f"Variable '${name}'"), body
    assert await credit_state(world.org_id) == before


# --- found by these tests ----------------------------------------------------------------------


async def unchanged_or_fail(org_id: int, before: dict[str, Any]) -> None:
    """A change would be a failure of its own, never absorbed by the expected failure (whose
    `raises=AssertionError` does not cover `pytest.fail`)."""
    after = await credit_state(org_id)
    if after != before:
        pytest.fail(f"the refused call changed the database: {before} -> {after}")


SURROGATE_CASES = [
    ("proposeBaselineUpdate", "r", "rationale"),
    ("proposeBaselineUpdate", "s", "scenario_key"),
    ("rejectBaselineUpdate", "r", "reason"),
    ("setManualBaseline", "r", "rationale"),
    ("setManualBaseline", "s", "scenario_key"),
    ("setKillSwitch", "reason", "reason"),
    ("setKillSwitch", "scope", "scope"),
    ("clearKillSwitch", "reason", "reason"),
]


@pytest.mark.parametrize(("mutation", "var", "field"), SURROGATE_CASES)
async def test_lone_surrogates_are_refused_and_change_nothing(api, world, mutation, var, field):
    """JSON can carry half a UTF-16 pair ("\\ud800"): not text, and no database driver encodes
    it. The endpoint refuses such a body before any resolver runs (400, saying why); the
    services refuse it too, on the field (tests/test_validation.py)."""
    caller = VALID[mutation][0]
    vs = variables(mutation, world)
    vs[var] = vs[var] + "\ud800"
    before = await credit_state(world.org_id)
    body = json.dumps({"query": MUTATIONS[mutation][0], "variables": vs}).encode()
    headers = {
        "Authorization": f"Bearer {world.tokens[caller]}",
        "Content-Type": "application/json",
    }
    r = await api.client.post("/graphql", content=body, headers=headers)
    await unchanged_or_fail(world.org_id, before)
    assert r.status_code == 400, r.text
    assert "lone UTF-16 surrogate" in r.text


async def test_a_nul_byte_in_a_backfill_scope_is_invalid_and_changes_nothing(api, world):
    vs = variables("setKillSwitch", world, lambda w: {"scope": f"{w.free}\x00"})
    before = await credit_state(world.org_id)
    body = await api.gql(world.tokens["approver"], SET, vs)
    await unchanged_or_fail(world.org_id, before)
    assert "errors" not in body, body["errors"][0]["message"][:200]
    error = refused(body["data"]["setKillSwitch"], "setKillSwitch")
    assert (error["code"], error["field"]) == ("INVALID", "scope"), error


@pytest.mark.parametrize("length", [129, 10_000])
async def test_an_oversized_backfill_scope_is_invalid_and_changes_nothing(api, world, length):
    vs = variables("setKillSwitch", world, {"scope": "S" * length})
    before = await credit_state(world.org_id)
    body = await api.gql(world.tokens["approver"], SET, vs)
    await unchanged_or_fail(world.org_id, before)
    assert "errors" not in body, body["errors"][0]["message"][:200]
    error = refused(body["data"]["setKillSwitch"], "setKillSwitch")
    assert (error["code"], error["field"]) == ("INVALID", "scope"), error


def test_the_tables_cover_every_mutation():
    tables = (WRONG_ROLES, THEIRS, STALE, REPLAY_REFUSAL, OVERSIZED, MALFORMED, UNCOERCIBLE)
    for table in tables:
        assert set(table) == set(MUTATIONS)
    assert {m for m, _, _ in SURROGATE_CASES} == set(MUTATIONS)
