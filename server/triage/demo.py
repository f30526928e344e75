"""Synthetic alerts in bulk, for demos and benchmarks (`riskops demo generate`).

Not the ingest path: `ingest_alerts` validates and writes alert by alert through the ORM, which
is right for integrators and far too slow for a million rows. Here the rows are generated in
chunks and written with PostgreSQL's binary COPY (through the asyncpg connection under Tortoise)
or, on SQLite, with `executemany` inside one transaction per chunk. Alert ids are allocated
before the write (the sequence on PostgreSQL, max(id) inside the write transaction on SQLite) so
rule hits, signals and history rows can reference their alerts.

External ids are `demo-<seed>-<n>`: re-running with the same seed skips the alerts that exist,
and alert n is the same whatever N (each chunk has its own random generator). One audit event,
`alert.generate_demo`, records the counts of the whole run.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection
from tortoise.transactions import in_transaction

from riskops.server.core.audit_trail import record
from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.triage.ingest import SLA
from riskops.server.triage.models import AlertPriority

CHUNK = 5000
MAX_ALERTS = 10_000_000
DAYS = 30
ACTOR_ACTION = "ingest"


@dataclass(frozen=True)
class Rule:
    rule_id: str
    name: str
    version: str
    signals: tuple[str, ...]  # the signals it looks at (its matched values)
    weight: float  # how often it fires


RULES: tuple[Rule, ...] = (
    Rule("VEL-001", "Card velocity spike (1h)", "3", ("velocity_1h",), 9),
    Rule("VEL-002", "Daily transaction velocity", "2", ("velocity_24h",), 6),
    Rule("DEV-001", "High-risk device fingerprint", "5", ("device_risk",), 7),
    Rule(
        "DEV-002", "New device on established account", "1", ("device_risk", "account_age_days"), 5
    ),
    Rule("GEO-001", "Impossible travel", "2", ("geo_distance_km",), 4),
    Rule("GEO-002", "High-risk country", "4", ("ip_risk",), 4),
    Rule("AMT-001", "Amount far above customer baseline", "3", ("amount_zscore",), 8),
    Rule("AMT-002", "Round-amount structuring", "1", ("amount_zscore",), 3),
    Rule("MER-001", "High-risk merchant category", "2", ("merchant_risk",), 6),
    Rule("MER-002", "First purchase at risky merchant", "1", ("merchant_risk",), 3),
    Rule("CTS-001", "Card testing pattern", "6", ("card_testing_score", "velocity_1h"), 5),
    Rule("ATO-001", "Account takeover indicators", "4", ("device_risk", "ip_risk"), 4),
    Rule("ATO-002", "Password reset then payout", "2", ("account_age_days",), 2),
    Rule("P2P-001", "Mule account pattern", "3", ("new_payee", "velocity_24h"), 3),
    Rule("P2P-002", "Rapid pass-through of funds", "1", ("velocity_24h", "amount_zscore"), 2),
    Rule("WIR-001", "Wire to new beneficiary", "2", ("new_payee",), 3),
    Rule("WIR-002", "Large wire outside business hours", "1", ("amount_zscore",), 2),
    Rule("SAN-001", "Sanctions list fuzzy match", "7", ("name_match_score",), 1),
    Rule("CHB-001", "Customer with recent chargebacks", "2", ("chargeback_count_90d",), 3),
    Rule("BIN-001", "Prepaid BIN from high-risk issuer", "1", ("merchant_risk", "ip_risk"), 2),
)
# The rules that can fire on a channel's transactions (wire rules on wires, card rules on cards).
_ONLY = {"WIR": ("wire",), "P2P": ("p2p",), "CTS": ("card_present", "ecommerce"),
         "BIN": ("card_present", "ecommerce"), "MER": ("card_present", "ecommerce")}  # fmt: skip

SIGNALS: tuple[str, ...] = (
    "velocity_1h", "velocity_24h", "device_risk", "geo_distance_km", "amount_zscore",
    "merchant_risk", "ip_risk", "account_age_days", "card_testing_score", "new_payee",
    "name_match_score", "chargeback_count_90d",
)  # fmt: skip

MERCHANTS: tuple[tuple[str, str, str], ...] = (  # name, MCC, country
    ("Northwind Electronics", "5732", "US"), ("Lumen Travel", "4722", "GB"),
    ("Crypto Gate Exchange", "6051", "MT"), ("Bella Moda", "5651", "IT"),
    ("QuickFuel 24", "5542", "DE"), ("Giftly Cards", "5947", "US"),
    ("Orbit Gaming", "7995", "CY"), ("FreshCart Groceries", "5411", "FR"),
    ("Atlas Airlines", "3000", "NL"), ("Pixel Marketplace", "5999", "US"),
    ("Helios Hotels", "7011", "ES"), ("Nordic Outdoor", "5941", "SE"),
    ("Metro Taxi", "4121", "PL"), ("Saffron Kitchen", "5812", "GB"),
    ("ZenPharma Online", "5912", "IE"), ("Vault Jewelers", "5944", "CH"),
    ("CloudSoft Licences", "5734", "US"), ("Kiosk Money Transfer", "4829", "AE"),
    ("Lotus Home", "5712", "DE"), ("Sprint Telecom Top-up", "4814", "RO"),
)  # fmt: skip
CHANNELS = ("card_present", "ecommerce", "p2p", "wire")
CHANNEL_WEIGHTS = (35, 40, 15, 10)
CHANNEL_SOURCE = {
    "card_present": "card-engine",
    "ecommerce": "card-engine",
    "p2p": "payments-monitor",
    "wire": "aml-monitor",
}
CHANNEL_AMOUNT = {  # mu, sigma of the log-normal amount
    "card_present": (3.6, 0.9),
    "ecommerce": (4.1, 1.1),
    "p2p": (4.6, 1.2),
    "wire": (7.6, 1.4),
}
CHANNEL_RULES = {c: [r for r in RULES if c in _ONLY.get(r.rule_id[:3], CHANNELS)] for c in CHANNELS}
CHANNEL_RULE_WEIGHTS = {c: [r.weight for r in rules] for c, rules in CHANNEL_RULES.items()}
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK", "PLN")
CURRENCY_WEIGHTS = (45, 25, 15, 5, 5, 5)
COUNTRIES = ("DE", "FR", "GB", "US", "NL", "ES", "IT", "PL", "RO", "NG", "BR", "AE")


def priority_for(score: float) -> AlertPriority:
    if score >= 85:
        return AlertPriority.CRITICAL
    if score >= 65:
        return AlertPriority.HIGH
    if score >= 40:
        return AlertPriority.MEDIUM
    return AlertPriority.LOW


def external_id(seed: int, n: int) -> str:
    return f"demo-{seed}-{n}"


# --------------------------------------------------------------------------- generation


@dataclass
class Row:
    """One generated alert with its children, in backend-neutral Python values."""

    n: int
    alert: dict[str, Any]
    rule_hits: list[tuple[str, str, str, float, dict[str, Any]]]
    signals: list[tuple[str, Any, float, str]]


def _signal_value(rng: random.Random, name: str, risk: float) -> float | int | bool:
    """A plausible value of a signal; `risk` (0 to 1) pushes it toward the alarming side."""
    if name == "velocity_1h":
        return int(rng.expovariate(1.0) * 2 + risk * 18)
    if name == "velocity_24h":
        return int(rng.expovariate(1.0) * 6 + risk * 40)
    if name in ("device_risk", "merchant_risk", "ip_risk", "card_testing_score"):
        return round(min(0.999, max(0.001, rng.betavariate(1.5, 4) * 0.6 + risk * 0.4)), 3)
    if name == "name_match_score":
        return round(min(1.0, 0.5 + risk * 0.5 * rng.random()), 3)
    if name == "geo_distance_km":
        return round(rng.lognormvariate(3.0, 1.5) + risk * 4000 * rng.random(), 1)
    if name == "amount_zscore":
        return round(rng.gauss(0.5, 1.0) + risk * 6, 2)
    if name == "account_age_days":
        return int(rng.lognormvariate(5.5, 1.2) * (1.0 - 0.9 * risk))
    if name == "chargeback_count_90d":
        return int(rng.expovariate(1.0) * risk * 4)
    return rng.random() < 0.2 + 0.7 * risk  # new_payee


def generate_chunk(seed: int, start: int, stop: int, now: datetime) -> list[Row]:
    """Alerts start..stop-1 (numbered from 1); deterministic for (seed, chunk)."""
    rng = random.Random(f"riskops-demo:{seed}:{start}")
    customers = 50_000
    rows: list[Row] = []
    for n in range(start, stop):
        # Skewed: most alerts low, a long tail of high scores.
        score = round(min(99.9, rng.betavariate(1.4, 4.2) * 100 + rng.expovariate(12) * 100), 1)
        risk = score / 100
        priority = priority_for(score)
        channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        currency = rng.choices(CURRENCIES, CURRENCY_WEIGHTS)[0]
        mu, sigma = CHANNEL_AMOUNT[channel]
        amount = round(min(9_999_999.0, rng.lognormvariate(mu, sigma)), 2)
        # Repeat customers: a power law over the customer pool (the low numbers recur).
        customer = int(customers * rng.random() ** 3) + 1
        merchant, mcc, merchant_country = MERCHANTS[int(len(MERCHANTS) * rng.random() ** 1.5)]
        hits = rng.choices(
            CHANNEL_RULES[channel],
            CHANNEL_RULE_WEIGHTS[channel],
            k=1 + int(rng.random() ** 2 * 3 + risk * 1.5),
        )
        unique_hits = list(dict.fromkeys(hits))
        looked_at = list(dict.fromkeys(s for r in unique_hits for s in r.signals))
        extra = rng.sample(SIGNALS, 3)
        signal_names = list(dict.fromkeys(looked_at + extra))[:6]
        values = {name: _signal_value(rng, name, risk) for name in signal_names}

        shares = [rng.random() + 0.2 for _ in unique_hits]
        total = sum(shares)
        rule_hits = [
            (
                r.rule_id,
                r.name,
                r.version,
                round(score * share / total, 2),
                {s: values[s] for s in r.signals if s in values},
            )
            for r, share in zip(unique_hits, shares, strict=True)
        ]
        signals: list[tuple[str, Any, float, str]] = []
        for name in signal_names:
            up = name in looked_at or rng.random() < risk
            contribution = round(rng.random() * (12 if up else 5), 2)
            signals.append((name, values[name], contribution, "up" if up else "down"))

        created = now - timedelta(seconds=rng.random() * DAYS * 86400)
        top = unique_hits[0]
        rows.append(
            Row(
                n,
                {
                    "external_id": external_id(seed, n),
                    "source": CHANNEL_SOURCE[channel],
                    "title": f"{top.name}: {currency} {amount:,.2f} at {merchant}",
                    "score": score,
                    "priority": priority.value,
                    "customer_ref": f"CUST-{customer:06d}",
                    "account_ref": f"ACC-{customer:06d}-{1 + customer % 3}",
                    "amount": amount,
                    "currency": currency,
                    "transaction": {
                        "id": f"txn-{seed}-{n}",
                        "channel": channel,
                        "merchant": {"name": merchant, "mcc": mcc, "country": merchant_country},
                        "country": rng.choice(COUNTRIES),
                        "device_id": f"dev-{customer * 7 + (n % 3 if risk > 0.6 else 0):08x}",
                    },
                    "created_at": created,
                    "due_at": created + SLA[priority],
                },
                rule_hits,
                signals,
            )
        )
    return rows


# --------------------------------------------------------------------------- writing


@dataclass
class DemoResult:
    requested: int
    created: int = 0
    existing: int = 0
    rule_hits: int = 0
    signals: int = 0
    seconds: float = 0.0
    chunks: list[int] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.created / self.seconds if self.seconds > 0 else math.inf


ALERT_COLUMNS = (
    "id", "org_id", "external_id", "source", "title", "score", "priority", "status",
    "customer_ref", "account_ref", "amount", "currency", "transaction", "created_at",
    "updated_at", "due_at", "version",
)  # fmt: skip
HIT_COLUMNS = ("alert_id", "rule_id", "name", "version", "score_contribution", "matched_values")
SIGNAL_COLUMNS = ("alert_id", "signal", "value", "contribution", "direction")
EVENT_COLUMNS = ("alert_id", "org_id", "action", "actor", "from_status", "to_status", "data", "at")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _is_postgres(conn: BaseDBAsyncClient) -> bool:
    return conn.capabilities.dialect == "postgres"


async def _existing(conn: BaseDBAsyncClient, org_id: int, seed: int) -> set[str]:
    pattern = f"demo-{seed}-%"
    param = "$2" if _is_postgres(conn) else "?"
    first = "$1" if _is_postgres(conn) else "?"
    rows = await conn.execute_query_dict(
        f"SELECT external_id FROM alert WHERE org_id = {first} AND external_id LIKE {param}",
        [org_id, pattern],
    )
    return {str(r["external_id"]) for r in rows}


async def _write_postgres(
    conn: BaseDBAsyncClient, org_id: int, actor: str, rows: list[Row], data: str
) -> None:
    raw: Any = conn._connection  # asyncpg's, under Tortoise's transaction wrapper
    ids = [
        int(r[0])
        for r in await raw.fetch(
            "SELECT nextval(pg_get_serial_sequence('alert', 'id')) FROM generate_series(1, $1)",
            len(rows),
        )
    ]
    alerts: list[Any] = []
    hits: list[Any] = []
    signals: list[Any] = []
    events: list[Any] = []
    for alert_id, row in zip(ids, rows, strict=True):
        a = row.alert
        alerts.append(
            (
                alert_id, org_id, a["external_id"], a["source"], a["title"], a["score"],
                a["priority"], "new", a["customer_ref"], a["account_ref"],
                Decimal(f"{a['amount']:.2f}"), a["currency"], _dumps(a["transaction"]),
                a["created_at"], a["created_at"], a["due_at"], 1,
            )
        )  # fmt: skip
        hits.extend((alert_id, h[0], h[1], h[2], h[3], _dumps(h[4])) for h in row.rule_hits)
        signals.extend((alert_id, s[0], _dumps(s[1]), s[2], s[3]) for s in row.signals)
        events.append((alert_id, org_id, ACTOR_ACTION, actor, None, "new", data, a["created_at"]))
    await raw.copy_records_to_table("alert", records=alerts, columns=ALERT_COLUMNS)
    await raw.copy_records_to_table("alert_rule_hit", records=hits, columns=HIT_COLUMNS)
    await raw.copy_records_to_table("alert_signal", records=signals, columns=SIGNAL_COLUMNS)
    await raw.copy_records_to_table("alert_event", records=events, columns=EVENT_COLUMNS)


def _insert(table: str, columns: tuple[str, ...]) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" for _ in columns)})'


async def _write_sqlite(
    conn: BaseDBAsyncClient, org_id: int, actor: str, rows: list[Row], data: str
) -> None:
    # Inside the chunk's write transaction: nothing else allocates ids meanwhile.
    top = await conn.execute_query_dict('SELECT COALESCE(MAX("id"), 0) AS top FROM "alert"')
    first = int(top[0]["top"]) + 1
    alerts: list[Any] = []
    hits: list[Any] = []
    signals: list[Any] = []
    events: list[Any] = []
    for alert_id, row in enumerate(rows, start=first):
        a = row.alert
        created = a["created_at"].isoformat(sep=" ")
        alerts.append(
            [
                alert_id, org_id, a["external_id"], a["source"], a["title"], a["score"],
                a["priority"], "new", a["customer_ref"], a["account_ref"],
                f"{a['amount']:.4f}", a["currency"], _dumps(a["transaction"]),
                created, created, a["due_at"].isoformat(sep=" "), 1,
            ]
        )  # fmt: skip
        hits.extend([alert_id, h[0], h[1], h[2], h[3], _dumps(h[4])] for h in row.rule_hits)
        signals.extend([alert_id, s[0], _dumps(s[1]), s[2], s[3]] for s in row.signals)
        events.append([alert_id, org_id, ACTOR_ACTION, actor, None, "new", data, created])
    await conn.execute_many(_insert("alert", ALERT_COLUMNS), alerts)
    await conn.execute_many(_insert("alert_rule_hit", HIT_COLUMNS), hits)
    await conn.execute_many(_insert("alert_signal", SIGNAL_COLUMNS), signals)
    await conn.execute_many(_insert("alert_event", EVENT_COLUMNS), events)


async def generate_demo_alerts(
    principal: Principal,
    count: int,
    *,
    seed: int = 42,
    chunk: int = CHUNK,
    on_progress: Callable[[int], None] | None = None,
) -> DemoResult:
    """Make sure the organization has demo alerts 1..count of `seed`: the missing ones are
    generated and written in chunks (each chunk one transaction), then one audit event with the
    counts. `on_progress(k)` is called after each chunk with the number of alerts it covered."""
    principal.require(Perm.ALERT_INGEST)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_ALERTS:
        raise Invalid(f"alerts must be between 1 and {MAX_ALERTS:,}.", field="alerts")
    if not 1 <= chunk <= 50_000:
        raise Invalid("chunk must be between 1 and 50,000.", field="chunk")
    started = time.perf_counter()
    result = DemoResult(requested=count)
    now = datetime.now(UTC)
    actor = principal.actor.actor
    data = _dumps({"batch_id": f"demo-{seed}"})
    existing = await _existing(get_connection("default"), principal.org_id, seed)
    plans: list[tuple[int, int, list[int]]] = []  # start, stop, the missing numbers among them
    for start in range(1, count + 1, chunk):
        stop = min(count + 1, start + chunk)
        wanted = [n for n in range(start, stop) if external_id(seed, n) not in existing]
        result.existing += (stop - start) - len(wanted)
        plans.append((start, stop, wanted))

    def make(plan: tuple[int, int, list[int]]) -> list[Row]:
        start, stop, wanted = plan
        if not wanted:
            return []
        rows = generate_chunk(seed, start, stop, now)
        if len(wanted) != len(rows):
            keep = set(wanted)
            rows = [r for r in rows if r.n in keep]
        return rows

    # The next chunk is generated in a thread while the database writes the current one.
    pending = asyncio.ensure_future(asyncio.to_thread(make, plans[0]))
    try:
        for i, (start, stop, _) in enumerate(plans):
            rows = await pending
            if i + 1 < len(plans):
                pending = asyncio.ensure_future(asyncio.to_thread(make, plans[i + 1]))
            if rows:
                async with in_transaction() as conn:
                    if _is_postgres(conn):
                        await _write_postgres(conn, principal.org_id, actor, rows, data)
                    else:
                        await _write_sqlite(conn, principal.org_id, actor, rows, data)
                result.created += len(rows)
                result.rule_hits += sum(len(r.rule_hits) for r in rows)
                result.signals += sum(len(r.signals) for r in rows)
            if on_progress is not None:
                on_progress(stop - start)
    finally:
        pending.cancel()  # a failed write leaves no generation running behind it
    result.seconds = time.perf_counter() - started
    async with in_transaction() as conn:
        await record(
            principal, conn, "alert.generate_demo", "alert_batch", f"demo-{seed}",
            new={"seed": seed, "requested": count, "created": result.created,
                 "existing": result.existing, "rule_hits": result.rule_hits,
                 "signals": result.signals},
        )  # fmt: skip
    return result
