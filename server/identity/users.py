"""Users of an organization: create, change roles, suspend (which revokes access at once)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from riskops.audit.types import RiskLevel
from riskops.server.core import validation
from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Duplicate, Invalid
from riskops.server.core.permissions import PRIVILEGED_ROLES, Perm, Role, permissions_of
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, scoped
from riskops.server.core.versioning import check_version
from riskops.server.identity import passwords
from riskops.server.identity.models import (
    ApiToken,
    Session,
    User,
    UserEvent,
    UserKind,
    UserStatus,
)
from riskops.server.security import hash_password


def is_active(user: User) -> bool:
    return user.status == UserStatus.ACTIVE and user.deleted_at is None


def holding(people: Iterable[User], perm: Perm, *, active: bool = True) -> list[User]:
    """The people of `people` whose roles grant `perm`: the active ones (who may be named in an
    action), or also the suspended ones with `active=False` (filters over past work). Service
    accounts are automation, not people: nobody assigns them work or asks them a question."""
    return [
        u
        for u in people
        if u.kind == UserKind.PERSON
        and (is_active(u) or not active)
        and perm in permissions_of(u.roles)
    ]


async def list_users(
    principal: Principal, *, include_suspended: bool = True, managing: bool = False
) -> list[User]:
    """The directory (user.read); `managing=True` is the admin screen and needs user.manage."""
    principal.require(Perm.USER_MANAGE if managing else Perm.USER_READ)
    q = scoped(User, principal).filter(deleted_at=None)
    if not include_suspended:
        q = q.filter(status=UserStatus.ACTIVE)
    return await q.order_by("name", "id")


async def get_user(principal: Principal, user_id: str | int) -> User:
    principal.require(Perm.USER_READ)
    return await get_scoped(User, principal, user_id, "User")


async def create_user(
    principal: Principal,
    *,
    email: str,
    name: str,
    roles: list[str],
    password: str | None = None,
) -> User:
    principal.require(Perm.USER_MANAGE)
    new = checked_new_user(email=email, name=name, roles=roles, password=password)
    async with in_transaction() as conn:
        return await insert_user(principal, conn, new)


@dataclass(frozen=True)
class NewUser:
    """A user's input, checked (and the password hashed), not yet written."""

    email: str
    name: str
    roles: list[str]
    password_hash: str | None


def checked_new_user(
    *, email: str, name: str, roles: list[str], password: str | None = None
) -> NewUser:
    """Every input check of a new user, before anything is written."""
    email = validation.email(email)
    name = validation.text(name, "name", max_len=200)
    roles = validation.roles(roles)
    checked = passwords.check_policy(password, email=email, name=name) if password else None
    return NewUser(email, name, roles, hash_password(checked) if checked else None)


async def insert_user(principal: Principal, conn: BaseDBAsyncClient, new: NewUser) -> User:
    """Create the checked user in the principal's organization, inside the caller's transaction
    `conn` (so that it can go with what else the transaction creates, e.g. its organization)."""
    principal.require(Perm.USER_MANAGE)
    if await User.filter(email=new.email).using_db(conn).exists():
        # Global uniqueness, but the message must not reveal other organizations' users.
        raise Duplicate(f"The e-mail address {new.email} is already in use.", field="email")
    user = await User.create(
        org_id=principal.org_id,
        email=new.email,
        name=new.name,
        roles=new.roles,
        password_hash=new.password_hash,
        using_db=conn,
    )
    await record(
        principal, conn, "user.create", "user", user.id,
        new={"roles": new.roles, "has_password": bool(new.password_hash)},
        risk=RiskLevel.MEDIUM if set(new.roles) & PRIVILEGED_ROLES else RiskLevel.LOW,
    )  # fmt: skip
    return user


SERVICE_DOMAIN = "service-account.invalid"  # never a mailbox: the account never signs in


async def create_service_account(principal: Principal, *, name: str, roles: list[str]) -> User:
    """A service account for automation (user.manage): a user of its own kind that cannot sign
    in (no password, no session); an admin mints its tokens (`tokens.create_api_token`). Its
    address is generated, only to keep one unique key for every user."""
    principal.require(Perm.USER_MANAGE)
    name = validation.text(name, "name", max_len=200)
    roles = validation.roles(roles)
    async with in_transaction() as conn:
        user = await User.create(
            org_id=principal.org_id,
            email=f"svc-{secrets.token_hex(8)}@{SERVICE_DOMAIN}",
            name=name,
            roles=roles,
            kind=UserKind.SERVICE,
            password_hash=None,
            using_db=conn,
        )
        await record(
            principal, conn, "service_account.create", "user", user.id,
            new={"kind": UserKind.SERVICE.value, "roles": roles},
            risk=RiskLevel.HIGH if set(roles) & PRIVILEGED_ROLES else RiskLevel.MEDIUM,
        )  # fmt: skip
    return user


