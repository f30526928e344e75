"""Single sign-on with OpenID Connect (Authlib): per organization an issuer, client id, sealed
client secret, scopes, an allowed e-mail domain and a mapping from an ID-token claim to riskops
roles (`SsoConfig`). Login is the authorization code flow with PKCE, `state` and `nonce`
(`SsoLogin`, bound to the browser, used once), discovery through
`.well-known/openid-configuration`, and the ID token's signature and claims checked (`oidc`); a
user is provisioned just in time with the mapped roles. An organization may allow SSO only
(password login refused, except for its break-glass admin: `org_security`).

Roles come from the mapping when riskops creates the person; afterwards riskops owns them (an
admin changes them on the users page): a change of groups at the provider never raises or lowers
an existing user's roles by itself."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.types import SYSTEM_ORG, Actor, Entry, RiskLevel
from riskops.server.core.audit_trail import access, record
from riskops.server.core.errors import Forbidden, Invalid, NotFound, Unauthenticated
from riskops.server.core.permissions import Perm, Role
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped, scoped
from riskops.server.core.sealing import Unsealable, seal, unseal
from riskops.server.core.versioning import check_version
from riskops.server.identity import challenges, oidc
from riskops.server.identity.models import (
    Organization,
    OrgSecurity,
    SsoConfig,
    SsoLogin,
    User,
    UserKind,
    UserStatus,
)
from riskops.server.identity.sessions import ClientInfo, LoginResult, start_session
from riskops.server.identity.sso_input import ConfigInput, checked_config
from riskops.server.security import digest, new_secret
from riskops.server.settings import Settings

SECRET_PURPOSE = "sso-client-secret"  # noqa: S105  (the sealing purpose, not a secret)
CALLBACK_PATH = "/login/sso/callback"
NOT_SET_UP = (
    "Single sign-on is not set up for this organization. Sign in with your e-mail address and "
    "password, or ask an admin for your organization's sign-in link."
)
START_AGAIN = 'Start again with "Sign in with SSO".'


@dataclass(frozen=True)
class SsoStart:
    redirect_url: str  # the provider's authorization endpoint with the request
    browser_secret: str  # the value of the cookie binding the attempt to this browser


@dataclass(frozen=True)
class SsoLoginResult(LoginResult):
    """A `LoginResult` and where to go next (the page the person asked for before signing in)."""

    next_path: str = "/"


def subject_of(issuer: str, sub: str) -> str:
    """`User.sso_subject`: the provider account, unique across providers."""
    return f"{issuer}|{sub}"


def safe_path(raw: str | None) -> str:
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw:
        return "/"
    return raw[:500] if all(ord(c) >= 32 for c in raw) else "/"


async def enabled_config(org_id: int) -> SsoConfig | None:
    return await SsoConfig.filter(org_id=org_id, enabled=True).first()


async def available() -> bool:
    """Whether any organization signs in through SSO (the login page shows the button). While
    the database is unreachable the login form still renders (OPERATIONS.md: the outage page
    is for what needs the database): the button is left out."""
    try:
        return await SsoConfig.filter(enabled=True).exists()
    except Exception:
        logging.getLogger("riskops.sso").warning("SSO availability unknown (database?)")
        return False


async def org_for_email(email: str) -> Organization | None:
    """The organization whose enabled SSO accepts this e-mail address's domain."""
    domain = (email or "").strip().lower().rpartition("@")[2]
    if not domain:
        return None
    config = await SsoConfig.filter(enabled=True, allowed_domain=domain).first()
    return await Organization.get_or_none(id=config.org_id) if config else None


def _client(config: SsoConfig, redirect_uri: str) -> Any:
    try:
        secret = unseal(SECRET_PURPOSE, config.client_secret_sealed)
    except Unsealable as exc:
        raise oidc.ProviderError("secret_unsealable", exc.args[0]) from None
    return oidc.http_client(
        client_id=config.client_id,
        client_secret=secret,
        scope=config.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )


