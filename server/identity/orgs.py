"""Organizations (tenants): creating one with its audit chain (alone, or with its first user in
one transaction), and locking one for the writers that decide something organization-wide."""

from __future__ import annotations

import re
from collections.abc import Callable

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import Entry, system_actor
from riskops.server.core import validation
from riskops.server.core.errors import Duplicate, Invalid
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.identity import users
from riskops.server.identity.models import Organization, User

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


async def create_organization(slug: str, name: str) -> Organization:
    """Create a tenant and its audit chain (system action: CLI, seeding, tests)."""
    slug, name = _checked(slug, name)
    async with in_transaction() as conn:
        return await _insert(conn, slug, name)


async def create_organization_with_user(
    slug: str,
    name: str,
    admin_of: Callable[[int], Principal],
    *,
    email: str,
    user_name: str,
    roles: list[str],
    password: str | None = None,
) -> tuple[Organization, User]:
    """A new tenant and its first user in one transaction: a mistake in either creates neither,
    not even the organization. `admin_of(org_id)` is who creates the user in it (it needs
    `user.manage`; the CLI passes itself as an admin)."""
    slug, name = _checked(slug, name)
    new = users.checked_new_user(email=email, name=user_name, roles=roles, password=password)
    async with in_transaction() as conn:
        org = await _insert(conn, slug, name)
        user = await users.insert_user(admin_of(org.id), conn, new)
    return org, user


def _checked(slug: str, name: str) -> tuple[str, str]:
    slug = validation.text(slug, "slug", max_len=64).lower()
    if not SLUG_RE.match(slug):
        raise Invalid("slug: use 2-63 lowercase letters, digits and dashes.", field="slug")
    return slug, validation.text(name, "name", max_len=200)


async def _insert(conn: BaseDBAsyncClient, slug: str, name: str) -> Organization:
    if await Organization.filter(slug=slug).using_db(conn).exists():
        raise Duplicate(f"An organization with slug '{slug}' exists already.", field="slug")
    org = await Organization.create(slug=slug, name=name, using_db=conn)
    await store.ensure_head(org.id, conn)
    await store.append(
        system_actor(org.id),
        Entry("org.create", "organization", org.id, {}, {"slug": slug, "name": name}),
        conn,
    )
    return org


async def lock_organization(principal: Principal, conn: BaseDBAsyncClient) -> None:
    """Serialize the organization's writers that allocate or decide something org-wide (case
    numbers, policy versions, kill switches, baseline decisions) on its row (PostgreSQL; SQLite
    serializes writers anyway). NO KEY: rows that only reference the organization still insert."""
    await scoped(Organization, principal).select_for_update(no_key=True).using_db(conn).first()
