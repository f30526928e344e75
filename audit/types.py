"""What an audit event says, and who it says did it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class Actor:
    """Who acted, and from where. `actor` is an opaque id (`user:12`, `token:3`, `system`):
    no e-mail or name enters the chain, so erasing a person never breaks verification."""

    org_id: int
    actor: str
    actor_type: str  # user | token | system | anonymous
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None


SYSTEM_ORG = 0


def system_actor(org_id: int, request_id: str | None = None) -> Actor:
    return Actor(org_id=org_id, actor="system", actor_type="system", request_id=request_id)


@dataclass(frozen=True)
class Entry:
    action: str
    entity_type: str
    entity_id: str | int
    old_values: dict[str, Any] = field(default_factory=dict)
    new_values: dict[str, Any] = field(default_factory=dict)
    risk_level: RiskLevel = RiskLevel.LOW
