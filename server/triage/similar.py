"""Similar alerts: the closest alerts of the organization by the same customer, account or
merchant, shared rules and a close signal profile, ranked by a weighted score in one SQL query."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from riskops.server.core.scoping import scoped
from riskops.server.triage.models import (
    Alert,
    AlertStatus,
)

SIMILAR_LIMIT = 10
SIMILAR_CLOSED_LIMIT = 5  # the closed look-alikes the assistant narrates (similar cases)


SIMILAR_WINDOW = 2000  # candidate alerts either side of the one opened (by id)


SIGNAL_CLOSE = 0.6  # a signal profile at least this similar makes an alert similar


# How much each kind of likeness weighs in the similarity score. The same customer or account
# weighs as much as sharing every rule and the whole signal profile together, so an alert whose
# customer has other alerts shows them, however many alerts share its rules (issue 11, item 11).
W_CUSTOMER = 4.0
W_ACCOUNT = 4.0
W_MERCHANT = 2.0
W_RULES = 3.0  # times the share of this alert's rules the other alert also hit (0 to 1)
W_SIGNALS = 1.0  # times the signal similarity (0 to 1)


@dataclass(frozen=True)
class SimilarAlert:
    alert: Alert
    shared_rules: int
    same_customer: bool
    signal_similarity: float = 0.0  # 0 (nothing in common) to 1 (the same signal profile)
    same_account: bool = False
    same_merchant: bool = False
    score: float = 0.0  # the weighted sum it is ranked by (W_* above)

    @property
    def reasons(self) -> list[str]:
        """Why it is similar, in the page's words: "same customer", "2 shared rules", ..."""
        out = []
        if self.same_customer:
            out.append("same customer")
        if self.same_account:
            out.append("same account")
        if self.same_merchant:
            out.append("same merchant")
        if self.shared_rules:
            n = self.shared_rules
            out.append(f"{n} shared rule{'s' if n != 1 else ''}")
        if self.signal_similarity >= SIGNAL_CLOSE:
            out.append(f"signals {self.signal_similarity:.0%} alike")
        return out


# Look-alikes of an alert, computed in one SQL statement. Candidates are the alerts of the same
# organization received around it (SIMILAR_WINDOW ids either side: a primary-key range, so the
# cost does not grow with the size of the table) plus its customer's and its account's most
# recent alerts (indexes on org_id, customer_ref and org_id, account_ref). Each candidate gets:
# - shared_rules: how many of its rule ids it shares with the alert;
# - same_customer, same_account, same_merchant (the transaction's "merchant");
# - signal_similarity in [0, 1]: over the union of both alerts' signals, the mean closeness of
#   shared signals, a closeness being 1 - |a - b| / (|a| + |b|) of the two contributions (1 for
#   the same push, 0 for opposite ones); a signal only one alert has counts 0;
# - score: W_CUSTOMER, W_ACCOUNT, W_MERCHANT for each match, W_RULES times the share of the
#   alert's rules it shares, W_SIGNALS times the signal similarity.
# It is similar when it shares a rule, the customer, the account or the merchant, or has
# signal_similarity >= SIGNAL_CLOSE; ranked by score, then same customer, then newest.
# {only} narrows every candidate to one status (closed, for the assistant's similar cases).
_SIMILAR_SQL = """
WITH pool AS (
    SELECT a.id AS id
    FROM alert a
    WHERE a.org_id = :org AND a.id BETWEEN :lo AND :hi AND a.id <> :self{only}
    UNION
    SELECT c.id AS id
    FROM (
        SELECT a.id AS id FROM alert a
        WHERE a.org_id = :org AND a.customer_ref = :customer AND a.id <> :self{only}
        ORDER BY a.id DESC LIMIT :customer_limit
    ) c
    UNION
    SELECT c.id AS id
    FROM (
        SELECT a.id AS id FROM alert a
        WHERE a.org_id = :org AND a.account_ref = :account AND a.id <> :self{only}
        ORDER BY a.id DESC LIMIT :customer_limit
    ) c
),
mine AS (SELECT COUNT(*) AS n FROM alert_signal WHERE alert_id = :self),
my_rules AS (SELECT COUNT(DISTINCT rule_id) AS n FROM alert_rule_hit WHERE alert_id = :self),
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
           CASE WHEN a.customer_ref = :customer THEN 1 ELSE 0 END AS same_customer,
           CASE WHEN a.account_ref = :account THEN 1 ELSE 0 END AS same_account,
           CASE WHEN {merchant} = :merchant THEN 1 ELSE 0 END AS same_merchant,
           COALESCE(r.shared, 0) * 1.0
               / (CASE WHEN my_rules.n > 0 THEN my_rules.n ELSE 1 END) AS rule_share,
           COALESCE(g.closeness, 0.0)
               / (CASE WHEN COALESCE(g.n, 0) > mine.n THEN g.n ELSE mine.n END + 1e-9)
               AS signal_similarity
    FROM pool p
    JOIN alert a ON a.id = p.id
    CROSS JOIN mine
    CROSS JOIN my_rules
    LEFT JOIN rules r ON r.id = p.id
    LEFT JOIN sig g ON g.id = p.id
),
ranked AS (
    SELECT alert_id, shared_rules, same_customer, same_account, same_merchant,
           signal_similarity,
           {w_customer} * same_customer + {w_account} * same_account
               + {w_merchant} * same_merchant + {w_rules} * rule_share
               + {w_signals} * signal_similarity AS score
    FROM scored
    WHERE shared_rules > 0 OR same_customer = 1 OR same_account = 1 OR same_merchant = 1
       OR signal_similarity >= :close
)
SELECT alert_id, shared_rules, same_customer, same_account, same_merchant, signal_similarity,
       score
FROM ranked
ORDER BY score DESC, same_customer DESC, alert_id DESC
LIMIT :limit
"""

