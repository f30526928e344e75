"""The organization the permission-matrix tests call into: one user per role (each with an API
token and a session), and one object of every kind an operation or page takes an id of. Built
through the services, once per backend for the organization under test and once for "another
organization" whose ids must answer like missing ones.

`World.resolve` fills the placeholders of `permission_table` (`{alert}`, `{alert.version}`);
`fingerprint` is what a refused call must leave unchanged.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise import Tortoise
from tortoise.models import Model

from riskops.jobs.runner import drain
from riskops.server.assistant.models import (
    AssistantResponse,
    ResponseKind,
    ResponseStatus,
    TargetType,
)
from riskops.server.core.permissions import Role
from riskops.server.core.principal import Principal
from riskops.server.credit import baselines, kill_switches, policy, recording, reports, reruns
from riskops.server.credit.models import Baseline, BaselineSource, RerunRequest, Run, Scenario
from riskops.server.identity import teams, tokens, users
from riskops.server.identity.models import Session
from riskops.server.identity.orgs import create_organization
from riskops.server.notify import channels as notify_channels
from riskops.server.notify.models import NotificationChannel
from riskops.server.security import digest, new_secret
from riskops.server.settings import Settings
from riskops.server.triage import alerts, case_create, case_resolution, ingest
from riskops.server.triage.models import Alert, Case
from riskops.server.views import promotion
from riskops.server.views import service as views
from riskops.server.views.models import SavedView, ViewPromotionRequest, ViewScope

# A well-formed id no row has, and a scenario key no organization uses.
MISSING = {"id": "2000000000", "key": "NO_SUCH_SCENARIO_KEY"}
# Placeholders that are not ids of the organization's objects (no "another organization's").
NOT_IDS = frozenset({"org", "policy"})

_PLACEHOLDER = re.compile(r"\{([a-z0-9_]+)(?:\.(version))?\}")


@dataclass
class Caller:
    role: str
    user_id: int
    org_id: int
    principal: Principal
    bearer: str  # an API token carrying the role
    session: str  # a signed-in session's secret


@dataclass
class World:
    org_id: int
    slug: str
    callers: dict[str, Caller] = field(default_factory=dict)
    # placeholder -> value (ids as text, numbers as int)
    values: dict[str, Any] = field(default_factory=dict)
    # placeholder -> (model, pk) of the rows whose version a call must send
    versioned: dict[str, tuple[type[Model], int]] = field(default_factory=dict)

    def foreignable(self) -> set[str]:
        return set(self.values) - NOT_IDS

    async def resolve(self, template: Any, override: dict[str, Any] | None = None) -> Any:
        """`template` with its placeholders filled (`override`: placeholder -> value to use
        instead, e.g. another organization's id)."""
        values = {**self.values, **(override or {})}

        async def one(name: str, attr: str | None) -> Any:
            if attr is None:
                return values[name]
            model, pk = self.versioned[name]
            return (await model.get(id=pk)).version  # type: ignore[attr-defined]

        async def walk(value: Any) -> Any:
            if isinstance(value, dict):
                return {await walk(k): await walk(v) for k, v in value.items()}
            if isinstance(value, list):
                return [await walk(v) for v in value]
            if not isinstance(value, str):
                return value
            whole = _PLACEHOLDER.fullmatch(value)
            if whole:
                return await one(whole.group(1), whole.group(2))
            out, pos = [], 0
            for m in _PLACEHOLDER.finditer(value):
                out += [value[pos : m.start()], str(await one(m.group(1), m.group(2)))]
                pos = m.end()
            return "".join([*out, value[pos:]])

        return await walk(template)


def placeholders(template: Any) -> set[str]:
    """The names of the objects `template` refers to."""
    if isinstance(template, dict):
        return set().union(*(placeholders(k) | placeholders(v) for k, v in template.items()))
    if isinstance(template, list):
        return set().union(*(placeholders(v) for v in template))
    if isinstance(template, str):
        return {m.group(1) for m in _PLACEHOLDER.finditer(template)}
    return set()


def missing_value(name: str) -> str:
    return MISSING["key"] if name == "scenario" else MISSING["id"]


def _as(principal: Principal, role: Role) -> Principal:
    return dataclasses.replace(principal, roles=frozenset({role.value}))


async def build_world(settings: Settings, make_user: Any, prefix: str) -> World:
    """One organization with a user per role and an object of every kind (see module doc)."""
    slug = f"{prefix}-{uuid.uuid4().hex[:10]}"
    org = await create_organization(slug, f"Permission matrix {slug}")
    world = World(org.id, slug)
    v = world.values
    v["org"] = slug

    people: dict[str, tuple[Any, Principal]] = {}
    for role in Role:
        people[role.value] = await make_user(org.id, [role.value], name=role.value.title())
    admin = people[Role.ADMIN.value][1]
    for role in Role:
        user, principal = people[role.value]
        # A person's token is created by that person only.
        issued = await tokens.create_api_token(principal, name="caller", roles=[role.value])
        world.callers[role.value] = Caller(
            role.value, user.id, org.id, principal, issued.secret,
            await open_session(settings, user.id, org.id),
        )  # fmt: skip

    # Who the calls act on: never a caller (suspending or signing out a caller would change
    # the answers of the calls after it).
    target, target_principal = await make_user(org.id, [Role.VIEWER.value], name="Target")
    _, approver2 = await make_user(org.id, [Role.APPROVER.value], name="Second approver")
    strategist = people[Role.STRATEGIST.value][1]
    operator = people[Role.OPERATOR.value][1]
    v["target"] = str(target.id)
    v["assignee"] = str(strategist.user_id)
    v["approver2"] = str(approver2.user_id)
    v["team"] = str((await teams.create_team(admin, name="Desk", member_ids=[str(target.id)])).id)
    theirs = await tokens.create_api_token(target_principal, name="theirs", roles=["viewer"])
    v["token"] = str(theirs.token.id)
    # A session of the target, by the short id the access page shows (issue 14, h/access).
    v["session"] = digest(await open_session(settings, target.id, org.id))[:16]
    service = await users.create_service_account(admin, name="Probe robot", roles=["viewer"])
    v["service"] = str(service.id)

    # Alerts: one to triage, one waiting for the target's answer, one closed, one in no case,
    # and two in cases.
    items = [
        {"external_id": f"{slug}-{n}", "source": "perm-matrix", "title": f"Probe {n}",
         "score": 60 - n, "priority": "medium"}
        for n in range(6)
    ]  # fmt: skip
    created = await ingest.ingest_alerts(_as(strategist, Role.STRATEGIST), items)
    assert not created.errors, created.errors
    ids = [c.alert_id for c in created.created]
    for name, pk in zip(
        ("alert", "alert_pending", "alert_closed", "alert_free"), ids, strict=False
    ):
        v[name] = str(pk)
        world.versioned[name] = (Alert, pk)
    await alerts.assign_alert(
        strategist, ids[1], assignee_id=strategist.user_id, expected_version=1
    )
    await alerts.request_alert_info(
        strategist, ids[1], question="Known customer?", answerer_id=target.id, expected_version=2
    )
    await alerts.close_alert(
        strategist, ids[2], disposition="benign", comment="probe", expected_version=1
    )
    case = (await case_create.create_case(strategist, title="Probe", alert_ids=[ids[4]])).case
    requested = (
        await case_create.create_case(strategist, title="To approve", alert_ids=[ids[5]])
    ).case
    requested = (
        await case_resolution.request_case_resolution(
            strategist, requested.id, expected_version=requested.version, summary="Done.",
            root_cause="unknown",
        )
    ).case  # fmt: skip
    for name, c in (("case", case), ("case_requested", requested)):
        v[name] = str(c.id)
        world.versioned[name] = (Case, c.id)

    # Runs: a scenario with a baseline, a SEV0 run (quarantined, gated) with a rerun request;
    # a baseline change proposed and a policy change and a kill switch set by the second
    # approver (so that the approver caller may decide them: never one's own request).
    key = f"PERM_{uuid.uuid4().hex[:8].upper()}"
    now = datetime.now(UTC)
    scenario = await Scenario.create(org_id=org.id, key=key, name=key, created_at=now)
    await Baseline.create(
        org_id=org.id, scenario_id=scenario.id, median=100.0, sample_size=10,
        source=BaselineSource.MANUAL, set_at=now,
    )  # fmt: skip
    v["scenario"] = key
    world.versioned["scenario"] = (Scenario, scenario.id)
    # Proposed before the SEV0 run below: a baseline update needs 14 days without SEV0/SEV1
    # (seed 002 prerequisites), so approving it is refused as a conflict, past the permission.
    change = await baselines.set_manual_baseline(approver2, key, 110.0, "probe")
    v["change"] = str(change.id)
    recorded = await recording.record_runs(
        admin,
        [{"run_id": f"{slug}-run", "scenario": key, "credits_total": 2000.0,
          "data_classification": "regulatory"}],
    )  # fmt: skip
    assert not recorded.errors, recorded.errors
    run = await Run.get(org_id=org.id, run_id=f"{slug}-run")
    v["run"] = str(run.id)
    world.versioned["run"] = (Run, run.id)
    v["run_ref"] = run.run_id  # the run id the pages show (cases take runs by it)
    rerun = await reruns.request_rerun(operator, run.id, "probe")
    v["rerun"] = str(rerun.id)
    world.versioned["rerun"] = (RerunRequest, rerun.id)
    proposed = await policy.change_policy(approver2, {"sev2_multiplier": 2.5}, "probe", 0)
    v["policy"] = proposed.number
    switch = await kill_switches.set_kill_switch(approver2, "alert_suppression", "", "probe")
    v["switch"] = str(switch.id)
    monday = date.today() - timedelta(days=date.today().weekday() + 7)
    v["report"] = str((await reports.generate_weekly_report(operator, monday)).id)
    # A notification channel (issue 16) whose webhook refuses connections: a test sends nothing.
    channel = await notify_channels.create_channel(
        admin, "slack", notify_channels.ChannelInput(name="Probe", url="http://127.0.0.1:9/x")
    )
    v["channel"] = str(channel.id)
    world.versioned["channel"] = (NotificationChannel, channel.id)

    # A standard view of the alert queue, as a published promotion leaves it: every caller who
    # may save views sees it (their edits become its draft; archiving it is refused).
    view = await SavedView.create(
        org_id=org.id, owner_id=strategist.user_id, queue="alerts", scope=ViewScope.STANDARD,
        name="Probe standard", definition={"filters": {"priority": ["high"]}, "columns": [],
        "sort": "score"}, published_number=1, created_at=now, updated_at=now,
    )  # fmt: skip
    v["view"] = str(view.id)
    world.versioned["view"] = (SavedView, view.id)

    # View promotion: a personal view of a strategist who is no caller, with a request that
    # waits for review (validated by its job), so reviewer callers may decide it.
    _, maker = await make_user(org.id, [Role.STRATEGIST.value], name="View maker")
    promo = (
        await views.save_view(
            maker, queue="alerts", name="Probe view", definition={"filters": {"priority": "high"}}
        )
    ).view
    request = (
        await promotion.request_promotion(maker, promo.id, rationale="probe", expected_version=1)
    ).request
    await drain()
    v["view_promo"] = str(promo.id)
    world.versioned["view_promo"] = (SavedView, promo.id)
    v["view_request"] = str(request.id)
    world.versioned["view_request"] = (ViewPromotionRequest, request.id)

    # The assistant (issue 13): an escalation draft of {case} that succeeded, to read, rate and
    # save as a case note.
    draft = await AssistantResponse.create(
        org_id=org.id, kind=ResponseKind.ESCALATION_DRAFT, target_type=TargetType.CASE,
        target_id=case.id, requested_by_id=strategist.user_id, status=ResponseStatus.SUCCEEDED,
        model="probe-model", output="Escalate: probe.", created_at=now, finished_at=now,
    )  # fmt: skip
    v["assistant_response"] = str(draft.id)
    return world


async def open_session(settings: Settings, user_id: int, org_id: int) -> str:
    """A signed-in session's secret, as `auth.login` would open it, without the deliberately
    slow password check (tests open dozens)."""
    secret = new_secret()
    now = datetime.now(UTC)
    await Session.create(
        id=digest(secret), user_id=user_id, org_id=org_id, last_seen_at=now,
        expires_at=now + timedelta(hours=settings.session_ttl_hours),
    )  # fmt: skip
    return secret


async def fingerprint(*org_ids: int) -> tuple[Any, ...]:
    """Row counts and version sums of every organization-owned table, for these organizations,
    in one query: what any change (and its audit event) would move."""
    parts = []
    orgs = ", ".join(str(int(o)) for o in org_ids)
    for model in _org_models():
        table = model._meta.db_table
        if table in ("audit_refusal", "saved_view_count"):
            # The count of refused attempts (a refusal's own record), and the cache of view
            # counts that any page showing a view picker refreshes: not changes.
            continue
        # A refusal is audited (`permission.denied…`): the record of the refusal, not a change.
        own = {
            "audit_event": " AND action NOT LIKE 'permission.denied%'",
            "job": " AND kind <> 'view.count'",  # the count cache's refresh (above)
        }.get(table, "")
        parts.append(f"(SELECT COUNT(*) FROM {table} WHERE org_id IN ({orgs}){own})")
        if "version" in model._meta.fields_map:
            parts.append(
                f"(SELECT COALESCE(SUM(version), 0) FROM {table} WHERE org_id IN ({orgs}))"
            )
        if "revoked_at" in model._meta.fields_map:
            parts.append(f"(SELECT COUNT(revoked_at) FROM {table} WHERE org_id IN ({orgs}))")
    conn = Tortoise.get_connection("default")
    _, rows = await conn.execute_query("SELECT " + ", ".join(parts))
    return tuple(rows[0].values()) if isinstance(rows[0], dict) else tuple(rows[0])


def _org_models() -> list[type[Model]]:
    found = []
    for app in Tortoise.apps.values():
        for model in app.values():
            if "org_id" in model._meta.fields_map and not model._meta.abstract:
                found.append(model)
    return sorted(found, key=lambda m: m._meta.db_table)