async def begin(
    settings: Settings,
    org_slug: str,
    next_path: str = "/",
    *,
    browser_secret: str | None = None,
    redirect_uri: str = "",
) -> SsoStart:
    """Start a sign-in at the organization's provider. `browser_secret` is the binding cookie
    the browser already holds (several attempts in flight in one browser, e.g. two tabs, share
    it and each completes); `redirect_uri` is where the provider sends the browser back
    (`CALLBACK_PATH` on this site)."""
    org = await Organization.get_or_none(slug=(org_slug or "").strip()[:64])
    config = await enabled_config(org.id) if org else None
    if org is None or config is None:
        raise NotFound(NOT_SET_UP)
    browser = browser_secret if browser_secret and 32 <= len(browser_secret) <= 100 else None
    browser = browser or new_secret()
    state, nonce, verifier = new_secret(), new_secret(), new_secret(48)
    try:
        async with _client(config, redirect_uri) as client:
            provider = await oidc.discover(client, config.issuer)
            url = oidc.authorization_url(client, provider, state=state, nonce=nonce,
                                         verifier=verifier)  # fmt: skip
    except oidc.ProviderError as exc:
        await _failed(org.id, None, exc.reason, ClientInfo())
        raise Unauthenticated(
            f"Your organization's sign-in provider cannot be used right now: {exc.message} "
            "Try again later, or ask an admin (Admin → Single sign-on → Test connection)."
        ) from None
    now = datetime.now(UTC)
    await SsoLogin.create(
        id=digest(state),
        org_id=org.id,
        nonce=nonce,
        code_verifier=verifier,
        browser_hash=digest(browser),
        next_path=safe_path(next_path),
        created_at=now,
        expires_at=now + timedelta(minutes=settings.login_challenge_minutes),
    )
    return SsoStart(url, browser)


async def _failed(
    org_id: int | None, user_id: int | None, reason: str, client: ClientInfo, **detail: Any
) -> None:
    """`sso.login_failed` with its reason (never a token, code or secret)."""
    actor = Actor(
        org_id=org_id if org_id is not None else SYSTEM_ORG,
        actor=f"user:{user_id}" if user_id else "anonymous",
        actor_type="user" if user_id else "anonymous",
        ip=client.ip,
        user_agent=client.user_agent,
        request_id=client.request_id,
    )
    await store.emit(actor, Entry(
        "sso.login_failed", "user" if user_id else "organization", user_id or org_id or "unknown",
        {}, {"reason": reason, **detail}, RiskLevel.MEDIUM,
    ))  # fmt: skip


async def _claim_attempt(state: str, browser_secret: str | None, client: ClientInfo) -> SsoLogin:
    """The attempt `state` names, marked used (once: a replayed state finds it used) if it is
    this browser's and still fresh."""
    attempt = await SsoLogin.get_or_none(id=digest(state)) if 16 <= len(state) <= 200 else None
    if attempt is None:
        await _failed(None, None, "unknown_state", client)
        raise Unauthenticated(f"This sign-in attempt is unknown. {START_AGAIN}")
    now = datetime.now(UTC)
    if not browser_secret or digest(browser_secret) != attempt.browser_hash:
        await _failed(attempt.org_id, None, "other_browser", client)
        raise Unauthenticated(
            "This sign-in attempt was started in another browser (or its cookie was cleared). "
            + START_AGAIN
        )
    claimed = await SsoLogin.filter(id=attempt.id, used_at=None, expires_at__gt=now).update(
        used_at=now
    )
    if not claimed:
        reason = "replayed" if attempt.used_at is not None else "expired"
        await _failed(attempt.org_id, None, reason, client)
        raise Unauthenticated(
            f"This sign-in attempt was already used or has expired. {START_AGAIN}"
        )
    return attempt


async def complete(
    settings: Settings,
    params: Mapping[str, str],
    browser_secret: str | None,
    client: ClientInfo,
    *,
    redirect_uri: str = "",
) -> SsoLoginResult:
    """The provider sent the browser back with `params` (code and state, or an error): the
    attempt is claimed, the code exchanged, the ID token checked, the person found, linked or
    provisioned, and a session started (or the MFA step opened)."""
    attempt = await _claim_attempt(params.get("state") or "", browser_secret, client)
    config = await enabled_config(attempt.org_id)
    if config is None:
        await _failed(attempt.org_id, None, "not_configured", client)
        raise Unauthenticated(NOT_SET_UP)
    if params.get("error"):
        await _failed(attempt.org_id, None, "provider_error", client,
                      error=str(params["error"])[:64])  # fmt: skip
        raise Unauthenticated(
            f"Your sign-in provider did not sign you in ({str(params['error'])[:64]}). "
            + START_AGAIN
        )
    if "iss" in params and params["iss"] != config.issuer:
        # RFC 9207: the answer names another provider than the one this attempt went to (a
        # mix-up attack), so its code is not sent anywhere.
        await _failed(attempt.org_id, None, "issuer_mismatch", client)
        raise Unauthenticated(f"The answer came from another sign-in provider. {START_AGAIN}")
    try:
        claims = await _identity(config, attempt, params.get("code") or "", redirect_uri)
    except oidc.ProviderError as exc:
        await _failed(attempt.org_id, None, exc.reason, client)
        raise Unauthenticated(f"Single sign-on failed: {exc.message} {START_AGAIN}") from None
    user = await _person(config, claims, client)
    result = await _sign_in(settings, user, client)
    return SsoLoginResult(
        result.session_secret, result.principal, result.challenge_secret, result.stage,
        next_path=attempt.next_path,
    )  # fmt: skip


