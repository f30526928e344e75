"""Single sign-on against a real OpenID provider on loopback (oidc-provider, tests/node): login,
just-in-time provisioning, the role mapping, a wrong audience, a wrong nonce, an expired token, a
replayed state and code, a domain not allowed, two attempts in flight in one browser, SSO only
with the break-glass admin, and the configuration's checks. Each test has its own organization,
e-mail domain and provider accounts."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from riskops.audit.models import AuditEvent
from riskops.server.core.errors import Forbidden, Invalid, NotFound, Unauthenticated
from riskops.server.core.principal import Principal
from riskops.server.identity import auth, oidc, sso
from riskops.server.identity.models import Session, SsoConfig, SsoLogin, User
from riskops.server.identity.sessions import ClientInfo
from riskops.server.security import digest
from tests.conftest import PASSWORD
from tests.identity.sso_provider import (
    APP_CALLBACK,
    CLIENT_SECRET,
    OidcProvider,
)

CLIENT = ClientInfo(ip="192.0.2.10", user_agent="pytest-sso")


def domain() -> str:
    return f"{uuid.uuid4().hex[:8]}.acme.test"


async def configure(
    tenant: Any, provider: OidcProvider, dom: str, *, mapping: dict[str, list[str]] | None = None,
    default_roles: list[str] | None = None, scopes: str = "openid email profile groups",
) -> SsoConfig:  # fmt: skip
    return await sso.save_config(tenant.admin, sso.ConfigInput(
        issuer=provider.issuer, client_id=provider.client_id, client_secret=CLIENT_SECRET,
        scopes=scopes, allowed_domain=dom, role_claim="groups",
        role_mapping={"risk-analysts": ["operator"]} if mapping is None else mapping,
        default_roles=default_roles or [],
    ))  # fmt: skip


async def attempt(settings: Any, tenant: Any, browser_secret: str | None = None) -> sso.SsoStart:
    return await sso.begin(settings, tenant.slug, "/cases", browser_secret=browser_secret,
                           redirect_uri=APP_CALLBACK)  # fmt: skip


def params_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


async def sign_in(
    db: Any, tenant: Any, provider: OidcProvider, _: Any, email: str, password: str
) -> sso.SsoLoginResult:
    """A whole sign-in of `email`, in a browser of their own (no session at the provider)."""
    start = await attempt(db.settings, tenant)
    async with httpx.AsyncClient(timeout=10) as http:
        back = await provider.authorize(http, start.redirect_url, email, password)
    return await sso.complete(db.settings, params_of(back), start.browser_secret, CLIENT,
                              redirect_uri=APP_CALLBACK)  # fmt: skip


async def events(org_id: int, *actions: str) -> list[AuditEvent]:
    return await AuditEvent.filter(org_id=org_id, action__in=actions).order_by("seq")


def new(event: AuditEvent) -> dict[str, Any]:
    return json.loads(event.new_values)  # type: ignore[no-any-return]


async def failure_reasons(org_id: int) -> list[str]:
    return [new(e)["reason"] for e in await events(org_id, "sso.login_failed")]


async def test_login_provisions_a_person_with_the_mapped_roles(
    db, tenant, oidc_server, provider_browser
):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    email, pw = await oidc_server.add_account(f"ana@{dom}", groups=["risk-analysts"], name="Ana")

    start = await attempt(db.settings, tenant)
    url = urlsplit(start.redirect_url)
    query = params_of(start.redirect_url)
    assert url.netloc == urlsplit(oidc_server.issuer).netloc and url.path == "/auth"
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    assert "code_verifier" not in query
    stored = await SsoLogin.get(id=digest(query["state"]))
    assert stored.org_id == tenant.org_id and stored.next_path == "/cases"

    back = await oidc_server.authorize(provider_browser, start.redirect_url, email, pw)
    result = await sso.complete(db.settings, params_of(back), start.browser_secret, CLIENT,
                                redirect_uri=APP_CALLBACK)  # fmt: skip
    assert result.session_secret and result.principal and result.next_path == "/cases"
    user = await User.get(email=email)
    assert (user.org_id, user.roles, user.name) == (tenant.org_id, ["operator"], "Ana")
    assert user.sso_subject == f"{oidc_server.issuer}|{email}" and user.password_hash is None
    assert result.principal.user_id == user.id
    assert await Session.filter(user_id=user.id, revoked_at=None).count() == 1

    # The second sign-in finds the same person: nobody is provisioned twice.
    again = await sign_in(db, tenant, oidc_server, provider_browser, email, pw)
    assert again.principal and again.principal.user_id == user.id
    provisioned = await events(tenant.org_id, "user.provisioned")
    assert [e.entity_id for e in provisioned] == [str(user.id)]
    assert new(provisioned[0])["roles"] == ["operator"] and new(provisioned[0])["via"] == "sso"
    logins = await events(tenant.org_id, "auth.login")
    assert [new(e).get("via") for e in logins if e.actor == f"user:{user.id}"] == ["sso", "sso"]


async def test_the_audit_chain_holds_no_secret_token_or_code(
    db, tenant, oidc_server, provider_browser
):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    email, pw = await oidc_server.add_account(f"ana@{dom}", groups=["risk-analysts"])
    start = await attempt(db.settings, tenant)
    back = await oidc_server.authorize(provider_browser, start.redirect_url, email, pw)
    params = params_of(back)
    await sso.complete(db.settings, params, start.browser_secret, CLIENT,
                       redirect_uri=APP_CALLBACK)  # fmt: skip
    with pytest.raises(Unauthenticated):  # replayed: a failure event too
        await sso.complete(db.settings, params, start.browser_secret, CLIENT,
                           redirect_uri=APP_CALLBACK)  # fmt: skip
    chain = json.dumps([(e.old_values, e.new_values)
                        for e in await AuditEvent.filter(org_id=tenant.org_id)])  # fmt: skip
    for secret in (CLIENT_SECRET, params["code"], params["state"], start.browser_secret):
        assert secret not in chain
    sealed = (await SsoConfig.get(org_id=tenant.org_id)).client_secret_sealed
    assert CLIENT_SECRET not in sealed


async def test_the_role_mapping_unites_default_roles_and_refuses_no_role(
    db, tenant, oidc_server, provider_browser
):
    dom = domain()
    mapping = {"risk-approvers": ["approver"], "staff": ["viewer"], "risk-analysts": ["operator"]}
    await configure(tenant, oidc_server, dom, mapping=mapping)
    bob = await oidc_server.add_account(f"bob@{dom}", groups=["risk-approvers", "staff", "x"])
    await sign_in(db, tenant, oidc_server, provider_browser, *bob)
    assert (await User.get(email=bob[0])).roles == ["approver", "viewer"]

    nobody = await oidc_server.add_account(f"carl@{dom}", groups=["cafeteria"])
    with pytest.raises(Forbidden, match="gives you a role"):
        await sign_in(db, tenant, oidc_server, provider_browser, *nobody)
    assert not await User.filter(email=nobody[0]).exists()
    assert "no_roles" in await failure_reasons(tenant.org_id)

    await configure(tenant, oidc_server, dom, mapping=mapping, default_roles=["viewer"])
    await sign_in(db, tenant, oidc_server, provider_browser, *nobody)
    assert (await User.get(email=nobody[0])).roles == ["viewer"]


async def test_an_existing_user_is_linked_and_keeps_their_roles(
    db, tenant, oidc_server, provider_browser
):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    existing = await User.create(org_id=tenant.org_id, email=f"dora@{dom}", name="Dora",
                                 roles=["approver"])  # fmt: skip
    dora = await oidc_server.add_account(existing.email, groups=["risk-analysts"])
    result = await sign_in(db, tenant, oidc_server, provider_browser, *dora)
    assert result.principal and result.principal.user_id == existing.id
    await existing.refresh_from_db()
    assert existing.roles == ["approver"]  # riskops owns the roles of an existing person
    assert existing.sso_subject == f"{oidc_server.issuer}|{existing.email}"
    assert [e.entity_id for e in await events(tenant.org_id, "user.sso_linked")] == [
        str(existing.id)
    ]


async def test_another_organizations_user_or_a_suspended_one_is_refused(
    db, tenant, other_tenant, oidc_server, provider_browser
):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    theirs = await User.create(org_id=other_tenant.org_id, email=f"olga@{dom}", name="Olga",
                               roles=["viewer"])  # fmt: skip
    olga = await oidc_server.add_account(theirs.email, groups=["risk-analysts"])
    with pytest.raises(Forbidden, match="cannot sign in here"):
        await sign_in(db, tenant, oidc_server, provider_browser, *olga)
    await theirs.refresh_from_db()
    assert theirs.sso_subject is None and theirs.org_id == other_tenant.org_id

    mine = await User.create(org_id=tenant.org_id, email=f"sam@{dom}", name="Sam",
                             roles=["viewer"], status="suspended")  # fmt: skip
    sam = await oidc_server.add_account(mine.email, groups=["risk-analysts"])
    with pytest.raises(Forbidden, match="suspended"):
        await sign_in(db, tenant, oidc_server, provider_browser, *sam)
    assert {"other_organization", "suspended"} <= set(await failure_reasons(tenant.org_id))


async def test_a_domain_not_allowed_or_an_unverified_address_is_refused(
    db, tenant, oidc_server, provider_browser
):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    eve = await oidc_server.add_account(f"eve@elsewhere-{dom}", groups=["risk-analysts"])
    with pytest.raises(Forbidden, match=f"accepts {dom} only"):
        await sign_in(db, tenant, oidc_server, provider_browser, *eve)
    sub = await oidc_server.add_account(f"sub@x.{dom}", groups=["risk-analysts"])
    with pytest.raises(Forbidden, match="cannot sign in to this organization"):
        await sign_in(db, tenant, oidc_server, provider_browser, *sub)
    unverified = await oidc_server.add_account(f"uma@{dom}", groups=["risk-analysts"],
                                               email_verified=False)  # fmt: skip
    with pytest.raises(Forbidden, match="verified e-mail"):
        await sign_in(db, tenant, oidc_server, provider_browser, *unverified)
    assert not await User.filter(email__in=[eve[0], sub[0], unverified[0]]).exists()
    reasons = await failure_reasons(tenant.org_id)
    assert reasons.count("domain_not_allowed") == 2 and "email_unverified" in reasons


async def test_an_id_token_for_another_application_is_refused(
    db, tenant, oidc_server, provider_browser
):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    ana = await oidc_server.add_account(f"ana@{dom}", groups=["risk-analysts"])
    start = await attempt(db.settings, tenant)
    back = await oidc_server.authorize(provider_browser, start.redirect_url, *ana)
    await oidc_server.next_id_token(audience_of=f"{oidc_server.client_id}-other")
    with pytest.raises(Unauthenticated, match="another application"):
        await sso.complete(db.settings, params_of(back), start.browser_secret, CLIENT,
                           redirect_uri=APP_CALLBACK)  # fmt: skip
    assert await failure_reasons(tenant.org_id) == ["wrong_audience"]
    assert not await User.filter(email=ana[0]).exists()


async def test_an_id_token_with_another_nonce_is_refused(db, tenant, oidc_server, provider_browser):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    ana = await oidc_server.add_account(f"ana@{dom}", groups=["risk-analysts"])
    start = await attempt(db.settings, tenant)
    # The request reaching the provider carries another nonce (an injected authorization
    # response of someone else's attempt would): the ID token answers that one, not ours.
    parts = urlsplit(start.redirect_url)
    query = {**params_of(start.redirect_url), "nonce": "someone-elses-nonce"}
    forged = urlunsplit(parts._replace(query=urlencode(query)))
    back = await oidc_server.authorize(provider_browser, forged, *ana)
    with pytest.raises(Unauthenticated, match="nonce"):
        await sso.complete(db.settings, params_of(back), start.browser_secret, CLIENT,
                           redirect_uri=APP_CALLBACK)  # fmt: skip
    assert await failure_reasons(tenant.org_id) == ["wrong_nonce"]


async def test_an_answer_naming_another_issuer_is_refused(
    db, tenant, oidc_server, provider_browser
):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    ana = await oidc_server.add_account(f"ana@{dom}", groups=["risk-analysts"])
    start = await attempt(db.settings, tenant)
    back = params_of(await oidc_server.authorize(provider_browser, start.redirect_url, *ana))
    assert back["iss"] == oidc_server.issuer  # RFC 9207: the provider says who answers
    with pytest.raises(Unauthenticated, match="another sign-in provider"):
        await sso.complete(db.settings, {**back, "iss": "https://evil.example"},
                           start.browser_secret, CLIENT, redirect_uri=APP_CALLBACK)  # fmt: skip
    assert await failure_reasons(tenant.org_id) == ["issuer_mismatch"]


async def test_an_expired_id_token_is_refused(
    db, tenant, oidc_server, provider_browser, monkeypatch
):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    ana = await oidc_server.add_account(f"ana@{dom}", groups=["risk-analysts"])
    monkeypatch.setattr(oidc, "CLOCK_SKEW_SECONDS", 0)  # the default minute would take a minute
    start = await attempt(db.settings, tenant)
    back = await oidc_server.authorize(provider_browser, start.redirect_url, *ana)
    await oidc_server.next_id_token(ttl=1)

    real_verify = oidc.verify_id_token

    def verify_later(*args: Any, **kw: Any) -> dict[str, Any]:
        time.sleep(2.1)  # the token, issued a moment ago for one second, has expired
        return real_verify(*args, **kw)

    monkeypatch.setattr(oidc, "verify_id_token", verify_later)
    with pytest.raises(Unauthenticated, match="not acceptable"):
        await sso.complete(db.settings, params_of(back), start.browser_secret, CLIENT,
                           redirect_uri=APP_CALLBACK)  # fmt: skip
    assert await failure_reasons(tenant.org_id) == ["expired"]


async def test_a_replayed_state_or_code_is_refused(db, tenant, oidc_server, provider_browser):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    ana = await oidc_server.add_account(f"ana@{dom}", groups=["risk-analysts"])
    start = await attempt(db.settings, tenant)
    back = await oidc_server.authorize(provider_browser, start.redirect_url, *ana)
    params = params_of(back)
    await sso.complete(db.settings, params, start.browser_secret, CLIENT,
                       redirect_uri=APP_CALLBACK)  # fmt: skip
    with pytest.raises(Unauthenticated, match="already used"):
        await sso.complete(db.settings, params, start.browser_secret, CLIENT,
                           redirect_uri=APP_CALLBACK)  # fmt: skip
    # The used code with a fresh attempt's state: the provider refuses the code.
    fresh = await attempt(db.settings, tenant, start.browser_secret)
    replay = {**params, "state": params_of(fresh.redirect_url)["state"]}
    with pytest.raises(Unauthenticated, match="refused the sign-in code"):
        await sso.complete(db.settings, replay, start.browser_secret, CLIENT,
                           redirect_uri=APP_CALLBACK)  # fmt: skip
    assert await failure_reasons(tenant.org_id) == ["replayed", "code_refused"]
    assert await Session.filter(org_id=tenant.org_id, user__email=ana[0]).count() == 1


async def test_an_attempt_completes_only_in_the_browser_that_started_it(
    db, tenant, oidc_server, provider_browser
):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    ana = await oidc_server.add_account(f"ana@{dom}", groups=["risk-analysts"])
    start = await attempt(db.settings, tenant)
    back = await oidc_server.authorize(provider_browser, start.redirect_url, *ana)
    for other in (None, "x" * 43):
        with pytest.raises(Unauthenticated, match="another browser"):
            await sso.complete(db.settings, params_of(back), other, CLIENT,
                               redirect_uri=APP_CALLBACK)  # fmt: skip
    # Still usable by its own browser (a stranger cannot burn it).
    result = await sso.complete(db.settings, params_of(back), start.browser_secret, CLIENT,
                                redirect_uri=APP_CALLBACK)  # fmt: skip
    assert result.session_secret


async def test_two_tabs_signing_in_at_once_both_complete(db, tenant, oidc_server, provider_browser):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    ana = await oidc_server.add_account(f"ana@{dom}", groups=["risk-analysts"])
    first = await attempt(db.settings, tenant)
    second = await attempt(db.settings, tenant, first.browser_secret)  # the same browser
    assert second.browser_secret == first.browser_secret
    # The person signs in at the provider in the first tab; the second tab's request then finds
    # their session there. Both come back while both attempts are in flight.
    backs = [await oidc_server.authorize(provider_browser, start.redirect_url, *ana)
             for start in (first, second)]  # fmt: skip
    results = await asyncio.gather(*(
        sso.complete(db.settings, params_of(b), first.browser_secret, CLIENT,
                     redirect_uri=APP_CALLBACK)
        for b in reversed(backs)
    ))  # fmt: skip
    assert all(r.session_secret for r in results)
    assert len({r.principal.user_id for r in results if r.principal}) == 1
    assert await User.filter(email=ana[0]).count() == 1


async def test_sso_only_refuses_passwords_except_for_the_break_glass_admin(
    db, tenant, other_tenant
):
    viewer, viewer_p = await tenant.user("viewer")
    other_admin = other_tenant.admin_user
    with pytest.raises(Invalid, match="Set up and enable single sign-on first"):
        await sso.set_sso_only(tenant.admin, True, tenant.admin_user.id)
    await sso.save_config(tenant.admin, sso.ConfigInput(
        issuer="https://login.example.test", client_id="riskops", client_secret="s3cret",
        scopes="openid email", allowed_domain="example.test", role_claim="groups",
        role_mapping={}, default_roles=["viewer"],
    ))  # fmt: skip
    with pytest.raises(Forbidden):
        await sso.set_sso_only(viewer_p, True, tenant.admin_user.id)
    with pytest.raises(Invalid, match="Break-glass admin: choose"):
        await sso.set_sso_only(tenant.admin, True, None)
    with pytest.raises(Invalid, match="must be an active admin"):
        await sso.set_sso_only(tenant.admin, True, viewer.id)
    with pytest.raises(NotFound) as missing:
        await sso.set_sso_only(tenant.admin, True, 99_999_999)
    with pytest.raises(NotFound) as theirs:
        await sso.set_sso_only(tenant.admin, True, other_admin.id)
    assert str(theirs.value).replace(str(other_admin.id), "N") == str(missing.value).replace(
        "99999999", "N"
    )

    policy = await sso.set_sso_only(tenant.admin, True, tenant.admin_user.id)
    assert policy.sso_only and policy.break_glass_user_id == tenant.admin_user.id
    with pytest.raises(Forbidden, match="single sign-on only"):
        await auth.login(db.settings, viewer.email, PASSWORD, CLIENT)
    result = await auth.login(db.settings, tenant.admin_user.email, PASSWORD, CLIENT)
    assert result.session_secret
    event = (await events(tenant.org_id, "security.sso_only"))[-1]
    assert new(event) == {"sso_only": True, "break_glass_user_id": tenant.admin_user.id}

    await sso.set_sso_only(tenant.admin, False, None)
    assert (await auth.login(db.settings, viewer.email, PASSWORD, CLIENT)).session_secret


async def test_the_configuration_is_checked_and_its_secret_sealed_and_kept(db, tenant):
    def data(**kw: Any) -> sso.ConfigInput:
        base = dict(issuer="https://login.example.test/realms/acme", client_id="riskops",
                    client_secret="first-secret", scopes="openid email",
                    allowed_domain="Example.test", role_claim="groups",
                    role_mapping={"g": ["operator"]}, default_roles=[])  # fmt: skip
        return sso.ConfigInput(**{**base, **kw})  # type: ignore[arg-type]

    cases = [
        (data(issuer="http://login.example.test"), "issuer"),
        (data(issuer="https://login.example.test?x=1"), "issuer"),
        (data(scopes="email profile"), "scopes"),
        (data(allowed_domain="not a domain"), "allowedDomain"),
        (data(role_mapping={"g": ["emperor"]}), "roleMapping"),
        (data(default_roles=["emperor"]), "defaultRoles"),
        (data(role_claim="bad claim!"), "roleClaim"),
        (data(client_secret=""), "clientSecret"),
        (data(client_id=""), "clientId"),
    ]
    for bad, field in cases:
        with pytest.raises(Invalid) as exc:
            await sso.save_config(tenant.admin, bad)
        assert exc.value.field == field, (bad, exc.value.message)
    assert not await SsoConfig.filter(org_id=tenant.org_id).exists()

    viewer = Principal(user_id=tenant.admin_user.id, org_id=tenant.org_id,
                       roles=frozenset({"viewer"}))  # fmt: skip
    with pytest.raises(Forbidden):
        await sso.save_config(viewer, data())
    with pytest.raises(Forbidden):
        await sso.get_config(viewer)

    saved = await sso.save_config(tenant.admin, data())
    assert saved.allowed_domain == "example.test" and saved.version == 1
    sealed = saved.client_secret_sealed
    kept = await sso.save_config(tenant.admin, data(client_secret="", scopes="openid"),
                                 expected_version=1)  # fmt: skip
    assert kept.client_secret_sealed == sealed and kept.version == 2
    assert sso.unseal(sso.SECRET_PURPOSE, kept.client_secret_sealed) == "first-secret"
    replaced = await sso.save_config(tenant.admin, data(client_secret="second-secret"))
    assert sso.unseal(sso.SECRET_PURPOSE, replaced.client_secret_sealed) == "second-secret"
    saves = await events(tenant.org_id, "sso.config_saved")
    assert [new(e)["secret_replaced"] for e in saves] == [True, False, True]
    assert "secret" not in json.dumps([(e.old_values, e.new_values) for e in saves]).replace(
        "secret_replaced", ""
    )


async def test_test_connection_checks_discovery_and_keys(db, tenant, oidc_server):
    dom = domain()
    await configure(tenant, oidc_server, dom)
    checks = await sso.test_connection(tenant.admin)
    assert [c.name for c in checks] == [
        "Client secret",
        "Discovery",
        "Endpoints",
        "Key set (JWKS)",
        "Scopes",
    ]
    assert all(c.ok for c in checks), checks
    await configure(tenant, oidc_server, dom, scopes="openid email offline_thing")
    scopes = (await sso.test_connection(tenant.admin))[-1]
    assert not scopes.ok and "offline_thing" in scopes.detail

    await sso.save_config(tenant.admin, sso.ConfigInput(
        issuer=oidc_server.issuer + "/wrong", client_id="riskops", client_secret=None,
        scopes="openid", allowed_domain=dom, role_claim="groups", role_mapping={},
        default_roles=[],
    ))  # fmt: skip
    failed = await sso.test_connection(tenant.admin)
    assert failed[-1].name == "Discovery" and not failed[-1].ok
    assert "HTTP 404" in failed[-1].detail


async def test_an_organization_without_sso_cannot_start_one(db, tenant):
    for slug in (tenant.slug, "no-such-org"):
        with pytest.raises(NotFound, match="not set up"):
            await sso.begin(db.settings, slug, "/", redirect_uri=APP_CALLBACK)


async def test_a_process_keeps_the_providers_document_and_keys_for_a_while(
    db, tenant, oidc_server, provider_browser, monkeypatch
):
    """Sign-ins fetch the discovery document and the key set once per `CACHE_SECONDS`; a key
    set the ID token's signature does not match is fetched again at once (a rotation), and the
    admin's "Test connection" and a saved configuration always fetch."""
    from joserfc.jwk import KeySet, RSAKey

    fetched: list[str] = []
    real = oidc._get_json

    async def counted(client: Any, url: str, what: str) -> Any:
        fetched.append(url.rsplit("/", 1)[-1])
        return await real(client, url, what)

    monkeypatch.setattr(oidc, "_get_json", counted)
    dom = domain()
    await configure(tenant, oidc_server, dom)
    email, pw = await oidc_server.add_account(f"kay@{dom}", groups=["risk-analysts"])
    for _ in range(2):
        done = await sign_in(db, tenant, oidc_server, provider_browser, email, pw)
        assert done.session_secret
    discovery, jwks = (
        fetched.count("openid-configuration"),
        len(fetched) - fetched.count("openid-configuration"),
    )
    assert (discovery, jwks) == (1, 1), fetched

    # the provider signs with a key the kept set does not hold: fetched again, and signed in
    provider = oidc._discovered[oidc_server.issuer][1]
    stale = KeySet([RSAKey.generate_key(2048, parameters={"kid": "old"})])
    oidc._key_sets[provider.jwks_uri] = (time.monotonic(), stale)
    fetched.clear()
    done = await sign_in(db, tenant, oidc_server, provider_browser, email, pw)
    assert done.session_secret and fetched == [provider.jwks_uri.rsplit("/", 1)[-1]]

    fetched.clear()
    checks = await sso.test_connection(tenant.admin, redirect_uri=APP_CALLBACK)
    assert all(c.ok for c in checks) and len(fetched) == 2, (checks, fetched)

    fetched.clear()
    await configure(tenant, oidc_server, dom)  # saved again: forgotten
    await sign_in(db, tenant, oidc_server, provider_browser, email, pw)
    assert len(fetched) == 2, fetched
