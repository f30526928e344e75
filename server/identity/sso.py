"""Single sign-on with OpenID Connect (Authlib): per organization an issuer, client id, sealed
client secret, scopes, an allowed e-mail domain and a mapping from an ID-token claim to riskops
roles (`SsoConfig`). Login is the authorization code flow with PKCE, `state` and `nonce`
(`SsoLogin`, bound to the browser, used once), discovery through
`.well-known/openid-configuration`, and the ID token's signature and claims checked; a user is
provisioned just in time with the mapped roles. An organization may allow SSO only (password
login refused, except for its break-glass admin: `org_security`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from riskops.server.identity.sessions import ClientInfo, LoginResult
from riskops.server.settings import Settings


@dataclass(frozen=True)
class SsoStart:
    redirect_url: str  # the provider's authorization endpoint with the request
    browser_secret: str  # the value of the cookie binding the attempt to this browser


async def begin(settings: Settings, org_slug: str, next_path: str = "/") -> SsoStart:
    raise NotImplementedError  # issue 14: h/sso


async def complete(
    settings: Settings, params: Mapping[str, str], browser_secret: str | None, client: ClientInfo
) -> LoginResult:
    raise NotImplementedError  # issue 14: h/sso
