"""The pieces of TOTP (RFC 6238, through pyotp) and recovery codes that hold no state: a new
secret, its otpauth URI and the QR code of that URI drawn as SVG on the server (segno; no
external service), which time step a code belongs to, and the recovery codes (10 random
characters each, stored as their SHA-256: they are high-entropy, so a slow hash adds nothing)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

import pyotp
import segno

ISSUER = "riskops"
INTERVAL = 30  # seconds per time step
DIGITS = 6
VALID_WINDOW = 1  # a code of the step before or after is accepted too (clock drift)
RECOVERY_CODES = 10
# No 0/o, 1/l/i: a code is read off paper and typed again.
_RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_RECOVERY_LENGTH = 10
_SEPARATORS = re.compile(r"[\s-]+")


def new_secret() -> str:
    """A base32 secret of 160 bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(32)


def otpauth_uri(secret: str, account: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The QR code of `uri` as an inline SVG element, black on white whatever the page theme
    (authenticator apps read dark on light)."""
    qr = segno.make(uri, error="m")
    return qr.svg_inline(scale=4, dark="#000", light="#fff", title="QR code to scan")


def current_step(now: float | None = None) -> int:
    return int(now if now is not None else time.time()) // INTERVAL


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (within the valid window around now) whose code is `code`, or None. The
    caller still refuses a step at or before the last one accepted."""
    if not is_totp_code(code):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    for candidate in window(now):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def codes_between(secret: str, first: int, last: int) -> list[tuple[int, str]]:
    """The codes of time steps `first` to `last` (both included), with their steps."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    return [(step, totp.generate_otp(step)) for step in range(first, last + 1)]


def window(now: float | None = None) -> list[int]:
    """The time steps a code typed now may belong to, earliest first (`matching_step`'s)."""
    step = current_step(now)
    return list(range(step - VALID_WINDOW, step + VALID_WINDOW + 1))


def code_digest(key: bytes, bound_to: str, step: int, code: str) -> str:
    """A code of time step `step`, bound to `bound_to` (a login challenge's id) and keyed with
    the installation key: stored in the database, it tells nothing of the code without the key
    (a 6-digit code's plain SHA-256 would be found back in a million tries). 128 bits."""
    message = f"totp-code:{bound_to}:{step}:{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def clean(code: str | None) -> str:
    """What was typed, without the spaces and dashes people add (`123 456`, `abcde-fghjk`)."""
    return _SEPARATORS.sub("", (code or "")[:64]).lower()


def is_totp_code(code: str) -> bool:
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def is_recovery_code(code: str) -> bool:
    return len(code) == _RECOVERY_LENGTH and all(c in _RECOVERY_ALPHABET for c in code)


def new_recovery_codes() -> list[str]:
    """Ten codes as shown to the person (`abcde-fghjk`)."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def recovery_hash(code: str) -> str:
    return hashlib.sha256(clean(code).encode()).hexdigest()
