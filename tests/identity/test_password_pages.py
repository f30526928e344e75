"""The password pages (issue 14) as a browser uses them: the admin's new user without a password
(the invitation's link shown once), "Send invitation again" and "Force password reset" on the
users page, the invitation landing page and the reset page, "forgot password" and one's own
change. Bad input on each: mismatched and weak passwords in the form, used and unknown links
alike, another organization's user like a missing one, a viewer refused, a stale invitation."""

from __future__ import annotations

import re
import uuid
from typing import Any

from riskops.audit.models import AuditEvent
from riskops.server.identity.models import OneTimeLink, Session, User
from riskops.server.security import verify_password
from tests.support.pages import flash_code

NEW_PASSWORD = "plum anvil orbit lantern"
LINK_RE = re.compile(r'id="one-time-link">(http://testserver/(?:invite|reset-password)/[\w-]+)<')


def link_in(html: str) -> str:
    found = LINK_RE.search(html)
    assert found, "no one-time link on the page"
    return found.group(1).removeprefix("http://testserver")


async def create_invited(admin: Any, tenant: Any) -> tuple[str, str]:
    email = f"ines-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
    r = await admin.post("/admin/users", {"email": email, "name": "Ines Invitee",
                                           "roles": ["viewer"]})  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    assert "Invitation for Ines Invitee" in r.text and "pass the link on yourself" in r.text
    return email, link_in(r.text)


