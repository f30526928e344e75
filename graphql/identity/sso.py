"""Single sign-on in the API (security.manage): the configuration (its client secret is
write-only: never returned), testing the connection, and "SSO only" with the break-glass admin.
Every resolver calls one service of `server.identity.sso`; expected errors are data."""

from __future__ import annotations

from datetime import datetime

import strawberry

from riskops.graphql.core.context import Info, principal, query
from riskops.graphql.core.errors import UserError, as_payload
from riskops.graphql.core.ids import as_id
from riskops.server.core.errors import ErrorCode
from riskops.server.identity import models, sso, sso_input

MAX_MAPPINGS = sso_input.MAX_MAPPINGS
MAX_ROLE_LIST = 16


@strawberry.type(description="A value of the role claim and the riskops roles it gives.")
class RoleMapping:
    value: str
    roles: list[str]


@strawberry.input
class RoleMappingInput:
    value: str = strawberry.field(description="A value of the role claim (a group or role name).")
    roles: list[str]


@strawberry.type(description="OpenID Connect single sign-on. The client secret is never shown.")
class SsoConfig:
    id: strawberry.ID
    enabled: bool
    issuer: str
    client_id: str
    client_secret_set: bool = strawberry.field(description="A client secret is stored (sealed).")
    scopes: str
    allowed_domain: str | None
    role_claim: str
    role_mapping: list[RoleMapping]
    default_roles: list[str]
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, c: models.SsoConfig) -> SsoConfig:
        return cls(
            id=as_id(c.id),
            enabled=c.enabled,
            issuer=c.issuer,
            client_id=c.client_id,
            client_secret_set=bool(c.client_secret_sealed),
            scopes=c.scopes,
            allowed_domain=c.allowed_domain,
            role_claim=c.role_claim,
            role_mapping=[RoleMapping(value=k, roles=list(v)) for k, v in c.role_mapping.items()],
            default_roles=list(c.default_roles),
            updated_at=c.updated_at,
            version=c.version,
        )


@strawberry.type(description="One step of testing the connection to the provider.")
class SsoCheck:
    name: str
    ok: bool
    detail: str


@strawberry.type
class SsoConfigPayload:
    config: SsoConfig | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SsoTestPayload:
    ok: bool = False
    checks: list[SsoCheck] = strawberry.field(default_factory=list)
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SsoOnlyPayload:
    sso_only: bool = False
    break_glass_user_id: strawberry.ID | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


def _too_many(field: str, n: int, limit: int) -> UserError | None:
    if n > limit:
        return UserError(code=ErrorCode.INVALID, message=f"{field}: at most {limit} items.",
                         field=field)  # fmt: skip
    return None


@strawberry.type
class SsoQuery:
    @strawberry.field(description="Your organization's single sign-on, or null (admin).")
    async def sso_config(self, info: Info) -> SsoConfig | None:
        config = await query(sso.get_config(principal(info)))
        return SsoConfig.of(config) if config else None


@strawberry.type
class SsoMutation:
    @strawberry.mutation(
        description="Create or replace your organization's single sign-on (admin). Without "
        "clientSecret the stored one is kept; it is never returned."
    )
    async def save_sso_config(
        self,
        info: Info,
        issuer: str,
        client_id: str,
        allowed_domain: str,
        client_secret: str | None = None,
        scopes: str = "openid email profile",
        role_claim: str = "groups",
        role_mapping: list[RoleMappingInput] | None = None,
        default_roles: list[str] | None = None,
        enabled: bool = True,
        expected_version: int | None = None,
    ) -> SsoConfigPayload:
        mapping = role_mapping or []
        err = _too_many("roleMapping", len(mapping), MAX_MAPPINGS) or _too_many(
            "defaultRoles", len(default_roles or []), MAX_ROLE_LIST
        )
        if err is None and any(len(m.roles) > MAX_ROLE_LIST for m in mapping):
            err = _too_many("roleMapping", MAX_ROLE_LIST + 1, MAX_ROLE_LIST)
        if err is None and len({m.value for m in mapping}) != len(mapping):
            err = UserError(code=ErrorCode.INVALID, field="roleMapping",
                            message="roleMapping: each value once.")  # fmt: skip
        if err:
            return SsoConfigPayload(errors=[err])
        data = sso.ConfigInput(
            issuer=issuer, client_id=client_id, client_secret=client_secret, scopes=scopes,
            allowed_domain=allowed_domain, role_claim=role_claim,
            role_mapping={m.value: list(m.roles) for m in mapping},
            default_roles=list(default_roles or []), enabled=enabled,
        )  # fmt: skip
        return await as_payload(
            SsoConfigPayload,
            sso.save_config(principal(info), data, expected_version=expected_version),
            lambda c: SsoConfigPayload(config=SsoConfig.of(c)),
        )

    @strawberry.mutation(
        description="Fetch the saved provider's discovery document and key set, and check each "
        "(admin). Changes nothing."
    )
    async def test_sso_connection(self, info: Info) -> SsoTestPayload:
        return await as_payload(
            SsoTestPayload,
            sso.test_connection(principal(info)),
            lambda checks: SsoTestPayload(
                ok=all(c.ok for c in checks),
                checks=[SsoCheck(name=c.name, ok=c.ok, detail=c.detail) for c in checks],
            ),
        )

    @strawberry.mutation(
        description="Sign in through single sign-on only (admin): passwords are refused except "
        "for the break-glass admin (an active admin with a password), required when on."
    )
    async def set_sso_only(
        self, info: Info, on: bool, break_glass_user_id: strawberry.ID | None = None
    ) -> SsoOnlyPayload:
        return await as_payload(
            SsoOnlyPayload,
            sso.set_sso_only(principal(info), on, break_glass_user_id),
            lambda p: SsoOnlyPayload(
                sso_only=p.sso_only,
                break_glass_user_id=as_id(p.break_glass_user_id) if p.break_glass_user_id else None,
            ),
        )
