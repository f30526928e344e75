"""A new organization with its first user (`riskops create-user --create-org`), on SQLite and
PostgreSQL: one transaction, so a mistake in either creates neither, not even the organization
or its audit chain."""

from __future__ import annotations

import uuid

import pytest

from riskops.audit.models import AuditEvent, AuditHead
from riskops.server.core.errors import Duplicate, Forbidden, Invalid
from riskops.server.core.principal import Principal
from riskops.server.identity import orgs
from riskops.server.identity.models import Organization, User


def admin_of(org_id: int) -> Principal:
    return Principal(user_id=0, org_id=org_id, roles=frozenset({"admin"}))


def viewer_of(org_id: int) -> Principal:
    return Principal(user_id=0, org_id=org_id, roles=frozenset({"viewer"}))


def slug() -> str:
    return f"n-{uuid.uuid4().hex[:10]}"


def email() -> str:
    return f"first-{uuid.uuid4().hex[:8]}@example.test"


async def test_the_organization_and_its_first_user_are_created_and_audited(db):
    s, e = slug(), email()
    org, user = await orgs.create_organization_with_user(
        s.upper(), "New Co", admin_of, email=e, user_name="First", roles=["admin", "viewer"]
    )
    assert (org.slug, org.name) == (s, "New Co")
    assert (user.org_id, user.email, user.roles) == (org.id, e, ["admin", "viewer"])
    events = await AuditEvent.filter(org_id=org.id).order_by("seq")
    assert [(ev.action, ev.actor) for ev in events] == [
        ("org.create", "system"),
        ("user.create", "user:0"),
    ]


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"email": "not-an-email"}, Invalid, "is not an e-mail address"),
        ({"roles": ["wizard"]}, Invalid, "unknown role"),
        ({"password": "short"}, Invalid, "at least"),
        ({"slug": "Not A Slug"}, Invalid, "lowercase letters"),
        ({"admin_of": viewer_of}, Forbidden, "user.manage"),
        ({"email": "taken"}, Duplicate, "already in use"),
    ],
)
async def test_a_mistake_creates_nothing(tenant, change, error, message):
    taken = str(tenant.admin_user.email)  # type: ignore[attr-defined]
    args = {"slug": slug(), "admin_of": admin_of, "email": email(), "roles": ["admin"],
            "password": None, **change}  # fmt: skip
    if args["email"] == "taken":
        args["email"] = taken
    orgs_before, users_before = await Organization.all().count(), await User.all().count()
    heads_before = await AuditHead.all().count()
    with pytest.raises(error, match=message):
        await orgs.create_organization_with_user(
            args["slug"], "New Co", args["admin_of"], email=args["email"], user_name="First",
            roles=args["roles"], password=args["password"],
        )  # fmt: skip
    assert await Organization.filter(slug=str(args["slug"]).lower()).count() == 0
    assert await Organization.all().count() == orgs_before
    assert await User.all().count() == users_before
    assert await AuditHead.all().count() == heads_before


async def test_an_existing_slug_creates_no_user(tenant):
    e = email()
    with pytest.raises(Duplicate, match="exists already"):
        await orgs.create_organization_with_user(
            tenant.slug, "Again", admin_of, email=e, user_name="First", roles=["admin"]
        )
    assert await User.filter(email=e).count() == 0
