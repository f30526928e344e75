"""The saved-view pages, driven like a browser: /views, a view and its actions, its history, the
promotion requests and a request with its diff and review forms, and the queue pages' view
picker and "Save as view". Each refused POST is checked to have changed nothing."""

from __future__ import annotations

import re
import uuid
from typing import Any

from riskops.jobs import runner
from riskops.server.triage import ingest as alert_ingest
from riskops.server.views import preferences, promotion, service
from riskops.server.views.models import (
    SavedView,
    ViewPreference,
    ViewPromotionRequest,
    ViewReview,
)
from tests.support.gql import changes_head
from tests.support.pages import flash_code

HX = {"HX-Request": "true"}


async def audit_seq(org_id: int) -> int:
    head = await changes_head(org_id)
    return head.seq if head else 0


async def signed_in(browser: Any, tenant: Any, *roles: str, name: str | None = None) -> Any:
    user, principal = await tenant.user(*roles, name=name)
    b = await browser(user, tenant.password)
    b.user, b.principal = user, principal
    return b


async def alerts(tenant: Any, *specs: tuple[str, str]) -> list[int]:
    """Alerts (title, priority) of the tenant."""
    _, strategist = await tenant.user("strategist")
    items = [
        {"external_id": f"ext-{uuid.uuid4().hex[:10]}", "source": "card-rules", "title": title,
         "score": 60.0, "priority": priority}
        for title, priority in specs
    ]  # fmt: skip
    result = await alert_ingest.ingest_alerts(strategist, items)
    assert not result.errors, result.errors
    return [c.alert_id for c in result.created]


def row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr id="alert-row-(\d+)"', html)]


async def view_state(view_id: int) -> tuple[Any, ...]:
    v = await SavedView.get(id=view_id)
    prefs = await ViewPreference.filter(view_id=view_id).values_list("is_default", "pinned")
    promotions = await ViewPromotionRequest.filter(view_id=view_id).count()
    return (v.name, v.description, v.definition, v.scope, v.team_id, v.status, v.version,
            v.draft, sorted(prefs), promotions)  # fmt: skip


async def personal_view(principal: Any, name: str = "High new", **filters: Any) -> SavedView:
    definition = {"filters": filters or {"priority": ["high"]}, "columns": [], "sort": "score"}
    result = await service.save_view(principal, queue="alerts", name=name, definition=definition)
    return result.view


# ----------------------------------------------------------------------------- each role


async def test_pages_for_each_role(browser: Any, tenant: Any) -> None:
    owner = await signed_in(browser, tenant, "strategist", name="Sam Strategist")
    view = await personal_view(owner.principal)
    for roles, status in [
        (("strategist",), 200),
        (("operator",), 200),
        (("approver",), 200),
        (("compliance_reviewer",), 200),
        (("product_reviewer",), 200),
        (("viewer",), 200),  # applies the standard views
        (("admin",), 403),  # reads no queue: takes no part in views
    ]:
        b = await signed_in(browser, tenant, *roles)
        r = await b.get("/views")
        assert r.status_code == status, (roles, r.text[:500])
        r = await b.get("/views/requests")
        assert r.status_code == status, (roles, r.text[:500])
        # Somebody else's personal view: not found, whoever may take part in views.
        r = await b.get(f"/views/{view.id}")
        assert r.status_code == (404 if status == 200 else 403), roles
    r = await owner.get("/views")
    assert "High new" in r.text and f'href="/alerts?view={view.id}"' in r.text
    r = await owner.get(f"/views/{view.id}")
    assert r.status_code == 200
    assert "Priority: high" in r.text and "Request promotion" in r.text
    nav = await owner.get("/")
    assert 'href="/views"' in nav.text
    viewer = await signed_in(browser, tenant, "viewer")
    assert 'href="/views"' not in (await viewer.get("/")).text


