"""The password policy holds everywhere a password is set (issue 14): an admin's new user, an
admin setting one, an invitation or reset link, and one's own change; over GraphQL each rule is
an INVALID error on the field, with the policy's message."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from riskops.server.core.errors import Invalid
from riskops.server.identity import links, passwords, users
from riskops.server.identity.auth import ClientInfo, login
from riskops.server.identity.models import User
from riskops.server.security import MIN_PASSWORD_LENGTH

NAME = "Quentin Quill"
CLIENT = ClientInfo(ip="192.0.2.30")


def breached_long() -> str:
    """A password of the shipped breached list that is long enough to pass the length rule."""
    return min(p for p in passwords.breached() if len(p) >= 12 and " " not in p)


def cases(email: str) -> list[tuple[str, str]]:
    """(password, the start of the policy's message) for each rule."""
    return [
        ("", "Password is required."),
        ("x" * 5, "Password is 5 characters; use at least 12"),
        ("y" * 257, "Password is longer than 256 characters."),
        (email, "Password must not be your e-mail address or name."),
        (email.split("@")[0].upper() + " ", "Password must not be your e-mail address or name."),
        (NAME.lower(), "Password must not be your e-mail address or name."),
        (breached_long(), "This password appears in lists of breached passwords"),
    ]


def address(tenant: Any) -> str:
    return f"quentin.quill.{uuid.uuid4().hex[:6]}@{tenant.slug}.example"


def test_the_list_ships_with_the_package_and_the_default_length_holds() -> None:
    assert len(passwords.breached()) > 10_000
    assert "password" in passwords.breached()
    assert MIN_PASSWORD_LENGTH == 12


async def test_an_admin_creating_a_user_meets_each_rule(tenant) -> None:
    email = address(tenant)
    for password, message in cases(email):
        if not password:
            continue  # no password: an invitation instead
        with pytest.raises(Invalid) as exc:
            await users.create_user(tenant.admin, email=email, name=NAME, roles=["viewer"],
                                    password=password)  # fmt: skip
        assert exc.value.message.startswith(message) and exc.value.field == "password"
    assert not await User.filter(email=email).exists()
    await users.create_user(tenant.admin, email=email, name=NAME, roles=["viewer"],
                            password="velvet harbour quartz")  # fmt: skip


async def test_an_admin_setting_a_password_meets_each_rule(tenant, db) -> None:
    email = address(tenant)
    user = await users.create_user(tenant.admin, email=email, name=NAME, roles=["viewer"])
    for password, message in cases(email):
        with pytest.raises(Invalid) as exc:
            await users.set_password(tenant.admin, user.id, password)
        assert exc.value.message.startswith(message)
    await users.set_password(tenant.admin, user.id, "velvet harbour quartz")
    assert (await User.get(id=user.id)).password_changed_at is not None
    assert (await login(db.settings, email, "velvet harbour quartz", CLIENT)).session_secret


async def test_a_link_and_a_change_meet_each_rule(tenant, db) -> None:
    email = address(tenant)
    created = await links.create_user(tenant.admin, email=email, name=NAME, roles=["viewer"])
    assert created.invitation is not None
    token = created.invitation.url.rsplit("/", 1)[1]
    for password, message in cases(email):
        with pytest.raises(Invalid) as exc:
            await links.redeem(db.settings, token, password, CLIENT)
        assert exc.value.message.startswith(message) and exc.value.field == "password"
    result = await links.redeem(db.settings, token, "velvet harbour quartz", CLIENT)
    assert result.principal is not None
    for password, message in cases(email):
        with pytest.raises(Invalid) as exc:
            await links.change_password(result.principal, "velvet harbour quartz", password)
        assert exc.value.message.startswith(message) and exc.value.field == "new"


CREATE = """
mutation($email: String!, $password: String) {
  createUser(email: $email, name: "Quentin Quill", roles: ["viewer"], password: $password) {
    user { id } invitation { url } errors { code message field }
  }
}"""


async def test_graphql_answers_each_rule_as_an_invalid_field(tenant, api) -> None:
    secret = await api.token(tenant, tenant.admin_user)
    email = address(tenant)
    for password, message in cases(email):
        if not password:
            continue
        data = await api.data(secret, CREATE, {"email": email, "password": password})
        [error] = data["createUser"]["errors"]
        assert (error["code"], error["field"]) == ("INVALID", "password")
        assert error["message"].startswith(message)
        assert data["createUser"]["user"] is None
    assert not await User.filter(email=email).exists()
