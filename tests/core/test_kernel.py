"""The shared kernel's own rules: optimistic version checks, the idempotency key race, and what
a face is told of a maker-checker request (`Decision`)."""

from __future__ import annotations

import pytest
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from riskops.server.core import approvals, versioning
from riskops.server.core.errors import Conflict, ErrorCode, Forbidden, Invalid
from riskops.server.core.idempotency import key_race
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.identity.models import User


@pytest.mark.parametrize("raw", [None, "1", 1.0, True, False, [1]])
def test_a_version_is_a_whole_number(raw: object) -> None:
    with pytest.raises(Invalid) as e:
        versioning.parse_version(raw)
    assert e.value.field == "expected_version"
    assert e.value.message == (
        "The form does not carry the version you loaded; reload the page and try again."
    )


def test_the_version_may_name_what_was_loaded() -> None:
    with pytest.raises(Invalid, match="the version of the scenario you loaded"):
        versioning.parse_version("x", of="of the scenario ")
    assert versioning.parse_version(0) == 0


def test_a_stale_version_is_a_conflict_saying_what_the_row_is_now() -> None:
    versioning.check_version("Case CASE-000001", 3, 3, status="open")  # current: nothing
    with pytest.raises(Conflict) as e:
        versioning.check_version("Case CASE-000001", 4, 3, status="investigating", owner=7)
    assert e.value.code is ErrorCode.CONFLICT
    assert e.value.field == "expected_version"
    assert e.value.message == (
        "Case CASE-000001 was changed by someone else: it is now investigating at version 4 "
        "(you had version 3). Reload it and decide again."
    )
    assert e.value.extra == {"current_version": 4, "current_status": "investigating", "owner": 7}


def test_without_a_status_the_conflict_gives_the_version_and_the_verb() -> None:
    with pytest.raises(Conflict) as e:
        versioning.check_version("Scenario S", 2, 1, verb="change it")
    assert e.value.message == (
        "Scenario S was changed by someone else: it is at version 2 (you had version 1). "
        "Reload it and change it again."
    )
    assert "current_status" not in e.value.extra


async def test_a_guarded_write_changes_the_row_only_at_the_expected_version(tenant) -> None:
    user, _ = await tenant.user("viewer")
    row = scoped(User, tenant.admin).filter(id=user.id)
    async with in_transaction() as conn:
        await versioning.write_versioned(row, 1, conn, "User x", name="First", version=2)
    with pytest.raises(Conflict, match="while you acted"):
        async with in_transaction() as conn:
            await versioning.write_versioned(row, 1, conn, "User x", name="Second", version=2)
    stored = await User.get(id=user.id)
    assert (stored.name, stored.version) == ("First", 2)


def test_the_key_race_explains_only_a_keyed_request() -> None:
    with pytest.raises(Conflict, match="idempotency key 'k-1' is being processed"), key_race("k-1"):
        raise IntegrityError("duplicate key")
    with pytest.raises(IntegrityError), key_race(None):
        raise IntegrityError("duplicate key")


def _principal(user_id: int, *roles: str) -> Principal:
    return Principal(user_id=user_id, org_id=1, roles=frozenset(roles))


def test_a_decision_tells_the_maker_and_the_checkers_apart() -> None:
    maker, checker, viewer = _principal(1, "approver"), _principal(2, "approver"), _principal(3)
    assert approvals.decision_for(maker, Perm.CASE_APPROVE, 1) == approvals.Decision(
        own=True, can_decide=False
    )
    assert approvals.decision_for(checker, Perm.CASE_APPROVE, 1) == approvals.Decision(
        own=False, can_decide=True
    )
    assert approvals.decision_for(viewer, Perm.CASE_APPROVE, 1) == approvals.Decision(
        own=False, can_decide=False
    )
    # a request whose maker is gone (or the CLI as the system) may be decided by anyone entitled
    assert approvals.decision_for(maker, Perm.CASE_APPROVE, None).can_decide


def test_a_maker_checker_refusal_is_marked_for_the_faces() -> None:
    # Pages show this refusal on the form the approver used; any other Forbidden is the 403 page.
    with pytest.raises(Forbidden) as e:
        approvals.require_checker(_principal(1, "approver"), 1, "rerun request #3")
    assert e.value.extra == {"maker_checker": True}
    assert "You made rerun request #3" in e.value.message
    approvals.require_checker(_principal(2, "approver"), 1, "rerun request #3")  # the checker
