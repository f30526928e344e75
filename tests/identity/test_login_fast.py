"""Issue 14's short paths of the login: the second step's TOTP code in one transaction of raw
statements (PostgreSQL) or one thread hop (SQLite), the session and its audit event in one
statement, the account and its policy in one. They must keep what the ORM path guaranteed."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from riskops.audit import store
from riskops.audit.chain import canonical, event_hash
from riskops.audit.models import AuditEvent, AuditHead
from riskops.audit.types import Actor, Entry, RiskLevel
from riskops.audit.verify import verify_org
from riskops.server.core.errors import RateLimited, Unauthenticated
from riskops.server.identity import auth, challenges, mfa_login
from riskops.server.identity.models import (
    ChallengeStage,
    LoginChallenge,
    LoginFailure,
    MfaFactor,
    Organization,
    Session,
    User,
)
from riskops.server.identity.sessions import ClientInfo, start_session
from riskops.server.security import digest
from tests.conftest import PASSWORD, make_user
from tests.identity.mfa_support import code_at, enrol, steady

CLIENT = ClientInfo(ip="192.0.2.44", user_agent='ua ✓ "quoted"', request_id="req-1")


async def challenge_of(db: Any, user: Any) -> str:
    first = await auth.login(db.settings, user.email, PASSWORD, CLIENT)
    assert first.challenge_secret is not None and first.session_secret is None
    return first.challenge_secret


def test_the_event_text_in_parts_is_the_canonical_event() -> None:
    actor = Actor(org_id=7, actor="user:3", actor_type="user", ip=None, user_agent="é \"x\"",
                  request_id=None)  # fmt: skip
    entry = Entry("auth.login", "session", "ab\\cd", {}, {"via": "mfa", "n": [1, "ü"]},
                  RiskLevel.LOW)  # fmt: skip
    params = store.event_params(actor, entry, ts="2026-12-06T10:00:00.000001Z")
    before, middle, after = params[-3:]
    event = {
        "org": 7, "seq": 12, "ts": "2026-12-06T10:00:00.000001Z", "actor": "user:3",
        "actor_type": "user", "action": "auth.login", "entity_type": "session",
        "entity_id": "ab\\cd", "ip": None, "user_agent": 'é "x"', "risk_level": "low",
        "old_values": {}, "new_values": {"via": "mfa", "n": [1, "ü"]}, "request_id": None,
        "prev_hash": "f" * 64,
    }  # fmt: skip
    text = f"{before}{'f' * 64}{middle}12{after}"
    assert text.encode() == canonical(event)
    assert event_hash(event) == hashlib.sha256(text.encode()).hexdigest()


async def test_logins_append_events_that_verify(tenant: Any, db: Any) -> None:
    user, me = await tenant.user("viewer")
    plain, _ = await tenant.user("viewer")
    secret, _ = await enrol(me)
    done = await auth.login(db.settings, plain.email, tenant.password, CLIENT)
    assert done.session_secret is not None
    challenge = await challenge_of(db, user)
    await steady()
    second = await mfa_login.second_step(db.settings, challenge, code_at(secret), CLIENT)
    assert second.session_secret is not None and second.principal is not None
    logins = await AuditEvent.filter(org_id=tenant.org_id, action="auth.login").order_by("seq")
    assert [e.new_values for e in logins[-2:]] == ["{}", '{"via":"mfa"}']
    last = logins[-1]
    assert last.entity_id == digest(second.session_secret)[:16]
    assert (last.actor, last.ip, last.user_agent, last.request_id) == (
        f"user:{user.id}", CLIENT.ip, CLIENT.user_agent, CLIENT.request_id)  # fmt: skip
    assert (await verify_org(tenant.org_id, db.settings.key)).ok
    session = await Session.get(id=digest(second.session_secret))
    assert session.user_id == user.id and session.ip == CLIENT.ip
    assert not await LoginFailure.filter(account=f"mfa:{user.id}").exists()
    assert not await LoginFailure.filter(account=user.email).exists()


async def test_the_challenge_opens_while_the_password_is_checked(tenant: Any, db: Any) -> None:
    """A person with a second step: the challenge is written while argon2 runs, so a wrong
    password leaves a challenge row too, but no cookie value: nothing can use it, and the
    attempt is counted. A right password counts as an attempt until the code is right; then
    the password's and the codes' failures are forgotten with the session's start."""
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    before = await LoginChallenge.filter(user_id=user.id).count()
    with pytest.raises(Unauthenticated):
        await auth.login(db.settings, user.email, "not the password", CLIENT)
    assert await LoginChallenge.filter(user_id=user.id).count() == before + 1  # unusable
    assert await LoginFailure.filter(account=user.email).count() == 1
    first = await auth.login(db.settings, user.email, PASSWORD, CLIENT)
    assert first.session_secret is None and first.challenge_secret is not None
    assert await LoginFailure.filter(account=user.email).count() == 2  # still counted
    await steady()
    done = await mfa_login.second_step(db.settings, first.challenge_secret, code_at(secret), CLIENT)
    assert done.session_secret is not None
    assert not await LoginFailure.filter(account=user.email).exists()
    assert not await LoginFailure.filter(account=f"mfa:{user.id}").exists()


