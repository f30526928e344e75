"""The case pages, driven like a browser: the list and its filters, opening a case from alerts,
notes, links, fields, and the maker-checker resolution. Each refused action is checked to have
changed nothing (same case row, notes, links, history and audit head)."""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import Any

from riskops.audit.models import AuditEvent
from riskops.server.core.principal import Principal
from riskops.server.triage import case_create, case_resolution, ingest
from riskops.server.triage import cases as case_svc
from riskops.server.triage.models import (
    Alert,
    Case,
    CaseAlert,
    CaseEvent,
    CaseNote,
    CaseStatus,
)
from riskops.ui.triage import cases as case_pages
from tests.support.gql import changes_head
from tests.support.pages import flash_code


async def audit_seq(org_id: int) -> int:
    head = await changes_head(org_id)
    return head.seq if head else 0


async def new_alerts(
    principal: Principal, n: int = 2, title: str = "Card testing burst"
) -> list[int]:
    items = [
        {"external_id": f"ext-{uuid.uuid4().hex[:10]}", "source": "card-rules", "title": title,
         "score": 80 - i, "priority": "high"}
        for i in range(n)
    ]  # fmt: skip
    ingester = dataclasses.replace(principal, roles=frozenset({"strategist"}))
    result = await ingest.ingest_alerts(ingester, items)
    assert result.errors == []
    return [c.alert_id for c in result.created]


async def new_case(
    principal: Principal, title: str = "Card testing", n: int = 1, **kw: Any
) -> Case:
    ids = await new_alerts(principal, n)
    result = await case_create.create_case(principal, title=title, alert_ids=ids, **kw)
    return result.case


async def snapshot(case_id: int, org_id: int) -> tuple[Any, ...]:
    c = await Case.get(id=case_id)
    return (
        c.status, c.version, c.root_cause, c.severity, c.assignee_id, c.requested_by_id,
        c.approved_by_id, c.resolved_at, c.resolution_summary,
        await CaseNote.filter(case_id=case_id).count(),
        sorted(await CaseAlert.filter(case_id=case_id).values_list("alert_id", flat=True)),
        await CaseEvent.filter(case_id=case_id).count(),
        await changes_audited(org_id),
    )  # fmt: skip


async def changes_audited(org_id: int) -> int:
    # A refused action re-renders the case page, and showing a case is audited as `case.view`;
    # the refusal is audited too (`permission.denied…`): every other event would be a change.
    return (
        await AuditEvent.filter(org_id=org_id)
        .exclude(action="case.view")
        .exclude(action__startswith="permission.denied")
        .count()
    )


async def signed_in(browser: Any, tenant: Any, *roles: str, name: str | None = None) -> Any:
    user, principal = await tenant.user(*roles, name=name)
    b = await browser(user, tenant.password)
    b.user, b.principal = user, principal
    return b


# ----------------------------------------------------------------------------- the list


async def test_list_filters_and_the_htmx_fragment(browser: Any, tenant: Any) -> None:
    b = await signed_in(browser, tenant, "strategist", name="Sam")
    card = await new_case(b.principal, title="Card testing ACME", severity="high")
    other = await new_case(b.principal, title="Wire fraud Globex", severity="low")
    await case_svc.update_case(b.principal, other.id, expected_version=1, status="investigating",
                               assignee_id=b.user.id)  # fmt: skip

    page = await b.get("/cases")
    assert page.status_code == 200
    assert "Card testing ACME" in page.text and "Wire fraud Globex" in page.text
    assert f'href="/cases/{card.id}"' in page.text and card.display_number in page.text
    assert 'hx-get="/cases" hx-target="#case-results" hx-push-url="true"' in page.text

    for params, shown, hidden in [
        ({"severity": "low"}, other, card),
        ({"status": "open"}, card, other),
        ({"assignee": str(b.user.id)}, other, card),
        ({"q": "acme"}, card, other),
        ({"q": card.display_number}, card, other),
        ({"q": str(other.number)}, other, card),
    ]:
        r = await b.get("/cases", params=params)
        assert r.status_code == 200, params
        assert shown.title in r.text and hidden.title not in r.text, params

    part = await b.get("/cases", params={"severity": "high"},
                       headers={"HX-Request": "true", "HX-Target": "case-results"})  # fmt: skip
    assert part.status_code == 200
    assert "<table" in part.text and "<html" not in part.text and "<form" not in part.text
    assert "Card testing ACME" in part.text and "Wire fraud Globex" not in part.text

    bad = await b.get("/cases", params={"status": "sleeping"})
    assert bad.status_code == 422
    assert "Status &#39;sleeping&#39; is unknown; choose one of open" in bad.text


