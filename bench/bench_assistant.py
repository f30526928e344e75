"""The assistant (issue 13): its three figures, in one run.

1. The overhead riskops adds to one LLM call, against the same request sent straight to the
   loopback server (tests/support/fake_llm.py's FakeLLM, in a process of its own): the raw side
   is one kept-alive `httpx.AsyncClient` POSTing the very bytes riskops sent (captured by the
   server) to /v1/chat/completions and parsing the JSON answer. Interleaved one of each per
   round, the order alternating, so a slow spell of this noisy machine hits both alike; p50 and
   p95 of both and of the per-round difference. Measured for plain `litellm.acompletion` (what
   litellm costs by itself), `provider.complete(messages)` (the Router of the settings, with a
   fallback configured), and the whole in-process path of one response without the database:
   redaction, prompt build, provider, restoring placeholders and resolving citations.
2. Job pickup with a real `riskops worker` subprocess on Redis and PostgreSQL: 200
   `assistant.respond` jobs of pending explain-alert responses on the demo alerts, against the
   same loopback server, enqueued like requests arriving at random (exponential gaps, mean
   500 ms: 7,200 an hour, far above what people ask for, well below the worker's capacity);
   pickup = the Job row's `started_at` - `enqueued_at`. Then 200 at once: the worker's
   capacity (jobs/s) and how long the last waits.
3. Start-up: from launching `riskops serve` (and uvicorn on the app factory) with the assistant
   configured, on a migrated and seeded SQLite database, to the first 200 on /health; median
   of 5, interleaved with the same launch without the assistant.

Not part of the suite: `.venv/bin/python bench/run.py bench_assistant`. The database
`riskops_bench_assistant` is created, migrated and seeded on the first run and kept. Redis:
RISKOPS_BENCH_REDIS (db 14 by default) on a queue of the run's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from benchlib import ADMIN, db_url, machine, ms, pct

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network: no price download

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ROUNDS = int(os.environ.get("RISKOPS_BENCH_ASSISTANT_ROUNDS", "400"))
WARMUP = 50
JOBS = int(os.environ.get("RISKOPS_BENCH_ASSISTANT_JOBS", "200"))
RATE = float(os.environ.get("RISKOPS_BENCH_ASSISTANT_RATE", "2"))  # paced jobs per second
STARTS = 5
REDIS = os.environ.get("RISKOPS_BENCH_REDIS", "redis://127.0.0.1:6379/14")
DB_NAME = "riskops_bench_assistant"
SECRET = "bench-assistant-secret-key-0123456789abcdef"
MODEL = "openai/gpt-4o-mini"
FALLBACK = "openai/gpt-4o"
KEY = "sk-bench-not-a-real-key"
OVERHEAD_TARGET = 0.005
PICKUP_TARGET = 1.0
START_TARGET = 2.0
VERDICT = {True: "PASS", False: "FAIL"}

# --------------------------------------------------------------------------- the loopback LLM

_SERVER = """
import base64, sys
sys.path.insert(0, sys.argv[1])
from tests.support.fake_llm import FakeLLM
llm = FakeLLM.start()
print(llm.url, flush=True)
for line in sys.stdin:  # "last": the newest request's body; "reset": forget them
    if line.strip() == "last":
        print(base64.b64encode(llm.received[-1].body).decode(), flush=True)
    else:
        llm.reset()
        print("ok", flush=True)
