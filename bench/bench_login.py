"""The login (issue 14): "with and without the second step, it costs one argon2 verification (the
rest ≤ 5 ms p50, measured beside argon2 alone)".

Interleaved in one process, on a real database (a SQLite file, then PostgreSQL), one of each per
round after WARMUP rounds, the order rotating from round to round so that a slow spell of this
shared machine hits every kind alike:

(a) argon2 alone: `security.verify_password` of the very hash the users hold;
(b) `auth.login` of a person without MFA (rate-limit reservation, password check, session, audit
    event): the rest = (b) - (a), per round;
(c) `auth.login` of a person with a confirmed TOTP factor (returns the challenge), then
    `mfa_login.second_step` with the code of the current time step: the rest = (c) - (a), per round.
    A code's step is never accepted twice (the factor's `last_step`), so each round signs in a
    person of its own, enrolled beforehand through `mfa.enrol_start`/`enrol_confirm` with the
    code of the step before (as tests/identity/mfa_support.py does): the current step is always
    later than the last one accepted, and the product's replay check (the conditional UPDATE of
    `last_step`) runs unchanged in the measured path. Nothing is rewound by hand;
(d) the same through the pages with the httpx ASGI client: POST /login (no MFA), and POST /login
    then POST /login/code (MFA); each round's client and its CSRF token (GET /login) are made
    before the clock starts. (d) - (b) and (d) - (c) are the HTTP layer's share.

Then, untimed, the SQL statements each login sends (Tortoise's query log), which is where the
rest goes on a machine where one round trip costs what it costs.

Not part of the suite: `.venv/bin/python bench/run.py bench_login`. RISKOPS_BENCH_LOGIN_ROUNDS
(200) and RISKOPS_BENCH_LOGIN_BACKENDS (sqlite,postgres). The PostgreSQL database
`riskops_bench_login` is created and migrated on the first run and kept (each run adds its own
organization); the SQLite file lives in a temporary directory.
"""

from __future__ import annotations

import cProfile
import logging
import os
import pstats
import re
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pyotp
from benchlib import ADMIN, db_url, machine, ms, pct

ROUNDS = int(os.environ.get("RISKOPS_BENCH_LOGIN_ROUNDS", "200"))
PROFILE_ROUNDS = 30
WARMUP = 20
BACKENDS = os.environ.get("RISKOPS_BENCH_LOGIN_BACKENDS", "sqlite,postgres").split(",")
DB_NAME = "riskops_bench_login"
SECRET = "bench-login-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery staple"
CLIENT_IP = "192.0.2.10"
TARGET = 0.005
VERDICT = {True: "PASS", False: "FAIL"}
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
KINDS = (
    "a argon2 alone",
    "b login, no MFA",
    "c login + second step",
    "d1 POST /login, no MFA",
    "d2 POST /login + POST /login/code",
)


async def open_database(backend: str, tmp: Path) -> Any:
    from riskops.server.db import init_db, migrate
    from riskops.server.settings import load_settings, use_settings

    if backend == "postgres":
        admin = await asyncpg.connect(ADMIN)
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB_NAME):
            await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
        await admin.close()
        url = db_url(DB_NAME)
    else:
        url = f"sqlite://{(tmp / 'bench-login.sqlite3').as_posix()}"
    settings = use_settings(
        load_settings(database_url=url, secret_key=SECRET, log_level="WARNING", var_dir=tmp)
    )
    await migrate(settings)
    await init_db(settings)
    return settings


async def new_person(org_id: int, password_hash: str) -> tuple[Any, Any]:
    from riskops.server.core.principal import Principal
    from riskops.server.identity.models import User

    tag = uuid.uuid4().hex[:10]
    user = await User.create(
        org_id=org_id, email=f"bench-{tag}@example.test", name=f"Bench {tag}",
        roles=["viewer"], password_hash=password_hash,
    )  # fmt: skip
    principal = Principal(
        user_id=user.id, org_id=org_id, roles=frozenset(["viewer"]), email=user.email,
        name=user.name,
    )  # fmt: skip
    return user, principal


async def enrolled(org_id: int, password_hash: str) -> tuple[str, str]:
    """A person with a confirmed TOTP factor, through the service: (e-mail, TOTP secret)."""
    from riskops.server.core.errors import Invalid
    from riskops.server.identity import mfa

    user, principal = await new_person(org_id, password_hash)
    for _ in range(3):
        enrolment = await mfa.enrol_start(principal)
        try:  # the code of the step before now: the current step stays unused
            await mfa.enrol_confirm(principal, pyotp.TOTP(enrolment.secret).at(time.time() - 30))
            return user.email, enrolment.secret
        except Invalid:  # crossed a step boundary in between: again
            continue
    raise RuntimeError("could not enrol a bench user")


