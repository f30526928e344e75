"""Input checks shared by the services; each failure names the field and how to fix it."""

from __future__ import annotations

import re
from typing import Any

from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import ALL_ROLES, unknown_roles
from riskops.server.security import MIN_PASSWORD_LENGTH

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
    "period_start": "Week starting",
    "expiresInDays": "Expires in (days)",
    "expires_in_days": "Expires in (days)",
    "median": "Median credits",
    "text": "Text",
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


def _unicode(value: str, field: str) -> None:
    if has_lone_surrogate(value):
        raise Invalid(
            f"{label(field)} contains a lone UTF-16 surrogate, which is not text; send valid "
            "Unicode.",
            field=field,
        )


def text(value: str | None, field: str, *, max_len: int, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise Invalid(f"{label(field)} is required.", field=field)
    if len(value) > max_len:
        raise Invalid(
            f"{label(field)} is {len(value)} characters long; the limit is {max_len}.",
            field=field,
        )
    if any(ord(c) < 32 for c in value):
        raise Invalid(f"{label(field)} contains control characters; remove them.", field=field)
    _unicode(value, field)
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