llm.stop()
"""


@dataclass
class FakeServer:
    """FakeLLM in a subprocess (it must not share this process's GIL with the client)."""

    proc: subprocess.Popen[str]
    url: str  # .../v1

    def ask(self, command: str) -> str:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def last_body(self) -> bytes:
        import base64

        return base64.b64decode(self.ask("last"))


@contextlib.contextmanager
def fake_server() -> Iterator[FakeServer]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, str(REPO)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout
    try:
        yield FakeServer(proc, proc.stdout.readline().strip())
    finally:
        assert proc.stdin
        proc.stdin.close()
        proc.wait(timeout=10)


def assistant_settings(url: str, **overrides: Any) -> Any:
    from riskops.server.settings import load_settings

    values: dict[str, Any] = {
        "assistant_model": MODEL,
        "assistant_api_base": url,
        "assistant_api_key": KEY,
        "assistant_fallbacks": [FALLBACK],
        "assistant_timeout_seconds": 10.0,
        "agent_safe_mode": False,
        "secret_key": SECRET,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return load_settings(**values)


def assistant_env(url: str) -> dict[str, str]:
    return {
        "RISKOPS_ASSISTANT_MODEL": MODEL,
        "RISKOPS_ASSISTANT_API_BASE": url,
        "RISKOPS_ASSISTANT_API_KEY": KEY,
        "RISKOPS_ASSISTANT_FALLBACKS": json.dumps([FALLBACK]),
        "RISKOPS_ASSISTANT_TIMEOUT_SECONDS": "10",
    }


# --------------------------------------------------------------------------- 1. overhead

MESSAGES = [
    {"role": "system", "content": "You explain why a fraud alert fired. Cite rows as [kind:ref]."},
    {
        "role": "user",
        "content": "Alert 123, score 87. Rule hits: [rule:VEL-001] velocity 24h, "
        "[rule:AMT-002] amount over the customer's usual. Signals: [signal:velocity_24h] 0.41, "
        "[signal:new_device] 0.22. Transaction: 1,234.00 EUR, card present, merchant 5411.",
    },
]


@dataclass(frozen=True)
class Pair:
    direct: list[float]
    ours: list[float]
    cpu_direct: list[float]  # this process's CPU time of each call (all its threads)
    cpu_ours: list[float]

    @property
    def diff(self) -> list[float]:
        return [o - d for o, d in zip(self.ours, self.direct, strict=True)]

    def line(self) -> str:
        cpu = [o - d for o, d in zip(self.cpu_ours, self.cpu_direct, strict=True)]
        return (
            f"direct p50 {ms(pct(self.direct, 0.5))} p95 {ms(pct(self.direct, 0.95))}; "
            f"ours p50 {ms(pct(self.ours, 0.5))} p95 {ms(pct(self.ours, 0.95))}; "
            f"difference p50 {ms(pct(self.diff, 0.5))} p95 {ms(pct(self.diff, 0.95))}; "
            f"CPU per call direct {ms(pct(self.cpu_direct, 0.5))}, ours "
            f"{ms(pct(self.cpu_ours, 0.5))}, difference p50 {ms(pct(cpu, 0.5))} "
            f"({len(self.ours)} calls each)"
        )


async def settled(fn: Callable[[], Awaitable[Any]], ignore: set[asyncio.Task[Any]]) -> None:
    """`fn()`, then the tasks it left on the loop (litellm logs each call in a task of its own
    after it returns, through a worker task that starts one more: work the loop still does for
    this call, which would otherwise land in the next measurement, whichever side that is). A
    task still running after 1 s is a long-lived one (that worker, a pool's reaper): it is left
    alone from then on."""
    loop = asyncio.get_running_loop()
    before = asyncio.all_tasks() | {asyncio.current_task()}
    await fn()
    deadline = loop.time() + 1.0
    while spawned := {t for t in asyncio.all_tasks() - before - ignore if not t.done()}:
        _, pending = await asyncio.wait(spawned, timeout=max(0.0, deadline - loop.time()))
        if pending:
            ignore |= pending
            break


async def interleaved(
    direct: Callable[[], Awaitable[Any]], ours: Callable[[], Awaitable[Any]], rounds: int
) -> Pair:
    """`rounds` calls of each after WARMUP of each, one of each per round, order alternating;
    each call's time includes the background tasks it left on the loop."""
    ignore: set[asyncio.Task[Any]] = set()
    for _ in range(WARMUP):
        await settled(direct, ignore)
        await settled(ours, ignore)
    d: list[float] = []
    o: list[float] = []
    cd: list[float] = []
    co: list[float] = []
    for i in range(rounds):
        for fn, out, cpu in (
            ((direct, d, cd), (ours, o, co)) if i % 2 == 0 else ((ours, o, co), (direct, d, cd))
        ):
            started, cpu_started = time.perf_counter(), time.process_time()
            await settled(fn, ignore)
            out.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
    return Pair(d, o, cd, co)


async def overhead(fake: FakeServer) -> dict[str, Pair]:
    import litellm

    from riskops.server.assistant import provider
    from riskops.server.settings import use_settings

    settings = use_settings(assistant_settings(fake.url))
    provider.reset()
    out: dict[str, Pair] = {}
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=fake.url, limits=limits, timeout=10) as http:

        async def measure(label: str, ours: Callable[[], Awaitable[Any]]) -> None:
            await ours()
            body = fake.last_body()  # exactly what riskops sent

            async def direct() -> None:
                r = await http.post("/chat/completions", content=body, headers=headers)
                r.raise_for_status()
                r.json()

            out[label] = pair = await interleaved(direct, ours, ROUNDS)
            fake.ask("reset")
            print(f"   {label}: {pair.line()}", flush=True)

        async def plain() -> None:
            await litellm.acompletion(
                model=MODEL, messages=MESSAGES, api_base=fake.url, api_key=KEY
            )

        async def complete() -> None:
            await provider.complete(MESSAGES, settings=settings)

        await measure("litellm.acompletion (plain)", plain)
        await measure("provider.complete (primary: litellm.acompletion)", complete)
        whole = whole_path(settings)
        t = cpu_times(whole.parts, ROUNDS)
        print(f"   redact + prompt + restore + citations alone (no call): p50 "
              f"{ms(pct(t, 0.5))} p95 {ms(pct(t, 0.95))}", flush=True)  # fmt: skip
        await measure("whole path: redact, prompt, provider, restore, citations", whole.call)
    return out


@dataclass(frozen=True)
class Path1:
    """One response's in-process work around the provider call."""

    call: Callable[[], Awaitable[Any]]  # redact, prompt, provider, restore, citations
    parts: Callable[[], Any]  # the same without the call (a canned answer)


def whole_path(settings: Any) -> Path1:
    """On a grounding like the demo's (an alert with its customer, account, card, IBAN, e-mail,
    phone, 8 rule hits, 12 signals and a note), without the database."""
    from riskops.server.assistant import citations, prompts, provider
    from riskops.server.assistant.grounding import Citable
    from riskops.server.assistant.models import ResponseKind
    from riskops.server.assistant.redaction import Redactor

    known = {"CUST-000777": "CUSTOMER", "Maria Schmidt": "NAME", "ACC-55501234": "ACCOUNT"}
    facts: dict[str, Any] = {
        "alert": {"id": 123, "external_id": "demo-42-777", "score": 87.0, "priority": "high",
                  "title": "Velocity burst on a new device", "status": "new"},
        "customer": {"ref": "CUST-000777", "name": "Maria Schmidt",
                     "email": "maria.schmidt@example.org", "phone": "+49 30 1234567"},
        "transaction": {"amount": "1234.00", "currency": "EUR", "account": "ACC-55501234",
                        "card": "4111 1111 1111 1111", "iban": "DE89 3704 0044 0532 0130 00",
                        "merchant": "Corner Grocery", "mcc": "5411", "channel": "card_present"},
        "rule_hits": [{"key": f"rule:R-{100 + i}", "name": f"Rule {i}", "score": 10.0 + i}
                      for i in range(8)],
        "signals": [{"key": f"signal:s_{i}", "contribution": round(0.05 * i, 2)}
                    for i in range(12)],
        "notes": ["Customer Maria Schmidt called from +49 30 1234567 about card "
                  "4111 1111 1111 1111; asked to write to maria.schmidt@example.org."],
    }  # fmt: skip
    citable = {
        c.key: c
        for c in [Citable("rule", f"R-{100 + i}", f"Rule {i}", "/alerts/123#hit") for i in range(8)]
        + [Citable("signal", f"s_{i}", f"signal {i}", "/alerts/123#sig") for i in range(12)]
    }

    def prompt() -> tuple[Redactor, list[dict[str, str]]]:
        # as jobs.answer does: the facts redacted, the prompt built, the system message redacted
        # again (the template's own text), the hash of what is sent
        redactor = Redactor(known)
        facts_out = redactor.redact_value(facts)
        messages = [
            m if m["role"] == "user" else {**m, "content": redactor.redact(m["content"])}
            for m in prompts.build(ResponseKind.EXPLAIN_ALERT, facts_out, list(citable))
        ]
        hashlib.sha256(provider.canonical(messages)).hexdigest()
        return redactor, messages

    async def call() -> None:
        redactor, messages = prompt()
        answer = await provider.complete(messages, settings=settings)
        citations.resolve(redactor.restore(answer.text), citable)

    def parts() -> None:
        redactor, _ = prompt()
        # what the loopback server answers: two cites, the placeholders back, an invented cite
        holders = " ".join(redactor.placeholders)
        text = f"Fired because of [rule:R-100] and [signal:s_3] for {holders} and [rule:NOPE-9]."
        citations.resolve(redactor.restore(text), citable)

    return Path1(call, parts)


def cpu_times(fn: Callable[[], Any], runs: int) -> list[float]:
    for _ in range(WARMUP):
        fn()
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


# --------------------------------------------------------------------------- 2. job pickup


async def prepare_database() -> Any:
    """The bench database, migrated and seeded with the demo (first run only)."""
    from riskops.server.db import init_db, migrate
    from riskops.server.demo import seed_demo
    from riskops.server.identity.models import Organization
    from riskops.server.settings import load_settings

    admin = await asyncpg.connect(ADMIN)
    if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DB_NAME):
        await admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    await admin.close()
    settings = load_settings(database_url=db_url(DB_NAME), secret_key=SECRET, log_level="WARNING")
    await migrate(settings)
    await init_db(settings)
    if not await Organization.exists():
        await seed_demo(settings)
    return settings