async def _identity(
    config: SsoConfig, attempt: SsoLogin, code: str, redirect_uri: str
) -> dict[str, Any]:
    if not code or len(code) > 2000:
        raise oidc.ProviderError("no_code", "The provider sent no sign-in code.")
    async with _client(config, redirect_uri) as http:
        provider = await oidc.discover(http, config.issuer)
        keys = await oidc.signing_keys(http, provider)
        token = await oidc.exchange_code(http, provider, code=code, verifier=attempt.code_verifier)
        try:
            claims = oidc.verify_id_token(
                str(token["id_token"]), keys, provider, client_id=config.client_id,
                nonce=attempt.nonce,
            )  # fmt: skip
        except oidc.ProviderError as exc:
            if exc.reason != "bad_signature":
                raise
            # signed with a key the kept set does not hold: the provider may have rotated its
            # keys since they were fetched; once more with its current set
            keys = await oidc.signing_keys(http, provider, fresh=True)
            claims = oidc.verify_id_token(
                str(token["id_token"]), keys, provider, client_id=config.client_id,
                nonce=attempt.nonce,
            )  # fmt: skip
        if "email" not in claims or config.role_claim not in claims:
            extra = await oidc.userinfo(http, provider, token, str(claims["sub"]))
            claims = {**extra, **claims}
    return claims


def mapped_roles(config: SsoConfig, claims: Mapping[str, Any]) -> list[str]:
    """The roles the claim's values map to; the default roles when none maps."""
    raw = claims.get(config.role_claim)
    values = [raw] if isinstance(raw, str) else [v for v in raw or [] if isinstance(v, str)]
    roles: set[str] = set()
    for value in values:
        roles.update(config.role_mapping.get(value, []))
    return sorted(roles) if roles else sorted(config.default_roles)


async def _person(config: SsoConfig, claims: Mapping[str, Any], client: ClientInfo) -> User:
    """The riskops person these verified claims are: linked by subject, else the organization's
    user with that e-mail address (linked now), else provisioned with the mapped roles."""
    org_id = config.org_id
    email = str(claims.get("email") or "").strip().lower()
    if not email or claims.get("email_verified") is not True:
        await _failed(org_id, None, "email_unverified", client)
        raise Forbidden(
            "Your sign-in provider did not confirm a verified e-mail address; verify it there, "
            "then sign in again."
        )
    domain = email.rpartition("@")[2]
    if domain != (config.allowed_domain or "").lower():
        await _failed(org_id, None, "domain_not_allowed", client, domain=domain)
        raise Forbidden(
            f"Addresses at {domain} cannot sign in to this organization: it accepts "
            f"{config.allowed_domain} only. Sign in with your work account."
        )
    subject = subject_of(config.issuer, str(claims["sub"]))
    user = await User.get_or_none(sso_subject=subject, deleted_at=None)
    if user is None:
        user = await User.get_or_none(email=email, deleted_at=None)
    if user is not None and user.org_id != org_id:
        await _failed(org_id, None, "other_organization", client)
        raise Forbidden(
            f"The account {email} cannot sign in here; ask an admin of your organization."
        )
    if user is None:
        try:
            return await _provision(config, claims, email, subject, client)
        except IntegrityError:
            # The same person's other attempt (a second tab) provisioned them a moment ago.
            user = await User.get_or_none(sso_subject=subject, org_id=org_id, deleted_at=None)
            if user is None:
                raise
    if user.kind != UserKind.PERSON or user.status != UserStatus.ACTIVE:
        reason = "service_account" if user.kind != UserKind.PERSON else "suspended"
        await _failed(org_id, user.id, reason, client)
        raise Forbidden("This account is suspended; ask an admin of your organization.")
    if user.sso_subject != subject:
        await _link(user, subject, client)
    return user


