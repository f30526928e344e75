"""How a value is written for people: one function per kind of value, used by every face (the
pages' Jinja filters, the CLI's output, messages and titles the services compose, notifications).

A value that is missing (None) is written "—" by every function here, so a template or a CLI
table never prints "None".

- `case_ref(4)` -> "CASE-000004" (the number people quote; never the database id)
- `multiplier(11.9918)` -> "\u00d711.99" (the times sign, then at most two decimals)
- `credits(15200)` -> "15,200.00" (credits are fractional: always two decimals, aligned in a column)
- `money(6028.64, "USD")` -> "6,028.64 USD"
- `llm_cost(0.000195)` -> "0.000195 USD", `llm_cost(1.5)` -> "1.50 USD" (an assistant's cost:
  fractions of a cent matter, so up to six decimals, at least two)
- `count(34114.0)` -> "34,114" (tokens, items, runs: whole numbers, never decimals)
- `score(99.44)` -> "99.4" (an alert's score, 0 to 100)
- `percent(12.345)` -> "+12.3%" (a change, signed); `percent(50, signed=False)` -> "50%"
- `when(datetime)` -> "2026-11-20 19:01 UTC"; `day(date or datetime)` -> "2026-11-20"
- `field_label("device_id")` -> "Device ID" (a data field's name as a label)
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal

MISSING = "—"
TIMES = "\u00d7"  # the multiplication sign, before a multiplier

# Words a field name holds that people write in capitals.
_ACRONYMS = {
    "id": "ID",
    "ip": "IP",
    "mcc": "MCC",
    "bin": "BIN",
    "iban": "IBAN",
    "bic": "BIC",
    "url": "URL",
    "uri": "URI",
    "sha256": "SHA-256",
    "pii": "PII",
    "kyc": "KYC",
    "sar": "SAR",
    "utc": "UTC",
    "cv": "CV",
    "api": "API",
    "sla": "SLA",
}


def _finite(value: float | int | None) -> bool:
    return value is not None and not isinstance(value, bool) and math.isfinite(float(value))


def case_ref(number: int | None) -> str:
    """A case's reference as people quote it: CASE- and six digits."""
    return MISSING if number is None else f"CASE-{int(number):06d}"


def multiplier(value: float | None) -> str:
    """How many times a baseline: "\u00d711.99", "\u00d72", "\u00d71.5" (`TIMES`, U+00D7)."""
    if not _finite(value):
        return MISSING
    text = f"{float(value):,.2f}".rstrip("0").rstrip(".")  # type: ignore[arg-type]
    return f"{TIMES}{text}"


def credits(value: float | None) -> str:
    """Credits: thousands separated, always two decimals."""
    if not _finite(value):
        return MISSING
    return f"{float(value):,.2f}"  # type: ignore[arg-type]


def money(amount: float | None, currency: str | None = None) -> str:
    """An amount of money: two decimals, then its currency code."""
    if not _finite(amount):
        return MISSING
    text = f"{float(amount):,.2f}"  # type: ignore[arg-type]
    return f"{text} {currency}" if currency else text


def llm_cost(amount: float | Decimal | None, currency: str = "USD") -> str:
    """What the assistant cost (litellm's prices are in USD): up to six decimals, at least two,
    so that a call of a fraction of a cent does not read as 0.00."""
    if amount is None or not _finite(float(amount)):
        return MISSING
    text = f"{float(amount):,.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')} {currency}"


def count(value: float | None) -> str:
    """A whole number of things (tokens, items, runs): never decimals."""
    if not _finite(value):
        return MISSING
    return f"{round(float(value)):,}"  # type: ignore[arg-type]


def score(value: float | None) -> str:
    """An alert's score (0 to 100), one decimal."""
    if not _finite(value):
        return MISSING
    return f"{float(value):.1f}"  # type: ignore[arg-type]


def percent(value: float | None, *, signed: bool = True) -> str:
    """A percentage, one decimal; a change carries its sign ("+12.3%", "-4.0%")."""
    if not _finite(value):
        return MISSING
    number = float(value)  # type: ignore[arg-type]
    return f"{number:+.1f}%" if signed else f"{number:.1f}".rstrip("0").rstrip(".") + "%"


def when(value: datetime | None) -> str:
    """A moment, in UTC to the minute: "2026-11-20 19:01 UTC"."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else MISSING


def day(value: date | datetime | None) -> str:
    """A day: "2026-11-20" (a datetime is read in UTC)."""
    if value is None:
        return MISSING
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date()
    return value.isoformat()


def field_label(name: str) -> str:
    """A data field's name as a label: "device_id" -> "Device ID", "merchantName" -> "Merchant
    name"."""
    spaced = "".join(f" {c.lower()}" if c.isupper() else c for c in name.strip())
    words = [w for w in spaced.replace("_", " ").replace("-", " ").split(" ") if w]
    if not words:
        return name
    out = [_ACRONYMS.get(w.lower(), w.lower()) for w in words]
    first = out[0]
    out[0] = first if first.isupper() else first[:1].upper() + first[1:]
    return " ".join(out)
