"""The assistant in a real (headless) Chromium against `riskops serve --demo` configured with the
loopback OpenAI-compatible server (tests/support/fake_llm.py; the job runs in the server's
process through litellm): a strategist asks for an explanation of an alert and sees it appear
(pending first, then the answer with its citations linked to the rows they cite), follows a
citation, rates the answer, drafts an escalation, edits it and saves it as a case note, which
the case page shows; an approver sets the governed `assistant` kill switch, and the strategist
then sees why the assistant is off and the structured explanation. The assistant's pages pass
axe (WCAG 2.0/2.1 A and AA). Fails on any console error (a CSP violation shows there).
Screenshots go to test-artifacts/screenshots/assistant-*.png."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import (
    ADMIN_EMAIL,
    SHOTS,
    VIEWER_EMAIL,
    Server,
    _demo_password,
    launch_chromium,
    require_chromium,
    sign_in_as,
    sign_out,
    watch_console,
)
from tests.support.axe import described, let_axe_in, require_axe
from tests.support.fake_llm import FakeLLM
from tests.support.served import demo_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

STRATEGIST = "strategist@demo.riskops.local"
APPROVER = "approver@demo.riskops.local"
MODEL = "openai/gpt-4o-mini"


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    fake = FakeLLM.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def assistant_server(tmp_path_factory: pytest.TempPathFactory, llm: FakeLLM) -> Iterator[Server]:
    """`riskops serve --demo` of its own (the kill switch it sets stays here), with the assistant
    pointed at the loopback server."""
    tmp = tmp_path_factory.mktemp("e2e-assistant")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.pop("AGENT_SAFE_MODE", None)
    env.update(
        PYTHONUNBUFFERED="1", RISKOPS_ENV="dev", RISKOPS_LOG_LEVEL="WARNING",
        LITELLM_LOCAL_MODEL_COST_MAP="True", RISKOPS_ASSISTANT_MODEL=MODEL,
        RISKOPS_ASSISTANT_API_BASE=llm.url, RISKOPS_ASSISTANT_API_KEY="x",
        RISKOPS_ASSISTANT_TIMEOUT_SECONDS="10",
    )  # fmt: skip
    log = tmp / "server.log"
    options = ("--database-url", f"sqlite://{tmp / 'e2e.sqlite3'}", "--var-dir", str(tmp / "var"))
    with demo_server(cwd=tmp, env=env, log=log, options=options) as url:
        yield Server(url, ADMIN_EMAIL, _demo_password(log, ADMIN_EMAIL), VIEWER_EMAIL,
                     _demo_password(log, VIEWER_EMAIL), log)  # fmt: skip


def test_assistant_flow_in_chromium(assistant_server: Server, llm: FakeLLM) -> None:
    require_chromium()
    require_axe()
    from playwright.sync_api import Page, expect, sync_playwright

    server = assistant_server
    problems: list[str] = []
    found: list[str] = []

    def sign_in(page: Page, email: str, then: str) -> None:
        sign_in_as(page, server, email, then)

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(SHOTS / f"assistant-{name}.png"), full_page=True)
        if page.locator("section#assistant").count():  # and the panel alone, to read it
            page.locator("section#assistant").screenshot(
                path=str(SHOTS / f"assistant-{name}-panel.png")
            )

    def panel(page: Page) -> Any:
        box = page.locator("#assistant-panel")
        expect(box).not_to_contain_text("Loading the assistant", timeout=15_000)
        return box

    def ask(page: Page, button: str) -> Any:
        box = panel(page)
        box.locator(f"button:has-text('{button}')").click()
        # The server imports litellm on its first call (jobs run in its process): allow for it.
        answer = box.locator("article.assistant-answer").first
        expect(answer).to_be_visible(timeout=30_000)
        return box

    def axe(page: Page, where: str) -> None:
        # The CSP allows no inline script: a context of its own lets axe in.
        context = let_axe_in(page.context.browser.new_context(
            viewport={"width": 1366, "height": 900}, bypass_csp=True,
            storage_state=page.context.storage_state(),
        ))  # fmt: skip
        other = context.new_page()
        other.goto(page.url)
        if other.locator("#assistant-panel[hx-trigger]").count():
            expect(other.locator("#assistant-panel")).not_to_contain_text("Loading the assistant")
        found.extend(described(other, where))
        context.close()

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            watch_console(page, problems)

            # (1) A strategist opens a new alert: the assistant panel loads after the page.
            sign_in(page, STRATEGIST, "/alerts?status=new")
            page.locator("#alerts-rows a[href^='/alerts/']").first.click()
            expect(page).to_have_url(re.compile(r"/alerts/\d+$"))
            alert_url = page.url
            box = panel(page)
            expect(box.locator("button", has_text="Explain this alert")).to_be_visible()
            expect(box.locator("button", has_text="Draft an escalation")).to_be_visible()

            # (2) Asks for an explanation: pending, then the answer appears by itself.
            llm.behave("gpt-4o-mini", "slow", delay=4)
            ask(page, "Explain this alert")
            expect(box.locator(".assistant-pending")).to_contain_text("Asking the assistant")
            shot(page, "01-pending")
            llm.behave("gpt-4o-mini", "ok")
            output = box.locator(".assistant-output")
            expect(output).to_be_visible(timeout=30_000)
            expect(box.locator(".assistant-pending")).to_have_count(0)
            expect(box.locator(".assistant-meta")).to_contain_text("gpt-4o-mini")
            expect(box.locator(".assistant-meta")).to_contain_text("USD")
            cite = output.locator("a.cite").first
            expect(cite).to_be_visible()
            shot(page, "02-answer")

            # (3) A citation goes to the row it cites, on the alert's page.
            href = str(cite.get_attribute("href"))
            assert "#" in href, href
            cite.click()
            anchor = href.split("#", 1)[1]
            expect(page).to_have_url(re.compile(re.escape("#" + anchor) + "$"))
            assert page.locator(f"[id='{anchor}']").count() == 1, f"no row {anchor}"
            page.goto(alert_url)

            # (4) Rates it.
            box = panel(page)
            rate = box.locator("form.assistant-rate").first
            rate.locator("textarea[name=comment]").fill("Clear, and it names the rule.")
            rate.locator("button:has-text('Not helpful')").click()
            expect(box.locator(".flash-ok")).to_contain_text("feedback")
            expect(box.locator("form.assistant-rate").first).to_contain_text("Rated not helpful")
            shot(page, "03-rated")

            # (5) Opens a case from the alert, drafts an escalation, edits it and saves it as
            # a note of the case: the whole page goes to the case, where the note is.
            page.locator("#action-case button[type=submit]").click()
            expect(page).to_have_url(re.compile(r"/cases/\d+"))
            case_url = page.url.split("#", 1)[0]
            page.goto(alert_url)
            box = ask(page, "Draft an escalation")
            draft = box.locator("form.assistant-draft textarea[name=body]")
            expect(draft).to_be_visible(timeout=30_000)
            body = draft.input_value()
            assert body.strip(), "the draft is in the form"
            draft.fill(body + "\n\nEdited by the strategist: escalate to the card team.")
            shot(page, "04-draft")
            box.locator("form.assistant-draft button:has-text('Save as case note')").click()
            expect(page).to_have_url(re.compile(re.escape(case_url) + r"#note-\d+$"))
            expect(page.locator(".flash-ok")).to_contain_text("saved as a note of the case")
            note = page.locator("#notes article.note").last
            expect(note).to_contain_text("Edited by the strategist")
            expect(note.locator(".note-origin")).to_contain_text("began as a draft of assistant")
            expect(page.locator(".assistant-cost")).to_contain_text("USD")
            shot(page, "05-note-on-case")
            axe(page, "case page")
            page.goto(alert_url)
            panel(page)
            axe(page, "alert page with answers")
            sign_out(page)

            # (6) An approver sets the `assistant` kill switch; the usage page shows the cost.
            sign_in(page, APPROVER, "/kill-switches")
            form = page.locator("#set-switch form")
            form.locator("input[name=name][value=assistant]").check()
            form.locator("textarea[name=reason]").fill("Provider incident drill")
            form.locator("button:has-text('Set switch')").click()
            expect(page.locator(".flash-ok")).to_contain_text("Kill switch set")
            expect(page.locator("table.switches")).to_contain_text("assistant")
            shot(page, "06-kill-switch")
            axe(page, "kill switches")
            page.locator("nav a", has_text="Assistant usage").click()
            expect(page).to_have_url(re.compile(r"/assistant/usage$"))
            page.select_option("select[name=group]", "kind")
            page.locator("form.usage-filters button:has-text('Show')").click()
            expect(page.locator("table.usage tbody")).to_contain_text("USD")
            shot(page, "07-usage")
            axe(page, "usage page")
            sign_out(page)

            # (7) The strategist now sees why the assistant is off, and the structured
            # explanation; the alert page works as before.
            sign_in(page, STRATEGIST, "/")
            page.goto(alert_url)
            box = panel(page)
            expect(box.locator(".assistant-off").first).to_contain_text("kill switch")
            expect(box.locator(".assistant-structured")).to_be_visible()
            expect(box.locator("button", has_text="Explain this alert")).to_have_count(0)
            expect(page.locator("section.why h2")).to_have_text("Why it fired")
            shot(page, "08-off-structured")
            axe(page, "alert page, assistant off")
        finally:
            browser.close()
    assert not found, f"{len(found)} violations:\n" + "\n".join(found)
    assert not problems, problems
