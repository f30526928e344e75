"""Tortoise models of tenancy and identity: organizations, teams, users, sessions, API tokens, and
the failed logins counted for rate limiting."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class UserStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class UserKind(StrEnum):
    """A person signs in; a service account is automation: it never signs in, an admin creates
    it and mints its tokens (and an act through such a token counts as that admin's too)."""

    PERSON = "person"
    SERVICE = "service"


class Organization(Model):
    id = fields.IntField(primary_key=True)
    slug = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "organization"


class Team(Model):
    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="teams", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=120)
    created_at = fields.DatetimeField(auto_now_add=True)
    members: fields.ManyToManyRelation[User] = fields.ManyToManyField(
        "riskops.User", related_name="teams", through="team_member"
    )
    org_id: int

    class Meta:
        table = "team"
        unique_together = (("org", "name"),)


class User(Model):
    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="users", on_delete=fields.CASCADE
    )
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=200)
    roles: list[str] = fields.JSONField(default=list)
    status = fields.CharEnumField(UserStatus, max_length=16, default=UserStatus.ACTIVE)
    kind = fields.CharEnumField(UserKind, max_length=16, default=UserKind.PERSON)
    # Set once this person mints a service account's token (never reset): only then does
    # authentication look up which service accounts' requests count as theirs (`auth.own_makers`).
    minted_service_tokens = fields.BooleanField(default=False)
    password_hash = fields.CharField(max_length=255, null=True)
    mfa_enabled = fields.BooleanField(default=False)
    last_login_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    deleted_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)  # optimistic concurrency for admin edits

    teams: fields.ManyToManyRelation[Team]
    org_id: int

    class Meta:
        table = "app_user"


class Session(Model):
    """A server-side login session. `id` is the SHA-256 of the cookie value, never the value."""

    id = fields.CharField(max_length=64, primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="sessions", on_delete=fields.CASCADE
    )
    org_id = fields.IntField()
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    ip = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=300, null=True)
    user_id: int

    class Meta:
        table = "user_session"
        indexes = (("user_id", "revoked_at"),)


class ApiToken(Model):
    """A bearer token for integrators and automation. Only its SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="api_tokens", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="api_tokens", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=120)
    prefix = fields.CharField(max_length=16)
    token_hash = fields.CharField(max_length=64, unique=True)
    roles: list[str] = fields.JSONField(default=list)
    created_at = fields.DatetimeField(auto_now_add=True)
    created_by_id = fields.IntField(null=True)  # who minted it (the owner, or an admin)
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    org_id: int
    user_id: int

    class Meta:
        table = "api_token"
        indexes = (("created_by_id",),)


class LoginFailure(Model):
    """One failed login, counted per account and per IP for rate limiting."""

    id = fields.BigIntField(primary_key=True)
    account = fields.CharField(max_length=254)
    ip = fields.CharField(max_length=64)
    at = fields.DatetimeField()

    class Meta:
        table = "login_failure"
        indexes = (("account", "at"), ("ip", "at"))
