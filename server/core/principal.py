"""Who is calling: the `Principal` every service function receives from either face."""

from __future__ import annotations

from dataclasses import dataclass, field

from riskops.audit.types import Actor
from riskops.server.core.errors import Forbidden
from riskops.server.core.permissions import Perm, permissions_of


@dataclass(frozen=True)
class Principal:
    user_id: int
    org_id: int
    roles: frozenset[str]
    email: str = ""
    name: str = ""
    token_id: int | None = None  # set when authenticated by API token
    session_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    # Maker-checker (`approvals.may_decide`): the makers whose requests count as this caller's
    # own. The people it acts for (itself; through a service account's token, the account and
    # the admin who minted the token) and every service account any of them minted a token for.
    # Authentication fills it; left empty, it is {user_id}.
    own_makers: frozenset[int] = frozenset()
    perms: frozenset[Perm] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "perms", permissions_of(self.roles))
        if not self.own_makers:
            object.__setattr__(self, "own_makers", frozenset({self.user_id}))

    def can(self, perm: Perm) -> bool:
        return perm in self.perms

    def require(self, perm: Perm) -> None:
        if perm not in self.perms:
            raise Forbidden(
                f"Your roles ({', '.join(sorted(self.roles)) or 'none'}) do not allow "
                f"'{perm.value}'. Ask an admin of your organization for a role that does.",
                permission=perm.value,
            )

    @property
    def actor(self) -> Actor:
        if self.token_id is not None:
            who, kind = f"token:{self.token_id}", "token"
        else:
            who, kind = f"user:{self.user_id}", "user"
        return Actor(
            org_id=self.org_id,
            actor=who,
            actor_type=kind,
            ip=self.ip,
            user_agent=self.user_agent,
            request_id=self.request_id,
        )