async def test_list_loads_more_by_cursor(browser: Any, tenant: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(case_pages, "CASE_PAGE_SIZE", 2)
    b = await signed_in(browser, tenant, "strategist")
    made = [await new_case(b.principal, title=f"Paged case {i}") for i in range(3)]
    page = await b.get("/cases")
    assert "Paged case 2" in page.text and "Paged case 1" in page.text
    assert "Paged case 0" not in page.text
    more = re.search(r'id="case-more".*?hx-get="([^"]+)"', page.text, re.S)
    assert more
    rest = await b.get(more.group(1).replace("&amp;", "&"),
                       headers={"HX-Request": "true", "HX-Target": "case-more"})  # fmt: skip
    assert "<table" not in rest.text and "<html" not in rest.text
    assert "Paged case 0" in rest.text and f'id="case-{made[0].id}"' in rest.text
    assert 'id="case-more"' not in rest.text


# ----------------------------------------------------------------------------- create


async def test_create_from_alerts_redirects_to_the_case_with_its_alerts(
    browser: Any, tenant: Any
) -> None:
    b = await signed_in(browser, tenant, "strategist")
    ids = await new_alerts(b.principal, 2, title="Velocity spike")
    await b.get("/cases")
    # Exactly the fields the alert page posts: title, severity, repeated alert_ids.
    r = await b.post("/cases", {"title": "Velocity ring", "severity": "critical",
                                "alert_ids": [str(i) for i in ids]})  # fmt: skip
    assert r.status_code == 303
    case = await Case.get(org_id=tenant.org_id, title="Velocity ring")
    assert (r.headers["location"], flash_code(r)) == (f"/cases/{case.id}", "case.created")
    assert sorted(await CaseAlert.filter(case_id=case.id).values_list("alert_id", flat=True)) == (
        sorted(ids)
    )
    page = await b.get(r.headers["location"])
    assert page.status_code == 200
    assert "Case opened." in page.text and case.display_number in page.text
    for i in ids:
        assert f'href="/alerts/{i}"' in page.text
    assert page.text.count("Velocity spike") == 2

    # The list's own form types the ids in one field.
    more = await new_alerts(b.principal, 2)
    r = await b.post("/cases", {"title": "Typed", "severity": "low",
                                "alert_ids": f"{more[0]}, {more[1]}"})  # fmt: skip
    assert r.status_code == 303
    typed = await Case.get(org_id=tenant.org_id, title="Typed")
    assert await CaseAlert.filter(case_id=typed.id).count() == 2


async def test_create_without_a_title_is_inline_and_creates_nothing(
    browser: Any, tenant: Any, other_tenant: Any
) -> None:
    b = await signed_in(browser, tenant, "strategist")
    ids = await new_alerts(b.principal, 1)
    await b.get("/cases")
    before = (await Case.filter(org_id=tenant.org_id).count(), await audit_seq(tenant.org_id))
    ext = (await Alert.get(id=ids[0])).external_id
    r = await b.post("/cases", {"title": "", "severity": "high", "alert_external_ids": ext})
    assert r.status_code == 422
    assert "Title is required." in r.text and 'id="title-error"' in r.text
    assert f'value="{ext}"' in r.text  # what was typed is kept

    r = await b.post("/cases", {"title": "X", "severity": "high", "alert_ids": "12 abc"},
                     headers={"HX-Request": "true", "HX-Target": "main"})  # fmt: skip
    assert r.status_code == 422 and "<html" not in r.text and 'id="alert_ids-error"' in r.text

    theirs = await new_alerts(other_tenant.admin, 1)  # another organization's alert
    r = await b.post("/cases", {"title": "X", "severity": "high", "alert_ids": str(theirs[0])})
    assert r.status_code == 422 and f"Alert {theirs[0]} not found." in r.text
    after = (await Case.filter(org_id=tenant.org_id).count(), await audit_seq(tenant.org_id))
    assert after == before


# ----------------------------------------------------------------------------- one case


async def test_case_view_shows_the_case_and_writes_the_access_event(
    browser: Any, tenant: Any
) -> None:
    b = await signed_in(browser, tenant, "viewer")
    _, strat = await tenant.user("strategist")
    case = await new_case(strat, title="Seen case")
    await case_svc.add_case_note(strat, case.id, "first look\nsecond line")
    seq = await audit_seq(tenant.org_id)
    page = await b.get(f"/cases/{case.id}")
    assert page.status_code == 200
    assert "Seen case" in page.text and case.display_number in page.text
    assert "first look\nsecond line" in page.text
    event = await AuditEvent.get(org_id=tenant.org_id, seq=seq + 1)
    assert (event.action, event.entity_type, event.entity_id) == ("case.view", "case", str(case.id))
    # A viewer sees no forms that change the case.
    assert "/notes" not in page.text and "/update" not in page.text and "/link" not in page.text


async def test_add_a_note(browser: Any, tenant: Any) -> None:
    b = await signed_in(browser, tenant, "strategist")
    case = await new_case(b.principal)
    await b.get(f"/cases/{case.id}")
    r = await b.post(f"/cases/{case.id}/notes", {"body": "Called the merchant."})
    assert r.status_code == 303 and (r.headers["location"], flash_code(r)) == (
        f"/cases/{case.id}",
        "case.note",
    )
    note = await CaseNote.get(case_id=case.id)
    assert note.body == "Called the merchant." and note.author_id == b.user.id
    page = await b.get(r.headers["location"])
    assert "Note added." in page.text and "Called the merchant." in page.text

    before = await snapshot(case.id, tenant.org_id)
    r = await b.post(f"/cases/{case.id}/notes", {"body": "  "})
    assert r.status_code == 422 and "Note is required." in r.text and 'id="body-error"' in r.text
    assert await snapshot(case.id, tenant.org_id) == before


async def test_link_and_unlink_alerts(browser: Any, tenant: Any) -> None:
    b = await signed_in(browser, tenant, "strategist")
    case = await new_case(b.principal)
    first = (await CaseAlert.get(case_id=case.id)).alert_id
    extra = await new_alerts(b.principal, 2)
    await b.get(f"/cases/{case.id}")
    r = await b.post(f"/cases/{case.id}/link", {"alert_ids": f"{extra[0]} {extra[1]}"})
    assert r.status_code == 303 and flash_code(r) == "case.linked"
    linked = sorted(await CaseAlert.filter(case_id=case.id).values_list("alert_id", flat=True))
    assert linked == sorted([first, *extra])
    page = await b.get(r.headers["location"])
    assert f'action="/cases/{case.id}/unlink"' in page.text

    r = await b.post(f"/cases/{case.id}/unlink", {"alert_ids": str(extra[0])})
    assert r.status_code == 303 and flash_code(r) == "case.unlinked"
    linked = sorted(await CaseAlert.filter(case_id=case.id).values_list("alert_id", flat=True))
    assert linked == sorted([first, extra[1]])

    before = await snapshot(case.id, tenant.org_id)
    r = await b.post(f"/cases/{case.id}/link", {"alert_ids": "999999999"})
    assert r.status_code == 422 and "Alert 999999999 not found." in r.text
    r = await b.post(f"/cases/{case.id}/unlink", {"alert_ids": [str(first), str(extra[1])]})
    assert r.status_code == 422 and "must keep at least one alert" in r.text
    assert await snapshot(case.id, tenant.org_id) == before


async def test_update_and_a_stale_version_is_a_conflict(browser: Any, tenant: Any) -> None:
    b = await signed_in(browser, tenant, "strategist")
    case = await new_case(b.principal, severity="medium")
    page = await b.get(f"/cases/{case.id}")
    assert 'name="expected_version" value="1"' in page.text
    change = {"expected_version": "1", "status": "investigating", "severity": "high",
              "root_cause": "misconfig", "assignee_id": str(b.user.id)}  # fmt: skip
    r = await b.post(f"/cases/{case.id}/update", change)
    assert r.status_code == 303 and flash_code(r) == "case.updated"
    fresh = await Case.get(id=case.id)
    got = (fresh.status, fresh.severity, fresh.root_cause, fresh.assignee_id, fresh.version)
    assert got == (CaseStatus.INVESTIGATING, "high", "misconfig", b.user.id, 2)

    before = await snapshot(case.id, tenant.org_id)
    r = await b.post(f"/cases/{case.id}/update", {"expected_version": "1", "severity": "low"})
    assert r.status_code == 409
    assert "Nothing was changed." in r.text and "changed by someone else" in r.text
    assert "investigating at version 2" in r.text
    assert (
        'class="flash flash-error form-feedback conflict" role="alert" tabindex="-1" autofocus'
        in (r.text)
    )  # in the form that was used, focused
    assert await snapshot(case.id, tenant.org_id) == before


async def test_request_then_another_approver_approves(browser: Any, tenant: Any) -> None:
    maker = await signed_in(browser, tenant, "approver", name="Maker")
    checker = await signed_in(browser, tenant, "approver", name="Checker")
    case = await new_case(maker.principal)
    await maker.get(f"/cases/{case.id}")
    r = await maker.post(f"/cases/{case.id}/request-resolution", {
        "expected_version": "1", "summary": "Known customer, regular pattern.",
        "root_cause": "false_positive"})  # fmt: skip
    assert r.status_code == 303 and flash_code(r) == "case.requested"
    mine = await maker.get(f"/cases/{case.id}")
    assert "waiting for another approver" in mine.text
    assert f"/cases/{case.id}/approve" not in mine.text

    theirs = await checker.get(f"/cases/{case.id}")
    assert "Requested by <strong>Maker</strong>" in theirs.text
    assert "Known customer, regular pattern." in theirs.text
    assert f'action="/cases/{case.id}/approve"' in theirs.text
    assert f'action="/cases/{case.id}/reject"' in theirs.text
    r = await checker.post(f"/cases/{case.id}/approve", {"expected_version": "2"})
    assert r.status_code == 303 and flash_code(r) == "case.approved"
    fresh = await Case.get(id=case.id)
    assert (fresh.status, fresh.approved_by_id, fresh.requested_by_id) == (
        CaseStatus.RESOLVED, checker.user.id, maker.user.id)  # fmt: skip
    assert fresh.resolved_at is not None
    page = await checker.get(r.headers["location"])
    assert "Resolution approved" in page.text
    assert "approved by <strong>Checker</strong>" in page.text

    # A resolved case offers only closing it.
    assert "Move to closed" in page.text and 'name="severity"' not in page.text
    r = await checker.post(
        f"/cases/{case.id}/update", {"expected_version": "3", "status": "closed"}
    )
    assert r.status_code == 303
    assert (await Case.get(id=case.id)).status == CaseStatus.CLOSED


async def test_requester_cannot_approve_their_own_request(browser: Any, tenant: Any) -> None:
    maker = await signed_in(browser, tenant, "approver", name="Maker")
    case = await new_case(maker.principal)
    await case_resolution.request_case_resolution(maker.principal, case.id, expected_version=1,
                                           summary="done", root_cause="unknown")  # fmt: skip
    await maker.get(f"/cases/{case.id}")
    before = await snapshot(case.id, tenant.org_id)
    r = await maker.post(f"/cases/{case.id}/approve", {"expected_version": "2"})
    assert r.status_code == 403
    assert "nobody decides their own request" in r.text
    assert case.display_number in r.text  # shown on the case page, where they acted
    r = await maker.post(f"/cases/{case.id}/reject", {"expected_version": "2", "reason": "x"})
    assert r.status_code == 403
    assert await snapshot(case.id, tenant.org_id) == before


async def test_reject_needs_a_reason_and_sends_the_case_back(browser: Any, tenant: Any) -> None:
    _, maker = await tenant.user("strategist", name="Maker")
    checker = await signed_in(browser, tenant, "approver", name="Checker")
    case = await new_case(maker)
    await case_resolution.request_case_resolution(maker, case.id, expected_version=1,
                                           summary="done", root_cause="unknown")  # fmt: skip
    await checker.get(f"/cases/{case.id}")
    before = await snapshot(case.id, tenant.org_id)
    r = await checker.post(f"/cases/{case.id}/reject", {"expected_version": "2", "reason": ""})
    assert r.status_code == 422 and "Reason is required." in r.text
    assert 'id="reason-error"' in r.text
    assert await snapshot(case.id, tenant.org_id) == before

    reason = {"expected_version": "2", "reason": "Check the chargebacks."}
    r = await checker.post(f"/cases/{case.id}/reject", reason)
    assert r.status_code == 303 and flash_code(r) == "case.rejected"
    fresh = await Case.get(id=case.id)
    assert (fresh.status, fresh.requested_by_id) == (CaseStatus.INVESTIGATING, None)
    page = await checker.get(r.headers["location"])
    assert "Check the chargebacks." in page.text  # the reason, from the history
    assert f'action="/cases/{case.id}/request-resolution"' in page.text


# ----------------------------------------------------------------------------- refusals


async def test_viewer_cannot_change_a_case(browser: Any, tenant: Any) -> None:
    b = await signed_in(browser, tenant, "viewer")
    _, strat = await tenant.user("strategist")
    case = await new_case(strat)
    extra = await new_alerts(strat, 1)
    await b.get(f"/cases/{case.id}")
    before = await snapshot(case.id, tenant.org_id)
    count = await Case.filter(org_id=tenant.org_id).count()
    for path, data in [
        ("/cases", {"title": "T", "severity": "high", "alert_ids": str(extra[0])}),
        (f"/cases/{case.id}/notes", {"body": "hi"}),
        (f"/cases/{case.id}/link", {"alert_ids": str(extra[0])}),
        (f"/cases/{case.id}/update", {"expected_version": "1", "severity": "low"}),
        (
            f"/cases/{case.id}/request-resolution",
            {"expected_version": "1", "summary": "s", "root_cause": "unknown"},
        ),
        (f"/cases/{case.id}/approve", {"expected_version": "1"}),
        (f"/cases/{case.id}/reject", {"expected_version": "1", "reason": "r"}),
    ]:
        r = await b.post(path, data)
        assert r.status_code == 403, path
        assert "Not allowed" in r.text and "viewer" in r.text, path
    assert await snapshot(case.id, tenant.org_id) == before
    assert await Case.filter(org_id=tenant.org_id).count() == count


async def test_other_organizations_case_is_the_same_404_as_a_missing_one(
    browser: Any, tenant: Any, other_tenant: Any
) -> None:
    b = await signed_in(browser, tenant, "approver")
    _, stranger = await make_strategist(other_tenant)
    theirs = await new_case(stranger)
    before = await snapshot(theirs.id, other_tenant.org_id)
    missing = await b.get("/cases/999999999")
    foreign = await b.get(f"/cases/{theirs.id}")
    assert missing.status_code == foreign.status_code == 404
    assert "Case 999999999 not found." in missing.text
    assert f"Case {theirs.id} not found." in foreign.text

    def shown(html: str, case_id: object) -> str:  # the page's message, not its tokens or ids
        # The id as a number of its own: case 1 must not turn tabindex="-1" into "-N".
        page = html.split('<main id="main"')[1].split("Request id")[0]
        return re.sub(rf"(?<![\w-]){case_id}(?!\d)", "N", page)

    assert shown(foreign.text, theirs.id) == shown(missing.text, 999999999)
    assert (await b.get("/cases/abc")).status_code == 404
    mine = await new_alerts(b.principal, 1)
    for action, data in [
        ("notes", {"body": "x"}),
        ("link", {"alert_ids": str(mine[0])}),
        ("unlink", {"alert_ids": str(mine[0])}),
        ("update", {"expected_version": "1", "severity": "low"}),
        ("request-resolution", {"expected_version": "1", "summary": "s", "root_cause": "unknown"}),
        ("approve", {"expected_version": "1"}),
        ("reject", {"expected_version": "1", "reason": "r"}),
    ]:
        r = await b.post(f"/cases/{theirs.id}/{action}", data)
        assert r.status_code == 404, action
        assert f"Case {theirs.id} not found." in r.text, action
    assert await snapshot(theirs.id, other_tenant.org_id) == before


async def make_strategist(t: Any) -> tuple[Any, Principal]:
    user, principal = await t.user("strategist")
    return user, principal


async def test_every_case_post_refuses_a_missing_csrf_token(browser: Any, tenant: Any) -> None:
    b = await signed_in(browser, tenant, "approver")
    case = await new_case(b.principal)
    extra = await new_alerts(b.principal, 1)
    await b.get(f"/cases/{case.id}")
    before = await snapshot(case.id, tenant.org_id)
    count = await Case.filter(org_id=tenant.org_id).count()
    data = {"title": "T", "severity": "low", "alert_ids": str(extra[0]), "body": "b",
            "expected_version": "1", "status": "investigating", "summary": "s",
            "root_cause": "unknown", "reason": "r", "note": "n", "run_ids": "RUN-1"}  # fmt: skip
    paths = [r.path.replace("{case_id:str}", str(case.id)) for r in case_pages.routes
             if "POST" in (r.methods or set())]  # fmt: skip
    assert len(paths) == 14  # issue 16: resolve, runs link/unlink, archive/unarchive, bulk
    for path in paths:
        r = await b.post(path, data, csrf=False)
        assert r.status_code == 403, path
        assert "security token" in r.text
    assert await snapshot(case.id, tenant.org_id) == before
    assert await Case.filter(org_id=tenant.org_id).count() == count


async def test_case_pages_have_no_inline_styles_or_scripts(browser: Any, tenant: Any) -> None:
    b = await signed_in(browser, tenant, "approver")
    case = await new_case(b.principal)
    for path in ["/cases", f"/cases/{case.id}"]:
        html = (await b.get(path)).text
        assert " style=" not in html and "<style" not in html, path
        assert re.findall(r"<script(?![^>]*\ssrc=)", html) == [], path
        assert not re.search(r"<[^>]+\son[a-z]+=", html), path
