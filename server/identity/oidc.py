"""The OpenID Connect protocol as single sign-on (`sso`) uses it, on Authlib and joserfc: the
provider's discovery document and keys, the authorization request with PKCE (S256), the code
exchanged for tokens, and the ID token's signature and claims checked. No database and no rule of
ours here: `sso` decides what a verified identity may do."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.httpx_client._compat import httpx2  # the HTTP client Authlib runs on
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

TIMEOUT = 10.0  # seconds, for each request to the provider
# Clock difference tolerated between us and the provider on exp and iat.
CLOCK_SKEW_SECONDS = 60
# Signatures an ID token may carry: the provider's published keys, never a shared secret ("HS")
# or "none".
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
              "EdDSA")  # fmt: skip
WELL_KNOWN = "/.well-known/openid-configuration"
# How long a process keeps a provider's discovery document and key set (a sign-in fetched both,
# every time, before): a key set the ID token's signature does not match is fetched again at
# once (`sso`: the provider rotated its keys), and the admin's "Test connection" always fetches.
CACHE_SECONDS = 300.0


class ProviderError(Exception):
    """The provider could not be used or answered something we cannot accept; `reason` is a
    short code for the audit event, the message says what is wrong."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    algorithms: tuple[str, ...]
    raw: Mapping[str, Any]


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + WELL_KNOWN


def http_client(**kw: Any) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(timeout=TIMEOUT, follow_redirects=False, **kw)


async def _get_json(client: AsyncOAuth2Client, url: str, what: str) -> Mapping[str, Any]:
    try:
        # withhold_token: a plain GET, not an API call with a token (Authlib's client)
        response = await client.request("GET", url, headers={"Accept": "application/json"},
                                        withhold_token=True)  # fmt: skip
    except httpx2.HTTPError as exc:
        raise ProviderError(
            "unreachable", f"{what} at {url} could not be fetched: {exc}."
        ) from None
    if response.status_code != 200:
        raise ProviderError(
            "unreachable", f"{what} at {url} answered HTTP {response.status_code}, not 200."
        )
    try:
        body = response.json()
    except ValueError:
        raise ProviderError("malformed", f"{what} at {url} is not JSON.") from None
    if not isinstance(body, dict):
        raise ProviderError("malformed", f"{what} at {url} is not a JSON object.")
    return body


_discovered: dict[str, tuple[float, Provider]] = {}
_key_sets: dict[str, tuple[float, KeySet]] = {}


def _held(cache: dict[str, tuple[float, Any]], key: str) -> Any:
    held = cache.get(key)
    if held is None or time.monotonic() - held[0] >= CACHE_SECONDS:
        return None
    return held[1]


def forget(issuer: str | None = None) -> None:
    """Drop what this process keeps of `issuer`'s provider (all providers when None): its
    configuration was saved again."""
    if issuer is None:
        _discovered.clear()
        _key_sets.clear()
        return
    gone = _discovered.pop(issuer, None)
    if gone is not None:
        _key_sets.pop(gone[1].jwks_uri, None)


async def discover(client: AsyncOAuth2Client, issuer: str, *, fresh: bool = False) -> Provider:
    """The provider's discovery document; its issuer must be the configured one exactly. Kept
    `CACHE_SECONDS` (`fresh`: fetched whatever is kept)."""
    held = None if fresh else _held(_discovered, issuer)
    if held is not None:
        return held
    provider = await _discover(client, issuer)
    _discovered[issuer] = (time.monotonic(), provider)
    return provider


async def _discover(client: AsyncOAuth2Client, issuer: str) -> Provider:
    doc = await _get_json(client, discovery_url(issuer), "The discovery document")
    if doc.get("issuer") != issuer:
        raise ProviderError(
            "issuer_mismatch",
            f"The discovery document names the issuer {doc.get('issuer')!r}, not {issuer!r}: "
            "enter the issuer exactly as the provider publishes it.",
        )
    missing = [
        k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)
    ]
    if missing:
        raise ProviderError("malformed", f"The discovery document lacks {', '.join(missing)}.")
    methods = doc.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise ProviderError(
            "no_pkce", "The provider does not support PKCE with S256, which riskops requires."
        )
    offered = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(a for a in ASYMMETRIC if a in offered)
    if not algorithms:
        raise ProviderError(
            "no_algorithm",
            f"The provider signs ID tokens only with {', '.join(map(str, offered))}; riskops "
            "accepts public-key signatures only (RS256, ES256, EdDSA, ...).",
        )
    userinfo = doc.get("userinfo_endpoint")
    return Provider(
        issuer=issuer,
        authorization_endpoint=str(doc["authorization_endpoint"]),
        token_endpoint=str(doc["token_endpoint"]),
        jwks_uri=str(doc["jwks_uri"]),
        userinfo_endpoint=str(userinfo) if userinfo else None,
        algorithms=algorithms,
        raw=doc,
    )


