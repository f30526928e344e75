"""The faces of "My work": the GraphQL `myWork` (the home page's structure for a dashboard) and
the home page `/` for each role: each item a link with its count, empty sections in words, one
line per role, no permission matrix."""

from __future__ import annotations

from typing import Any

from riskops.server.core.permissions import PERM_TEXT, ROLE_TEXT, Perm, Role
from riskops.server.triage.models import AlertStatus, CaseStatus
from tests.work.world import alert, case

MY_WORK = """
{ myWork { roles { role text }
  sections { key title emptyText
    items { key label count exact link detail entries { label link state reason } } } } }
"""


async def test_my_work_over_graphql(api: Any, tenant: Any, other_tenant: Any) -> None:
    user, _ = await tenant.user("strategist")
    await alert(tenant.org_id, assignee=user.id, status=AlertStatus.ASSIGNED, overdue=True)
    await alert(other_tenant.org_id, assignee=user.id, status=AlertStatus.ASSIGNED)
    data = (await api.data(await api.token(tenant, user), MY_WORK))["myWork"]
    assert data["roles"] == [{"role": "strategist", "text": ROLE_TEXT[Role.STRATEGIST]}]
    sections = {s["key"]: s for s in data["sections"]}
    assert list(sections) == ["response", "alerts", "views", "requests"]
    assert sections["alerts"]["items"] == [
        {"key": "alerts.assigned", "label": "Assigned", "count": 1, "exact": True,
         "link": "/alerts?assignee=me&status=assigned", "detail": "", "entries": []},
        {"key": "alerts.overdue", "label": "Past their SLA", "count": 1, "exact": True,
         "link": "/alerts?assignee=me&status=new&status=assigned&status=escalated"
                 "&status=pending_info&sort=due",
         "detail": "oldest due first", "entries": []},
    ]  # fmt: skip
    assert sections["views"]["items"] == [] and sections["views"]["emptyText"]


async def test_my_work_over_graphql_for_an_approver_and_a_service_token(
    api: Any, tenant: Any
) -> None:
    operator, _ = await tenant.user("operator")
    approver, _ = await tenant.user("approver")
    pending = await case(
        tenant.org_id, status=CaseStatus.PENDING_APPROVAL, requested_by=operator.id
    )
    data = (await api.data(await api.token(tenant, approver), MY_WORK))["myWork"]
    decisions = next(s for s in data["sections"] if s["key"] == "decisions")
    assert [(i["key"], i["count"], i["link"]) for i in decisions["items"]] == [
        ("decide.case_resolutions", 1, f"/cases/{pending.id}")
    ]
    mine = (await api.data(await api.token(tenant, operator), MY_WORK))["myWork"]
    assert "decisions" not in [s["key"] for s in mine["sections"]]
    requests = next(s for s in mine["sections"] if s["key"] == "requests")
    assert requests["items"][0]["entries"][0]["state"] == "waiting for an approver"


async def test_my_work_needs_a_sign_in(api: Any) -> None:
    r = await api.post(None, MY_WORK)
    assert r.status_code == 401
    assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


ROLES = ["strategist", "operator", "approver", "compliance_reviewer", "product_reviewer",
         "viewer", "admin"]  # fmt: skip


async def test_the_home_page_for_each_role(browser: Any, tenant: Any) -> None:
    titles = {"alerts": "Assigned to me", "views": "My views",
              "decisions": "Waiting for my decision", "requests": "My requests",
              "runs": "Open SEV0/SEV1 runs"}  # fmt: skip
    empty = {"alerts": "No open alert is assigned to you.",
             "decisions": "Nothing waits for your decision.",
             "runs": "No SEV0 or SEV1 run is open."}  # fmt: skip
    shown = {
        "strategist": {"alerts", "views", "requests"},
        "operator": {"views", "requests", "runs"},
        "approver": {"views", "decisions", "requests", "runs"},
        "compliance_reviewer": {"decisions"},
        "product_reviewer": {"decisions"},
        "viewer": {"views", "runs"},
        "admin": set(),
    }
    for role in ROLES:
        user, _ = await tenant.user(role)
        b = await browser(user, tenant.password)
        r = await b.get("/")
        assert r.status_code == 200, role
        html = r.text
        for key, title in titles.items():
            assert (f'id="work-{key}"' in html) == (key in shown[role]), (role, key)
            if key in shown[role]:
                assert title in html, (role, key)
                if key in empty:
                    assert empty[key] in html, (role, key)
        assert ROLE_TEXT[Role(role)] in html, role
        # The matrix stays on the admin side: no list of permissions on the home.
        assert "What you can do" not in html
        assert PERM_TEXT[Perm.USER_READ] not in html


async def test_the_home_page_links_each_count(browser: Any, tenant: Any) -> None:
    user, _ = await tenant.user("strategist")
    for _ in range(4):
        await alert(tenant.org_id, assignee=user.id, status=AlertStatus.NEW)
    await alert(tenant.org_id, assignee=user.id, status=AlertStatus.ASSIGNED, overdue=True)
    html = (await (await browser(user, tenant.password)).get("/")).text
    assert 'href="/alerts?assignee=me&amp;status=new"' in html
    assert '<span class="count">4</span>' in html
    assert "Past their SLA" in html and "oldest due first" in html
