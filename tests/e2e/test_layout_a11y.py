"""Layout, keyboard and accessibility in a real (headless) Chromium against `riskops serve --demo`
(issue 11, items 18, 23 and 24):

- at 1366x768 every table fits its card, and at 390x844 nothing overflows its card (a wide table
  scrolls inside its own box) and the navigation does not push the content down;
- a skip link is the first tab stop; "Assign to me" keeps the focus on its row; a date filter is
  one tab stop;
- axe-core (pinned in tests/node, `make node`; tests/support/axe.py) finds no WCAG 2.0/2.1 A
  or AA violation on any page, for any demo role;
- the alert, case and run pages use the one format for case references, multipliers and counts.

Screenshots go to test-artifacts/screenshots/look-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import (
    SHOTS,
    Server,
    launch_chromium,
    require_chromium,
    watch_console,
)
from tests.support.axe import described, let_axe_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STRATEGIST = "strategist@demo.riskops.local"
APPROVER = "approver@demo.riskops.local"
ROLES = [
    "admin@demo.riskops.local",
    "viewer@demo.riskops.local",
    "operator@demo.riskops.local",
    APPROVER,
    STRATEGIST,
    "compliance@demo.riskops.local",
    "product@demo.riskops.local",
]
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}

# Elements that stick out of their card (or the page) unless a box between them and the card,
# or the card itself, scrolls or clips. Returns one line per offender, at most 10.
OVERFLOWS_JS = """() => {
  const out = [];
  const describe = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (typeof e.className === 'string' && e.className
       ? '.' + e.className.trim().split(/\\s+/).join('.') : '');
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth + 1)
    out.push(`page: ${root.scrollWidth}px wide in a ${window.innerWidth}px window`);
  for (const card of document.querySelectorAll('main .card')) {
    const box = card.getBoundingClientRect();
    for (const e of card.querySelectorAll('*')) {
      const r = e.getBoundingClientRect();
      if (!r.width || (r.right <= box.right + 1 && r.left >= box.left - 1)) continue;
      let clipped = false;
      for (let a = e.parentElement; a && a !== card.parentElement; a = a.parentElement) {
        if (getComputedStyle(a).overflowX !== 'visible') { clipped = true; break; }
      }
      const by = Math.round(Math.max(r.right - box.right, box.left - r.left));
      if (!clipped) out.push(`${describe(e)} sticks out of ${describe(card)} by ${by}px`);
    }
  }
  return out.slice(0, 10);
}"""

# Tables whose box scrolls: at 1366 px none may need to (a column cut off at the card's edge).
HIDDEN_COLUMNS_JS = """() => {
  const out = [];
  for (const t of document.querySelectorAll('main table')) {
    for (let a = t.parentElement; a && a.tagName !== 'MAIN'; a = a.parentElement) {
      const s = getComputedStyle(a).overflowX;
      if (s !== 'visible' && a.scrollWidth > a.clientWidth + 1) {
        out.push(`table.${t.className} needs ${a.scrollWidth}px in ${a.clientWidth}px`);
        break;
      }
    }
  }
  return out;
}"""


# Chart text drawn smaller than 9 px on screen (an SVG scaled down to a narrow card).
SMALL_CHART_TEXT_JS = """() => {
  const out = [];
  for (const t of document.querySelectorAll('main svg text')) {
    const h = t.getBoundingClientRect().height;
    const text = t.textContent.trim();
    if (h > 0 && h < 9 && text) out.push(`chart text "${text}" is ${h.toFixed(1)}px high`);
  }
  return out.slice(0, 5);
}"""


def shot(page: Any, name: str, *, full: bool = False) -> None:
    page.screenshot(path=str(SHOTS / f"look-{name}.png"), full_page=full)


def sign_in(page: Any, server: Server, email: str, then: str = "/") -> None:
    page.goto(f"{server.url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", server.password_of(email))
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{server.url}/")
    if then != "/":
        page.goto(f"{server.url}{then}")


def first_href(page: Any, server: Server, listing: str, prefix: str) -> str | None:
    page.goto(f"{server.url}{listing}")
    link = page.locator(f"main a[href^='{prefix}']")
    if link.count() == 0:
        return None
    href = link.first.get_attribute("href")
    return str(href) if href else None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = launch_chromium(pw)
        try:
            yield chromium
        finally:
            chromium.close()


# ----------------------------------------------------------------------------- item 18


def test_tables_fit_at_1366_and_nothing_overflows_at_390(server: Server, browser: Any) -> None:
    problems: list[str] = []
    found: list[str] = []
    for viewport, size in ((DESKTOP, "1366"), (PHONE, "390")):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        watch_console(page, problems)
        sign_in(page, server, APPROVER)
        scenario = first_href(page, server, "/scenarios", "/scenarios/")
        assert scenario
        pages = {"runs": "/runs", "scenario": scenario, "queue": "/alerts", "alert": ""}
        for name, path in pages.items():
            if name == "queue":  # a strategist may triage: the queue shows "Assign to me"
                page.context.clear_cookies()
                sign_in(page, server, STRATEGIST)
                pages["alert"] = first_href(page, server, "/alerts", "/alerts/") or "/alerts"
            page.goto(f"{server.url}{path}")
            page.wait_for_load_state("networkidle")
            shot(page, f"{name}-{size}")
            for line in page.evaluate(OVERFLOWS_JS):
                found.append(f"{size} px {path}: {line}")
            if viewport is DESKTOP:
                for line in page.evaluate(HIDDEN_COLUMNS_JS):
                    found.append(f"{size} px {path}: {line}")
            else:
                top = page.evaluate("document.querySelector('main').getBoundingClientRect().top")
                if top > 200:
                    found.append(f"{size} px {path}: the content starts {top:.0f}px down")
                for line in page.evaluate(SMALL_CHART_TEXT_JS):
                    found.append(f"{size} px {path}: {line}")
        if viewport is DESKTOP:
            # The queue's last column is on screen, inside the card.
            button = page.locator("main button:has-text('Assign to me')").first
            page.goto(f"{server.url}/alerts")
            card = page.locator("main section.card-flush").first.bounding_box()
            box = button.bounding_box()
            assert card and box
            if box["x"] + box["width"] > card["x"] + card["width"]:
                found.append(f"1366 px /alerts: 'Assign to me' is cut off at {card['width']}px")
        context.close()
    assert not found, "\n".join(found)
    assert not problems, problems


@pytest.mark.parametrize("email", [APPROVER, "admin@demo.riskops.local"])
def test_every_page_fits_a_phone(server: Server, browser: Any, email: str) -> None:
    found: list[str] = []
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    sign_in(page, server, email)
    for path in _pages_of(page, server):
        page.goto(f"{server.url}{path}")
        top = page.evaluate("document.querySelector('main').getBoundingClientRect().top")
        if top > 200:
            found.append(f"{path}: the content starts {top:.0f}px down")
        for line in page.evaluate(OVERFLOWS_JS) + page.evaluate(SMALL_CHART_TEXT_JS):
            found.append(f"{path}: {line}")
    context.close()
    assert not found, "\n".join(found)


def test_phone_navigation_is_a_menu_that_works_without_script(server: Server, browser: Any) -> None:
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, server, APPROVER, "/runs")
    top = page.evaluate("document.querySelector('main').getBoundingClientRect().top")
    assert top <= 200, f"the content starts {top:.0f}px down"
    nav = page.locator("nav[aria-label=Main] a", has_text="Runs ledger")
    assert not nav.is_visible()  # folded away
    page.locator("summary", has_text="Menu").click()
    assert nav.is_visible()
    shot(page, "phone-menu-open")
    nav.click()
    page.wait_for_url(re.compile(r"/runs$"))
    context.close()


# ----------------------------------------------------------------------------- item 24


def test_skip_link_is_the_first_tab_stop(server: Server, browser: Any) -> None:
    page = browser.new_page(viewport=DESKTOP)
    sign_in(page, server, STRATEGIST, "/alerts")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "[document.activeElement.textContent.trim(), document.activeElement.getAttribute('href')]"
    )
    assert focused == ["Skip to content", "#main"]
    box = page.locator("a.skip-link").bounding_box()
    assert box and box["y"] >= 0 and box["width"] > 50, "visible when focused"
    shot(page, "skip-link")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    inside = page.evaluate("!!document.activeElement.closest('main')")
    assert inside, "the next tab stop after the skip link is in the content"
    page.close()


def test_assign_to_me_keeps_the_focus_on_its_row(server: Server, browser: Any) -> None:
    problems: list[str] = []
    page = browser.new_page(viewport=DESKTOP)
    watch_console(page, problems)
    sign_in(page, server, STRATEGIST, "/alerts?status=new")
    button = page.locator("#alerts-rows button:has-text('Assign to me')").first
    row_id = button.locator("xpath=ancestor::tr").get_attribute("id")
    button.focus()
    page.keyboard.press("Enter")
    row = page.locator(f"#{row_id}")
    row.locator("text=yours").wait_for()
    page.wait_for_function(
        "id => document.activeElement && !!document.activeElement.closest('#' + id)", arg=row_id
    )
    shot(page, "assign-focus")
    # An assignee's name is wider than "unassigned": every column still shows.
    assert not page.evaluate(HIDDEN_COLUMNS_JS)
    page.close()
    assert not problems, problems


@pytest.mark.parametrize(
    ("email", "path", "names"),
    [
        (STRATEGIST, "/alerts", ["created_from", "created_to"]),
        (APPROVER, "/runs", ["since", "until"]),
        ("admin@demo.riskops.local", "/audit", ["since", "until"]),
        (APPROVER, "/kill-switches", ["expires_at"]),
    ],
)
def test_a_date_filter_is_one_tab_stop(
    server: Server, browser: Any, email: str, path: str, names: list[str]
) -> None:
    page = browser.new_page(viewport=DESKTOP)
    sign_in(page, server, email, path)
    for name in names:
        field = page.locator(f"main input[name={name}]")
        field.focus()
        page.keyboard.press("Tab")
        after = page.evaluate("document.activeElement.getAttribute('name')")
        assert after != name, f"{name} holds the focus for more than one tab stop"
        hint = field.get_attribute("placeholder") or ""
        assert "YYYY-MM-DD" in hint, f"{name} says its format"
    page.close()


def _pages_of(page: Any, server: Server) -> list[str]:
    """Every GET page this role can open: its navigation, plus one of each detail page."""
    page.goto(f"{server.url}/")
    paths = ["/"] + [
        str(a.get_attribute("href")) for a in page.locator("nav[aria-label=Main] a").all()
    ]
    details = {
        "/alerts": "/alerts/",
        "/cases": "/cases/",
        "/runs": "/runs/",
        "/scenarios": "/scenarios/",
        "/reports": "/reports/",
        "/admin/users": "/admin/users/",  # a user's Sessions and tokens page (issue 14)
    }
    for listing, prefix in details.items():
        if listing in paths:
            href = first_href(page, server, listing, prefix)
            if href and not href.endswith(".json"):
                paths.append(href)
    if "/reports" in paths:  # the checks of a period: linked from the reports, not the menu
        paths.append("/reports/checks")
    return list(dict.fromkeys(paths))


@pytest.mark.parametrize("who", ["anonymous", *ROLES])
def test_axe_finds_no_wcag_a_or_aa_violation_on_any_page(
    server: Server, browser: Any, who: str
) -> None:
    """Every page each role reaches (one test per role, so that the workers share them), and
    the pages of a person not signed in."""
    found: list[str] = []
    # The CSP allows no inline script: only the test's own context lets axe in.
    context = let_axe_in(browser.new_context(viewport=DESKTOP, bypass_csp=True))
    page = context.new_page()
    if who == "anonymous":
        paths = ["/login", "/no-such-page", "/forgot-password", "/invite/" + "x" * 43]
    else:
        sign_in(page, server, who)
        paths = _pages_of(page, server)
        assert len(paths) >= 5, paths  # the role's navigation was found
    for path in paths:
        page.goto(f"{server.url}{path}")
        found.extend(described(page, f"{who} {path}"))
        if who != "anonymous":
            for line in page.evaluate(OVERFLOWS_JS):  # and nothing sticks out of its card
                found.append(f"{who} {path}: {line}")
    context.close()
    assert not found, f"{len(found)} violations:\n" + "\n".join(found)


# ----------------------------------------------------------------------------- item 23

ODD_MULTIPLIER = re.compile(r"\b\d[\d,]*(?:\.\d+)?x\b")  # "11.9918x": written with the times sign
RAW_CASE = re.compile(r"\bCase \d+\b")  # a case is "CASE-000004", never its row id


def check_formats(page: Any, pages: dict[str, str]) -> None:
    for name, url in pages.items():
        page.goto(url)
        assert page.title().split(" · ")[0] not in ("Not allowed", "Not found"), (name, url)
        text = page.locator("main").inner_text()
        assert not ODD_MULTIPLIER.findall(text), (name, ODD_MULTIPLIER.findall(text))
        assert not RAW_CASE.findall(text), (name, RAW_CASE.findall(text))
        tokens = re.findall(r"(?i)tokens\s+([\d,]+\.\d+)", text)
        assert not tokens, (name, "a token count with decimals", tokens)


def test_alert_case_and_run_pages_use_one_format(server: Server, browser: Any) -> None:
    page = browser.new_page(viewport=DESKTOP)
    sign_in(page, server, APPROVER, "/runs?severity=SEV0")
    page.locator("#runs-rows a[href^='/runs/']").first.click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    pages = {"run": page.url}
    shot(page, "format-run", full=True)
    case_link = page.locator("#links a[href^='/cases/']").first
    assert re.fullmatch(r"CASE-\d{6}", case_link.inner_text())
    assert re.search(r"^\u00d7\d", page.locator(".run-multiplier").inner_text())
    case_link.click()
    page.wait_for_url(re.compile(r"/cases/\d+$"))
    pages["case"] = page.url
    page.goto(f"{server.url}/scenarios/BINDER_EXPORT_WEEKLY")
    pages["scenario"] = page.url
    check_formats(page, pages)  # as the approver, who may read runs
    # An alert that belongs to a case (a strategist opens one from it): its page names the case
    # the way the case page does.
    page.context.clear_cookies()
    sign_in(page, server, STRATEGIST)
    alert = first_href(page, server, "/alerts?status=new", "/alerts/")
    page.goto(f"{server.url}{alert}")
    page.locator("#action-case button[type=submit]").click()
    page.wait_for_url(re.compile(r"/cases/\d+"))
    reference = page.locator("h1 .case-number").inner_text()
    page.goto(f"{server.url}{alert}")
    pages = {"alert": page.url}
    chips = page.locator("a.chip[href^='/cases/']").all_inner_texts()
    assert chips == [reference] and re.fullmatch(r"CASE-\d{6}", reference), chips
    labels = page.locator("section:has(h2:text('Transaction')) dl.facts > dt").all_inner_texts()
    assert labels and all(label[:1].isupper() for label in labels), labels
    shot(page, "format-alert", full=True)
    check_formats(page, pages)
    page.close()
