"""Helpers for the GraphQL tests: bearer tokens, one-call queries, and a snapshot of an
organization so a failed call can be shown to have changed nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core.principal import Principal
from riskops.server.identity.models import ApiToken, Session, Team, User
from riskops.server.identity.tokens import create_api_token


@dataclass
class Api:
    client: httpx.AsyncClient

    async def token(self, tenant: Any, user: Any, roles: list[str] | None = None) -> str:
        """A bearer secret for `user` (of `tenant`), carrying `roles` (default: all of theirs).
        Created by the user themself: a person's token is created by that person only."""
        me = Principal(user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles))
        issued = await create_api_token(me, name="test", roles=roles or list(user.roles))
        return issued.secret

    async def post(
        self, secret: str | None, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        return await self.client.post("/graphql", json=body, headers=headers, **kw)

    async def gql(
        self, secret: str | None, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """POST a query that must be answered with HTTP 200; returns the JSON body."""
        r = await self.post(secret, query, variables)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    async def data(
        self, secret: str | None, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Like `gql`, and the answer must have no top-level errors."""
        body = await self.gql(secret, query, variables)
        assert "errors" not in body, body
        return body["data"]  # type: ignore[no-any-return]


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)


REFUSED = "permission.denied"  # a refusal's own record (AUDIT.md), not a change


async def changes_head(org_id: int) -> AuditEvent | None:
    """The last event of the chain that records a change or an access, not a refusal: a refused
    call is audited (`permission.denied…`) and must change nothing else, so snapshots taken
    around it compare this instead of the chain's head."""
    return (
        await AuditEvent.filter(org_id=org_id)
        .exclude(action__startswith=REFUSED)
        .order_by("-seq")
        .first()
    )


async def org_state(org_id: int) -> dict[str, Any]:
    """Everything a call on identity could change in one organization (not usage timestamps)."""
    users = (
        await User.filter(org_id=org_id)
        .order_by("id")
        .values("id", "email", "name", "roles", "status", "version", "password_hash", "deleted_at")
    )
    teams = []
    for team in await Team.filter(org_id=org_id).order_by("id").prefetch_related("members"):
        teams.append((team.id, team.name, sorted(u.id for u in team.members)))
    tokens = (
        await ApiToken.filter(org_id=org_id)
        .order_by("id")
        .values("id", "user_id", "name", "roles", "revoked_at", "expires_at")
    )
    sessions = await Session.filter(org_id=org_id).order_by("id").values("id", "revoked_at")
    head = await changes_head(org_id)
    events = await AuditEvent.filter(org_id=org_id).exclude(action__startswith=REFUSED).count()
    return {
        "users": users,
        "teams": teams,
        "tokens": tokens,
        "sessions": sessions,
        "audit_head": (head.seq, head.hash) if head else None,
        "audit_events": events,
    }


@pytest.fixture
def snapshot():  # type: ignore[no-untyped-def]
    return org_state