class InCall:
    """The argon2 time inside each measured call: `auth.verify_password` wrapped by the bench
    (the service code is unchanged), so `wall - argon2 of the same call` is the rest measured
    directly, without the round-to-round spread of argon2 that the difference with (a) has."""

    def __init__(self) -> None:
        self.spent = 0.0

    @contextmanager
    def installed(self) -> Iterator[None]:
        from riskops.server.identity import auth

        real = auth.verify_password

        def timed(password_hash: str | None, password: str) -> bool:
            t0 = time.perf_counter()
            try:
                return real(password_hash, password)
            finally:
                self.spent += time.perf_counter() - t0

        auth.verify_password = timed
        try:
            yield
        finally:
            auth.verify_password = real


class Http:
    """A fresh signed-out browser on the app with its CSRF token (made before the clock)."""

    def __init__(self, app: Any) -> None:
        transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 5000))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.token = ""

    async def ready(self) -> Http:
        found = _CSRF.search((await self.http.get("/login")).text)
        assert found, "no CSRF token on /login"
        self.token = found.group(1)
        return self

    async def post(self, url: str, data: dict[str, str]) -> httpx.Response:
        return await self.http.post(url, data={**data, "csrf_token": self.token})


async def measure(backend: str, tmp: Path) -> dict[str, Any]:
    from riskops.server.app import create_app
    from riskops.server.db import close_db
    from riskops.server.identity import auth, mfa_login
    from riskops.server.identity.orgs import create_organization
    from riskops.server.identity.sessions import ClientInfo
    from riskops.server.security import hash_password, verify_password
    from riskops.server.web import SESSION_COOKIE

    settings = await open_database(backend, tmp)
    try:
        slug = f"bench-login-{uuid.uuid4().hex[:8]}"
        org = await create_organization(slug, f"Login bench {slug}")
        the_hash = hash_password(PASSWORD)  # every bench person holds it: same argon2 parameters
        plain, _ = await new_person(org.id, the_hash)
        people = (
            WARMUP + ROUNDS + PROFILE_ROUNDS + 2
        )  # (c) and (d2) each sign in a person of their own per round
        started = time.perf_counter()
        with_mfa = [await enrolled(org.id, the_hash) for _ in range(2 * people)]
        print(f"   {backend}: {len(with_mfa)} people enrolled in MFA in "
              f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
        for_c, for_d = iter(with_mfa[:people]), iter(with_mfa[people:])
        client = ClientInfo(ip=CLIENT_IP, user_agent="bench-login", request_id=None)
        app = create_app(settings, manage_db=False)

        async def a() -> None:
            assert verify_password(the_hash, PASSWORD)

        async def b() -> None:
            r = await auth.login(settings, plain.email, PASSWORD, client)
            assert r.session_secret is not None

        steps: list[tuple[float, float]] = []  # (c)'s two calls, each

        async def c() -> None:
            email, secret = next(for_c)
            t0 = time.perf_counter()
            first = await auth.login(settings, email, PASSWORD, client)
            t1 = time.perf_counter()
            assert first.challenge_secret is not None and first.session_secret is None
            done = await mfa_login.second_step(
                settings, first.challenge_secret, pyotp.TOTP(secret).now(), client
            )
            steps.append((t1 - t0, time.perf_counter() - t1))
            assert done.session_secret is not None

        async def d1(h: Http) -> None:
            r = await h.post("/login", {"email": plain.email, "password": PASSWORD, "next": "/"})
            assert r.status_code == 303 and h.http.cookies.get(SESSION_COOKIE), r.text

        async def d2(h: Http) -> None:
            email, secret = next(for_d)
            r = await h.post("/login", {"email": email, "password": PASSWORD, "next": "/"})
            assert r.status_code == 303 and r.headers["location"] == "/login/code", r.text
            code = pyotp.TOTP(secret).now()
            r = await h.post("/login/code", {"code": code, "next": "/"})
            assert r.status_code == 303 and h.http.cookies.get(SESSION_COOKIE), r.text

        runs: dict[str, list[float]] = {k: [] for k in KINDS}
        cpu: dict[str, list[float]] = {k: [] for k in KINDS}
        direct: dict[str, list[float]] = {k: [] for k in KINDS[1:]}  # wall - in-call argon2
        argon = InCall()
        plan: list[tuple[str, Callable[..., Awaitable[None]], bool]] = [
            (KINDS[0], a, False), (KINDS[1], b, False), (KINDS[2], c, False),
            (KINDS[3], d1, True), (KINDS[4], d2, True),
        ]  # fmt: skip
        with argon.installed():
            for i in range(WARMUP + ROUNDS):
                shift = i % len(plan)
                for label, fn, http in plan[shift:] + plan[:shift]:
                    h = await Http(app).ready() if http else None
                    argon.spent = 0.0
                    t0, c0 = time.perf_counter(), time.process_time()
                    await (fn(h) if http else fn())
                    wall, used = time.perf_counter() - t0, time.process_time() - c0
                    if h is not None:
                        await h.http.aclose()
                    if i >= WARMUP:
                        runs[label].append(wall)
                        cpu[label].append(used)
                        if label in direct:
                            direct[label].append(wall - argon.spent)
        queries = await count_queries(b, c)
        profile = await profiled(b, c, PROFILE_ROUNDS)
        return {"runs": runs, "cpu": cpu, "steps": steps[WARMUP:], "queries": queries,
                "direct": direct, "profile": profile}  # fmt: skip
    finally:
        await close_db()


class _Queries(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage().strip()
        if text and not text.startswith(("Created connection", "Closed connection")):
            self.statements.append(" ".join(text.split()[:4])[:60])


async def count_queries(*fns: Callable[[], Awaitable[None]]) -> dict[str, list[str]]:
    """The statements one call of each sends (untimed: DEBUG logging costs)."""
    log = logging.getLogger("tortoise.db_client")
    handler, level, propagate = _Queries(), log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False  # not to the app's JSON log on stdout
    out = {}
    try:
        for fn in fns:
            handler.statements = []
            await fn()
            out[fn.__name__] = handler.statements
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        log.propagate = propagate
    return out


async def profiled(
    b: Callable[[], Awaitable[None]], c: Callable[[], Awaitable[None]], rounds: int
) -> str:
    """cProfile of `rounds` calls of (b) and of (c) (untimed): the functions with the most own
    time, argon2 included, so the rest can be read beside it."""
    import io

    profile = cProfile.Profile()
    profile.enable()
    for _ in range(rounds):
        await b()
        await c()
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).sort_stats("tottime")
    stats.print_stats(18)
    text = out.getvalue()
    return text[text.find("ncalls") - 3 :] if "ncalls" in text else text


def line(values: list[float]) -> str:
    return f"p50 {ms(pct(values, 0.5))} p95 {ms(pct(values, 0.95))}"


def report(backend: str, r: dict[str, Any]) -> None:
    runs, cpu = r["runs"], r["cpu"]
    argon2 = runs[KINDS[0]]
    print(f"   {backend} ({len(argon2)} interleaved rounds after {WARMUP} of warm-up):")
    for kind in KINDS:
        print(f"     {kind}: {line(runs[kind])}; CPU of this process p50 "
              f"{ms(pct(cpu[kind], 0.5))}", flush=True)  # fmt: skip
    first = [s[0] for s in r["steps"]]
    second = [s[1] for s in r["steps"]]
    print(f"     (c) split: auth.login to the challenge {line(first)}; mfa_login.second_step "
          f"{line(second)}")  # fmt: skip
    for kind in KINDS[1:]:
        diff = [x - y for x, y in zip(runs[kind], argon2, strict=True)]
        p50 = pct(diff, 0.5)
        print(f"     the rest of {kind} = ({kind[:2].strip()}) - (a), per round: {line(diff)} "
              f"(target p50 ≤ 5 ms) {VERDICT[p50 <= TARGET]}", flush=True)  # fmt: skip
    for kind, values in r["direct"].items():
        p50 = pct(values, 0.5)
        print(
            f"     the rest of {kind} measured in the call (wall - its own argon2): "
            f"{line(values)} (target p50 ≤ 5 ms) {VERDICT[p50 <= TARGET]}",
            flush=True,
        )
    for http, service in ((KINDS[3], KINDS[1]), (KINDS[4], KINDS[2])):
        diff = [x - y for x, y in zip(runs[http], runs[service], strict=True)]
        print(f"     HTTP layer's share {http[:2]} - {service[:1]}: {line(diff)}")
    for name, statements in r["queries"].items():
        kinds = Counter(s.split()[0].upper() for s in statements if s)
        print(f"     statements of one ({name}): {len(statements)} {dict(kinds)}")
        for s in statements:
            print(f"       {s}")
    print(f"     cProfile of {PROFILE_ROUNDS} calls of (b) and (c), by own time:")
    print("\n".join("       " + x for x in r["profile"].splitlines() if x.strip()), flush=True)


async def main() -> None:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{machine()}; load average {load}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    for backend in BACKENDS:
        with tempfile.TemporaryDirectory(prefix="bench-login-") as tmp:
            result = await measure(backend, Path(tmp))
        report(backend, result)
    print(f"   load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
