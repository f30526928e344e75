"""Maker-checker (PRODUCT.md): nobody approves their own request. The one rule for case
resolutions, baseline changes, policy versions and reruns (and the view promotion to come, which
calls `require_checker` / `decision_for` like the others): who may decide (`may_decide`,
`require_checker`), what a face shows one person of a request (`Decision`), and deciding a
PROPOSED row exactly once (`decide`).

It compares people, not accounts. An act through a service account's token is the act of the
account and of the admin who minted that token; a request a service account made is the request
of the account and of every admin who ever minted a token for it. So a request and its decision
are refused when their people overlap; `Principal.own_makers` (filled at authentication) holds
the makers that overlap with the caller's people."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from riskops.server.core.errors import Conflict, Forbidden
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped


class ChangeStatus(StrEnum):
    """The life of a proposal that needs a second person (baseline changes, policy versions)."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"


class Proposal(Protocol):
    id: int
    org_id: int
    status: ChangeStatus


def may_decide(principal: Principal, maker_id: int | None) -> bool:
    """Maker-checker (PRODUCT.md): nobody decides their own request, nor one made through a
    service account they minted a token for, nor (through such a token) one they made. A request
    whose maker is unknown (a removed user, the CLI acting as the system) may be decided by
    anyone entitled."""
    return maker_id is None or maker_id not in principal.own_makers


@dataclass(frozen=True)
class Decision:
    """What a face shows one person of a request waiting for a second one: whether it is their
    own (they wait for another approver) and whether they may decide it (they hold the
    permission and did not make it). Pages and types read these; they never compare ids."""

    own: bool
    can_decide: bool


def decision_for(principal: Principal, perm: Perm, maker_id: int | None) -> Decision:
    own = maker_id is not None and maker_id in principal.own_makers
    return Decision(own=own, can_decide=principal.can(perm) and may_decide(principal, maker_id))


def require_checker(principal: Principal, maker_id: int | None, what: str) -> None:
    """Forbidden when `principal` made the request `what` ("baseline change 12")."""
    if not may_decide(principal, maker_id):
        raise Forbidden(
            f"You made {what} (yourself, or through a service account whose token you minted): "
            "nobody decides their own request, so another approver must (maker-checker).",
            maker_checker=True,
        )


async def decide(
    conn: BaseDBAsyncClient,
    model: type[Model],
    row: Proposal,
    status: ChangeStatus,
    *,
    what: str,
    field: str,
    **values: Any,
) -> None:
    """Move a PROPOSED row to `status` with `values`, in one conditional update: a concurrent
    decision makes this a Conflict ("`what` was decided meanwhile") instead of a second one."""
    updated = (
        await scoped(model, org_id=row.org_id)
        .filter(id=row.id, status=ChangeStatus.PROPOSED)
        .using_db(conn)
        .update(status=status, **values)
    )
    if updated != 1:
        raise Conflict(f"{what} was decided meanwhile.", field=field)
    row.status = status
    for name, value in values.items():
        setattr(row, name, value)
