"""Tortoise models of tenancy and identity: organizations, teams, users, sessions, API tokens, the
failed logins counted for rate limiting, and (issue 14) invitation and reset links, the
organization security policy, TOTP factors and recovery codes, the second login step, and
single sign-on configuration and its login states.

Docstrings here must not contain apostrophes or semicolons: Tortoise writes them into SQL
comments unescaped."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

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
    password_changed_at = fields.DatetimeField(null=True)
    mfa_enabled = fields.BooleanField(default=False)  # a confirmed TOTP factor exists
    # "<issuer>|<sub>" of the OpenID provider account this user signs in with, once linked
    sso_subject = fields.CharField(max_length=400, null=True, unique=True)
    last_login_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    deleted_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)  # optimistic concurrency for admin edits

    teams: fields.ManyToManyRelation[Team]
    org_id: int

    class Meta:
        table = "app_user"


class UserEvent(Model):
    """The history of a user account: what an admin did to it with detail that may be about
    the person (a suspension reason). Kept off the audit chain, where an erasure cannot reach
    it: the chain records the event and the reason length, this row the reason."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="events", on_delete=fields.CASCADE
    )
    org_id = fields.IntField()
    action = fields.CharField(max_length=32)
    actor = fields.CharField(max_length=64)
    data: dict = fields.JSONField(default=dict)
    at = fields.DatetimeField()
    user_id: int

    class Meta:
        table = "user_event"
        indexes = (("user_id", "at"),)


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
    last_ip = fields.CharField(max_length=64, null=True)
    last_user_agent = fields.CharField(max_length=300, null=True)
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


# --- issue 14: invitations, resets, MFA, single sign-on ----------------------------------------


class LinkPurpose(StrEnum):
    INVITATION = "invitation"  # a new user sets a first password
    PASSWORD_RESET = "password_reset"  # noqa: S105  (forgot password, or an admin forced it)


class OneTimeLink(Model):
    """A one-time link sent to a user (invitation or password reset). Only the SHA-256 of the
    token is stored. A newer link of the same purpose revokes the older ones."""

    id = fields.IntField(primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="one_time_links", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="one_time_links", on_delete=fields.CASCADE
    )
    purpose = fields.CharEnumField(LinkPurpose, max_length=16)
    token_hash = fields.CharField(max_length=64, unique=True)
    created_by_id = fields.IntField(null=True)  # the admin, or none for self-service
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)
    org_id: int
    user_id: int

    class Meta:
        table = "identity_link"
        indexes = (("user_id", "purpose"),)


class MfaPolicy(StrEnum):
    OPTIONAL = "optional"  # each person chooses
    PRIVILEGED = "privileged"  # required for admins and approvers
    EVERYONE = "everyone"  # required for every person (service accounts never sign in)


class OrgSecurity(Model):
    """The security policy of one organization: who must use MFA, and whether only single
    sign-on may be used (except by the one break-glass admin)."""

    id = fields.IntField(primary_key=True)
    org: fields.OneToOneRelation[Organization] = fields.OneToOneField(
        "riskops.Organization", related_name="security", on_delete=fields.CASCADE
    )
    mfa_policy = fields.CharEnumField(MfaPolicy, max_length=16, default=MfaPolicy.OPTIONAL)
    sso_only = fields.BooleanField(default=False)
    break_glass_user: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="break_glass_for", null=True, on_delete=fields.SET_NULL
    )
    updated_at = fields.DatetimeField()
    updated_by_id = fields.IntField(null=True)
    version = fields.IntField(default=1)
    org_id: int
    break_glass_user_id: int | None

    class Meta:
        table = "org_security"


class MfaFactor(Model):
    """A TOTP factor (RFC 6238). The secret is sealed with the installation key. last_step is
    the last time step accepted: a code of that step or an earlier one is never accepted again."""

    id = fields.IntField(primary_key=True)
    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "riskops.User", related_name="mfa_factor", on_delete=fields.CASCADE
    )
    secret_sealed = fields.TextField()
    created_at = fields.DatetimeField()
    confirmed_at = fields.DatetimeField(null=True)
    last_step = fields.BigIntField(null=True)
    user_id: int

    class Meta:
        table = "mfa_factor"


class RecoveryCode(Model):
    """One of the ten one-time recovery codes of a confirmed factor (stored hashed)."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="recovery_codes", on_delete=fields.CASCADE
    )
    code_hash = fields.CharField(max_length=255)
    created_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    user_id: int

    class Meta:
        table = "mfa_recovery_code"
        indexes = (("user_id", "used_at"),)


class ChallengeStage(StrEnum):
    MFA = "mfa"  # the password was right: a TOTP or recovery code is asked next
    ENROL = "enrol"  # the password was right and MFA is required: enrol before the session


class LoginChallenge(Model):
    """The step between a right password and a session. id is the SHA-256 of the cookie value
    the browser holds, never the value. Short-lived and used once."""

    id = fields.CharField(max_length=64, primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "riskops.User", related_name="login_challenges", on_delete=fields.CASCADE
    )
    org_id = fields.IntField()
    stage = fields.CharEnumField(ChallengeStage, max_length=8)
    via = fields.CharField(max_length=16, default="password")  # password or sso
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    ip = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=300, null=True)
    # What the second step checks a TOTP code against in one statement (`mfa_login`), written
    # by the password step: {"factor": id, "codes": keyed digests of the factor's codes for the
    # challenge's lifetime, "forget": the rate limit's accounts a right code clears}, written
    # when a challenge of the MFA stage is opened (after a password, single sign-on or a link).
    # Cleared when the challenge is used; None at the ENROL stage, or when the factor's secret
    # could not be opened.
    totp_check: Any = fields.JSONField(null=True)
    user_id: int

    class Meta:
        table = "login_challenge"


class SsoConfig(Model):
    """OpenID Connect single sign-on of one organization. The client secret is sealed with the
    installation key and never shown again. role_mapping maps a value of role_claim in the ID
    token (a group or role name) to riskops roles."""

    id = fields.IntField(primary_key=True)
    org: fields.OneToOneRelation[Organization] = fields.OneToOneField(
        "riskops.Organization", related_name="sso_config", on_delete=fields.CASCADE
    )
    enabled = fields.BooleanField(default=True)
    issuer = fields.CharField(max_length=500)
    client_id = fields.CharField(max_length=255)
    client_secret_sealed = fields.TextField()
    scopes = fields.CharField(max_length=300, default="openid email profile")
    allowed_domain = fields.CharField(max_length=253, null=True)
    role_claim = fields.CharField(max_length=100, default="groups")
    role_mapping: dict = fields.JSONField(default=dict)
    default_roles: list = fields.JSONField(default=list)  # roles when no claim value maps
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    updated_by_id = fields.IntField(null=True)
    version = fields.IntField(default=1)
    org_id: int

    class Meta:
        table = "sso_config"


class SsoLogin(Model):
    """One single sign-on attempt in flight: state (its SHA-256 is the id), nonce and PKCE code
    verifier, bound to the browser that started it. Used once, short-lived: a replayed state or
    code finds it used."""

    id = fields.CharField(max_length=64, primary_key=True)
    org: fields.ForeignKeyRelation[Organization] = fields.ForeignKeyField(
        "riskops.Organization", related_name="sso_logins", on_delete=fields.CASCADE
    )
    nonce = fields.CharField(max_length=128)
    code_verifier = fields.CharField(max_length=128)
    browser_hash = fields.CharField(max_length=64)  # SHA-256 of the cookie set when it started
    next_path = fields.CharField(max_length=500, default="/")
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    org_id: int

    class Meta:
        table = "sso_login"