async def test_a_second_step_after_sso_leaves_the_password_failures(tenant: Any, db: Any) -> None:
    """Only a challenge opened by a password forgets the password's failures: signing in by
    single sign-on and a code says nothing about guesses at the password."""
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    with pytest.raises(Unauthenticated):
        await auth.login(db.settings, user.email, "a guess", CLIENT)
    opened = await challenges.open_challenge(
        await User.get(id=user.id), ChallengeStage.MFA, CLIENT, via="sso"
    )
    await steady()
    done = await mfa_login.second_step(
        db.settings, opened.challenge_secret, code_at(secret), CLIENT
    )
    assert done.session_secret is not None
    assert await LoginFailure.filter(account=user.email).count() == 1


async def test_a_login_starts_the_chain_of_an_organization_without_a_head(db: Any) -> None:
    org = await Organization.create(slug=f"nohead-{uuid.uuid4().hex[:8]}", name="No head")
    user, _ = await make_user(org.id, ["viewer"])
    assert not await AuditHead.filter(org_id=org.id).exists()
    done = await auth.login(db.settings, user.email, PASSWORD, CLIENT)
    assert done.session_secret is not None
    head = await AuditHead.get(org_id=org.id)
    [event] = await AuditEvent.filter(org_id=org.id)
    assert (event.seq, event.action, event.hash) == (1, "auth.login", head.hash)
    assert (await verify_org(org.id, db.settings.key)).ok


async def test_the_same_code_in_two_parallel_second_steps_signs_in_once(
    tenant: Any, db: Any
) -> None:
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    challenges = [await challenge_of(db, user) for _ in range(2)]
    await steady()
    code = code_at(secret)
    answers = await asyncio.gather(
        *(mfa_login.second_step(db.settings, c, code, CLIENT) for c in challenges),
        return_exceptions=True,
    )
    ok = [a for a in answers if not isinstance(a, BaseException)]
    refused = [a for a in answers if isinstance(a, BaseException)]
    assert len(ok) == 1 and len(refused) == 1, answers
    assert isinstance(refused[0], Unauthenticated) and "not right" in str(refused[0])
    assert await Session.filter(user_id=user.id).count() == 1
    assert await LoginFailure.filter(account=f"mfa:{user.id}").count() == 1  # the loser's
    # and the loser's challenge stays open for the next step's code
    assert await LoginChallenge.filter(user_id=user.id, used_at=None).count() == 1


async def test_the_failure_count_still_limits_codes(tenant: Any, db: Any) -> None:
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    challenge = await challenge_of(db, user)
    limit = db.settings.login_max_failures_per_account
    for i in range(limit):
        with pytest.raises(Unauthenticated, match="not right"):
            await mfa_login.second_step(db.settings, challenge, f"{i:06d}", CLIENT)
    assert await LoginFailure.filter(account=f"mfa:{user.id}").count() == limit
    await steady()
    with pytest.raises(RateLimited) as refused:
        await mfa_login.second_step(db.settings, challenge, code_at(secret), CLIENT)
    assert 0 < (refused.value.retry_after or 0) <= db.settings.login_failure_window_seconds
    factor = await MfaFactor.get(user_id=user.id)
    assert not await Session.filter(user_id=user.id).exists()
    assert (await LoginChallenge.get(id=digest(challenge))).used_at is None
    # the right code was not checked: its step is still unclaimed
    assert factor.last_step is None or factor.last_step < int(time.time()) // 30


