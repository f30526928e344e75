"""The audit trail over GraphQL: filters, keyset pagination, limits, permissions, verification."""

from __future__ import annotations

import base64
from datetime import timedelta, timezone

import pytest

from riskops.audit.chain import parse_ts
from riskops.audit.models import AuditEvent
from riskops.server.identity.teams import create_team
from riskops.server.identity.users import create_user, update_user_roles

EVENTS = """
query($filter: AuditEventFilter, $first: Int!, $after: String) {
  auditEvents(filter: $filter, first: $first, after: $after) {
    edges { cursor node { seq actor actorType action entityType entityId ts newValues } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def _seqs(org_id: int, **filters: object) -> list[int]:
    """What the API should answer: the org's matching seqs, newest first."""
    rows = AuditEvent.filter(org_id=org_id, **filters).order_by("-seq")
    return list(await rows.values_list("seq", flat=True))  # type: ignore[arg-type]


async def _page(api, secret, **variables):  # type: ignore[no-untyped-def]
    variables.setdefault("first", 50)
    return (await api.data(secret, EVENTS, variables))["auditEvents"]


@pytest.fixture
async def history(tenant, other_tenant):  # type: ignore[no-untyped-def]
    """A small, varied history in `tenant` (and some noise in `other_tenant`)."""
    second_admin, second = await tenant.user("admin")
    alice = await create_user(
        tenant.admin, email=f"alice-{tenant.slug}@ex.test", name="Alice", roles=["viewer"]
    )
    bob = await create_user(
        second, email=f"bob-{tenant.slug}@ex.test", name="Bob", roles=["viewer"]
    )
    await update_user_roles(tenant.admin, alice.id, ["operator"])
    await create_team(second, name="Ops", member_ids=[str(alice.id), str(bob.id)])
    await create_user(
        other_tenant.admin, email=f"noise-{tenant.slug}@ex.test", name="Noise", roles=["viewer"]
    )
    return {"alice": alice, "bob": bob, "second": second, "second_admin": second_admin}


async def test_events_are_newest_first_and_only_this_org(tenant, api, history):
    secret = await api.token(tenant, tenant.admin_user)
    page = await _page(api, secret, first=200)
    assert page["pageInfo"]["hasNextPage"] is False
    seqs = [e["node"]["seq"] for e in page["edges"]]
    # token.create for the caller's own token is the newest event.
    assert seqs == await _seqs(tenant.org_id)
    assert seqs == sorted(seqs, reverse=True) and seqs[-1] == 1
    first = page["edges"][0]["node"]
    assert (first["action"], first["entityType"]) == ("token.create", "api_token")
    assert page["edges"][-1]["node"]["action"] == "org.create"
    assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]


@pytest.mark.parametrize(
    ("flt", "expected_actions"),
    [
        ({"action": "user.create"}, ["user.create", "user.create"]),
        ({"entityType": "team"}, ["team.create"]),
        ({"actor": "system"}, ["org.create"]),
    ],
)
async def test_filter_by_action_entity_type_and_actor(tenant, api, history, flt, expected_actions):
    secret = await api.token(tenant, tenant.admin_user)
    page = await _page(api, secret, filter=flt)
    assert [e["node"]["action"] for e in page["edges"]] == expected_actions
    field = {"action": "action", "entityType": "entity_type", "actor": "actor"}[next(iter(flt))]
    assert [e["node"]["seq"] for e in page["edges"]] == await _seqs(
        tenant.org_id, **{field: next(iter(flt.values()))}
    )


async def test_filter_by_actor_names_who_acted(tenant, api, history):
    secret = await api.token(tenant, tenant.admin_user)
    actor = f"user:{history['second'].user_id}"
    page = await _page(api, secret, filter={"actor": actor})
    assert [(e["node"]["action"], e["node"]["actor"]) for e in page["edges"]] == [
        ("team.create", actor),
        ("user.create", actor),
    ]


async def test_filter_by_entity(tenant, api, history):
    secret = await api.token(tenant, tenant.admin_user)
    alice = str(history["alice"].id)
    page = await _page(api, secret, filter={"entityType": "user", "entityId": alice})
    assert [(e["node"]["action"], e["node"]["entityId"]) for e in page["edges"]] == [
        ("user.roles_change", alice),
        ("user.create", alice),
    ]
    assert page["edges"][0]["node"]["newValues"] == {"roles": ["operator"]}


