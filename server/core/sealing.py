"""Sealing secrets the installation must keep but never show again (an SSO client secret, a TOTP
secret): authenticated encryption (Fernet: AES-128-CBC + HMAC-SHA256) under a key derived from
the installation key (RISKOPS_SECRET_KEY) with HKDF, one derived key per purpose. Rotating the
installation key makes sealed values unreadable: they must be entered again."""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from riskops.server.settings import get_settings


class Unsealable(RuntimeError):
    """A sealed value cannot be opened: the installation key changed, or the value was altered."""


def _fernet(purpose: str, key: bytes | None = None) -> Fernet:
    material = key if key is not None else get_settings().key
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"riskops-seal-v1", info=purpose.encode()
    ).derive(material)
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(purpose: str, plaintext: str, *, key: bytes | None = None) -> str:
    """`plaintext` sealed for `purpose` ("sso-client-secret", "totp-secret")."""
    return _fernet(purpose, key).encrypt(plaintext.encode()).decode()


def unseal(purpose: str, sealed: str, *, key: bytes | None = None) -> str:
    try:
        return _fernet(purpose, key).decrypt(sealed.encode()).decode()
    except (InvalidToken, ValueError):
        raise Unsealable(
            f"A sealed {purpose} cannot be opened: the installation key (RISKOPS_SECRET_KEY) "
            "changed since it was stored, or it was altered. Enter it again."
        ) from None