def _acting_as(user: User, client: ClientInfo) -> Principal:
    return Principal(
        user_id=user.id, org_id=user.org_id, roles=frozenset(user.roles), email=user.email,
        name=user.name, ip=client.ip, user_agent=client.user_agent, request_id=client.request_id,
    )  # fmt: skip


async def _link(user: User, subject: str, client: ClientInfo) -> None:
    async with in_transaction() as conn:
        old = user.sso_subject
        user.sso_subject = subject
        await user.save(using_db=conn, update_fields=["sso_subject"])
        await record(
            _acting_as(user, client), conn, "user.sso_linked", "user", user.id,
            old={"sso_subject": old}, new={"sso_subject": subject}, risk=RiskLevel.MEDIUM,
        )  # fmt: skip


async def _provision(
    config: SsoConfig, claims: Mapping[str, Any], email: str, subject: str, client: ClientInfo
) -> User:
    roles = mapped_roles(config, claims)
    if not roles:
        await _failed(config.org_id, None, "no_roles", client)
        raise Forbidden(
            f"None of your groups at the sign-in provider ({config.role_claim}) gives you a role "
            "in riskops, and there is no default role: ask an admin to map one of your groups "
            "to a role (Admin → Single sign-on)."
        )
    name = str(claims.get("name") or email.partition("@")[0]).strip()[:200] or email
    async with in_transaction() as conn:
        user = await User.create(
            org_id=config.org_id, email=email, name=name, roles=roles, sso_subject=subject,
            password_hash=None, using_db=conn,
        )  # fmt: skip
        await record(
            _acting_as(user, client), conn, "user.provisioned", "user", user.id,
            new={"via": "sso", "roles": roles, "issuer": config.issuer,
                 "role_claim_values": _claim_values(config, claims)},
            risk=RiskLevel.MEDIUM,
        )  # fmt: skip
    return user


def _claim_values(config: SsoConfig, claims: Mapping[str, Any]) -> list[str]:
    raw = claims.get(config.role_claim)
    values = [raw] if isinstance(raw, str) else [v for v in raw or [] if isinstance(v, str)]
    return sorted(values)[:50]


async def _sign_in(settings: Settings, user: User, client: ClientInfo) -> LoginResult:
    """The session, or the MFA step first when the person has (or must enrol) a factor."""
    stage = await challenges.stage_after_password(user)
    if stage is not None:
        return await challenges.open_challenge(user, stage, client, via="sso")
    return await start_session(settings, user, client, via="sso")


# ----------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Check:
    """One step of "Test connection": what was checked, whether it passed, what was seen."""

    name: str
    ok: bool
    detail: str


async def get_config(principal: Principal) -> SsoConfig | None:
    """The organization's SSO configuration (security.manage); its secret never leaves sealed."""
    principal.require(Perm.SECURITY_MANAGE)
    return await scoped(SsoConfig, principal).first()


def _shown(config: SsoConfig | None) -> dict[str, Any]:
    """What the audit event says of a configuration (never the secret)."""
    if config is None:
        return {}
    return {
        "issuer": config.issuer, "client_id": config.client_id, "scopes": config.scopes,
        "allowed_domain": config.allowed_domain, "role_claim": config.role_claim,
        "role_mapping": config.role_mapping, "default_roles": config.default_roles,
        "enabled": config.enabled,
    }  # fmt: skip


async def save_config(
    principal: Principal, data: ConfigInput, *, expected_version: int | None = None
) -> SsoConfig:
    """Create or replace the organization's configuration (security.manage); the secret is
    sealed with the installation key, and kept when none is entered."""
    principal.require(Perm.SECURITY_MANAGE)
    current = await scoped(SsoConfig, principal).first()
    values = checked_config(data, has_secret=current is not None)
    secret = values.pop("secret")
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        current = await scoped(SsoConfig, principal).using_db(conn).select_for_update().first()
        before = _shown(current)
        if current is None:
            config = await SsoConfig.create(
                org_id=principal.org_id, client_secret_sealed=seal(SECRET_PURPOSE, secret or ""),
                created_at=now, updated_at=now, updated_by_id=principal.user_id, using_db=conn,
                **values,
            )  # fmt: skip
        else:
            if expected_version is not None:
                check_version("The single sign-on configuration", current.version,
                              expected_version, verb="save")  # fmt: skip
            config = current
            for name, value in values.items():
                setattr(config, name, value)
            if secret:
                config.client_secret_sealed = seal(SECRET_PURPOSE, secret)
            config.updated_at, config.updated_by_id = now, principal.user_id
            config.version = current.version + 1
            await config.save(using_db=conn)
        await record(
            principal, conn, "sso.config_saved", "sso_config", config.id, old=before,
            new={**_shown(config), "secret_replaced": bool(secret)}, risk=RiskLevel.HIGH,
        )  # fmt: skip
    oidc.forget(before.get("issuer"))  # this process fetches the provider again (others: later)
    oidc.forget(config.issuer)
    return config


