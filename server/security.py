"""Secrets: password hashing (argon2id), opaque tokens and their digests, CSRF tokens."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when there is no user, so a wrong e-mail address costs what a
    wrong password does. Made on first use: at import it cost every process start (each CLI
    command, each worker) one argon2 hash."""
    return _hasher.hash("riskops-timing-equaliser")


MIN_PASSWORD_LENGTH = 12
TOKEN_PREFIX = "rko_"  # noqa: S105 (a prefix, not a secret)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def csrf_token(key: bytes, binding: str) -> str:
    """A CSRF token bound to one session (or pre-login cookie) by HMAC: nothing to store."""
    return hmac.new(key, b"csrf:" + binding.encode(), hashlib.sha256).hexdigest()


def csrf_valid(key: bytes, binding: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(key, binding), presented or "")
