"""Similar alerts: the closest alerts of the organization by shared rules, the same customer,
merchant or account, and a close signal profile, in one SQL query."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from riskops.server.core.scoping import scoped
from riskops.server.triage.models import (
    Alert,
)

SIMILAR_LIMIT = 10


SIMILAR_WINDOW = 2000  # candidate alerts either side of the one opened (by id)


SIGNAL_CLOSE = 0.6  # a signal profile at least this similar makes an alert similar


@dataclass(frozen=True)
class SimilarAlert:
    alert: Alert
    shared_rules: int
    same_customer: bool
    signal_similarity: float = 0.0  # 0 (nothing in common) to 1 (the same signal profile)


# Look-alikes of an alert, computed in one SQL statement. Candidates are the alerts of the same
# organization received around it (SIMILAR_WINDOW ids either side: a primary-key range, so the
# cost does not grow with the size of the table) plus its customer's most recent alerts
# (index on org_id, customer_ref). Each candidate gets:
# - shared_rules: how many of its rule ids it shares with the alert;
# - same_customer;
# - signal_similarity in [0, 1]: over the union of both alerts' signals, the mean closeness of
#   shared signals, a closeness being 1 - |a - b| / (|a| + |b|) of the two contributions (1 for
#   the same push, 0 for opposite ones); a signal only one alert has counts 0.
# It is similar when it shares a rule, the customer, or has signal_similarity >= SIGNAL_CLOSE;
# ranked by shared rules, then signal similarity, then same customer, then newest.
_SIMILAR_SQL = """
WITH pool AS (
    SELECT a.id AS id, CASE WHEN a.customer_ref = :customer THEN 1 ELSE 0 END AS same_customer
    FROM alert a
    WHERE a.org_id = :org AND a.id BETWEEN :lo AND :hi AND a.id <> :self
    UNION
    SELECT c.id AS id, 1 AS same_customer
    FROM (
        SELECT a.id AS id FROM alert a
        WHERE a.org_id = :org AND a.customer_ref = :customer AND a.id <> :self
        ORDER BY a.id DESC LIMIT :customer_limit
    ) c
),
mine AS (SELECT COUNT(*) AS n FROM alert_signal WHERE alert_id = :self),
rules AS (
    SELECT h.alert_id AS id, COUNT(DISTINCT h.rule_id) AS shared
    FROM alert_rule_hit h
    JOIN pool p ON p.id = h.alert_id
    WHERE h.rule_id IN (SELECT rule_id FROM alert_rule_hit WHERE alert_id = :self)
    GROUP BY h.alert_id
),
sig AS (
    SELECT s.alert_id AS id, COUNT(*) AS n,
           SUM(CASE WHEN m.id IS NULL THEN 0.0 ELSE 1.0 - ABS(s.contribution - m.contribution)
               / (ABS(s.contribution) + ABS(m.contribution) + 1e-9) END) AS closeness
    FROM alert_signal s
    JOIN pool p ON p.id = s.alert_id
    LEFT JOIN alert_signal m ON m.alert_id = :self AND m.signal = s.signal
    GROUP BY s.alert_id
),
scored AS (
    SELECT p.id AS alert_id, COALESCE(r.shared, 0) AS shared_rules,
           p.same_customer AS same_customer,
           COALESCE(g.closeness, 0.0)
               / (CASE WHEN COALESCE(g.n, 0) > mine.n THEN g.n ELSE mine.n END + 1e-9)
               AS signal_similarity
    FROM pool p
    CROSS JOIN mine
    LEFT JOIN rules r ON r.id = p.id
    LEFT JOIN sig g ON g.id = p.id
)
SELECT alert_id, shared_rules, same_customer, signal_similarity
FROM scored
WHERE shared_rules > 0 OR same_customer = 1 OR signal_similarity >= :close
ORDER BY shared_rules DESC, signal_similarity DESC, same_customer DESC, alert_id DESC
LIMIT :limit
"""


def _bind(sql: str, params: dict[str, Any], dialect: str) -> tuple[str, list[Any]]:
    """`:name` placeholders to the dialect's own: `?` (repeated values) or `$n`."""
    values: list[Any] = []
    numbers: dict[str, int] = {}

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if dialect == "postgres":
            if name not in numbers:
                values.append(params[name])
                numbers[name] = len(values)
            return f"${numbers[name]}"
        values.append(params[name])
        return "?"

    return re.sub(r":([a-z_]+)\b", repl, sql), values


async def similar_alerts(alert: Alert, limit: int = SIMILAR_LIMIT) -> list[SimilarAlert]:
    conn = Alert._meta.db
    params = {
        "org": alert.org_id,
        "self": alert.id,
        "lo": alert.id - SIMILAR_WINDOW,
        "hi": alert.id + SIMILAR_WINDOW,
        "customer": alert.customer_ref,
        "customer_limit": SIMILAR_WINDOW,
        "close": SIGNAL_CLOSE,
        "limit": limit,
    }
    sql, values = _bind(_SIMILAR_SQL, params, conn.capabilities.dialect)
    rows = await conn.execute_query_dict(sql, values)
    if not rows:
        return []
    by_id = {
        a.id: a
        for a in await scoped(Alert, org_id=alert.org_id).filter(
            id__in=[r["alert_id"] for r in rows]
        )
    }
    return [
        SimilarAlert(
            by_id[int(r["alert_id"])],
            int(r["shared_rules"]),
            bool(r["same_customer"]),
            round(min(1.0, max(0.0, float(r["signal_similarity"]))), 3),
        )
        for r in rows
        if int(r["alert_id"]) in by_id
    ]
