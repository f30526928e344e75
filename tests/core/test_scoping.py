"""The scoped entry point itself: it takes the caller or an explicit organization (never neither,
never both), knows which column holds each model's organization (the organization row is scoped
by its own id), refuses child rows, and makes another organization's id read like a missing one."""

from __future__ import annotations

import pytest

from riskops.server.core.errors import NotFound
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, scoped
from riskops.server.credit.models import RunArtifact
from riskops.server.identity.models import Organization, User
from riskops.server.triage.models import Alert, CaseNote, RuleHit

CALLER = Principal(user_id=1, org_id=1, roles=frozenset({"viewer"}))


def test_scoped_takes_the_caller_or_an_org_id_never_neither_nor_both() -> None:
    with pytest.raises(TypeError, match="either the principal or an explicit org_id"):
        scoped(Alert)
    with pytest.raises(TypeError, match="either the principal or an explicit org_id"):
        scoped(Alert, CALLER, org_id=2)


@pytest.mark.parametrize("model", [RuleHit, CaseNote, RunArtifact])
def test_child_rows_are_reached_through_their_parent(model: type) -> None:
    with pytest.raises(TypeError, match="through their parent"):
        scoped(model, CALLER)


async def test_each_organization_sees_only_itself(tenant, other_tenant) -> None:
    assert [o.id for o in await scoped(Organization, tenant.admin)] == [tenant.org_id]
    assert (await scoped(Organization, org_id=other_tenant.org_id).get()).slug == other_tenant.slug
    mine = set(await scoped(User, tenant.admin).values_list("id", flat=True))
    assert tenant.admin_user.id in mine
    assert other_tenant.admin_user.id not in mine
    assert set(await scoped(User, org_id=other_tenant.org_id).values_list("id", flat=True)) == {
        other_tenant.admin_user.id
    }


async def test_another_organizations_id_reads_like_a_missing_one(tenant, other_tenant) -> None:
    foreign = other_tenant.admin_user.id
    missing = 2**31 - 1
    with pytest.raises(NotFound) as theirs:
        await get_scoped(User, tenant.admin, foreign, "User")
    with pytest.raises(NotFound) as nobodys:
        await get_scoped(User, tenant.admin, missing, "User")
    assert theirs.value.message.replace(str(foreign), "N") == nobodys.value.message.replace(
        str(missing), "N"
    )
    assert theirs.value.code == nobodys.value.code