async def test_another_orgs_view_and_request_look_not_found(
    browser: Any, tenant: Any, other_tenant: Any
) -> None:
    _, stranger = await other_tenant.user("strategist")
    view = await personal_view(stranger)
    req = await promotion.request_promotion(
        stranger, view.id, rationale="For all", expected_version=view.version
    )
    b = await signed_in(browser, tenant, "strategist")
    reviewer = await signed_in(browser, tenant, "compliance_reviewer")
    before = await view_state(view.id)
    for url in (f"/views/{view.id}", f"/views/{view.id}/history"):
        assert (await b.get(url)).status_code == 404
    assert (await reviewer.get(f"/views/requests/{req.request.id}")).status_code == 404
    await b.get("/views")
    for action, data in [
        ("update", {"name": "Mine now", "expected_version": 1}),
        ("share", {"team_id": "", "expected_version": 1}),
        ("archive", {"expected_version": 1}),
        ("restore", {"expected_version": 1}),
        ("default", {"on": "1"}),
        ("pin", {"on": "1"}),
        ("promote", {"rationale": "x", "expected_version": 1}),
    ]:
        r = await b.post(f"/views/{view.id}/{action}", data)
        assert r.status_code == 404, (action, r.text[:300])
    await reviewer.get("/views/requests")
    r = await reviewer.post(f"/views/requests/{req.request.id}/review",
                            {"decision": "approve", "note": "", "expected_version": 1})  # fmt: skip
    assert r.status_code == 404
    assert await view_state(view.id) == before


# ----------------------------------------------------------------------------- the view's actions


async def test_view_actions_and_their_refusals(browser: Any, tenant: Any) -> None:
    b = await signed_in(browser, tenant, "strategist", name="Sam Strategist")
    view = await personal_view(b.principal)
    path = f"/views/{view.id}"
    await b.get(path)

    # Bad input: named in the page's words, nothing changed.
    before, seq = await view_state(view.id), await audit_seq(tenant.org_id)
    r = await b.post(f"{path}/update", {"name": "", "description": "", "expected_version": 1},
                     headers=HX)  # fmt: skip
    assert r.status_code == 422
    assert 'id="name-error"' in r.text and "Name" in r.text
    r = await b.post(f"{path}/update", {"name": "x" * 121, "expected_version": 1})
    assert r.status_code == 422 and 'id="name-error"' in r.text
    r = await b.post(f"{path}/promote", {"rationale": "", "expected_version": 1})
    assert r.status_code == 422 and 'id="rationale-error"' in r.text
    assert await view_state(view.id) == before and await audit_seq(tenant.org_id) == seq

    # Stale version: nothing changed, the page shows the view as it is now.
    r = await b.post(f"{path}/update", {"name": "Renamed", "expected_version": 1})
    assert r.status_code == 303 and flash_code(r) == "view.updated"
    before = await view_state(view.id)
    r = await b.post(f"{path}/update", {"name": "Again", "expected_version": 1})
    assert r.status_code == 409 and "Nothing was changed." in r.text
    assert 'value="Again"' in r.text  # what was typed is kept
    assert await view_state(view.id) == before

    # Wrong role: a reviewer may not change a view (and sees none: not found).
    reviewer = await signed_in(browser, tenant, "compliance_reviewer")
    await reviewer.get("/views")
    r = await reviewer.post(f"{path}/update", {"name": "Mine", "expected_version": 2})
    assert r.status_code in (403, 404)
    assert await view_state(view.id) == before

    for action, data, code in [
        ("default", {"on": "1"}, "view.default_set"),
        ("pin", {"on": "1"}, "view.pinned"),
        ("archive", {"expected_version": 2}, "view.archived"),
        ("restore", {"expected_version": 3}, "view.restored"),
    ]:
        r = await b.post(f"{path}/{action}", data)
        assert r.status_code == 303 and flash_code(r) == code, (action, r.text[:500])
    page = await b.get(path)
    assert "your default" in page.text and "pinned" in page.text

    r = await b.post(f"{path}/promote", {"rationale": "Everyone needs it", "expected_version": 4})
    assert r.status_code == 303 and flash_code(r) == "view.promotion_requested"
    assert r.headers["location"].startswith("/views/requests/")


