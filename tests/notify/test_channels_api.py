"""Notification channels through GraphQL (issue 16), on SQLite and PostgreSQL: create, read with
the delivery log, update, test and remove, errors as data, secrets never returned, another
organization's channel answering like a missing one, and nothing changed by a refused call."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from riskops.audit.models import AuditEvent
from riskops.server.notify import outbox
from riskops.server.notify.delivery import deliver_due
from riskops.server.notify.models import NotificationChannel
from riskops.server.notify.outbox import Channel, PagerAction
from riskops.server.settings import get_settings
from tests.support.pagerduty_server import PagerDutyServer, routing_key
from tests.support.pagerduty_server import serving as pd_serving

CHANNEL = """id name kind events enabled secretSet url eventsUrl smtpHost smtpPort starttls
smtpUsername mailFrom recipients lastTestAt lastTestOutcome removedAt version"""
CREATE = f"""mutation($kind: NotificationChannelKind!, $input: NotificationChannelInput!) {{
  createNotificationChannel(kind: $kind, input: $input) {{
    channel {{ {CHANNEL} }} errors {{ code field message }} }} }}"""
UPDATE = f"""mutation($id: ID!, $v: Int!, $input: NotificationChannelInput!) {{
  updateNotificationChannel(id: $id, expectedVersion: $v, input: $input) {{
    channel {{ {CHANNEL} }} errors {{ code field message }} }} }}"""
REMOVE = """mutation($id: ID!, $v: Int!) { removeNotificationChannel(id: $id, expectedVersion: $v) {
  channel { id removedAt } errors { code field message } } }"""
TEST = """mutation($id: ID!) { testNotificationChannel(id: $id) {
  ok outcome channel { lastTestOutcome } errors { code field message } } }"""
ONE = f"""query($id: ID!, $first: Int!, $after: String) {{ notificationChannel(id: $id) {{
  {CHANNEL} deliveries(first: $first, after: $after) {{
    edges {{ cursor node {{ kind summary eventAction dedupKey status attempts lastError }} }}
    pageInfo {{ hasNextPage endCursor }} }} }} }}"""
LIST = f"query {{ notificationChannels {{ {CHANNEL} }} }}"


@pytest.fixture
def pd() -> Iterator[PagerDutyServer]:
    yield from pd_serving()


async def admin_token(api: Any, tenant: Any) -> str:
    return str(await api.token(tenant, tenant.admin_user))


async def state(org_id: int) -> Any:
    rows = await NotificationChannel.filter(org_id=org_id).order_by("id").values()
    events = await AuditEvent.filter(org_id=org_id, action__startswith="channel.").count()
    return rows, events


def pd_input(pd: PagerDutyServer, key: str, **kw: Any) -> dict[str, Any]:
    return {"name": "PagerDuty", "events": ["CRITICAL", "ESCALATION"], "secret": key,
            "eventsUrl": pd.url, **kw}  # fmt: skip


async def test_create_read_update_test_remove(api, tenant, pd) -> None:
    token = await admin_token(api, tenant)
    key = routing_key()
    body = await api.gql(token, CREATE, {"kind": "PAGERDUTY", "input": pd_input(pd, key)})
    assert key not in str(body)
    made = body["data"]["createNotificationChannel"]
    assert made["errors"] == []
    ch = made["channel"]
    assert (ch["kind"], ch["events"], ch["secretSet"], ch["eventsUrl"], ch["version"]) == (
        "PAGERDUTY", ["CRITICAL", "ESCALATION"], True, pd.url, 1,
    )  # fmt: skip
    listed = await api.data(token, LIST)
    assert [c["id"] for c in listed["notificationChannels"]] == [ch["id"]]
    assert key not in str(listed)
    # Deliveries: a trigger and its acknowledgement, newest first, paged.
    async with in_transaction() as conn:
        for action in (PagerAction.TRIGGER, PagerAction.ACKNOWLEDGE):
            await outbox.add(
                conn, tenant.org_id, Channel.CRITICAL, "run.sev0", {"severity": "SEV0",
                "run_id": "r-7", "scenario": "S"}, suppressed=False, now=datetime.now(UTC),
                dedup_key="riskops-run-r-7", action=action,
            )  # fmt: skip
    await deliver_due(org_id=tenant.org_id, settings=get_settings())
    assert pd.state_of("riskops-run-r-7") == "acknowledged"
    first = await api.data(token, ONE, {"id": ch["id"], "first": 1})
    page = first["notificationChannel"]["deliveries"]
    assert page["pageInfo"]["hasNextPage"] is True
    [edge] = page["edges"]
    assert edge["node"]["eventAction"] == "acknowledge" and edge["node"]["status"] == "SENT"
    assert edge["node"]["summary"].startswith("Acknowledged: SEV0")
    second = await api.data(token, ONE, {"id": ch["id"], "first": 5,
                                         "after": page["pageInfo"]["endCursor"]})  # fmt: skip
    [older] = second["notificationChannel"]["deliveries"]["edges"]
    assert older["node"]["eventAction"] == "trigger"
    # Update without a secret keeps it; a stale version is a conflict, as data.
    upd = await api.gql(token, UPDATE, {"id": ch["id"], "v": 1,
                                        "input": pd_input(pd, "", name="PD on call")})  # fmt: skip
    updated = upd["data"]["updateNotificationChannel"]
    assert updated["errors"] == [] and updated["channel"]["secretSet"] is True
    assert updated["channel"]["version"] == 2 and updated["channel"]["name"] == "PD on call"
    stale = await api.gql(token, UPDATE, {"id": ch["id"], "v": 1, "input": pd_input(pd, "")})
    assert stale["data"]["updateNotificationChannel"]["errors"][0]["code"] == "CONFLICT"
    tested = await api.data(token, TEST, {"id": ch["id"]})
    assert tested["testNotificationChannel"]["ok"] is True
    assert tested["testNotificationChannel"]["outcome"] == "202 accepted"
    gone = await api.data(token, REMOVE, {"id": ch["id"], "v": 2})
    assert gone["removeNotificationChannel"]["channel"]["removedAt"] is not None
    assert (await api.data(token, LIST))["notificationChannels"] == []
    # The removed channel's log stays readable.
    kept = await api.data(token, ONE, {"id": ch["id"], "first": 10})
    assert len(kept["notificationChannel"]["deliveries"]["edges"]) == 2


async def test_email_and_webhook_fields(api, tenant) -> None:
    token = await admin_token(api, tenant)
    mail = await api.data(token, CREATE, {"kind": "EMAIL", "input": {
        "name": "mail", "events": ["REVIEW"], "smtpHost": "smtp.example.test", "smtpPort": 2525,
        "starttls": True, "smtpUsername": "riskops", "secret": "mail-password-123",
        "mailFrom": "riskops@example.test", "recipients": ["a@example.test", "b@example.test"],
    }})  # fmt: skip
    ch = mail["createNotificationChannel"]["channel"]
    assert (ch["smtpHost"], ch["smtpPort"], ch["starttls"], ch["recipients"], ch["secretSet"]) == (
        "smtp.example.test", 2525, True, ["a@example.test", "b@example.test"], True,
    )  # fmt: skip
    assert "mail-password-123" not in str(mail)
    hook = await api.data(token, CREATE, {"kind": "WEBHOOK", "input": {
        "name": "siem", "url": "https://siem.example.test/in"}})  # fmt: skip
    assert hook["createNotificationChannel"]["channel"]["secretSet"] is False


BAD = [
    ("SLACK", {"name": "x", "url": "file:///etc/passwd"}, "url"),
    ("PAGERDUTY", {"name": "x", "secret": "not a key!"}, "secret"),
    ("PAGERDUTY", {"name": "x"}, "secret"),
    ("EMAIL", {"name": "x", "smtpHost": "h.example", "mailFrom": "a@b.example",
               "recipients": [f"r{i}@x.example" for i in range(25)]}, "recipients"),
    ("SLACK", {"name": "x" * 101, "url": "https://h.example/"}, "name"),
    ("SLACK", {"name": "", "url": "https://h.example/"}, "name"),
]  # fmt: skip


async def test_list_limits_are_the_services_own(api, tenant) -> None:
    """Too many recipients or events: the service's message, after the service's permission
    check (the API has no check of its own)."""
    token = await admin_token(api, tenant)
    mail = {"name": "x", "smtpHost": "h.example", "mailFrom": "a@b.example",
            "recipients": [f"r{i}@x.example" for i in range(21)]}  # fmt: skip
    hook = {"name": "x", "url": "https://h.example/", "events": ["CRITICAL"] * 7}
    before = await state(tenant.org_id)
    for kind, given, field, says in (
        ("EMAIL", mail, "recipients", "Recipients: at most 20 addresses."),
        ("SLACK", hook, "events", "Events: each event once (there are 6)."),
    ):
        body = await api.data(token, CREATE, {"kind": kind, "input": given})
        [error] = body["createNotificationChannel"]["errors"]
        assert (error["code"], error["field"], error["message"]) == ("INVALID", field, says)
    user, _ = await tenant.user("operator")
    operator = await api.token(tenant, user)
    body = await api.data(operator, CREATE, {"kind": "EMAIL", "input": mail})
    assert body["createNotificationChannel"]["errors"][0]["code"] == "FORBIDDEN"
    assert await state(tenant.org_id) == before


@pytest.mark.parametrize(("kind", "given", "field"), BAD)
async def test_bad_input_is_data_and_changes_nothing(api, tenant, kind, given, field) -> None:
    token = await admin_token(api, tenant)
    before = await state(tenant.org_id)
    body = await api.data(token, CREATE, {"kind": kind, "input": given})
    [error] = body["createNotificationChannel"]["errors"]
    assert error["code"] == "INVALID" and error["field"] == field and error["message"]
    assert body["createNotificationChannel"]["channel"] is None
    assert await state(tenant.org_id) == before


async def test_roles_foreign_ids_and_duplicates(api, tenant, other_tenant, pd) -> None:
    token = await admin_token(api, tenant)
    theirs_token = await admin_token(api, other_tenant)
    mine = (await api.data(token, CREATE, {"kind": "PAGERDUTY", "input": pd_input(
        pd, routing_key())}))["createNotificationChannel"]["channel"]  # fmt: skip
    theirs = (await api.data(theirs_token, CREATE, {"kind": "PAGERDUTY", "input": pd_input(
        pd, routing_key())}))["createNotificationChannel"]["channel"]  # fmt: skip
    before = await state(tenant.org_id), await state(other_tenant.org_id)
    user, _ = await tenant.user("operator")
    operator = await api.token(tenant, user)
    refused = await api.data(operator, CREATE, {"kind": "SLACK", "input": {
        "name": "x", "url": "https://h.example/"}})  # fmt: skip
    assert refused["createNotificationChannel"]["errors"][0]["code"] == "FORBIDDEN"
    listed = await api.gql(operator, LIST)
    assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for op, variables in (
        (UPDATE, {"v": 1, "input": pd_input(pd, "")}),
        (REMOVE, {"v": 1}),
        (TEST, {}),
    ):
        answers = []
        for ident in (theirs["id"], "2000000000"):
            body = await api.data(token, op, {"id": ident, **variables})
            [payload] = body.values()
            [error] = payload["errors"]
            answers.append((error["code"], error["message"].replace(ident, "ID")))
        assert answers[0] == answers[1] and answers[0][0] == "NOT_FOUND"
    for ident in (theirs["id"], "2000000000", "junk"):
        found = await api.data(token, ONE, {"id": ident, "first": 5})
        assert found["notificationChannel"] is None
    dup = await api.data(token, CREATE, {"kind": "PAGERDUTY", "input": pd_input(
        pd, routing_key())})  # fmt: skip
    assert dup["createNotificationChannel"]["errors"][0]["code"] == "DUPLICATE"
    bad_page = await api.gql(token, ONE, {"id": mine["id"], "first": 0})
    assert bad_page["errors"][0]["extensions"]["code"] == "INVALID"
    assert (await state(tenant.org_id), await state(other_tenant.org_id)) == before
