"""Helpers of the MFA tests: codes of a chosen time step, and a person enrolled through the
service (confirmed with the code of the step before now, so that the current and the next
step's codes are still unused)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pyotp

from riskops.server.identity import mfa


def code_at(secret: str, steps: int = 0) -> str:
    """The TOTP code `steps` time steps from now (-1: the one before, 1: the next)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


async def steady() -> None:
    """Wait until at least 4 seconds of the current 30-second step remain, so that a code
    computed now is of the same step when the server checks it."""
    left = 30 - time.time() % 30
    if left < 4:
        await asyncio.sleep(left + 0.1)


async def enrol(principal: Any) -> tuple[str, list[str]]:
    """Enrol `principal` in MFA: (the TOTP secret, the ten recovery codes)."""
    await steady()
    enrolment = await mfa.enrol_start(principal)
    codes = await mfa.enrol_confirm(principal, code_at(enrolment.secret, -1))
    return enrolment.secret, codes
