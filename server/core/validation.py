"""Input checks shared by the services; each failure names the field and how to fix it."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import ALL_ROLES, unknown_roles
from riskops.server.security import MIN_PASSWORD_LENGTH

E = TypeVar("E", bound=Enum)

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")

# ----------------------------------------------------------------------------- words for people

# A message names a field by the label the pages give it (the GraphQL error still carries the
# field's own name in `field`): the few whose label is not their name in words are listed here.
LABELS: dict[str, str] = {
    "body": "Note",
    "deny_reason": "Reason",
    "mitigation": "Mitigation",
    "score_min": "Score from",  # the alert queue's filters
    "score_max": "Score to",
    "amount_min": "Amount from",
    "amount_max": "Amount to",
    "created_from": "Created from",
    "created_to": "Created before",
    "rule_id": "Rule id",
    "assignee_id": "Assignee",
    "approver_id": "Approver",
    "answerer_id": "Who must answer",
    "team_id": "Team",
    "alert_ids": "Alerts",
    "expiresInDays": "Expires in (days)",
    "expires_in_days": "Expires in (days)",
    "median": "Median credits",
    "text": "Text",
    "smtpHost": "SMTP host",  # a notification channel's (issue 16)
    "smtpUsername": "Username",
    "mailFrom": "From address",
}


def label(field: str) -> str:
    """The label of `field` as the pages show it: `LABELS`, else its name in words
    (`data_classification` -> "Data classification", `creditsTotal` -> "Credits total")."""
    if field in LABELS:
        return LABELS[field]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", field).replace("_", " ").strip().lower()
    return words[:1].upper() + words[1:]


def display(value: Any) -> str:
    """A choice (an enum member or its value) as the pages show it: `true_positive` -> "true
    positive"."""
    raw = getattr(value, "value", value)
    return str(raw).replace("_", " ")


def choices(values: Any) -> str:
    """The choices of a field for a message, by their display names: "true positive, benign"."""
    return ", ".join(display(v) for v in values)


def member(enum: type[E], raw: Any, what: str, field: str) -> E:
    """The member of `enum` that `raw` names (its value in any case, or its display name), or
    Invalid "{what} 'x' is unknown; choose one of a, b." naming `field`."""
    text = str(getattr(raw, "value", raw)).strip().lower().replace(" ", "_")
    try:
        return enum(text)
    except ValueError:
        raise Invalid(
            f"{what} '{raw}' is unknown; choose one of {choices(enum)}.", field=field
        ) from None


def updated_after(value: Any) -> datetime | None:
    """An incremental sync's `updatedAfter`: an aware date and time (in UTC), or None."""
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise Invalid(
            "updatedAfter must be a date and time with a time zone, like 2026-12-01T00:00:00Z.",
            field="updated_after",
        )
    return value.astimezone(UTC)


def aware(value: Any, field: str, *, named: str | None = None) -> datetime:
    """A date and time with a time zone, in UTC; a naive one or anything else is Invalid on
    `field` (a naive time would be read in whatever zone the server runs in), named `named` (by
    default `label(field)`)."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise Invalid(f"{named or label(field)} must be a date and time with a time zone.",
                      field=field)  # fmt: skip
    try:
        return value.astimezone(UTC)
    except OverflowError:  # the year 1 east of UTC: before the first representable instant
        raise Invalid(f"{named or label(field)} is out of range.", field=field) from None


# The longest period a report figure is asked for (baseline candidates, the PII rate): a year
# and a day, so any calendar year fits.
MAX_PERIOD = timedelta(days=366)


def period(
    start: Any,
    end: Any,
    *,
    named: tuple[str, str],
    last_days: int | None = None,
    limit: timedelta = MAX_PERIOD,
) -> tuple[datetime, datetime]:
    """[period_start, period_end): aware dates and times (in UTC), start before end, at most
    `limit` long; otherwise Invalid on the field to fix (`period_start`, `period_end`), named in
    the message as the caller's face labels the two (`named`: each report figure says its own).
    With `last_days`, a missing end is now and a missing start `last_days` before the end."""
    start_label, end_label = named
    if last_days is not None:
        end = datetime.now(UTC) if end is None else end
        if start is None:
            try:
                start = aware(end, "period_end", named=end_label) - timedelta(days=last_days)
            except OverflowError:  # an end in the first days of the year 1
                raise Invalid(
                    f"{end_label} is too early: the period would start before the year 1.",
                    field="period_end",
                ) from None
    s = aware(start, "period_start", named=start_label)
    e = aware(end, "period_end", named=end_label)
    if s >= e:
        raise Invalid(
            f"{start_label} ({s:%Y-%m-%d %H:%M}) must be before {end_label[:1].lower()}"
            f"{end_label[1:]} ({e:%Y-%m-%d %H:%M}).",
            field="period_start",
        )
    if e - s > limit:
        raise Invalid(
            f"The period is {(e - s).days} days long; the limit is {limit.days} days.",
            field="period_start",
        )
    return s, e


def page_size(first: Any, max_page: int) -> int:
    """`first` of a keyset-paged list: a whole number from 1 to `max_page`."""
    if isinstance(first, bool) or not isinstance(first, int) or not 1 <= first <= max_page:
        raise Invalid(f"first must be between 1 and {max_page}.", field="first")
    return first


def has_lone_surrogate(value: str) -> bool:
    """A UTF-16 surrogate without its pair (JSON can carry one: "\\ud800") is not text: no
    database takes it, and no e-mail or page can show it."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