async def _other_active_admins(user: User, conn: BaseDBAsyncClient) -> int:
    others = (
        await scoped(User, org_id=user.org_id)
        .filter(status=UserStatus.ACTIVE, deleted_at=None, kind=UserKind.PERSON)
        .exclude(id=user.id)
        .using_db(conn)
        .values_list("roles", flat=True)
    )
    return sum(1 for r in others if Role.ADMIN.value in (r or []))


async def update_user_roles(
    principal: Principal,
    user_id: str | int,
    roles: list[str],
    *,
    expected_version: int | None = None,
) -> User:
    principal.require(Perm.USER_MANAGE)
    roles = validation.roles(roles, allow_empty=True)
    async with in_transaction() as conn:
        user = await get_scoped(User, principal, user_id, "User")
        user = await scoped(User, principal).select_for_update().using_db(conn).get(id=user.id)
        if expected_version is not None:
            check_version(
                f"User {user.id}", user.version, expected_version,
                verb="apply your change", field=None, current_roles=list(user.roles),
            )  # fmt: skip
        old = sorted(user.roles)
        if old == roles:
            return user
        if (
            Role.ADMIN.value in old
            and Role.ADMIN.value not in roles
            and await _other_active_admins(user, conn) == 0
        ):
            raise Invalid(
                "This is the last active admin of the organization; give another user the "
                "admin role first.",
                field="roles",
            )
        user.roles = roles
        user.version += 1
        await user.save(using_db=conn, update_fields=["roles", "version"])
        # A token never holds more than its owner: shrink tokens with the user.
        for token in (
            await scoped(ApiToken, principal)
            .filter(user_id=user.id, revoked_at=None)
            .using_db(conn)
        ):
            kept = sorted(set(token.roles) & set(roles))
            if kept != sorted(token.roles):
                token.roles = kept
                await token.save(using_db=conn, update_fields=["roles"])
        await record(
            principal, conn, "user.roles_change", "user", user.id,
            old={"roles": old}, new={"roles": roles},
            risk=RiskLevel.HIGH if (set(old) ^ set(roles)) & PRIVILEGED_ROLES else RiskLevel.MEDIUM,
        )  # fmt: skip
    return user


async def revoke_access(
    principal: Principal, user_id: int, conn: BaseDBAsyncClient
) -> tuple[int, int]:
    """Revoke every live session and API token of a user; returns (sessions, tokens)."""
    now = datetime.now(UTC)
    sessions = (
        await scoped(Session, principal)
        .filter(user_id=user_id, revoked_at=None)
        .using_db(conn)
        .update(revoked_at=now)
    )
    tokens = (
        await scoped(ApiToken, principal)
        .filter(user_id=user_id, revoked_at=None)
        .using_db(conn)
        .update(revoked_at=now)
    )
    return sessions, tokens


async def suspend_user(principal: Principal, user_id: str | int, *, reason: str) -> User:
    principal.require(Perm.USER_MANAGE)
    reason = validation.text(reason, "reason", max_len=500)
    async with in_transaction() as conn:
        user = await get_scoped(User, principal, user_id, "User")
        user = await scoped(User, principal).select_for_update().using_db(conn).get(id=user.id)
        if user.id == principal.user_id:
            raise Invalid("You cannot suspend your own account.", field="userId")
        if user.status == UserStatus.SUSPENDED:
            return user
        if Role.ADMIN.value in user.roles and await _other_active_admins(user, conn) == 0:
            raise Invalid("This is the last active admin of the organization.", field="userId")
        user.status = UserStatus.SUSPENDED
        user.version += 1
        await user.save(using_db=conn, update_fields=["status", "version"])
        sessions, tokens = await revoke_access(principal, user.id, conn)
        # The reason may be about the person: it goes to the user's history (which an erasure
        # rewrites), the chain records its length only (docs/AUDIT.md).
        await add_event(principal, conn, user, "suspend", {"reason": reason})
        await record(
            principal, conn, "user.suspend", "user", user.id,
            old={"status": "active"},
            new={"status": "suspended", "reason_chars": len(reason), "sessions_revoked": sessions,
                 "tokens_revoked": tokens},
            risk=RiskLevel.HIGH,
        )  # fmt: skip
    return user


def _actor_of(principal: Principal) -> str:
    if principal.token_id is not None:
        return f"token:{principal.token_id}"
    return f"user:{principal.user_id}" if principal.user_id else "cli"


async def add_event(
    principal: Principal, conn: BaseDBAsyncClient, user: User, action: str, data: dict
) -> UserEvent:
    """A row of the user's history (`user_event`), in the caller's transaction: the detail of an
    administrative act that may be about the person, kept off the audit chain."""
    return await UserEvent.create(
        user_id=user.id, org_id=user.org_id, action=action, actor=_actor_of(principal),
        data=data, at=datetime.now(UTC), using_db=conn,
    )  # fmt: skip


