"""Issue 11, item 17: every refusal a page shows names the field by its label and the choices by
their display names, never by an internal name (`deny_reason is required`, `score_min: 'abc'`,
`choose one of true_positive, …`, `user 6 lacks admin`).

The scan posts every page form of `tests/core/permission_table.py` as a role that may use it,
once empty and once with text where numbers, ids and choices go, and reads every message the
answer shows (under a field, at the top of a form, on the error page)."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest

from riskops.server.core import validation
from riskops.server.credit.policy import POLICY_FIELDS
from riskops.server.identity import users
from riskops.server.security import csrf_token, digest
from riskops.server.triage import cases as case_service
from riskops.server.triage.models import RootCause
from tests.core.permission_pages import PAGES
from tests.core.permission_table import ANYONE
from tests.core.test_permission_matrix import Harness, _first_allowed, harness  # noqa: F401

# An internal name: snake_case (`deny_reason`) or camelCase (`expiresInDays`).
INTERNAL = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b|\b[a-z]+[A-Z][A-Za-z]*\b")
POSTS = sorted(
    key
    for key, entry in PAGES.items()
    if key.startswith("POST ") and entry.needs is not ANYONE and not entry.signs_out
)
MESSAGE_RES = [
    re.compile(r'<p class="field-error"[^>]*>(.*?)</p>', re.S),
    re.compile(r'<div class="flash flash-error[^"]*"[^>]*>(.*?)</div>', re.S),
    re.compile(r'<section class="card error-card">.*?<h1>.*?</h1>\s*<p>(.*?)</p>', re.S),
    re.compile(r'<tr class="row-error-detail">.*?role="alert"[^>]*>(.*?)</div>', re.S),
]


def messages(page: str) -> list[str]:
    found = [m for pattern in MESSAGE_RES for m in pattern.findall(page)]
    return [html_lib.unescape(re.sub(r"<[^>]+>", "", m)).strip() for m in found]


# The policy page labels its fields by their names (`sev1_multiplier`, in the table it edits).
LABELLED_BY_NAME = set(POLICY_FIELDS)


def internal_names(message: str) -> list[str]:
    # Quoted input is the user's own text, shown back as typed.
    unquoted = re.sub(r"'[^']*'", "", message)
    return [name for name in INTERNAL.findall(unquoted) if name not in LABELLED_BY_NAME]


async def post(h: Harness, key: str, data: dict[str, Any]) -> Any:
    entry = PAGES[key]
    role = _first_allowed(entry.needs)
    url = await h.world.resolve(entry.url)
    secret = h.world.callers[role].session
    body = {**data, "csrf_token": csrf_token(h.backend.settings.key, digest(secret))}
    return await h.clients[role].post(url, data=body)


@pytest.mark.parametrize("variant", ["empty", "text"])
@pytest.mark.parametrize("key", POSTS)
async def test_refusals_name_fields_and_choices_as_the_pages_do(
    harness: Harness,  # noqa: F811
    key: str,
    variant: str,
) -> None:
    form = await harness.world.resolve(PAGES[key].form)
    data = {name: "" if variant == "empty" else "abc" for name in form}
    r = await post(harness, key, data)
    assert r.status_code < 500, r.text[:500]
    bad = {m: internal_names(m) for m in messages(r.text) if internal_names(m)}
    assert not bad, f"{key} ({variant} form, {r.status_code}): {bad}"


# ----------------------------------------------------------------------------- the five examples


def test_labels_and_display_names() -> None:
    assert validation.label("deny_reason") == "Reason"
    assert validation.label("body") == "Note"
    assert validation.label("score_min") == "Score from"
    assert validation.label("data_classification") == "Data classification"
    assert validation.label("creditsTotal") == "Credits total"
    assert validation.choices(["true_positive", "benign"]) == "true positive, benign"


async def test_deny_reason_is_named_reason(harness: Harness) -> None:  # noqa: F811
    r = await post(harness, "POST /runs/{run_id:str}/reruns/{request_id:str}/deny", {"reason": ""})
    assert "Reason is required" in " ".join(messages(r.text)), messages(r.text)


async def test_an_empty_note_is_named_note(harness: Harness) -> None:  # noqa: F811
    r = await post(harness, "POST /cases/{case_id}/notes", {"body": ""})
    assert r.status_code == 422
    assert "Note is required." in messages(r.text)


async def test_a_score_filter_is_named_by_its_label(harness: Harness) -> None:  # noqa: F811
    role = _first_allowed(PAGES["GET /alerts"].needs)
    r = await harness.clients[role].get("/alerts?score_min=abc")
    shown = " ".join(messages(r.text))
    assert "Score from: 'abc' is not a number" in shown, shown
    assert "score_min" not in shown


async def test_dispositions_are_offered_by_their_display_names(
    harness: Harness,  # noqa: F811
) -> None:
    form = await harness.world.resolve(PAGES["POST /alerts/{alert_id}/close"].form)
    r = await post(harness, "POST /alerts/{alert_id}/close", {**form, "disposition": ""})
    shown = " ".join(messages(r.text))
    assert "Disposition is required to close an alert; choose one of true positive" in shown
    assert "true_positive" not in shown


async def test_a_token_role_the_owner_lacks_names_the_person(harness: Harness) -> None:  # noqa: F811
    """The admin mints tokens only for service accounts now (issue 11 item 1): a role the
    account lacks is named with the account's name, not `user 6 lacks admin`."""
    admin = harness.world.callers["admin"].principal
    robot = await users.create_service_account(admin, name="Nightly exporter", roles=["viewer"])
    r = await post(
        harness,
        "POST /admin/tokens",
        {"owner": str(robot.id), "name": "probe", "roles": "admin"},
    )
    shown = " ".join(messages(r.text))
    assert "Roles: the token may only carry roles Nightly exporter has; not admin." in shown, shown
    assert "lacks" not in shown and f"user {robot.id}" not in shown


def test_case_choices_use_display_names() -> None:
    with pytest.raises(Exception) as raised:
        case_service.parse_choice(RootCause, "nope", "root_cause", required=True)
    assert "Root cause 'nope' is unknown" in str(raised.value)
    assert "root_cause" not in str(raised.value)


# Every filter of the list pages, each given text it cannot read (one at a time: a page may
# report only the first): the message names the filter as its form does.
FILTERS = {
    "/alerts": ["amount_max", "amount_min", "assignee", "created_from", "created_to", "priority",
                "score_max", "score_min", "sort", "status", "team", "text"],
    "/cases": ["assignee", "severity", "status"],
    "/runs": ["flag", "severity", "since", "until"],
    "/audit": ["since", "until"],
    "/notifications": ["status"],
}  # fmt: skip


@pytest.mark.parametrize(("path", "name"), [(p, n) for p, names in FILTERS.items() for n in names])
async def test_filter_messages_name_filters_as_the_pages_do(
    harness: Harness,  # noqa: F811
    path: str,
    name: str,
) -> None:
    role = _first_allowed(PAGES[f"GET {path}"].needs)
    r = await harness.clients[role].get(path, params={name: "x!"})
    assert r.status_code == 422, (path, name, r.status_code)
    bad = {m: internal_names(m) for m in messages(r.text) if internal_names(m)}
    assert not bad, f"{path}?{name}=x!: {bad}"