async def signing_keys(
    client: AsyncOAuth2Client, provider: Provider, *, fresh: bool = False
) -> KeySet:
    """The provider's key set, kept `CACHE_SECONDS` (`fresh`: fetched whatever is kept)."""
    held = None if fresh else _held(_key_sets, provider.jwks_uri)
    if held is not None:
        return held
    keys = await _signing_keys(client, provider)
    _key_sets[provider.jwks_uri] = (time.monotonic(), keys)
    return keys


async def _signing_keys(client: AsyncOAuth2Client, provider: Provider) -> KeySet:
    body = await _get_json(client, provider.jwks_uri, "The key set (JWKS)")
    try:
        keys = KeySet.import_key_set(body)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise ProviderError("malformed", f"The key set (JWKS) cannot be read: {exc}.") from None
    if not keys.keys:
        raise ProviderError("malformed", "The key set (JWKS) holds no key.")
    return keys


def authorization_url(
    client: AsyncOAuth2Client, provider: Provider, *, state: str, nonce: str, verifier: str
) -> str:
    url, _ = client.create_authorization_url(
        provider.authorization_endpoint, state=state, nonce=nonce, code_verifier=verifier
    )
    return str(url)


async def exchange_code(
    client: AsyncOAuth2Client, provider: Provider, *, code: str, verifier: str
) -> Mapping[str, Any]:
    """The tokens for `code` (the provider refuses a code used before or not ours)."""
    try:
        token = await client.fetch_token(
            provider.token_endpoint, code=code, code_verifier=verifier,
            grant_type="authorization_code",
        )  # fmt: skip
    except httpx2.HTTPError as exc:
        raise ProviderError(
            "unreachable", f"The token endpoint could not be reached: {exc}."
        ) from None
    except Exception as exc:  # Authlib's OAuthError and its kin: the provider said no
        raise ProviderError(
            "code_refused", f"The provider refused the sign-in code ({exc})."
        ) from None
    if not token.get("id_token"):
        raise ProviderError("no_id_token", "The provider answered without an ID token.")
    return dict(token)


def verify_id_token(
    id_token: str, keys: KeySet, provider: Provider, *, client_id: str, nonce: str
) -> dict[str, Any]:
    """The ID token's claims once its signature (a key of the provider's set, an asymmetric
    algorithm it announced), iss, aud (and azp with several audiences), exp, iat, sub and nonce
    are checked."""
    try:
        token = jwt.decode(id_token, keys, algorithms=list(provider.algorithms))
    except (JoseError, ValueError) as exc:
        raise ProviderError(
            "bad_signature", f"The ID token's signature is not valid ({exc})."
        ) from None
    claims = dict(token.claims)
    registry = jwt.JWTClaimsRegistry(
        leeway=CLOCK_SKEW_SECONDS,
        iss={"essential": True, "value": provider.issuer},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        reason = "expired" if getattr(exc, "error", "") == "expired_token" else "bad_claims"
        raise ProviderError(reason, f"The ID token is not acceptable ({exc}).") from None
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences or (len(audiences) > 1 and claims.get("azp") != client_id):
        raise ProviderError(
            "wrong_audience", "The ID token was issued for another application, not riskops."
        )
    if claims.get("nonce") != nonce:
        raise ProviderError(
            "wrong_nonce", "The ID token does not answer this sign-in attempt (its nonce differs)."
        )
    return claims


async def userinfo(
    client: AsyncOAuth2Client, provider: Provider, token: Mapping[str, Any], sub: str
) -> dict[str, Any]:
    """The UserInfo claims (most providers put e-mail and groups there rather than in the ID
    token of the code flow); its `sub` must be the ID token's."""
    if not provider.userinfo_endpoint or not token.get("access_token"):
        return {}
    try:
        response = await client.request(
            "GET",
            provider.userinfo_endpoint,
            headers={
                "Authorization": f"Bearer {token['access_token']}",
                "Accept": "application/json",
            },
            withhold_token=True,
        )
    except httpx2.HTTPError as exc:
        raise ProviderError(
            "unreachable", f"The UserInfo endpoint could not be reached: {exc}."
        ) from None
    if response.status_code != 200:
        raise ProviderError(
            "userinfo", f"The UserInfo endpoint answered HTTP {response.status_code}."
        )
    try:
        body = response.json()
    except ValueError:
        raise ProviderError("userinfo", "The UserInfo answer is not JSON.") from None
    if not isinstance(body, dict) or body.get("sub") != sub:
        raise ProviderError("userinfo", "The UserInfo answer is about another person.")
    return body