async def test_default_view_applies_on_the_queue_and_show_all(browser: Any, tenant: Any) -> None:
    high, low = await alerts(tenant, ("Wire high", "high"), ("Wire low", "low"))
    b = await signed_in(browser, tenant, "strategist")
    view = await personal_view(b.principal, name="Only high")
    await preferences.set_default_view(b.principal, "alerts", view.id)
    r = await b.get("/alerts")
    assert "Showing your default view “Only high”" in r.text
    assert high in row_ids(r.text) and low not in row_ids(r.text)
    r = await b.get("/alerts?all=1")
    assert {high, low} <= set(row_ids(r.text))
    # A shareable address; the caller's filters narrow it, never widen it.
    r = await b.get(f"/alerts?view={view.id}&priority=low")
    assert high not in row_ids(r.text) and low not in row_ids(r.text)


async def test_save_as_view_from_the_queue(browser: Any, tenant: Any) -> None:
    high, low = await alerts(tenant, ("Card high", "high"), ("Card low", "low"))
    b = await signed_in(browser, tenant, "strategist")
    page = await b.get("/alerts?priority=high&sort=created")
    assert "Save as view" in page.text
    data = {"queue": "alerts", "q": "priority=high&sort=created", "page_q": "priority=high",
            "name": "", "columns": ["title", "score"]}  # fmt: skip
    seq = await audit_seq(tenant.org_id)
    r = await b.post("/views", data)
    assert r.status_code == 422 and 'id="name-error"' in r.text
    r = await b.post("/views", {**data, "q": "score_min=abc"})
    assert r.status_code == 422 and "not a number" in r.text
    assert await audit_seq(tenant.org_id) == seq
    r = await b.post("/views", {**data, "name": "High, newest"})
    assert r.status_code == 303 and flash_code(r) == "view.created"
    view = await SavedView.get(org_id=tenant.org_id, name="High, newest")
    assert view.definition["filters"] == {"priority": ["high"]}
    assert view.definition["sort"] == "created" and view.definition["columns"] == ["title", "score"]
    r = await b.get(r.headers["location"])
    assert high in row_ids(r.text) and low not in row_ids(r.text)
    assert "<th>Title</th>" in r.text and "<th>Priority</th>" not in r.text
    # The same name again: a conflict under the name.
    r = await b.post("/views", {**data, "name": "high, NEWEST"})
    assert r.status_code in (409, 422) and 'id="name-error"' in r.text


# ----------------------------------------------------------------------------- promotion


async def test_request_page_review_and_decline(browser: Any, tenant: Any) -> None:
    await alerts(tenant, ("High one", "high"))
    maker = await signed_in(browser, tenant, "strategist", name="Sam Strategist")
    view = await personal_view(maker.principal)
    req = (
        await promotion.request_promotion(
            maker.principal, view.id, rationale="All teams", expected_version=view.version
        )
    ).request
    await runner.drain()
    path = f"/views/requests/{req.id}"
    r = await maker.get(path)
    assert r.status_code == 200
    assert "Proposed definition" in r.text
    assert "<th>Part</th><th>Now</th><th>Proposed</th>" in r.text
    assert "Priority" in r.text and "Withdraw the request" in r.text

    compliance = await signed_in(browser, tenant, "compliance_reviewer", name="Cora Compliance")
    r = await compliance.get("/views/requests")
    assert f'href="{path}"' in r.text
    r = await compliance.get(path)
    assert "Approve" in r.text and "Decline" in r.text
    current = await ViewPromotionRequest.get(id=req.id)
    # Declining needs a note: named, nothing changed.
    r = await compliance.post(f"{path}/review", {"decision": "decline", "note": "",
                                                 "expected_version": current.version})  # fmt: skip
    assert r.status_code == 422 and 'id="note-error"' in r.text
    assert await ViewReview.filter(request_id=req.id).count() == 0
    # Stale version.
    stale = {"decision": "approve", "note": "", "expected_version": current.version + 5}
    r = await compliance.post(f"{path}/review", stale)
    assert r.status_code == 409 and "Nothing was changed." in r.text
    # The requester may not review (not a reviewer at all: forbidden).
    r = await maker.post(f"{path}/review", {"decision": "approve", "note": "",
                                            "expected_version": current.version})  # fmt: skip
    assert r.status_code == 403
    r = await compliance.post(f"{path}/review", {"decision": "decline", "note": "Too broad",
                                                 "expected_version": current.version})  # fmt: skip
    assert r.status_code == 303 and flash_code(r) == "view.promotion_declined"
    r = await maker.get("/views/requests")
    assert "Too broad" in r.text
    r = await maker.get(path)
    assert "Declined." in r.text and "Too broad" in r.text


