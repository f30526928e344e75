"""Pages for the controls: `/policy` (values in force with their meaning, history, the change
form for approvers, which proposes a version; the open proposal with its diff and approve /
reject for the other approvers), `/kill-switches` (in force with an expiry countdown, history,
set and clear for approvers). Conventions are in `riskops.ui.common`; every rule is the
services' (`server/credit/policy.py`, `kill_switches.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.credit import kill_switches
from riskops.server.credit import policy as svc
from riskops.server.credit.scenarios import scenario_keys
from riskops.server.identity import users
from riskops.ui.common.forms import back, form_text, int_or_none, parse_local
from riskops.ui.common.posts import FieldErrors, Refusal, Submission, form_post
from riskops.ui.common.rendering import FLASH, page, render, signed_in

FLASH.update(
    {
        "policy.proposed": "Policy change proposed: another approver must approve it; until "
        "then the version in force stays.",
        "policy.approved": "Policy change approved: the new version is in force for runs "
        "recorded from now.",
        "policy.rejected": "Policy change rejected: the version in force is unchanged.",
        "kill_switch.set": "Kill switch set.",
        "kill_switch.cleared": "Kill switch cleared.",
    }
)

SWITCH_TEXT = {
    kill_switches.SwitchName.ALERT_SUPPRESSION.value: "Alert suppression: notifications stop "
    "(recorded as suppressed); runs are still classified and logged.",
    kill_switches.SwitchName.BACKFILL.value: "Backfill mode for one scenario: SEV1 threshold "
    "relaxed, a legit signal for the misconfig likelihood.",
    kill_switches.SwitchName.ASSISTANT.value: "Assistant off: no prompt leaves riskops; the "
    "assistant panels show the structured explanation from rule hits and signals.",
}
SET_FIELDS = {"name": "name", "scope": "scope", "reason": "reason", "expires_at": "expires_at"}


def countdown(until: datetime | None, now: datetime) -> str:
    """ "in 2 d 3 h", "in 3 h 20 min", "in 5 min", "now"; "no expiry" for None."""
    if until is None:
        return "no expiry"
    left = int((until - now).total_seconds())
    if left <= 0:
        return "now"
    days, rest = divmod(left, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = max(rest // 60, 1) if not days and not hours else rest // 60
    if days:
        return f"in {days} d {hours} h"
    if hours:
        return f"in {hours} h {minutes} min"
    return f"in {minutes} min"


# ----------------------------------------------------------------------------- the policy


def _parse_values(form: Mapping[str, Any], errors: dict[str, str]) -> dict[str, float | int]:
    """The typed fields as numbers (the form shows the values in force, so unchanged ones come
    back too: the service keeps what changes and refuses a change of nothing); a value that is
    not a number is an error under its field."""
    changed: dict[str, float | int] = {}
    for name in svc.POLICY_FIELDS:
        raw = form_text(form, name)
        if raw == "":
            continue
        try:
            value: float | int = int(raw) if name in svc.INT_FIELDS else float(raw)
        except ValueError:
            kind = "a whole number" if name in svc.INT_FIELDS else "a number"
            errors[name] = f"{name} must be {kind}, not {raw!r}."
            continue
        changed[name] = value
    return changed


async def _policy_page(
    request: Request,
    principal: Principal,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    form_name: str = "change",
) -> Response:
    current = await svc.get_policy(principal)
    versions = await svc.list_policy_versions(principal)
    proposal = await svc.open_policy_proposal(principal)
    names = await users.names_of(
        principal, [i for v in versions for i in (v.set_by_id, v.decided_by_id)]
    )
    ctx = {
        "current": current,
        "values_in_force": current.policy.to_dict(),
        "meanings": svc.POLICY_MEANINGS,
        "versions": versions,
        # For each stored version, what it changed relative to the approved one before it.
        "changes": svc.version_changes(versions),
        "proposal": proposal,
        "names": names,
        "can_manage": principal.can(Perm.POLICY_MANAGE),
        "errors": errors or {},
        "form_name": form_name,
        "form": values or {},
        "MAX_REASON": svc.MAX_REASON,
    }
    return render(request, "credit/controls/policy.html", ctx, status)


@page
async def policy_page(request: Request) -> Response:
    return await _policy_page(request, signed_in(request))


async def _policy_refused(sub: Submission, refusal: Refusal) -> Response:
    # A conflict (someone else changed the policy, a proposal is open, the version was decided
    # meanwhile) is shown at the top of the form used, with the page as it is now and what was
    # typed kept.
    errors = {"_form": refusal.conflict} if refusal.conflict is not None else refusal.errors
    return await _policy_page(sub.request, sub.principal, status=refusal.status, errors=errors,
                              values=sub.values, form_name=sub.name)  # fmt: skip


@form_post(_policy_refused, name="change", keep=(*svc.POLICY_FIELDS, "reason"),
           fields={**{f: f for f in svc.POLICY_FIELDS}, "reason": "reason"})  # fmt: skip
async def policy_change(sub: Submission) -> Response:
    """Propose a change (maker-checker: another approver puts it in force)."""
    sub.principal.require(Perm.POLICY_MANAGE)
    errors: dict[str, str] = {}
    changed = _parse_values(sub.form, errors)
    if errors:
        raise FieldErrors(errors)
    # A missing or garbled number goes to the service as is: it refuses it with its message.
    expected: Any = int_or_none(sub.text("expected_number"))
    await svc.change_policy(sub.principal, changed, sub.values["reason"], expected)
    return back("/policy", "policy.proposed")


async def _policy_decision(sub: Submission, *, approve: bool) -> Response:
    # A missing or garbled number goes to the service as is: it refuses it with its message.
    number: Any = int_or_none(sub.values["number"])
    if number is None:
        number = sub.values["number"]
    decide = svc.approve_policy_change if approve else svc.reject_policy_change
    await decide(sub.principal, number, sub.values["reason"])
    return back("/policy", "policy.approved" if approve else "policy.rejected")


# An approver deciding their own proposal (maker-checker) is shown where they acted (`checker`).
@form_post(_policy_refused, name="approve", keep=("number", "reason"),
           fields={"reason": "reason"}, checker=True)  # fmt: skip
async def policy_approve(sub: Submission) -> Response:
    return await _policy_decision(sub, approve=True)


@form_post(_policy_refused, name="reject", keep=("number", "reason"),
           fields={"reason": "reason"}, checker=True)  # fmt: skip
async def policy_reject(sub: Submission) -> Response:
    return await _policy_decision(sub, approve=False)


# ----------------------------------------------------------------------------- kill switches


async def _switches_page(
    request: Request,
    principal: Principal,
    *,
    status: int = 200,
    errors: Mapping[str, str] | None = None,
    values: Mapping[str, str] | None = None,
    clear_errors: Mapping[int, str] | None = None,
) -> Response:
    now = datetime.now(UTC)
    rows = await kill_switches.list_kill_switches(principal, include_inactive=True)
    names = await users.names_of(
        principal, [i for s in rows for i in (s.set_by_id, s.cleared_by_id)]
    )
    states = {s.id: kill_switches.switch_state(s, now) for s in rows}
    can_manage = principal.can(Perm.POLICY_MANAGE)
    scenarios: list[str] = []
    if can_manage:
        scenarios = await scenario_keys(principal)
    ctx = {
        "active": [s for s in rows if states[s.id] == "in_force"],
        "history": [s for s in rows if states[s.id] != "in_force"],
        "states": states,
        "countdown": {s.id: countdown(s.expires_at, now) for s in rows},
        "names": names,
        "can_manage": can_manage,
        "scenarios": scenarios,
        "errors": errors or {},
        "clear_errors": clear_errors or {},
        "form": values or {"name": kill_switches.SwitchName.ALERT_SUPPRESSION.value},
        "SWITCHES": [s.value for s in kill_switches.SwitchName],
        "SWITCH_TEXT": SWITCH_TEXT,
    }
    return render(request, "credit/controls/kill_switches.html", ctx, status)


@page
async def switches_page(request: Request) -> Response:
    return await _switches_page(request, signed_in(request))


async def _set_refused(sub: Submission, refusal: Refusal) -> Response:
    return await _switches_page(sub.request, sub.principal, status=refusal.status,
                                errors=refusal.errors, values=sub.values)  # fmt: skip


@form_post(_set_refused, keep=SET_FIELDS, fields=SET_FIELDS)
async def switch_set(sub: Submission) -> Response:
    typed = sub.values
    errors: dict[str, str] = {}
    until = parse_local(typed["expires_at"], "expires_at", errors)
    if errors:
        raise FieldErrors(errors)
    # The scenario picker only matters for backfill; alert suppression ignores what it holds.
    scope = typed["scope"] if typed["name"] == kill_switches.SwitchName.BACKFILL.value else ""
    await kill_switches.set_kill_switch(sub.principal, typed["name"], scope, typed["reason"], until)
    return back("/kill-switches", "kill_switch.set")


async def _clear_refused(sub: Submission, refusal: Refusal) -> Response:
    # Shown on the row of the switch the form named (every row has its own clear form).
    pk = int_or_none(sub.values["switch_id"]) or 0
    return await _switches_page(sub.request, sub.principal, status=refusal.status,
                                clear_errors={pk: refusal.message})  # fmt: skip


@form_post(_clear_refused, keep=("switch_id",))
async def switch_clear(sub: Submission) -> Response:
    await kill_switches.clear_kill_switch(sub.principal, sub.values["switch_id"],
                                          sub.text("reason"))  # fmt: skip
    return back("/kill-switches", "kill_switch.cleared")


# ----------------------------------------------------------------------------- notifications


# Clearing names the switch in the form (not the path), so the route needs no path parameter.
routes: list[Route] = [
    Route("/policy", policy_page, methods=["GET"]),
    Route("/policy", policy_change, methods=["POST"]),
    Route("/policy/approve", policy_approve, methods=["POST"]),
    Route("/policy/reject", policy_reject, methods=["POST"]),
    Route("/kill-switches", switches_page, methods=["GET"]),
    Route("/kill-switches", switch_set, methods=["POST"]),
    Route("/kill-switches/clear", switch_clear, methods=["POST"]),
]
