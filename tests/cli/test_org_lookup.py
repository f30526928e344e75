"""The one `--org` lookup of the CLI, in this process on SQLite and PostgreSQL: a slug first,
else an id; the platform chain `0` of the audit commands; one message for an unknown one."""

from __future__ import annotations

import uuid

import pytest

from riskops.audit import store
from riskops.audit.types import SYSTEM_ORG, Entry, system_actor
from riskops.server.cli.audit import _chain_of
from riskops.server.cli.common import CliError, find_org, org_principal, resolve_org
from riskops.server.core.permissions import Role
from riskops.server.identity.orgs import create_organization


async def test_a_slug_or_an_id_names_the_organization(tenant):
    for key in (tenant.slug, f"  {tenant.slug.upper()} ", str(tenant.org_id), f" {tenant.org_id}"):
        org = await find_org(key)
        assert org is not None and org.id == tenant.org_id, key


async def test_a_slug_that_is_a_number_wins_over_the_id(tenant):
    # Organizations until one has an id of two digits or more (a slug has at least two).
    target = tenant.org_id
    while target < 10:
        target = (await create_organization(f"x-{uuid.uuid4().hex[:10]}", "Filler")).id
    numeric = await create_organization(str(target), "Numeric slug")
    assert (await find_org(str(target))).id == numeric.id  # type: ignore[union-attr]
    assert (await find_org(str(numeric.id))).id == numeric.id  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "key", ["nope", "", "   ", "987654", "0", "-1", "99999999999", "١٢", "a" * 300, "x\x00y"]
)
async def test_nothing_else_names_one(db, key):
    assert await find_org(key) is None
    with pytest.raises(CliError) as refused:
        await resolve_org(key)
    expected = f"no organization with slug or id '{key.strip().lower()}' (see `riskops status`)."
    assert refused.value.message == expected


async def test_the_cli_acts_in_it_with_one_role(tenant):
    reader = await org_principal(str(tenant.org_id), Role.VIEWER)
    assert (reader.org_id, reader.roles, reader.actor.actor) == (
        tenant.org_id,
        frozenset({"viewer"}),
        "cli",
    )
    assert (await org_principal(tenant.slug)).roles == frozenset({"admin"})


async def test_audit_commands_also_name_the_platform_chain(tenant):
    assert await _chain_of(tenant.slug) == tenant.org_id
    assert await _chain_of(str(tenant.org_id)) == tenant.org_id
    await store.emit(system_actor(SYSTEM_ORG), Entry("test.platform", "test", 1))
    assert await _chain_of(" 0 ") == SYSTEM_ORG
    with pytest.raises(CliError, match="no organization with slug or id 'nope'"):
        await _chain_of("nope")
