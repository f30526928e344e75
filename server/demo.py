"""The demo organization: "Demo Bank" with one login per role, seeded through the services.

Everything is created the way an operator would create it, so the demo's audit chain starts with
the organization, its users and its team, and verifies like any other. The only shortcut is the
first admin: creating a user needs an admin, so that one is inserted directly, with its audit
event appended in the same transaction by the system actor.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import Entry, RiskLevel, system_actor
from riskops.server.core.errors import Duplicate
from riskops.server.core.permissions import Role
from riskops.server.core.principal import Principal
from riskops.server.credit.demo import generate_demo_runs
from riskops.server.identity import teams, users
from riskops.server.identity.models import Organization, User
from riskops.server.identity.orgs import create_organization
from riskops.server.security import hash_password
from riskops.server.settings import Settings
from riskops.server.triage.demo import generate_demo_alerts
from riskops.server.views import service as view_service

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Bank"
DEMO_DOMAIN = "demo.riskops.local"
DEMO_TEAM = "Fraud Strategy"

Login = tuple[str, str, str]
"""(e-mail, password, roles) of one demo user, for printing once."""


@dataclass(frozen=True)
class DemoUser:
    local_part: str
    name: str
    role: Role


# Admin first: it creates everybody else. Two approvers, because nobody approves their own request.
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "Ada Admin", Role.ADMIN),
    DemoUser("viewer", "Victor Viewer", Role.VIEWER),
    DemoUser("operator", "Olga Operator", Role.OPERATOR),
    DemoUser("approver", "Amir Approver", Role.APPROVER),
    DemoUser("approver2", "Anna Approver", Role.APPROVER),
    DemoUser("strategist", "Sam Strategist", Role.STRATEGIST),
    DemoUser("strategist2", "Sara Strategist", Role.STRATEGIST),
    DemoUser("compliance", "Chloe Compliance", Role.COMPLIANCE_REVIEWER),
    DemoUser("product", "Paul Product", Role.PRODUCT_REVIEWER),
)


def demo_email(user: DemoUser) -> str:
    return f"{user.local_part}@{DEMO_DOMAIN}"


DEMO_ALERTS = 300


def new_password() -> str:
    return secrets.token_urlsafe(12)  # 16 characters, above the minimum length


async def seed_demo(settings: Settings) -> list[Login] | None:
    """Create the demo organization and return its logins, or None when any organization exists
    already (the demo is only for an empty installation, and seeding twice changes nothing).

    `settings` is the active configuration; nothing in the demo depends on it yet. The caller
    decides whether the demo is wanted (`riskops serve` seeds it by default only in dev).
    """
    if await Organization.exists():
        return None
    try:
        org = await create_organization(DEMO_SLUG, DEMO_NAME)
    except Duplicate:
        return None  # another process seeded it a moment ago
    first, *others = DEMO_USERS
    admin, password = await _bootstrap_admin(org, first)
    principal = Principal(
        user_id=admin.id, org_id=org.id, roles=frozenset(admin.roles), email=admin.email,
        name=admin.name,
    )  # fmt: skip
    logins: list[Login] = [(admin.email, password, first.role.value)]
    strategists: list[User] = []
    for demo_user in others:
        user, password = await _create_demo_user(principal, demo_user)
        logins.append((user.email, password, demo_user.role.value))
        if demo_user.role is Role.STRATEGIST:
            strategists.append(user)
    await teams.create_team(principal, name=DEMO_TEAM, member_ids=[str(u.id) for u in strategists])
    # A queue to triage: realistic synthetic alerts (rules, signals, merchants, skewed amounts).
    await generate_demo_alerts(principal, DEMO_ALERTS)
    # A saved view of the first strategist's, personal (to share, or to propose as standard).
    await _demo_view(strategists[0])
    # A run ledger to watch: scenarios with baselines, drift, a SEV2 pattern, a SEV1, a SEV0.
    await generate_demo_runs(principal)
    return logins


DEMO_VIEW = {
    "filters": {"status": ["new"], "priority": ["critical", "high"]},
    "columns": ["external_id", "title", "score", "priority", "amount", "due"],
    "sort": "due",
}


async def _demo_view(user: User) -> None:
    strategist = Principal(
        user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles), email=user.email,
        name=user.name,
    )  # fmt: skip
    await view_service.save_view(
        strategist, queue="alerts", name="New high and critical, SLA first",
        description="Untouched urgent alerts, the ones due soonest on top.", definition=DEMO_VIEW,
    )  # fmt: skip


async def _create_demo_user(admin: Principal, demo_user: DemoUser) -> tuple[User, str]:
    password = new_password()
    user = await users.create_user(
        admin, email=demo_email(demo_user), name=demo_user.name,
        roles=[demo_user.role.value], password=password,
    )  # fmt: skip
    return user, password


async def _bootstrap_admin(org: Organization, demo_user: DemoUser) -> tuple[User, str]:
    """The first admin of the demo, created by the system (no admin exists yet to do it)."""
    password = new_password()
    roles = [demo_user.role.value]
    async with in_transaction() as conn:
        user = await User.create(
            org_id=org.id, email=demo_email(demo_user), name=demo_user.name, roles=roles,
            password_hash=hash_password(password), using_db=conn,
        )  # fmt: skip
        await store.append(
            system_actor(org.id),
            Entry(
                "user.create",
                "user",
                user.id,
                new_values={"roles": roles, "has_password": True, "bootstrap": True},
                risk_level=RiskLevel.MEDIUM,
            ),
            conn,
        )
    return user, password