# How deep a JSON document may nest (the request body counts as level 1). Deeper input is no
# real document: it only exists to exhaust a recursive parser (Python's json.loads, any walk
# over the value) and turn a 1 KB request into a RecursionError.
MAX_JSON_DEPTH = 64


def too_deep_message(what: str = "The JSON body") -> str:
    return (
        f"{what} is nested deeper than {MAX_JSON_DEPTH} levels (arrays and objects inside "
        "each other); flatten it."
    )


JSON_TOO_DEEP = too_deep_message()
# A string (escapes included; an unterminated one runs to the end) or a bracket. Possessive
# quantifiers: every quote starts a token that always matches, so the scan is linear in the
# text whatever it holds (no backtracking, no rescanning after an unterminated string).
_STRUCTURE = r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)|[\[\]{}]'
_JSON_STRUCTURE = re.compile(_STRUCTURE, re.DOTALL)
_JSON_STRUCTURE_B = re.compile(_STRUCTURE.encode(), re.DOTALL)


def json_too_deep(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects deeper than `limit`, found without parsing
    it (so without recursion): brackets inside strings do not count. Text that is not JSON
    gets an answer too; the parser then refuses it."""
    pattern = _JSON_STRUCTURE_B if isinstance(text, bytes) else _JSON_STRUCTURE
    opening = (b"[", b"{") if isinstance(text, bytes) else ("[", "{")
    closing = (b"]", b"}") if isinstance(text, bytes) else ("]", "}")
    depth = 0
    for match in pattern.finditer(text):  # type: ignore[arg-type]
        token = match.group()
        if token in opening:
            depth += 1
            if depth > limit:
                return True
        elif token in closing:
            depth -= 1
    return False


def shallow_json(text: str | bytes, what: str, field: str | None = None) -> None:
    """Refuse JSON text nested deeper than MAX_JSON_DEPTH before anything parses it."""
    if json_too_deep(text):
        raise Invalid(too_deep_message(what), field=field)


def has_lone_surrogate_in(value: object) -> bool:
    """`has_lone_surrogate` for any string in a parsed JSON value (keys included), walked
    without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _unicode(value: str, field: str, name: str | None = None) -> None:
    if has_lone_surrogate(value):
        raise Invalid(
            f"{name or label(field)} contains a lone UTF-16 surrogate, which is not text; send "
            "valid Unicode.",
            field=field,
        )


def text(
    value: str | None, field: str, *, max_len: int, required: bool = True, named: str | None = None
) -> str:
    """One line of text, at most `max_len` characters. Messages name the field by `named` when
    one field has several labels (a channel's secret: "Signing secret", "Routing key",
    "Password", by its kind), else by `label(field)`."""
    name = named or label(field)
    value = (value or "").strip()
    if required and not value:
        raise Invalid(f"{name} is required.", field=field)
    if len(value) > max_len:
        raise Invalid(f"{name} is {len(value)} characters long; the limit is {max_len}.",
                      field=field)  # fmt: skip
    if any(ord(c) < 32 for c in value):
        raise Invalid(f"{name} contains control characters; remove them.", field=field)
    _unicode(value, field, name)
    return value


SCENARIO_KEY_MAX = 128  # riskops.server.credit.models.Scenario.key


def scenario_key(raw: Any, field: str) -> str:
    """A scenario key as given (matched exactly, case and all; surrounding blanks dropped)."""
    if not isinstance(raw, str) or not raw.strip():
        raise Invalid(
            f"{label(field)} is required: the key of a scenario, like BINDER_EXPORT_WEEKLY.",
            field=field,
        )
    return text(raw, field, max_len=SCENARIO_KEY_MAX)


def long_text(value: Any, field: str, *, max_len: int, why: str = "") -> str:
    """Free text of several lines (notes, reasons, rationales, mitigations): required, at most
    `max_len` characters, line breaks and tabs allowed, other control characters not. `why` is
    added to the "required" message (e.g. "say why: it is kept with the baseline history")."""
    if value is not None and not isinstance(value, str):
        raise Invalid(f"{label(field)} must be text.", field=field)
    text_ = (value or "").strip()
    if not text_:
        raise Invalid(f"{label(field)} is required{': ' + why if why else ''}.", field=field)
    if len(text_) > max_len:
        raise Invalid(
            f"{label(field)} is {len(text_)} characters long; the limit is {max_len}.",
            field=field,
        )
    if any(ord(c) < 32 and c not in "\n\r\t" for c in text_):
        raise Invalid(f"{label(field)} contains control characters; remove them.", field=field)
    _unicode(text_, field)
    return text_


def email(value: str | None, field: str = "email") -> str:
    value = text(value, field, max_len=254).lower()
    if not EMAIL_RE.match(value):
        raise Invalid(f"'{value}' is not an e-mail address (like name@example.com).", field=field)
    return value


def roles(
    values: list[str] | None, field: str = "roles", *, allow_empty: bool = False
) -> list[str]:
    values = [v.strip() for v in (values or [])]
    if len(values) > len(ALL_ROLES):
        raise Invalid(f"{label(field)}: at most {len(ALL_ROLES)} roles.", field=field)
    bad = unknown_roles(values)
    if bad:
        raise Invalid(
            f"{label(field)}: unknown role(s) {', '.join(bad)}; choose from {choices(ALL_ROLES)}.",
            field=field,
        )
    if not values and not allow_empty:
        raise Invalid(
            f"{label(field)}: give at least one role ({choices(ALL_ROLES)}).", field=field
        )
    return sorted(set(values))


def password(value: str | None, field: str = "password") -> str:
    value = value or ""
    if len(value) < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"{label(field)} must be at least {MIN_PASSWORD_LENGTH} characters long.", field=field
        )
    if len(value) > 1024:
        raise Invalid(f"{label(field)} is longer than 1024 characters.", field=field)
    return value


