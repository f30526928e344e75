"""The password policy: long enough, not too long, not the account's own e-mail or name, and not
in the breached-password list shipped with riskops (zxcvbn's 30,000 most common passwords from
breaches, in the package: no network). Every password set anywhere (invitation, reset, change,
an admin's create) passes `check_policy`."""

from __future__ import annotations

from functools import lru_cache

from riskops.server.core.errors import Invalid
from riskops.server.settings import get_settings

MAX_PASSWORD = 256


@lru_cache(maxsize=1)
def breached() -> frozenset[str]:
    """The breached-password list, lower-cased (loaded once, on first use)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"])


def check_policy(
    password: object, *, email: str | None = None, name: str | None = None, field: str = "password"
) -> str:
    """The password when it meets the policy; else Invalid naming what is wrong and the fix."""
    if not isinstance(password, str) or not password:
        raise Invalid("Password is required.", field=field)
    least = get_settings().password_min_length
    if len(password) < least:
        raise Invalid(
            f"Password is {len(password)} characters; use at least {least} (a few unrelated "
            "words make a long password that is easy to remember).",
            field=field,
        )
    if len(password) > MAX_PASSWORD:
        raise Invalid(f"Password is longer than {MAX_PASSWORD} characters.", field=field)
    folded = password.strip().lower()
    own = {v.strip().lower() for v in (email, name, (email or "").split("@")[0]) if v}
    if folded in own:
        raise Invalid("Password must not be your e-mail address or name.", field=field)
    if folded in breached():
        raise Invalid(
            "This password appears in lists of breached passwords, so attackers try it first; "
            "choose another.",
            field=field,
        )
    return password
