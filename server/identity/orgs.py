"""Organizations (tenants)."""

from __future__ import annotations

import re

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import Entry, system_actor
from riskops.server.core import validation
from riskops.server.core.errors import Duplicate, Invalid
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.identity.models import Organization

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


async def create_organization(slug: str, name: str) -> Organization:
    """Create a tenant and its audit chain (system action: CLI, seeding, tests)."""
    slug = validation.text(slug, "slug", max_len=64).lower()
    if not SLUG_RE.match(slug):
        raise Invalid("slug: use 2-63 lowercase letters, digits and dashes.", field="slug")
    name = validation.text(name, "name", max_len=200)
    async with in_transaction() as conn:
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