async def test_both_approve_publish_and_history(browser: Any, tenant: Any) -> None:
    await alerts(tenant, ("High one", "high"))
    maker = await signed_in(browser, tenant, "strategist", name="Sam Strategist")
    view = await personal_view(maker.principal, name="Team high")
    req = (
        await promotion.request_promotion(
            maker.principal, view.id, rationale="All teams", expected_version=view.version
        )
    ).request
    await runner.drain()
    path = f"/views/requests/{req.id}"
    for role in ("compliance_reviewer", "product_reviewer"):
        b = await signed_in(browser, tenant, role)
        current = await ViewPromotionRequest.get(id=req.id)
        r = await b.post(f"{path}/review", {"decision": "approve", "note": "ok",
                                            "expected_version": current.version})  # fmt: skip
        assert r.status_code == 303, r.text[:800]
    await runner.drain()
    done = await ViewPromotionRequest.get(id=req.id)
    assert done.status.value == "published"
    other = await signed_in(browser, tenant, "strategist")
    r = await other.get("/views")
    assert "Team high" in r.text and "Standard" in r.text
    r = await other.get(f"/views/{view.id}/history")
    assert r.status_code == 200 and "Version 1" in r.text and "compliance reviewer" in r.text


async def test_share_with_my_team_and_refusals(browser: Any, tenant: Any) -> None:
    from riskops.server.identity import teams

    b = await signed_in(browser, tenant, "strategist")
    mate = await signed_in(browser, tenant, "strategist")
    mine = await teams.create_team(tenant.admin, name="Desk A",
                                   member_ids=[str(b.user.id), str(mate.user.id)])  # fmt: skip
    theirs = await teams.create_team(tenant.admin, name="Desk B", member_ids=[str(mate.user.id)])
    view = await personal_view(b.principal)
    path = f"/views/{view.id}"
    page = await b.get(path)
    assert "my team Desk A" in page.text and "Desk B" not in page.text
    before = await view_state(view.id)
    r = await b.post(f"{path}/share", {"team_id": str(theirs.id), "expected_version": 1})
    assert r.status_code == 422 and 'id="team_id-error"' in r.text  # not one of my teams
    assert await view_state(view.id) == before
    assert (await mate.get(path)).status_code == 404  # personal: the owner's only
    r = await b.post(f"{path}/share", {"team_id": str(mine.id), "expected_version": 1})
    assert r.status_code == 303 and flash_code(r) == "view.shared"
    page = await mate.get(path)
    assert page.status_code == 200 and "shared with Desk A" in page.text
    assert "Archive" not in page.text  # a team member applies it; the owner changes it
    await mate.get("/views")
    r = await mate.post(f"{path}/archive", {"expected_version": 2})
    assert r.status_code == 403 and await view_state(view.id) != before


async def test_a_job_failure_shows_on_the_request(browser: Any, tenant: Any) -> None:
    maker = await signed_in(browser, tenant, "strategist")
    view = await personal_view(maker.principal)
    req = (
        await promotion.request_promotion(
            maker.principal, view.id, rationale="All teams", expected_version=view.version
        )
    ).request
    await runner.drain()
    await ViewPromotionRequest.filter(id=req.id).update(
        job_error="OperationalError: database is locked", job_attempts=2
    )
    r = await maker.get(f"/views/requests/{req.id}")
    assert "Last job failure" in r.text and "database is locked" in r.text
    assert "Failed job attempts" in r.text