def _fmt_bound(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"


def number(
    value: Any,
    field: str,
    *,
    lo: float,
    hi: float,
    whole: bool = False,
    above_lo: bool = False,
    label: str | None = None,
) -> Any:
    """A finite number in [lo, hi] (or (lo, hi] with `above_lo`); `whole` also wants a whole
    number (12.0 is taken as 12: some producers write every JSON number as a float). NaN,
    infinities, booleans and text are refused. The message names the field by `label` (default:
    `field`) and states the range."""
    name = label or field
    lower = f"greater than {_fmt_bound(lo)}" if above_lo else f"from {_fmt_bound(lo)}"
    kind = "a whole number" if whole else "a number"
    rng = f"{kind} {lower} {'and at most' if above_lo else 'to'} {_fmt_bound(hi)}"
    if whole and isinstance(value, float) and value.is_integer():
        value = int(value)
    ok_type = not isinstance(value, bool) and isinstance(value, int if whole else int | float)
    if not ok_type:
        raise Invalid(f"{name} must be {rng}, not {value!r}.", field=field)
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid(f"{name} must be {rng}; {value!r} is not a finite number.", field=field)
    if value < lo or (above_lo and value == lo) or value > hi:
        shown = _fmt_bound(value) if isinstance(value, int) or abs(value) < 1e16 else f"{value:g}"
        raise Invalid(f"{name} is {shown}; it must be {rng}.", field=field)
    return value
