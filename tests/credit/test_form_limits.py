"""The free-text reason of the decision forms, at its limits, driven like a browser: the rerun
request / approve / deny forms of a run's page (htmx, swapping `#main`), the policy propose /
approve / reject forms (`/policy`) and the kill-switch set / clear forms (`/kill-switches`).

Each form takes a reason (the rerun approval calls it the mitigation) of at most
`MAX_REASON` characters (`validation.long_text`). One character more is refused with a 422
whose message names the field and the limit, shown inline in the form that was used (with what
was typed kept where the form refills it); an empty or blank reason is refused the same way
with the "required" message. A refusal changes nothing: no run, rerun request, policy version
or kill switch row changes and no audit event other than the page views is written. A reason of
exactly the limit is accepted and stored whole, which pins the boundary.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from riskops.audit.models import AuditEvent
from riskops.server.credit import kill_switches, reruns
from riskops.server.credit import policy as controls
from riskops.server.credit import recording as run_svc
from riskops.server.credit.models import (
    Baseline,
    BaselineSource,
    KillSwitch,
    PolicyVersion,
    RerunRequest,
    Run,
    Scenario,
)
from tests.support.pages import flash_code

LIMIT = 2000
NOW = datetime.now(UTC)
HX = {"HX-Request": "true", "HX-Target": "main"}
# Showing a page again after a refusal writes `run.view`; signing in writes `auth.login`.
VIEW_EVENTS = ["run.view", "case.view", "auth.login"]
CONTROLS_REQUIRED = "Reason is required: say why (it is kept with the change)."


# ----------------------------------------------------------------------------- helpers


async def signed_in(browser: Any, tenant: Any, *roles: str, name: str | None = None) -> Any:
    user, principal = await tenant.user(*roles, name=name)
    b = await browser(user, tenant.password)
    b.user, b.principal = user, principal
    return b


async def gated_run(tenant: Any) -> Run:
    """A SEV1 run (6x its scenario's baseline): it has the rerun gate."""
    key = f"SCEN_{uuid.uuid4().hex[:8].upper()}"
    scenario = await Scenario.create(org_id=tenant.org_id, key=key, name=key, created_at=NOW)
    await Baseline.create(
        org_id=tenant.org_id, scenario_id=scenario.id, median=100.0, cv=0.1, sample_size=20,
        source=BaselineSource.MANUAL, set_at=NOW,
    )  # fmt: skip
    item = {"run_id": f"RUN-{uuid.uuid4().hex[:10]}", "scenario": key,
            "credits_total": 600.0, "started_at": NOW.isoformat()}  # fmt: skip
    result = await run_svc.record_runs(tenant.admin, [item])
    assert result.errors == [], result.errors
    run = await Run.get(id=result.recorded[0].pk)
    assert run.severity == "SEV1" and run.rerun_gate
    return run


async def changes_audited(org_id: int) -> int:
    return await AuditEvent.filter(org_id=org_id).exclude(action__in=VIEW_EVENTS).count()


RUN_COLUMNS = ("id", "quarantined", "dispatch_blocked", "version")
REQUEST_COLUMNS = ("id", "status", "version", "reason", "mitigation", "deny_reason",
                   "decided_by_id")  # fmt: skip
POLICY_COLUMNS = ("id", "number", "status", "reason", "decided_by_id", "decision_reason")
SWITCH_COLUMNS = ("id", "name", "scope", "reason", "cleared_at", "cleared_by_id", "clear_reason")


async def snapshot(org_id: int) -> tuple[Any, ...]:
    """Everything these forms could change in the organization."""
    return (
        await Run.filter(org_id=org_id).order_by("id").values_list(*RUN_COLUMNS),
        await RerunRequest.filter(org_id=org_id).order_by("id").values_list(*REQUEST_COLUMNS),
        await PolicyVersion.filter(org_id=org_id).order_by("id").values_list(*POLICY_COLUMNS),
        await KillSwitch.filter(org_id=org_id).order_by("id").values_list(*SWITCH_COLUMNS),
        await changes_audited(org_id),
    )


# ----------------------------------------------------------------------------- the forms


@dataclass
class Scene:
    """A form ready to be posted: who posts it, where, the form's other fields, and how to read
    back the reason it stored once accepted."""

    b: Any
    url: str
    data: dict[str, str]
    stored: Callable[[], Awaitable[str | None]]
    row: int = 0  # the kill switch whose row shows the clear form's error


@dataclass(frozen=True)
class Form:
    id: str
    field: str  # the textarea / input the reason is typed in
    says: str  # the label the service's message names the field by
    required: str  # the message for an empty reason
    hx: bool  # an htmx form (hx-post, hx-target="#main"); otherwise a plain form post
    refills: bool  # a refused form shows what was typed again
    ok: str  # the flash code an accepted form's redirect carries
    setup: Callable[[Any, Any], Awaitable[Scene]]

    def too_long(self) -> str:
        return f"{self.says} is {LIMIT + 1} characters long; the limit is {LIMIT}."


async def rerun_request(browser: Any, tenant: Any) -> Scene:
    run = await gated_run(tenant)
    b = await signed_in(browser, tenant, "operator")
    await b.get(f"/runs/{run.id}")

    async def stored() -> str | None:
        req = await RerunRequest.get_or_none(run_id=run.id)
        return req.reason if req else None

    return Scene(b, f"/runs/{run.id}/rerun", {}, stored)


async def _pending_request(browser: Any, tenant: Any) -> tuple[Any, Run, RerunRequest]:
    run = await gated_run(tenant)
    _, operator = await tenant.user("operator")
    req = await reruns.request_rerun(operator, run.id, "iterator fixed")
    b = await signed_in(browser, tenant, "approver")
    await b.get(f"/runs/{run.id}")
    return b, run, req


async def _rerun_decision(browser: Any, tenant: Any, action: str, column: str) -> Scene:
    b, run, req = await _pending_request(browser, tenant)

    async def stored() -> str | None:
        return getattr(await RerunRequest.get(id=req.id), column)  # type: ignore[no-any-return]

    url = f"/runs/{run.id}/reruns/{req.id}/{action}"
    return Scene(b, url, {"expected_version": str(req.version)}, stored)


async def rerun_approve(browser: Any, tenant: Any) -> Scene:
    return await _rerun_decision(browser, tenant, "approve", "mitigation")


async def rerun_deny(browser: Any, tenant: Any) -> Scene:
    return await _rerun_decision(browser, tenant, "deny", "deny_reason")


async def policy_propose(browser: Any, tenant: Any) -> Scene:
    b = await signed_in(browser, tenant, "approver")
    await b.get("/policy")
    # The browser posts every field; only retry_limit differs from the version in force.
    values = {k: f"{v:g}" for k, v in controls.Policy().to_dict().items()}

    async def stored() -> str | None:
        row = await PolicyVersion.get_or_none(org_id=tenant.org_id, number=1)
        return row.reason if row else None

    return Scene(b, "/policy", {**values, "retry_limit": "5", "expected_number": "0"}, stored)


async def _proposal(browser: Any, tenant: Any) -> tuple[Any, PolicyVersion]:
    _, maker = await tenant.user("approver", name="Maker")
    version = await controls.change_policy(maker, {"retry_limit": 5}, "fewer retries", 0)
    b = await signed_in(browser, tenant, "approver", name="Checker")
    await b.get("/policy")
    return b, version


async def policy_approve(browser: Any, tenant: Any) -> Scene:
    b, version = await _proposal(browser, tenant)

    async def stored() -> str | None:
        return (await PolicyVersion.get(id=version.id)).decision_reason

    return Scene(b, "/policy/approve", {"number": str(version.number)}, stored)


async def policy_reject(browser: Any, tenant: Any) -> Scene:
    b, version = await _proposal(browser, tenant)

    async def stored() -> str | None:
        return (await PolicyVersion.get(id=version.id)).decision_reason

    return Scene(b, "/policy/reject", {"number": str(version.number)}, stored)


async def switch_set(browser: Any, tenant: Any) -> Scene:
    b = await signed_in(browser, tenant, "approver")
    await b.get("/kill-switches")

    async def stored() -> str | None:
        row = await KillSwitch.get_or_none(org_id=tenant.org_id)
        return row.reason if row else None

    data = {"name": "alert_suppression", "scope": "", "expires_at": ""}
    return Scene(b, "/kill-switches", data, stored)


async def switch_clear(browser: Any, tenant: Any) -> Scene:
    b = await signed_in(browser, tenant, "approver")
    switch = await kill_switches.set_kill_switch(
        b.principal, "alert_suppression", "", "storm", None
    )
    await b.get("/kill-switches")

    async def stored() -> str | None:
        return (await KillSwitch.get(id=switch.id)).clear_reason

    return Scene(b, "/kill-switches/clear", {"switch_id": str(switch.id)}, stored, row=switch.id)


FORMS = [
    Form("rerun-request", "reason", "Reason", "Reason is required.", hx=True, refills=True,
         ok="run.rerun_requested", setup=rerun_request),
    Form("rerun-approve", "mitigation", "Mitigation", "Mitigation is required.", hx=True,
         refills=True, ok="run.rerun_approved", setup=rerun_approve),
    # The deny form's field is `reason`; the service (and the GraphQL API) call it deny_reason,
    # and its message names it by the form's label (issue 11, item 17).
    Form("rerun-deny", "reason", "Reason", "Reason is required.", hx=True,
         refills=True, ok="run.rerun_denied", setup=rerun_deny),
    Form("policy-propose", "reason", "Reason", CONTROLS_REQUIRED, hx=False, refills=True,
         ok="policy.proposed", setup=policy_propose),
    Form("policy-approve", "reason", "Reason", CONTROLS_REQUIRED, hx=False, refills=True,
         ok="policy.approved", setup=policy_approve),
    Form("policy-reject", "reason", "Reason", CONTROLS_REQUIRED, hx=False, refills=True,
         ok="policy.rejected", setup=policy_reject),
    Form("switch-set", "reason", "Reason", CONTROLS_REQUIRED, hx=False, refills=True,
         ok="kill_switch.set", setup=switch_set),
    Form("switch-clear", "reason", "Reason", CONTROLS_REQUIRED, hx=False, refills=False,
         ok="kill_switch.cleared", setup=switch_clear),
]  # fmt: skip
by_form = pytest.mark.parametrize("form", FORMS, ids=[f.id for f in FORMS])


async def post(form: Form, scene: Scene, reason: str) -> Any:
    headers = HX if form.hx else {}
    return await scene.b.post(scene.url, {**scene.data, form.field: reason}, headers=headers)


def assert_inline(form: Form, scene: Scene, r: Any, message: str, typed: str) -> None:
    """`message` is shown under the reason of the form that was posted, and only there."""
    body = r.text
    if form.hx:
        assert "<html" not in body, "an htmx post gets the #main fragment back"
    else:
        assert "<html" in body
    if scene.row:
        # The clear form sits in the switch's row; its error is shown in that row.
        row = re.search(rf'<tr id="switch-{scene.row}">.*?</tr>', body, re.S)
        assert row, body
        assert f'<p class="field-error">{html.escape(message)}</p>' in row.group(0)
        assert body.count('class="field-error"') == 1
        return
    error_id = f"{form.field}-error"
    assert f'<p class="field-error" id="{error_id}">{html.escape(message)}</p>' in body, message
    assert body.count('class="field-error"') == 1
    marked = re.findall(
        rf'<textarea name="{form.field}"[^>]*aria-invalid="true" aria-describedby="{error_id}"'
        r"(?: autofocus)?>"
        r"([^<]*)</textarea>",
        body,
    )
    assert len(marked) == 1, "exactly the posted form's reason is marked invalid"
    if form.refills:
        assert html.unescape(marked[0]) == typed.strip()


# ----------------------------------------------------------------------------- tests


def test_the_limit_is_the_services_max_reason() -> None:
    assert run_svc.MAX_REASON == controls.MAX_REASON == LIMIT


@by_form
async def test_a_reason_over_the_limit_is_refused_inline_and_changes_nothing(
    form: Form, browser: Any, tenant: Any
) -> None:
    scene = await form.setup(browser, tenant)
    before = await snapshot(tenant.org_id)
    big = "x" * (LIMIT + 1)
    r = await post(form, scene, big)
    assert r.status_code == 422, (form.id, r.status_code, r.text[:300])
    assert_inline(form, scene, r, form.too_long(), big)
    assert await snapshot(tenant.org_id) == before
    assert await scene.stored() is None


@by_form
async def test_an_empty_reason_is_refused_as_required_and_changes_nothing(
    form: Form, browser: Any, tenant: Any
) -> None:
    scene = await form.setup(browser, tenant)
    before = await snapshot(tenant.org_id)
    for empty in ("", "  \n\t "):
        r = await post(form, scene, empty)
        assert r.status_code == 422, (form.id, repr(empty), r.status_code, r.text[:300])
        assert_inline(form, scene, r, form.required, empty)
    assert await snapshot(tenant.org_id) == before
    assert await scene.stored() is None


@by_form
async def test_a_reason_of_exactly_the_limit_is_accepted_and_stored_whole(
    form: Form, browser: Any, tenant: Any
) -> None:
    scene = await form.setup(browser, tenant)
    audited = await changes_audited(tenant.org_id)
    # Surrounding blanks are trimmed before the length is measured.
    reason = "y" * (LIMIT - 1) + "z"
    r = await post(form, scene, f"  {reason}\n")
    assert r.status_code == 303, (form.id, r.status_code, r.text[:300])
    assert flash_code(r) == form.ok
    assert await scene.stored() == reason
    assert await changes_audited(tenant.org_id) == audited + 1
