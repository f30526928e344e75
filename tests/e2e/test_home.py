"""The "My work" home in a real (headless) Chromium against `riskops serve` with its demo data:
a strategist takes two alerts and pins a saved view, and the home shows them as links with
counts (the view's count arrives from its job: "counting…" first); a compliance reviewer's home
shows what waits for their review; an approver's shows decisions and open SEV0/SEV1 runs. No
console errors (CSP). Screenshots: test-artifacts/screenshots/home-*.png."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import SHOTS, Server, launch_chromium, require_chromium, watch_console

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STRATEGIST = "strategist@demo.riskops.local"
REVIEWER = "compliance@demo.riskops.local"
APPROVER = "approver@demo.riskops.local"

SAVE_AND_PIN = """
async ([save, pin]) => {
  const csrf = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
  const call = async (query, variables) => {
    const r = await fetch("/graphql", {method: "POST", credentials: "same-origin",
      headers: {"content-type": "application/json", "x-csrf-token": csrf},
      body: JSON.stringify({query, variables})});
    return r.json();
  };
  const saved = await call(save, {});
  const id = saved.data.saveView.view.id;
  await call(pin, {id});
  return saved;
}
"""
SAVE = """mutation { saveView(queue: ALERTS, name: "My open alerts",
  definition: {alertFilter: {assignee: "me", status: [ASSIGNED]}}) {
  view { id } errors { code message } } }"""
PIN = "mutation($id: ID!) { pinView(viewId: $id, pinned: true) { errors { code message } } }"
# A second view, promoted: its request waits for the reviewers (after the validation job).
PROMOTE = """
async ([save, request]) => {
  const csrf = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
  const call = async (query, variables) => {
    const r = await fetch("/graphql", {method: "POST", credentials: "same-origin",
      headers: {"content-type": "application/json", "x-csrf-token": csrf},
      body: JSON.stringify({query, variables})});
    return r.json();
  };
  const saved = await call(save, {});
  const id = saved.data.saveView.view.id;
  return await call(request, {id});
}
"""
SAVE_HIGH = """mutation { saveView(queue: ALERTS, name: "High score",
  definition: {alertFilter: {scoreMin: 80}}) { view { id } errors { code message } } }"""
REQUEST = """mutation($id: ID!) { requestViewPromotion(viewId: $id,
  rationale: "Everyone triages these first", expectedVersion: 1) {
  request { id status } errors { code message } } }"""


def _sign_in(page: object, server: Server, email: str) -> None:
    page.goto(f"{server.url}/login")  # type: ignore[attr-defined]
    page.fill("input[name=email]", email)  # type: ignore[attr-defined]
    page.fill("input[name=password]", server.password_of(email))  # type: ignore[attr-defined]
    page.click("button:has-text('Sign in')")  # type: ignore[attr-defined]
    page.wait_for_url(f"{server.url}/")  # type: ignore[attr-defined]


def test_the_home_of_a_strategist_a_reviewer_and_an_approver(server: Server) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    problems: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch_console(page, problems)

        _sign_in(page, server, STRATEGIST)
        # The browser tests share one server: other tests may have assigned alerts already.
        before = page.locator("#work-alerts a[data-key='alerts.assigned'] .count")
        had = int(before.inner_text().replace(",", "")) if before.count() else 0
        page.goto(f"{server.url}/alerts?status=new")
        for _ in range(2):
            page.locator("button:has-text('Assign to me')").first.click()
            page.wait_for_load_state("networkidle")
        saved = page.evaluate(SAVE_AND_PIN, [SAVE, PIN])
        assert not saved["data"]["saveView"]["errors"], json.dumps(saved)
        page.goto(f"{server.url}/")
        assigned = page.locator("#work-alerts a[data-key='alerts.assigned']")
        expect(assigned).to_contain_text(str(had + 2))
        assert assigned.get_attribute("href") == "/alerts?assignee=me&status=assigned"
        view = page.locator("#work-views a.link-card").first
        expect(view).to_contain_text("My open alerts")
        for _ in range(20):  # the count comes from its job: "counting…" until then
            if "counting" not in view.inner_text():
                break
            page.wait_for_timeout(250)
            page.reload()
            view = page.locator("#work-views a.link-card").first
        expect(view).to_contain_text(str(had + 2))
        asked = page.evaluate(PROMOTE, [SAVE_HIGH, REQUEST])
        assert not asked["data"]["requestViewPromotion"]["errors"], json.dumps(asked)
        page.reload()
        mine = page.locator("#work-requests")
        expect(mine).to_contain_text("Promotion of view High score")
        page.screenshot(path=str(SHOTS / "home-strategist.png"), full_page=True)
        view.click()
        page.wait_for_url("**/alerts?view=*")
        context.close()

        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch_console(page, problems)
        _sign_in(page, server, REVIEWER)
        review = page.locator("#work-decisions [data-key='decide.view_promotions']")
        for _ in range(20):  # the validation job moves the request to "pending review"
            if review.count():
                break
            page.wait_for_timeout(250)
            page.reload()
        expect(review).to_contain_text("1")
        expect(page.locator("#work-decisions")).to_contain_text("Promotion of view High score")
        expect(page.locator("body")).to_contain_text("reviews view promotions")
        expect(page.locator("body")).not_to_contain_text("What you can do")
        page.screenshot(path=str(SHOTS / "home-reviewer.png"), full_page=True)
        context.close()

        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch_console(page, problems)
        _sign_in(page, server, APPROVER)
        expect(page.locator("#work-runs")).to_be_visible()
        expect(page.locator("#work-decisions")).to_be_visible()
        page.screenshot(path=str(SHOTS / "home-approver.png"), full_page=True)
        context.close()
        browser.close()
    assert problems == []