async def suspension_reasons(principal: Principal, user_ids: Iterable[int]) -> dict[int, str]:
    """The reason of each user's latest suspension, from their history: for whoever holds
    user.manage (the one rule for the admin page and GraphQL's `suspensionReason`); nothing for
    a reader without it (user.read)."""
    principal.require(Perm.USER_READ)
    ids = sorted(set(user_ids))
    if not ids or not principal.can(Perm.USER_MANAGE):
        return {}
    found: dict[int, str] = {}
    rows = (
        await scoped(UserEvent, principal)
        .filter(user_id__in=ids, action="suspend")
        .order_by("user_id", "-at", "-id")
    )
    for e in rows:
        if e.user_id not in found:
            found[e.user_id] = str((e.data or {}).get("reason") or "")
    return found


async def reactivate_user(principal: Principal, user_id: str | int) -> User:
    principal.require(Perm.USER_MANAGE)
    async with in_transaction() as conn:
        user = await get_scoped(User, principal, user_id, "User")
        user = await scoped(User, principal).select_for_update().using_db(conn).get(id=user.id)
        if user.status == UserStatus.ACTIVE:
            return user
        user.status = UserStatus.ACTIVE
        user.version += 1
        await user.save(using_db=conn, update_fields=["status", "version"])
        await record(
            principal, conn, "user.reactivate", "user", user.id,
            old={"status": "suspended"}, new={"status": "active"}, risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return user


async def set_password(principal: Principal, user_id: str | int, password: str) -> None:
    principal.require(Perm.USER_MANAGE)
    async with in_transaction() as conn:
        user = await get_scoped(User, principal, user_id, "User")
        if user.kind == UserKind.SERVICE:
            raise Invalid(
                f"{user.name} is a service account: it never signs in, so it has no password. "
                "Mint it an API token instead.",
                field="userId",
            )
        pw = passwords.check_policy(password, email=user.email, name=user.name)
        user.password_hash = hash_password(pw)
        user.password_changed_at = datetime.now(UTC)
        await user.save(using_db=conn, update_fields=["password_hash", "password_changed_at"])
        await record(principal, conn, "user.password_set", "user", user.id, risk=RiskLevel.MEDIUM)


async def name_of(
    principal: Principal, user_id: int | None, conn: BaseDBAsyncClient | None = None
) -> str:
    """A person's name for a message ("proposed by …"), or what is left of them."""
    if user_id is None:
        return DELETED
    q = scoped(User, principal).filter(id=user_id)
    if conn is not None:
        q = q.using_db(conn)
    user = await q.first()
    return user.name if user is not None and user.deleted_at is None else DELETED


async def names_of(principal: Principal, ids: Iterable[int | None]) -> dict[int, str]:
    """The names of the organization's people among `ids` (who proposed, who decided), in one
    query; an id that is not one of them is left out."""
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await (
        scoped(User, principal).filter(id__in=wanted).values_list("id", "name", "deleted_at")
    )
    return {int(i): DELETED if gone is not None else str(n) for i, n, gone in rows}


SYSTEM = "system"
DELETED = "deleted user"


async def actor_labels(org_id: int, refs: Iterable[str | int | None]) -> dict[str, str]:
    """What to show for each actor reference (`user:N`, `token:N`, a user id, `cli`,
    `scheduler`, none), in one query per kind: a person's name (their e-mail when the name is
    blank), "<name> (API token)" for an act through a token, "deleted user" for a person no
    longer there, "system" for none or a system actor. Never the raw reference."""
    users: set[int] = set()
    tokens: set[int] = set()
    for ref in refs:
        kind, n = _ref(ref)
        (users if kind == "user" else tokens if kind == "token" else set()).add(n or 0)
    people: dict[int, str] = {}
    if users:
        for i, name, email, deleted in (
            await scoped(User, org_id=org_id)
            .filter(id__in=sorted(users))
            .values_list("id", "name", "email", "deleted_at")
        ):
            people[int(i)] = DELETED if deleted is not None else (str(name or "") or str(email))
    owners: dict[int, str] = {}
    if tokens:
        for t, owner, email, deleted in (
            await scoped(ApiToken, org_id=org_id)
            .filter(id__in=sorted(tokens))
            .values_list("id", "user__name", "user__email", "user__deleted_at")
        ):
            who = DELETED if deleted is not None else (str(owner or "") or str(email))
            owners[int(t)] = f"{who} (API token)"
    out: dict[str, str] = {}
    for ref in refs:
        kind, n = _ref(ref)
        key = "" if ref is None else str(ref)
        if kind == "user":
            out[key] = people.get(n or 0, DELETED)
        elif kind == "token":
            out[key] = owners.get(n or 0, f"{DELETED} (API token)")
        else:
            out[key] = SYSTEM
    return out


def actor_label(labels: dict[str, str], ref: str | int | None) -> str:
    """The label of `ref` from `actor_labels` ("system" for none)."""
    return labels.get("" if ref is None else str(ref), SYSTEM)


def _ref(ref: str | int | None) -> tuple[str, int | None]:
    if ref is None or ref == "":
        return "", None
    if isinstance(ref, int):
        return "user", ref
    kind, _, raw = str(ref).partition(":")
    if kind in ("user", "token") and raw.isdigit() and len(raw) < 12:
        return kind, int(raw)
    return "", None