# The transaction's merchant as text, per dialect: its "id" or "name" when it is an object
# ({"name": "Northwind", "mcc": "5732"}), else the value itself ("merchant": "shop-12").
_MERCHANT = {
    "postgres": "COALESCE(a.\"transaction\" -> 'merchant' ->> 'id', "
    "a.\"transaction\" -> 'merchant' ->> 'name', a.\"transaction\" ->> 'merchant')",
    "sqlite": "CAST(COALESCE(json_extract(a.\"transaction\", '$.merchant.id'), "
    "json_extract(a.\"transaction\", '$.merchant.name'), "
    "json_extract(a.\"transaction\", '$.merchant')) AS TEXT)",
}


def merchant_of(transaction: Any) -> str | None:
    """The merchant the SQL compares, read the same way from this alert's transaction."""
    if not isinstance(transaction, dict):
        return None
    merchant = transaction.get("merchant")
    if isinstance(merchant, dict):
        merchant = merchant.get("id") if merchant.get("id") is not None else merchant.get("name")
    if isinstance(merchant, bool) or not isinstance(merchant, str | int):
        return None
    return str(merchant) or None


def _sql(dialect: str, *, only_status: bool = False) -> str:
    return _SIMILAR_SQL.format(
        merchant=_MERCHANT["postgres" if dialect == "postgres" else "sqlite"],
        only=" AND a.status = :status" if only_status else "",
        w_customer=W_CUSTOMER, w_account=W_ACCOUNT, w_merchant=W_MERCHANT, w_rules=W_RULES,
        w_signals=W_SIGNALS,
    )  # fmt: skip


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


async def similar_alerts(
    alert: Alert, limit: int = SIMILAR_LIMIT, *, status: AlertStatus | None = None
) -> list[SimilarAlert]:
    """The alerts most like `alert` in its organization (of `status` only, when given)."""
    conn = Alert._meta.db
    params = {
        "org": alert.org_id,
        "self": alert.id,
        "lo": alert.id - SIMILAR_WINDOW,
        "hi": alert.id + SIMILAR_WINDOW,
        "customer": alert.customer_ref,
        "account": alert.account_ref,
        "merchant": merchant_of(alert.transaction),
        "customer_limit": SIMILAR_WINDOW,
        "close": SIGNAL_CLOSE,
        "limit": limit,
        "status": status.value if status is not None else None,
    }
    dialect = conn.capabilities.dialect
    sql, values = _bind(_sql(dialect, only_status=status is not None), params, dialect)
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
            same_account=bool(r["same_account"]),
            same_merchant=bool(r["same_merchant"]),
            score=round(float(r["score"]), 3),
        )
        for r in rows
        if int(r["alert_id"]) in by_id
    ]


async def similar_closed_alerts(
    alert: Alert, limit: int = SIMILAR_CLOSED_LIMIT
) -> list[SimilarAlert]:
    """The closed alerts most like `alert`, by the same likeness as `similar_alerts`: what
    happened to them says how alerts like this one were resolved."""
    return await similar_alerts(alert, limit, status=AlertStatus.CLOSED)
