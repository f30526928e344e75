"""View promotion over GraphQL with bearer tokens, on SQLite and PostgreSQL: request, the
request with its change in words and what the caller may do, both reviews, the published
versions; errors as data (INVALID rationale, FORBIDDEN self-review, CONFLICT with the current
state, a decline's reason), and another organization's request reads as missing."""

from __future__ import annotations

from typing import Any

from riskops.jobs import runner
from tests.views.test_promotion_flow import alerts, make_view

ERRORS = "errors { code message field }"
NODE = """id status version rationale requestedBy { name } name
  view { id name scope }
  proposed { words } current { words } changes { part before after words }
  rowsSelected rowsCap tookMs problems jobError jobAttempts declineReason publishedNumber
  reviews { reviewer { name } role decision note }
  reviewRoles canWithdraw own"""

REQUEST = f"""
mutation($view: ID!, $why: String!, $v: Int!, $key: String) {{
  requestViewPromotion(viewId: $view, rationale: $why, expectedVersion: $v,
                       idempotencyKey: $key) {{ request {{ {NODE} }} replayed {ERRORS} }}
}}"""

REVIEW = f"""
mutation($id: ID!, $d: ViewReviewDecision!, $v: Int!, $note: String, $role: ViewReviewRole) {{
  reviewViewPromotion(requestId: $id, decision: $d, expectedVersion: $v, note: $note,
                      role: $role) {{ request {{ {NODE} }} {ERRORS} }}
}}"""

WITHDRAW = f"""
mutation($id: ID!, $v: Int!) {{
  withdrawViewPromotion(requestId: $id, expectedVersion: $v) {{ request {{ id status }} {ERRORS} }}
}}"""

ONE = f"query($id: ID!) {{ viewPromotionRequest(id: $id) {{ {NODE} }} }}"
LIST = """query($s: [ViewPromotionStatus!], $mine: Boolean!) {
  viewPromotionRequests(status: $s, mine: $mine) { id status } }"""
VERSIONS = """query($view: ID!) { viewVersions(viewId: $view) {
  number name definition { words } requestedBy { name }
  approvals { reviewer { name } role note } } }"""


async def callers(api: Any, tenant: Any) -> dict[str, Any]:
    out = {}
    for key, role, name in (
        ("maker", "strategist", "Sam Strategist"),
        ("compliance", "compliance_reviewer", "Cleo Compliance"),
        ("product", "product_reviewer", "Pia Product"),
    ):
        user, principal = await tenant.user(role, name=name)
        out[key] = principal
        out[f"{key}_token"] = await api.token(tenant, user)
    return out