async def test_an_invited_person_sets_a_password_and_is_signed_in(browser, tenant) -> None:
    admin = await browser(tenant.admin_user, tenant.password)
    email, path = await create_invited(admin, tenant)
    assert path.startswith("/invite/")
    # Shown once: the users page afterwards holds no link.
    assert "one-time-link" not in (await admin.get("/admin/users")).text

    invitee = await browser()
    page = await invitee.get(path)
    assert page.status_code == 200 and "Welcome, Ines Invitee" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    mismatch = await invitee.post(path, {"password": NEW_PASSWORD, "password_again": "other"})
    assert mismatch.status_code == 422 and "The two passwords differ" in mismatch.text
    weak = await invitee.post(path, {"password": "password", "password_again": "password"})
    assert weak.status_code == 422 and "use at least 12" in weak.text
    assert 'aria-invalid="true"' in weak.text
    done = await invitee.post(path, {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert invitee.session_cookie
    assert (await invitee.get("/")).status_code == 200

    again = await (await browser()).get(path)
    assert again.status_code == 404 and "This link is not valid" in again.text
    unknown = await (await browser()).get("/invite/" + "A" * 43)
    assert unknown.status_code == 404 and "This link is not valid" in unknown.text
    user = await User.get(email=email)
    assert verify_password(user.password_hash, NEW_PASSWORD)
    # An invitation's token is no link of the reset page.
    assert (
        await (await browser()).get("/reset-password/" + path.rsplit("/", 1)[1])
    ).status_code == 404


async def test_send_invitation_again_and_force_a_reset_from_the_users_page(
    browser, tenant, other_tenant
) -> None:
    admin = await browser(tenant.admin_user, tenant.password)
    email, first = await create_invited(admin, tenant)
    user = await User.get(email=email)
    listing = await admin.get("/admin/users")
    assert f"/admin/users/{user.id}/invite" in listing.text
    r = await admin.post(f"/admin/users/{user.id}/invite")
    assert r.status_code == 201 and "Invitation for Ines Invitee" in r.text
    second = link_in(r.text)
    assert second != first
    assert (await (await browser()).get(first)).status_code == 404

    colleague, _ = await tenant.user("operator", name="Olga")
    victim = await browser(colleague, tenant.password)
    r = await admin.post(f"/admin/users/{colleague.id}/reset-password")
    assert r.status_code == 201 and "Password reset link for Olga" in r.text
    reset = link_in(r.text)
    assert reset.startswith("/reset-password/")
    assert (await victim.get("/")).status_code == 303  # signed out
    landing = await (await browser()).get(reset)
    assert "Choose a new password" in landing.text
    event = await AuditEvent.get(org_id=tenant.org_id, action="user.password_reset_forced")
    assert event.entity_id == str(colleague.id)

    # Stale: a person who has a password is offered no invitation; the row says so.
    stale = await admin.post(f"/admin/users/{colleague.id}/invite")
    assert stale.status_code == 409 and "Force password reset" in stale.text
    # Another organization's user, or none: the same 404 page.
    stranger, _ = await other_tenant.user("viewer")
    theirs = await admin.post(f"/admin/users/{stranger.id}/reset-password")
    missing = await admin.post("/admin/users/2147483000/reset-password")
    assert theirs.status_code == missing.status_code == 404
    assert not await OneTimeLink.filter(user_id=stranger.id).exists()


async def test_a_viewer_cannot_invite_or_reset(browser, tenant) -> None:
    viewer, _ = await tenant.user("viewer")
    other, _ = await tenant.user("viewer")
    b = await browser(viewer, tenant.password)
    for action in ("invite", "reset-password"):
        r = await b.post(f"/admin/users/{other.id}/{action}")
        assert r.status_code == 403
    assert not await OneTimeLink.filter(user_id=other.id).exists()


async def test_forgot_password_answers_the_same_page_for_any_address(browser, tenant) -> None:
    user, _ = await tenant.user("viewer")
    login = await (await browser()).get("/login")
    assert 'href="/forgot-password"' in login.text
    answers = []
    for address in (user.email, f"nobody-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"):
        b = await browser()
        assert (await b.get("/forgot-password")).status_code == 200
        r = await b.post("/forgot-password", {"email": address})
        assert r.status_code == 200
        answers.append(r.text.replace(address, "ADDRESS"))
    strip = re.compile(r"[0-9a-f]{64}|<code>[^<]*</code>")  # the CSRF token, a request id
    assert strip.sub("", answers[0]) == strip.sub("", answers[1])
    assert "a link to choose a new one is on its way" in answers[0]
    assert await OneTimeLink.filter(user_id=user.id).count() == 1


async def test_forgot_password_is_rate_limited_on_the_page(browser, tenant, db) -> None:
    address = f"limit-{uuid.uuid4().hex[:6]}@{tenant.slug}.example"
    b = await browser()
    await b.get("/forgot-password")
    for _ in range(db.settings.forgot_password_per_hour):
        assert (await b.post("/forgot-password", {"email": address})).status_code == 200
    r = await b.post("/forgot-password", {"email": address})
    assert r.status_code == 429 and "Too many password reset requests" in r.text
    assert 0 < int(r.headers["retry-after"]) <= 3600
    empty = await b.post("/forgot-password", {"email": ""})
    assert empty.status_code == 422 and "E-mail address is required." in empty.text
    no_token = await (await browser()).post("/forgot-password", {"email": address}, csrf=False)
    assert no_token.status_code == 403


async def test_changing_ones_password_on_the_account_page(browser, tenant) -> None:
    user, _ = await tenant.user("viewer")
    other = await browser(user, tenant.password)
    b = await browser(user, tenant.password)
    page = await b.get("/account/password")
    assert page.status_code == 200 and 'href="/account/password"' in page.text
    wrong = await b.post("/account/password", {"current": "nope nope nope", "new": NEW_PASSWORD,
                                               "new_again": NEW_PASSWORD})  # fmt: skip
    assert wrong.status_code == 422 and "The current password is wrong" in wrong.text
    assert "nope nope nope" not in wrong.text
    differ = await b.post("/account/password", {"current": tenant.password, "new": NEW_PASSWORD,
                                                "new_again": NEW_PASSWORD + "!"})  # fmt: skip
    assert differ.status_code == 422 and "The two new passwords differ" in differ.text
    weak = await b.post("/account/password", {"current": tenant.password, "new": user.email,
                                               "new_again": user.email})  # fmt: skip
    assert weak.status_code == 422 and "must not be your e-mail address" in weak.text
    ok = await b.post("/account/password", {"current": tenant.password, "new": NEW_PASSWORD,
                                             "new_again": NEW_PASSWORD})  # fmt: skip
    assert ok.status_code == 303 and flash_code(ok) == "password.changed"
    assert (await b.get("/account/password")).status_code == 200  # this session stays
    assert (await other.get("/")).status_code == 303  # the other one ended
    assert await Session.filter(user_id=user.id, revoked_at=None).count() == 1
    anonymous = await (await browser()).get("/account/password")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