async def test_a_runs_ledger_view_from_save_to_picker(browser: Any, tenant: Any) -> None:
    from tests.credit.test_run_pages import item, key, record, with_baseline

    k1, k2 = key(), key()
    for k in (k1, k2):
        await with_baseline(tenant, k)
    (mine,) = await record(tenant, item(k1, 95.0))
    (other,) = await record(tenant, item(k2, 96.0))
    b = await signed_in(browser, tenant, "operator")
    page = await b.get(f"/runs?scenario={k1}")
    assert "Save as view" in page.text
    form = {"queue": "runs", "q": f"scenario={k1}", "page_q": f"scenario={k1}",
            "name": "One scenario", "columns": ["run", "scenario"]}  # fmt: skip
    r = await b.post("/views", form)
    assert r.status_code == 303 and flash_code(r) == "view.created", r.text[:500]
    r = await b.get(r.headers["location"])
    assert f'id="run-{mine.id}"' in r.text and f'id="run-{other.id}"' not in r.text
    thead = r.text.split('<table class="data run-ledger">', 1)[1].split("</thead>", 1)[0]
    assert re.findall(r"<th[^>]*>([^<]+)</th>", thead) == ["Run", "Scenario"]
    assert "One scenario" in r.text  # picked in the picker
    # A strategist reads no runs ledger: no runs view, the view looks not found.
    view = await SavedView.get(org_id=tenant.org_id, name="One scenario")
    s = await signed_in(browser, tenant, "strategist")
    assert (await s.get(f"/views/{view.id}")).status_code == 404


async def test_a_reviewer_holding_both_roles_picks_one(browser: Any, tenant: Any) -> None:
    maker = await signed_in(browser, tenant, "strategist")
    view = await personal_view(maker.principal)
    req = (
        await promotion.request_promotion(
            maker.principal, view.id, rationale="All teams", expected_version=view.version
        )
    ).request
    await runner.drain()
    both = await signed_in(browser, tenant, "compliance_reviewer", "product_reviewer")
    path = f"/views/requests/{req.id}"
    page = await both.get(path)
    assert '<select name="role"' in page.text and "You hold both reviewer roles" in page.text
    version = (await ViewPromotionRequest.get(id=req.id)).version
    r = await both.post(f"{path}/review", {"decision": "approve", "note": "", "role": "",
                                           "expected_version": version})  # fmt: skip
    assert r.status_code == 422 and 'id="role-error"' in r.text
    assert await ViewReview.filter(request_id=req.id).count() == 0
    form = {"decision": "approve", "note": "", "role": "product_reviewer",
            "expected_version": version}  # fmt: skip
    r = await both.post(f"{path}/review", form)
    assert r.status_code == 303
    page = await both.get(path)
    assert f'action="{path}/review"' not in page.text  # reviewed once: no review form any more


async def test_a_queue_address_naming_another_orgs_view_reads_like_a_missing_one(
    browser: Any, tenant: Any, other_tenant: Any
) -> None:
    """`/alerts?view=…` and `/runs?view=…` (the shareable address): another organization's view,
    a missing one and a malformed id answer alike, in words, and never show the other
    organization's rows."""
    _, stranger = await other_tenant.user("strategist")
    theirs = await personal_view(stranger)
    b = await signed_in(browser, tenant, "strategist", "viewer")
    for path in ("/alerts", "/runs"):
        foreign = await b.get(f"{path}?view={theirs.id}")
        missing = await b.get(f"{path}?view=999999999")
        malformed = await b.get(f"{path}?view=abc")
        assert foreign.status_code == missing.status_code, path
        assert malformed.status_code == missing.status_code, path
        assert "View abc not found" in malformed.text, (path, malformed.text[:500])
        assert f"View {theirs.id} not found" in foreign.text, (path, foreign.text[:500])
        assert "View 999999999 not found" in missing.text, path
        assert theirs.name not in foreign.text