@contextlib.asynccontextmanager
async def worker(fake: FakeServer, queue: str, var_dir: Path) -> AsyncIterator[None]:
    """`riskops worker` on the bench database and Redis, pointed at the loopback LLM."""
    from redis.asyncio import Redis

    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.update(
        assistant_env(fake.url), RISKOPS_ENV="dev", RISKOPS_DATABASE_URL=db_url(DB_NAME),
        RISKOPS_REDIS_URL=REDIS, RISKOPS_JOB_QUEUE=queue, RISKOPS_VAR_DIR=str(var_dir),
        RISKOPS_SECRET_KEY=SECRET, RISKOPS_AUDIT_CHECKPOINT_MINUTES=str(24 * 60),
        RISKOPS_LOG_LEVEL="WARNING",
    )  # fmt: skip
    log = (var_dir / "worker.log").open("wb")
    proc = subprocess.Popen(  # noqa: ASYNC220  (started once, before anything is timed)
        [str(BIN / "riskops"), "worker"], env=env, cwd=var_dir, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    client = Redis.from_url(REDIS)
    try:
        deadline = time.monotonic() + 60
        while not await client.exists(f"{queue}:health-check"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start: {var_dir / 'worker.log'}")
            await asyncio.sleep(0.1)
        yield
    finally:
        await client.aclose()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


async def enqueue_responses(
    org_id: int, alerts: list[int], user_id: int, gaps: list[float]
) -> list[str]:
    """One pending explain-alert response and its `assistant.respond` job per gap, after it."""
    from riskops.jobs import catalog, runner
    from riskops.server.assistant.models import AssistantResponse, ResponseKind, TargetType

    assert "assistant.respond" in catalog.kinds()
    ids = []
    for i, gap in enumerate(gaps):
        if gap:
            await asyncio.sleep(gap)
        response = await AssistantResponse.create(
            org_id=org_id, kind=ResponseKind.EXPLAIN_ALERT, target_type=TargetType.ALERT,
            target_id=alerts[i % len(alerts)], requested_by_id=user_id,
            created_at=datetime.now(UTC),
        )  # fmt: skip
        job = await runner.enqueue(
            "assistant.respond",
            org_id=org_id,
            payload={"response_id": response.id, "org_id": org_id},
        )
        await AssistantResponse.filter(id=response.id).update(job_id=job.id)
        ids.append(str(job.id))
    return ids


async def pickups(ids: list[str]) -> dict[str, Any]:
    """Wait for the jobs; their pickup and run times (seconds) and how they ended."""
    from riskops.jobs.models import Job, JobStatus

    deadline = time.monotonic() + 180
    while True:
        rows = await Job.filter(id__in=ids)
        if all(r.status in (JobStatus.SUCCEEDED, JobStatus.FAILED) for r in rows):
            break
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    started = [r for r in rows if r.started_at]
    ends = [r.finished_at for r in rows if r.finished_at]
    span = (max(ends) - min(r.enqueued_at for r in rows)).total_seconds() if ends else 0.0
    return {
        "rate": len(ends) / span if span else 0.0,
        "pickup": [(r.started_at - r.enqueued_at).total_seconds() for r in started],
        "run": [(r.finished_at - r.started_at).total_seconds() for r in started if r.finished_at],
        "status": {str(s): sum(1 for r in rows if r.status == s) for s in {r.status for r in rows}},
        "attempts": max((r.attempts for r in rows), default=0),
    }


async def job_pickup(fake: FakeServer, var_dir: Path) -> dict[str, dict[str, Any]]:
    from riskops.jobs import runner
    from riskops.server.db import close_db
    from riskops.server.identity.models import Organization, User
    from riskops.server.settings import use_settings
    from riskops.server.triage.models import Alert

    base = await prepare_database()
    queue = f"riskops:bench:{uuid.uuid4().hex[:8]}"
    use_settings(base.model_copy(update={"redis_url": REDIS, "job_queue": queue}))
    org = await Organization.first()
    assert org is not None
    alerts = [a.id for a in await Alert.filter(org_id=org.id).order_by("id").limit(200)]
    user = await User.filter(org_id=org.id).order_by("id").first()
    assert user is not None
    rng = random.Random(13)
    out = {}
    try:
        async with worker(fake, queue, var_dir):
            paced = [rng.expovariate(RATE) for _ in range(JOBS)]
            out["paced"] = await pickups(await enqueue_responses(org.id, alerts, user.id, paced))
            out["burst"] = await pickups(
                await enqueue_responses(org.id, alerts, user.id, [0.0] * JOBS)
            )
    finally:
        await runner.close_pool()
        await close_db()
    return out


# --------------------------------------------------------------------------- 3. start-up


def cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_to_health(
    command: list[str], env: dict[str, str], cwd: Path, port: int
) -> tuple[float, float]:
    """Seconds from launching `command` to the first 200 on /health, and the CPU seconds the
    process had used by then (steadier than the wall time on a loaded machine)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = started + 60
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{command} exited with {proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return time.perf_counter() - started, cpu_seconds(proc.pid)
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"{command}: no 200 on /health within 60 s")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def startup(fake: FakeServer, var_dir: Path) -> dict[str, list[tuple[float, float]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RISKOPS_")}
    env.pop("AGENT_SAFE_MODE", None)
    env.update(RISKOPS_ENV="dev", RISKOPS_VAR_DIR=str(var_dir), RISKOPS_LOG_LEVEL="WARNING")
    riskops = str(BIN / "riskops")
    for step in ("migrate", "seed-demo"):  # the database of a second `make run`
        subprocess.run([riskops, step], env=env, cwd=var_dir, check=True, capture_output=True)
    with_assistant = dict(env, **assistant_env(fake.url))
    with socket.socket() as sock:  # a free port
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    serve = [riskops, "serve", "--port", str(port)]
    variants = {
        "riskops serve, assistant configured": (serve, with_assistant),
        "riskops serve, no assistant": (serve, env),
        "uvicorn riskops.server.app:create_app, assistant configured": (
            [str(BIN / "uvicorn"), "--factory", "riskops.server.app:create_app", "--port",
             str(port), "--log-level", "warning"], with_assistant,
        ),
    }  # fmt: skip
    out: dict[str, list[tuple[float, float]]] = {label: [] for label in variants}
    for command, variant_env in variants.values():  # warm the page cache
        start_to_health(command, variant_env, var_dir, port)
    for _ in range(STARTS):
        for label, (command, variant_env) in variants.items():
            out[label].append(start_to_health(command, variant_env, var_dir, port))
    return out


# --------------------------------------------------------------------------- main


async def main() -> None:
    print(f"{machine()}; load average {os.getloadavg()[0]:.1f}; "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)  # fmt: skip
    only = set(filter(None, os.environ.get("RISKOPS_BENCH_ASSISTANT_ONLY", "").split(",")))
    with fake_server() as fake, tempfile.TemporaryDirectory(prefix="bench-assistant-") as tmp:
        if not only or "1" in only:
            print(f"1. overhead of one call over the same request sent directly ({ROUNDS} "
                  "interleaved rounds after warm-up):", flush=True)  # fmt: skip
            for label, pair in (await overhead(fake)).items():
                p50 = pct(pair.diff, 0.5)
                print(f"   {label}: overhead p50 {ms(p50)} (target ≤ 5 ms) "
                      f"{VERDICT[p50 <= OVERHEAD_TARGET]}", flush=True)  # fmt: skip
        if not only or "2" in only:
            print(f"2. job pickup, `riskops worker` on Redis + PostgreSQL, {JOBS} "
                  "`assistant.respond` jobs:", flush=True)  # fmt: skip
            for label, r in (await job_pickup(fake, Path(tmp))).items():
                p = r["pickup"]
                how = (
                    f"exponential gaps, mean {1000 / RATE:.0f} ms"
                    if label == "paced"
                    else "all at once"
                )
                line = (
                    f"   {label} ({how}): pickup p50 {ms(pct(p, 0.5))} p95 {ms(pct(p, 0.95))} "
                    f"max {ms(max(p))}; run p50 {ms(pct(r['run'], 0.5))}; "
                    f"{r['rate']:.1f} jobs/s; {r['status']}, most attempts {r['attempts']}"
                )
                if label == "paced":
                    line += f" (target p95 ≤ 1 s) {VERDICT[pct(p, 0.95) <= PICKUP_TARGET]}"
                print(line, flush=True)
        if not only or "3" in only:
            print(f"3. start-up to the first 200 on /health (median of {STARTS}, interleaved):",
                  flush=True)  # fmt: skip
            for label, runs in startup(fake, Path(tmp)).items():
                times = [wall for wall, _ in runs]
                med = pct(times, 0.5)
                print(f"   {label}: median {med:.2f} s (min {min(times):.2f}, max "
                      f"{max(times):.2f}), CPU median {pct([c for _, c in runs], 0.5):.2f} s "
                      f"(target ≤ 2 s) {VERDICT[med <= START_TARGET]}", flush=True)  # fmt: skip