@pytest.mark.sqlite_only
async def test_a_challenge_used_meanwhile_leaves_nothing_of_the_attempt(
    tenant: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite reads first, then writes in one thread hop: a challenge used between the two
    (PostgreSQL's one statement: `test_the_one_statement_step_finds_a_challenge_used_meanwhile`;
    its counted way uses the challenge in the transaction that checks the code)."""
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    challenge = await challenge_of(db, user)
    before = (await MfaFactor.get(user_id=user.id)).last_step
    real = mfa_login.prepare

    async def used_meanwhile(*args: Any, **kwargs: Any) -> Any:  # after the challenge's read
        await LoginChallenge.filter(id=digest(challenge)).update(used_at=datetime.now(UTC))
        return await real(*args, **kwargs)

    monkeypatch.setattr(mfa_login, "prepare", used_meanwhile)
    await steady()
    with pytest.raises(Unauthenticated, match="expired or was already used"):
        await mfa_login.second_step(db.settings, challenge, code_at(secret), CLIENT)
    assert (await MfaFactor.get(user_id=user.id)).last_step == before  # the claim rolled back
    assert not await Session.filter(user_id=user.id).exists()
    assert not await LoginFailure.filter(account=f"mfa:{user.id}").exists()


async def test_parallel_logins_and_appends_keep_one_chain(tenant: Any, db: Any) -> None:
    people = [(await tenant.user("viewer"))[0] for _ in range(4)]
    actor = Actor(org_id=tenant.org_id, actor="system", actor_type="system")
    entry = Entry("test.ping", "organization", tenant.org_id, {}, {}, RiskLevel.LOW)
    results = await asyncio.gather(
        *(auth.login(db.settings, p.email, PASSWORD, CLIENT) for p in people * 2),
        *(store.emit(actor, entry) for _ in range(8)),
    )
    assert all(r.session_secret for r in results[:8])  # type: ignore[union-attr]
    verified = await verify_org(tenant.org_id, db.settings.key)
    assert verified.ok, verified
    head = await AuditHead.get(org_id=tenant.org_id)
    assert await AuditEvent.filter(org_id=tenant.org_id).count() == head.seq


async def test_a_session_started_inside_a_callers_transaction_commits_with_it(
    tenant: Any, db: Any
) -> None:
    user, _ = await tenant.user("viewer")
    async with in_transaction():
        started = await start_session(db.settings, user, CLIENT, via="sso")
        assert started.session_secret is not None
    assert await Session.filter(id=digest(started.session_secret)).exists()
    with pytest.raises(RuntimeError):
        async with in_transaction():
            gone = await start_session(db.settings, user, CLIENT, via="sso")
            raise RuntimeError("the caller's transaction fails")
    assert not await Session.filter(id=digest(gone.session_secret or "")).exists()
    assert (await verify_org(tenant.org_id, db.settings.key)).ok


@pytest.mark.postgres_only
async def test_only_the_reservation_and_the_challenge_skip_the_wal_flush(
    tenant: Any, db: Any
) -> None:
    """The rate limit's reservation and the challenge's opening commit without waiting for the
    WAL flush, each for its own transaction only: every pooled connection is back to the
    server's setting afterwards, so the session and its audit event are flushed."""
    from tortoise import connections

    conn = connections.get("default")
    async with conn.acquire_connection() as raw:
        server = await raw.fetchval("SHOW synchronous_commit")
    user, principal = await tenant.user("viewer")
    await enrol(principal)
    await challenge_of(db, user)  # reservation, password, challenge
    for _ in range(4):
        async with conn.acquire_connection() as raw:
            assert await raw.fetchval("SHOW synchronous_commit") == server


@pytest.mark.postgres_only
async def test_a_login_sends_two_statements_and_its_second_step_one(tenant: Any, db: Any) -> None:
    """PostgreSQL (issue 14's figure): the password step sends the account's lookup with the
    attempt's reservation as one statement, then the session's writes (or, with a second step,
    the challenge's opening, while argon2 runs); the second step is one statement."""
    from tests.support.statements import Statements

    plain, _ = await tenant.user("viewer")
    with Statements() as sql:
        signed_in = await auth.login(db.settings, plain.email, PASSWORD, CLIENT)
    assert signed_in.session_secret is not None
    assert len(sql.sent) == 2, sql.sent
    assert "riskops_login_reserve" in sql.sent[0] and "app_user" in sql.sent[0]

    user, principal = await tenant.user("viewer")
    secret, _ = await enrol(principal)
    await steady()
    with Statements() as sql:
        challenge = await challenge_of(db, user)
    assert len(sql.sent) == 2 and "login_challenge" in sql.sent[1], sql.sent
    with Statements() as sql:
        done = await mfa_login.second_step(db.settings, challenge, code_at(secret), CLIENT)
    assert done.session_secret is not None
    assert len(sql.sent) == 1, sql.sent


@pytest.mark.postgres_only
async def test_the_one_statement_step_finds_a_challenge_used_meanwhile(
    tenant: Any, db: Any
) -> None:
    """PostgreSQL's one-statement second step reads the challenge, then locks it: a challenge
    another transaction uses meanwhile (its row lock held) is found used once that commits,
    and nothing of the attempt is written."""
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    challenge = await challenge_of(db, user)
    assert (await LoginChallenge.get(id=digest(challenge))).totp_check
    before = (await MfaFactor.get(user_id=user.id)).last_step
    from tortoise import connections

    await steady()
    async with connections.get("default").acquire_connection() as raw, raw.transaction():
        # another connection's transaction, not this task's (Tortoise's is per context)
        await raw.execute(
            "UPDATE login_challenge SET used_at = now() WHERE id = $1", digest(challenge)
        )
        step = asyncio.create_task(
            mfa_login.second_step(db.settings, challenge, code_at(secret), CLIENT)
        )
        await asyncio.sleep(0.5)
        assert not step.done()  # waiting for the challenge's row
    with pytest.raises(Unauthenticated, match="expired or was already used"):
        await step
    assert (await MfaFactor.get(user_id=user.id)).last_step == before
    assert not await Session.filter(user_id=user.id).exists()
    assert not await LoginFailure.filter(account=f"mfa:{user.id}").exists()


async def test_a_challenge_cookie_with_other_ids_is_gone(tenant: Any, db: Any) -> None:
    """The cookie value starts with the organization's and the user's ids (the one-statement
    step drafts the session from them): changed, it is another value, whose challenge does
    not exist, and nothing of the attempt is written."""
    user, me = await tenant.user("viewer")
    other, _ = await tenant.user("viewer")
    secret, _ = await enrol(me)
    challenge = await challenge_of(db, user)
    org, uid, token = challenge.split(".", 2)
    assert (int(org), int(uid)) == (tenant.org_id, user.id)
    await steady()
    for forged in (f"{org}.{other.id}.{token}", f"{int(org) + 1}.{uid}.{token}", token,
                   f"{org}.{uid}.", f"x.{uid}.{token}", f"{org}.{uid}.{token}x"):  # fmt: skip
        with pytest.raises(Unauthenticated, match="expired or was already used"):
            await mfa_login.second_step(db.settings, forged, code_at(secret), CLIENT)
    assert not await Session.filter(user_id__in=[user.id, other.id]).exists()
    assert not await LoginFailure.filter(account__in=[f"mfa:{user.id}", f"mfa:{other.id}"]).exists()
    done = await mfa_login.second_step(db.settings, challenge, code_at(secret), CLIENT)
    assert done.principal is not None and done.principal.user_id == user.id


async def test_a_challenge_holds_keyed_digests_of_codes_and_drops_them_when_used(
    tenant: Any, db: Any
) -> None:
    """What the second step checks a code against: keyed digests (no code of the challenge's
    lifetime appears in the row, and without the installation key the digests say nothing),
    for every step until the challenge expires, cleared when the challenge is used."""
    import pyotp

    from riskops.server.identity import totp

    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    challenge = await challenge_of(db, user)
    row = await LoginChallenge.get(id=digest(challenge))
    check = row.totp_check
    assert check is not None
    factor = await MfaFactor.get(user_id=user.id)
    assert check["factor"] == factor.id
    assert check["forget"] == [f"mfa:{user.id}", user.email]
    first = totp.current_step(row.created_at.timestamp()) - 1
    last = totp.current_step(row.expires_at.timestamp()) + 1
    assert len(check["codes"]) == last - first + 1
    codes = [pyotp.TOTP(secret).at(step * 30) for step in range(first, last + 1)]
    held = {str(v) for v in (*check["codes"], *check["forget"], check["factor"])}
    assert not held & set(codes)  # whole values: a code is none of them
    assert all(len(d) == 32 and set(d) <= set("0123456789abcdef") for d in check["codes"])
    assert totp.code_digest(db.settings.key, row.id, first + 1, codes[1]) in check["codes"]
    assert totp.code_digest(b"another key" * 3, row.id, first + 1, codes[1]) not in check["codes"]
    await steady()
    await mfa_login.second_step(db.settings, challenge, code_at(secret), CLIENT)
    used = await LoginChallenge.get(id=digest(challenge))
    assert used.used_at is not None and used.totp_check is None


async def test_a_factor_replaced_after_the_password_refuses_the_code(tenant: Any, db: Any) -> None:
    """The challenge was opened with the factor of that moment: after a reset and a new
    enrolment, a code of the new factor is refused and counted (the person signs in again),
    on both backends alike."""
    user, me = await tenant.user("viewer")
    await enrol(me)
    challenge = await challenge_of(db, user)
    await MfaFactor.filter(user_id=user.id).delete()
    await User.filter(id=user.id).update(mfa_enabled=False)
    newer, _ = await enrol(me)
    assert (await MfaFactor.get(user_id=user.id)).id != (
        await LoginChallenge.get(id=digest(challenge))
    ).totp_check["factor"]
    await steady()
    with pytest.raises(Unauthenticated, match="not right"):
        await mfa_login.second_step(db.settings, challenge, code_at(newer), CLIENT)
    assert await LoginFailure.filter(account=f"mfa:{user.id}").count() == 1
    assert not await Session.filter(user_id=user.id).exists()


async def test_a_challenge_without_its_check_takes_the_counted_way(tenant: Any, db: Any) -> None:
    """A challenge without `totp_check` (opened before it existed, or its factor's secret could
    not be opened then) is checked against the factor itself: a wrong code is counted, the
    right one signs in once, on both backends."""
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    challenge = await challenge_of(db, user)
    await LoginChallenge.filter(id=digest(challenge)).update(totp_check=None)
    await steady()
    wrong = f"{(int(code_at(secret)) + 1) % 1_000_000:06d}"
    with pytest.raises(Unauthenticated, match="not right"):
        await mfa_login.second_step(db.settings, challenge, wrong, CLIENT)
    assert await LoginFailure.filter(account=f"mfa:{user.id}").count() == 1
    done = await mfa_login.second_step(db.settings, challenge, code_at(secret), CLIENT)
    assert done.principal is not None and done.principal.user_id == user.id
    assert not await LoginFailure.filter(account=f"mfa:{user.id}").exists()
    with pytest.raises(Unauthenticated, match="expired or was already used"):
        await mfa_login.second_step(db.settings, challenge, code_at(secret), CLIENT)


async def test_a_challenge_opened_by_single_sign_on_holds_its_check(tenant: Any, db: Any) -> None:
    """Single sign-on and an invitation's link open the challenge without the factor at hand:
    it is read then, so their second step is the same one statement; a right code forgets only
    the codes' failures (not a password's: no password was typed)."""
    from riskops.server.identity.models import ChallengeStage

    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    opened = await challenges.open_challenge(user, ChallengeStage.MFA, CLIENT, via="sso")
    assert opened.challenge_secret is not None
    row = await LoginChallenge.get(id=digest(opened.challenge_secret))
    assert row.totp_check is not None and row.totp_check["forget"] == [f"mfa:{user.id}"]
    await steady()
    done = await mfa_login.second_step(db.settings, opened.challenge_secret, code_at(secret),
                                       CLIENT)  # fmt: skip
    assert done.principal is not None and done.principal.user_id == user.id


async def test_a_code_of_a_later_step_is_refused_though_its_digest_is_held(
    tenant: Any, db: Any
) -> None:
    """The challenge holds the digests of every step until it expires, but only the steps
    around now are compared: a code of two or five steps later (one minute, two and a half)
    is refused and counted, on both backends; the current code still signs in."""
    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    challenge = await challenge_of(db, user)
    check = (await LoginChallenge.get(id=digest(challenge))).totp_check
    assert check is not None and len(check["codes"]) > 6
    await steady()
    for later in (2, 5):
        with pytest.raises(Unauthenticated, match="not right"):
            await mfa_login.second_step(db.settings, challenge, code_at(secret, later), CLIENT)
    assert await LoginFailure.filter(account=f"mfa:{user.id}").count() == 2
    assert not await Session.filter(user_id=user.id).exists()
    done = await mfa_login.second_step(db.settings, challenge, code_at(secret), CLIENT)
    assert done.principal is not None and done.principal.user_id == user.id


async def test_resetting_mfa_closes_an_open_challenge(tenant: Any, db: Any) -> None:
    """An admin's reset (a lost device, a compromised account) closes the person's open
    challenges: the code of the factor that was removed finds the step gone."""
    from riskops.server.identity import mfa

    user, me = await tenant.user("viewer")
    secret, _ = await enrol(me)
    challenge = await challenge_of(db, user)
    await mfa.reset_mfa(tenant.admin, user.id)
    await steady()
    with pytest.raises(Unauthenticated, match="expired or was already used"):
        await mfa_login.second_step(db.settings, challenge, code_at(secret), CLIENT)
    assert not await Session.filter(user_id=user.id).exists()