async def test_filter_since_until_is_half_open(tenant, api, history):
    secret = await api.token(tenant, tenant.admin_user)
    rows = await AuditEvent.filter(org_id=tenant.org_id).order_by("seq")
    middle = rows[len(rows) // 2]
    since = parse_ts(middle.ts)

    after = await _page(api, secret, filter={"since": since.isoformat()})
    assert [e["node"]["seq"] for e in after["edges"]] == [
        r.seq for r in reversed(rows) if r.ts >= middle.ts
    ]
    assert after["edges"][-1]["node"]["seq"] <= middle.seq  # inclusive lower bound

    before = await _page(api, secret, filter={"until": since.isoformat()})
    assert [e["node"]["seq"] for e in before["edges"]] == [
        r.seq for r in reversed(rows) if r.ts < middle.ts
    ]
    assert middle.seq not in [e["node"]["seq"] for e in before["edges"]]  # exclusive upper

    # A window given in another timezone means the same instant.
    plus2 = since.astimezone(timezone(timedelta(hours=2)))
    until = since + timedelta(microseconds=1)
    window = await _page(
        api, secret, filter={"since": plus2.isoformat(), "until": until.isoformat()}
    )
    assert [e["node"]["seq"] for e in window["edges"]] == [
        r.seq for r in reversed(rows) if r.ts == middle.ts
    ]


async def test_keyset_pagination_is_complete_and_stable_under_appends(tenant, api, history):
    secret = await api.token(tenant, tenant.admin_user)
    expected = await _seqs(tenant.org_id)
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        page = await _page(api, secret, first=2, after=after)
        pages += 1
        nodes = [e["node"]["seq"] for e in page["edges"]]
        assert 1 <= len(nodes) <= 2
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        seen += nodes
        # Someone acts between pages: new events get higher seqs and never shift our pages.
        await create_user(
            tenant.admin,
            email=f"between-{pages}-{tenant.slug}@ex.test",
            name=f"Between {pages}",
            roles=["viewer"],
        )
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == expected  # no duplicates, no gaps, same order
    assert pages == (len(expected) + 1) // 2
    assert len(await _seqs(tenant.org_id)) == len(expected) + pages


async def test_pagination_with_a_filter(tenant, api, history):
    secret = await api.token(tenant, tenant.admin_user)
    flt = {"entityType": "user"}
    expected = await _seqs(tenant.org_id, entity_type="user")
    first = await _page(api, secret, filter=flt, first=2)
    rest = await _page(api, secret, filter=flt, first=200, after=first["pageInfo"]["endCursor"])
    seqs = [e["node"]["seq"] for e in first["edges"] + rest["edges"]]
    assert seqs == expected and len(expected) == 3
    assert (first["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasNextPage"]) == (True, False)


async def test_empty_result_has_no_cursor(tenant, api):
    secret = await api.token(tenant, tenant.admin_user)
    page = await _page(api, secret, filter={"action": "nothing.like.this"})
    assert page == {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("variables", "field", "message"),
    [
        ({"first": 0}, "first", "first must be between 1 and 200."),
        ({"first": 201}, "first", "first must be between 1 and 200."),
        ({"first": -1}, "first", "first must be between 1 and 200."),
        *[
            (
                {"first": 2, "after": bad},
                "after",
                "after: not a cursor returned by this API; pass a pageInfo.endCursor.",
            )
            for bad in (
                "garbage!",
                "abc",
                _cursor("user:5"),
                _cursor("audit:five"),
                _cursor("audit:99999999999999999999999"),
                _cursor("audit:-3"),
                "\u00e9\u00e9\u00e9\u00e9",
            )
        ],
        (
            {"first": 5, "filter": {"action": "x" * 121}},
            "action",
            "Action is 121 characters long; the limit is 120.",
        ),
    ],
)
async def test_bad_arguments_are_invalid(tenant, api, snapshot, variables, field, message):
    secret = await api.token(tenant, tenant.admin_user)
    before = await snapshot(tenant.org_id)
    body = await api.gql(secret, EVENTS, variables)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"] == message
    assert error["extensions"] == {"code": "INVALID", "field": field}
    assert error["path"] == ["auditEvents"]
    assert await snapshot(tenant.org_id) == before


@pytest.mark.parametrize("role", ["viewer", "operator", "strategist"])
async def test_roles_without_audit_read_are_forbidden(tenant, api, role):
    user, _ = await tenant.user(role)
    secret = await api.token(tenant, user)
    body = await api.gql(secret, EVENTS, {"first": 5})
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "FORBIDDEN", "field": None}
    assert error["message"] == (
        f"Your roles ({role}) do not allow 'audit.read'. "
        "Ask an admin of your organization for a role that does."
    )


VERIFY = "{ auditVerification { ok eventsChecked headSeq headHash firstBadSeq reason summary } }"


@pytest.mark.parametrize("role", ["admin", "viewer", "compliance_reviewer"])
async def test_verification_is_ok_and_is_itself_audited(tenant, api, history, role):
    user, _ = await tenant.user(role)
    secret = await api.token(tenant, user)
    count = await AuditEvent.filter(org_id=tenant.org_id).count()
    head = await AuditEvent.get(org_id=tenant.org_id, seq=count)

    result = (await api.data(secret, VERIFY))["auditVerification"]

    assert result == {
        "ok": True,
        "eventsChecked": count,
        "headSeq": count,
        "headHash": head.hash,
        "firstBadSeq": None,
        "reason": None,
        "summary": f"org {tenant.org_id}: OK, {count} events, head seq {count}",
    }
    access = await AuditEvent.get(org_id=tenant.org_id, seq=count + 1)
    assert (access.action, access.entity_type, access.entity_id) == (
        "audit.verify",
        "audit_chain",
        str(tenant.org_id),
    )
    assert access.actor_type == "token"
    assert access.new_values == f'{{"first_bad_seq":null,"head_seq":{count},"ok":true}}'
    assert await AuditEvent.filter(org_id=tenant.org_id).count() == count + 1


async def test_verification_needs_audit_verify(tenant, api, snapshot):
    user, _ = await tenant.user("strategist")
    secret = await api.token(tenant, user)
    before = await snapshot(tenant.org_id)
    body = await api.gql(secret, VERIFY)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await snapshot(tenant.org_id) == before  # a refused verification is not recorded
