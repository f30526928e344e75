"""The checks of a single sign-on configuration an admin enters (`sso.save_config`): what the
page and the API pass, and every input rule, before anything is written."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from riskops.server.core import validation
from riskops.server.core.errors import Invalid

SCOPE_RE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")
CLAIM_RE = re.compile(r"^[A-Za-z0-9_.:/-]{1,100}$")
DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")
MAX_MAPPINGS = 50


@dataclass(frozen=True)
class ConfigInput:
    """What an admin enters on the SSO settings page (or `saveSsoConfig`). `client_secret`
    None or empty keeps the stored one."""

    issuer: str
    client_id: str
    client_secret: str | None
    scopes: str
    allowed_domain: str
    role_claim: str
    role_mapping: Mapping[str, list[str]]
    default_roles: list[str]
    enabled: bool = True


def _issuer(raw: str) -> str:
    issuer = validation.text(raw, "issuer", max_len=500)
    parts = urlsplit(issuer)
    loopback = parts.hostname in LOOPBACK or parts.netloc.split(":")[0] in LOOPBACK
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise Invalid(
            "Issuer: give the provider's https:// address (like https://login.example.com/realm); "
            "plain http:// is accepted only on this machine (127.0.0.1, localhost).",
            field="issuer",
        )
    if not parts.netloc or parts.query or parts.fragment:
        raise Invalid("Issuer: an address with a host and no ?query or #fragment.", field="issuer")
    return issuer


def _scopes(raw: str) -> str:
    scopes = validation.text(raw or "openid email profile", "scopes", max_len=300).split()
    bad = [s for s in scopes if not SCOPE_RE.match(s)]
    if bad:
        raise Invalid(f"Scopes: {', '.join(bad)[:100]} is not a scope name.", field="scopes")
    if "openid" not in scopes:
        raise Invalid('Scopes: include "openid" (OpenID Connect needs it).', field="scopes")
    return " ".join(dict.fromkeys(scopes))


def _domain(raw: str) -> str:
    domain = validation.text(raw, "allowedDomain", max_len=253).lower().lstrip("@")
    if not DOMAIN_RE.match(domain):
        raise Invalid(
            f"Allowed e-mail domain: '{domain[:100]}' is not a domain (like example.com).",
            field="allowedDomain",
        )
    return domain


def _mapping(raw: Mapping[str, list[str]]) -> dict[str, list[str]]:
    if len(raw) > MAX_MAPPINGS:
        raise Invalid(f"Role mapping: at most {MAX_MAPPINGS} lines.", field="roleMapping")
    mapping: dict[str, list[str]] = {}
    for value, roles in raw.items():
        key = validation.text(value, "roleMapping", max_len=200)
        mapping[key] = validation.roles(list(roles), "roleMapping")
    return mapping


def checked_config(data: ConfigInput, *, has_secret: bool) -> dict[str, Any]:
    """Every input check of a configuration, before anything is written."""
    secret = (data.client_secret or "").strip()
    if not secret and not has_secret:
        raise Invalid("Client secret is required: the provider gave it with the client id.",
                      field="clientSecret")  # fmt: skip
    if len(secret) > 500:
        raise Invalid("Client secret: at most 500 characters.", field="clientSecret")
    role_claim = validation.text(data.role_claim or "groups", "roleClaim", max_len=100)
    if not CLAIM_RE.match(role_claim):
        raise Invalid("Role claim: a claim name (like groups or roles).", field="roleClaim")
    return {
        "issuer": _issuer(data.issuer),
        "client_id": validation.text(data.client_id, "clientId", max_len=255),
        "secret": secret or None,
        "scopes": _scopes(data.scopes),
        "allowed_domain": _domain(data.allowed_domain),
        "role_claim": role_claim,
        "role_mapping": _mapping(data.role_mapping),
        "default_roles": validation.roles(data.default_roles, "defaultRoles", allow_empty=True),
        "enabled": bool(data.enabled),
    }
