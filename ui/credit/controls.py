"""Pages for the controls: `/policy` (values in force with their meaning, history, the change
form for approvers, which proposes a version; the open proposal with its diff and approve /
reject for the other approvers), `/kill-switches` (in force with an expiry countdown, history,
set and clear for approvers) and `/notifications` (the outbox and how delivery went).
Conventions are in `ui/common.py`; every rule is the service's (`server/services/controls.py`,
`outbox.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.errors import Conflict, Forbidden
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit import kill_switches
from riskops.server.credit import policy as svc
from riskops.server.credit.models import Scenario
from riskops.server.identity import users
from riskops.server.web import read_form
from riskops.ui.common.forms import (
    FORM_ERRORS,
    back,
    form_errors,
    form_text,
    int_or_none,
    parse_local,
)
from riskops.ui.common.rendering import FLASH, page, render, signed_in, status_of

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


@page
async def policy_change(request: Request) -> Response:
    """Propose a change (maker-checker: another approver puts it in force)."""
    form = await read_form(request)
    principal = signed_in(request)
    principal.require(Perm.POLICY_MANAGE)
    typed = {name: form_text(form, name) for name in (*svc.POLICY_FIELDS, "reason")}
    errors: dict[str, str] = {}
    changed = _parse_values(form, errors)
    if errors:
        return await _policy_page(request, principal, status=422, errors=errors, values=typed)
    # A missing or garbled number goes to the service as is: it refuses it with its message.
    expected: Any = int_or_none(form_text(form, "expected_number"))
    try:
        await svc.change_policy(principal, changed, typed["reason"], expected)
    except FORM_ERRORS as exc:
        if isinstance(exc, Conflict):
            # Someone else changed it or a proposal is open: show the page as it is now and
            # keep what was typed.
            errors = {"_form": exc.message}
        else:
            errors = form_errors(exc, {**{f: f for f in svc.POLICY_FIELDS}, "reason": "reason"})
        return await _policy_page(
            request, principal, status=status_of(exc), errors=errors, values=typed
        )
    return back("/policy", "policy.proposed")


async def _policy_decision(request: Request, action: str) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    typed = {"number": form_text(form, "number"), "reason": form_text(form, "reason")}
    # A missing or garbled number goes to the service as is: it refuses it with its message.
    number: Any = int_or_none(typed["number"])
    if number is None:
        number = typed["number"]
    decide = svc.approve_policy_change if action == "approve" else svc.reject_policy_change
    try:
        await decide(principal, number, typed["reason"])
    except (*FORM_ERRORS, Forbidden) as exc:
        if isinstance(exc, Forbidden) and not principal.can(Perm.POLICY_MANAGE):
            raise
        code = 403 if isinstance(exc, Forbidden) else status_of(exc)
        return await _policy_page(
            request, principal, status=code, errors=form_errors(exc, {"reason": "reason"}),
            values=typed, form_name=action,
        )  # fmt: skip
    return back("/policy", "policy.approved" if action == "approve" else "policy.rejected")


@page
async def policy_approve(request: Request) -> Response:
    return await _policy_decision(request, "approve")


@page
async def policy_reject(request: Request) -> Response:
    return await _policy_decision(request, "reject")


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
        keys = await scoped(Scenario, principal).order_by("key").values_list("key", flat=True)
        scenarios = [str(k) for k in keys]
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


@page
async def switch_set(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    typed = {name: form_text(form, name) for name in SET_FIELDS}
    errors: dict[str, str] = {}
    until = parse_local(typed["expires_at"], "expires_at", errors)
    if errors:
        return await _switches_page(request, principal, status=422, errors=errors, values=typed)
    # The scenario picker only matters for backfill; alert suppression ignores what it holds.
    scope = typed["scope"] if typed["name"] == kill_switches.SwitchName.BACKFILL.value else ""
    try:
        await kill_switches.set_kill_switch(principal, typed["name"], scope, typed["reason"], until)
    except FORM_ERRORS as exc:
        return await _switches_page(
            request, principal, status=status_of(exc),
            errors=form_errors(exc, SET_FIELDS), values=typed,
        )  # fmt: skip
    return back("/kill-switches", "kill_switch.set")


@page
async def switch_clear(request: Request) -> Response:
    form = await read_form(request)
    principal = signed_in(request)
    switch_id = form_text(form, "switch_id")
    try:
        await kill_switches.clear_kill_switch(principal, switch_id, form_text(form, "reason"))
    except FORM_ERRORS as exc:
        pk = int_or_none(switch_id) or 0
        return await _switches_page(
            request, principal, status=status_of(exc), clear_errors={pk: exc.message}
        )
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