async def test_request_review_and_publish_over_graphql(api, tenant, other_tenant) -> None:
    c = await callers(api, tenant)
    await alerts(tenant.admin, high=2, low=1)
    view = await make_view(c["maker"])

    bad = await api.data(c["maker_token"], REQUEST, {"view": str(view.id), "why": " ", "v": 1})
    assert bad["requestViewPromotion"]["errors"][0]["code"] == "INVALID"
    assert bad["requestViewPromotion"]["errors"][0]["field"] == "rationale"

    out = await api.data(
        c["maker_token"], REQUEST, {"view": str(view.id), "why": "For everyone", "v": 1}
    )
    payload = out["requestViewPromotion"]
    assert payload["errors"] == [] and payload["request"]["status"] == "VALIDATING"
    rid = payload["request"]["id"]
    await runner.drain()

    node = (await api.data(c["compliance_token"], ONE, {"id": rid}))["viewPromotionRequest"]
    assert node["status"] == "PENDING_REVIEW" and node["rowsSelected"] == 2
    assert node["requestedBy"]["name"] == "Sam Strategist"
    assert node["reviewRoles"] == ["COMPLIANCE_REVIEWER"] and not node["own"]
    assert node["current"] is None and "Priority: high" in node["proposed"]["words"]
    assert node["changes"][0]["words"] == "Priority: added, high"
    assert node["view"]["name"] == view.name

    mine = (await api.data(c["maker_token"], ONE, {"id": rid}))["viewPromotionRequest"]
    assert mine["own"] and mine["canWithdraw"] and mine["reviewRoles"] == []
    own = await api.data(
        c["maker_token"], REVIEW, {"id": rid, "d": "APPROVE", "v": node["version"]}
    )
    assert own["reviewViewPromotion"]["errors"][0]["code"] == "FORBIDDEN"

    stale = await api.data(c["compliance_token"], REVIEW, {"id": rid, "d": "APPROVE", "v": 1})
    err = stale["reviewViewPromotion"]
    assert err["errors"][0]["code"] == "CONFLICT" and err["request"]["version"] == node["version"]

    v = node["version"]
    for who in ("compliance", "product"):
        done = await api.data(
            c[f"{who}_token"], REVIEW, {"id": rid, "d": "APPROVE", "v": v, "note": f"ok {who}"}
        )
        assert done["reviewViewPromotion"]["errors"] == [], done
        v = done["reviewViewPromotion"]["request"]["version"]
    await runner.drain()
    node = (await api.data(c["maker_token"], ONE, {"id": rid}))["viewPromotionRequest"]
    assert (node["status"], node["publishedNumber"]) == ("PUBLISHED", 1)
    assert [(r["role"], r["note"]) for r in node["reviews"]] == [
        ("COMPLIANCE_REVIEWER", "ok compliance"), ("PRODUCT_REVIEWER", "ok product"),
    ]  # fmt: skip
    assert node["view"]["scope"] == "STANDARD"

    versions = await api.data(c["maker_token"], VERSIONS, {"view": str(view.id)})
    [v1] = versions["viewVersions"]
    assert v1["number"] == 1 and v1["requestedBy"]["name"] == "Sam Strategist"
    assert [a["reviewer"]["name"] for a in v1["approvals"]] == ["Cleo Compliance", "Pia Product"]

    listed = await api.data(c["maker_token"], LIST, {"s": ["PUBLISHED"], "mine": True})
    assert [r["id"] for r in listed["viewPromotionRequests"]] == [rid]

    # Another organization's reviewer: the request does not exist for them.
    _, outsider = await other_tenant.user("compliance_reviewer")
    outsider_user = await _user(outsider)
    token = await api.token(other_tenant, outsider_user)
    assert (await api.data(token, ONE, {"id": rid}))["viewPromotionRequest"] is None
    missing = await api.data(token, REVIEW, {"id": rid, "d": "APPROVE", "v": v})
    assert missing["reviewViewPromotion"]["errors"][0]["code"] == "NOT_FOUND"


async def test_decline_and_withdraw_over_graphql(api, tenant) -> None:
    c = await callers(api, tenant)
    view = await make_view(c["maker"])
    vars_ = {"view": str(view.id), "why": "For everyone", "v": 1}
    rid = (await api.data(c["maker_token"], REQUEST, vars_))["requestViewPromotion"]["request"][
        "id"
    ]
    await runner.drain()
    node = (await api.data(c["product_token"], ONE, {"id": rid}))["viewPromotionRequest"]
    no_note = await api.data(
        c["product_token"], REVIEW, {"id": rid, "d": "DECLINE", "v": node["version"]}
    )
    assert no_note["reviewViewPromotion"]["errors"][0]["field"] == "note"
    declined = await api.data(
        c["product_token"], REVIEW,
        {"id": rid, "d": "DECLINE", "v": node["version"], "note": "Too narrow."},
    )  # fmt: skip
    req = declined["reviewViewPromotion"]["request"]
    assert (req["status"], req["declineReason"]) == ("DECLINED", "Too narrow.")

    view = await view.__class__.get(id=view.id)
    again = await api.data(c["maker_token"], REQUEST, {**vars_, "v": view.version})
    second = again["requestViewPromotion"]["request"]
    await runner.drain()
    node = (await api.data(c["maker_token"], ONE, {"id": second["id"]}))["viewPromotionRequest"]
    out = await api.data(c["maker_token"], WITHDRAW, {"id": second["id"], "v": node["version"]})
    assert out["withdrawViewPromotion"]["request"]["status"] == "WITHDRAWN"


async def _user(principal: Any) -> Any:
    from riskops.server.identity.models import User

    return await User.get(id=principal.user_id)