async def test_connection(principal: Principal, *, redirect_uri: str = "") -> list[Check]:
    """Fetch the saved provider's discovery document and key set and check each (nothing is
    changed; the admin sees which step fails and why)."""
    config = await get_config(principal)
    if config is None:
        raise NotFound("Save the single sign-on configuration first, then test it.")
    checks: list[Check] = []
    try:
        async with _client(config, redirect_uri) as http:
            checks.append(Check("Client secret", True, "stored and readable"))
            provider = await oidc.discover(http, config.issuer, fresh=True)
            checks.append(Check(
                "Discovery", True,
                f"{oidc.discovery_url(config.issuer)} names issuer {provider.issuer}",
            ))  # fmt: skip
            checks.append(Check(
                "Endpoints", True,
                f"authorization {provider.authorization_endpoint}, token "
                f"{provider.token_endpoint}; PKCE S256; ID tokens signed with "
                f"{', '.join(provider.algorithms)}",
            ))  # fmt: skip
            keys = await oidc.signing_keys(http, provider, fresh=True)
            checks.append(Check("Key set (JWKS)", True,
                                f"{len(keys.keys)} key(s) at {provider.jwks_uri}"))  # fmt: skip
            supported = provider.raw.get("scopes_supported")
            if isinstance(supported, list):
                missing = [s for s in config.scopes.split() if s not in supported]
                checks.append(Check(
                    "Scopes", not missing,
                    f"not offered by the provider: {', '.join(missing)}" if missing
                    else f"all offered ({config.scopes})",
                ))  # fmt: skip
    except oidc.ProviderError as exc:
        step = (
            "Client secret"
            if exc.reason == "secret_unsealable"
            else ("Key set (JWKS)" if "JWKS" in exc.message else "Discovery")
        )
        checks.append(Check(step, False, exc.message))
    await access(principal, "sso.connection_tested", "sso_config", config.id,
                 detail={"ok": all(c.ok for c in checks)})  # fmt: skip
    return checks


async def set_sso_only(
    principal: Principal, on: bool, break_glass_user_id: str | int | None
) -> OrgSecurity:
    """Make single sign-on the only way in (security.manage), except for one break-glass admin
    who keeps their password (an active admin of the organization who has one); off again
    allows passwords for everyone."""
    principal.require(Perm.SECURITY_MANAGE)
    glass: User | None = None
    if on:
        if await scoped(SsoConfig, principal).filter(enabled=True).first() is None:
            raise Invalid("Set up and enable single sign-on first: nobody could sign in.",
                          field="ssoOnly")  # fmt: skip
        if break_glass_user_id in (None, ""):
            raise Invalid("Break-glass admin: choose the admin who keeps a password for when "
                          "the provider is down.", field="breakGlassUserId")  # fmt: skip
        glass = await get_scoped(User, principal, str(break_glass_user_id), "User")
        if (
            glass.kind != UserKind.PERSON or glass.status != UserStatus.ACTIVE
            or Role.ADMIN.value not in glass.roles or not glass.password_hash
        ):  # fmt: skip
            raise Invalid(
                f"Break-glass admin: {glass.name} must be an active admin with a password.",
                field="breakGlassUserId",
            )
    now = datetime.now(UTC)
    async with in_transaction() as conn:
        policy = await scoped(OrgSecurity, principal).using_db(conn).select_for_update().first()
        if policy is None:
            policy = await OrgSecurity.create(org_id=principal.org_id, updated_at=now,
                                              using_db=conn)  # fmt: skip
        old = {"sso_only": policy.sso_only, "break_glass_user_id": policy.break_glass_user_id}
        policy.sso_only = on
        policy.break_glass_user_id = glass.id if glass else None
        policy.updated_at, policy.updated_by_id = now, principal.user_id
        policy.version += 1
        await policy.save(using_db=conn)
        await record(
            principal, conn, "security.sso_only", "organization", principal.org_id, old=old,
            new={"sso_only": on, "break_glass_user_id": policy.break_glass_user_id},
            risk=RiskLevel.HIGH,
        )  # fmt: skip
    return policy


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
