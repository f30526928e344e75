"""Demo runs for `make run`: scenarios with baselines and 60 days of ledger, so the credit
monitoring pages have something to show — ordinary runs, SEV3 drift, a persistent SEV2 pattern
(a case), one SEV1 (a case, rerun gate) and one SEV0 that touched PII (quarantined, a case)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from riskops.server.core.approvals import ChangeStatus
from riskops.server.core.principal import Principal
from riskops.server.credit import artifacts
from riskops.server.credit.baseline_rules import baseline
from riskops.server.credit.models import Baseline, BaselineChange, BaselineSource, Scenario
from riskops.server.credit.recording import record_runs

# key, name, usual credits, items per run, job type, data classification
SCENARIOS: tuple[tuple[str, str, float, int, str, str], ...] = (
    ("BINDER_EXPORT_WEEKLY", "Binder export (weekly)", 1250.5, 800, "batch", "pii"),
    ("KYC_DOC_SUMMARY", "KYC document summaries", 320.0, 120, "agent", "pii"),
    ("CHARGEBACK_TRIAGE", "Chargeback triage agent", 180.0, 60, "agent", "confidential"),
    ("MERCHANT_RISK_DIGEST", "Merchant risk digest", 95.0, 40, "batch", "internal"),
    ("SAR_NARRATIVE_DRAFTS", "SAR narrative drafts", 410.0, 25, "agent", "regulatory"),
    ("LEDGER_RECON_NIGHTLY", "Ledger reconciliation (nightly)", 640.0, 5000, "batch", "internal"),
)
DAYS = 60


def _runs(now: datetime, rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, _, usual, items, job, cls in SCENARIOS:
        for day in range(DAYS, 0, -1):
            for slot in range(2):
                started = now - timedelta(days=day, hours=rng.randrange(0, 12) + 12 * slot)
                m = rng.lognormvariate(0, 0.12)
                if key == "CHARGEBACK_TRIAGE" and day <= 5:
                    m = rng.uniform(2.1, 2.8)  # a persistent SEV2 pattern this week
                elif key == "MERCHANT_RISK_DIGEST" and day <= 10:
                    m = rng.uniform(1.5, 1.9)  # drift: SEV3s
                out.append(
                    {
                        "run_id": f"DEMO-{key[:8]}-{day:02d}{slot}",
                        "scenario": key,
                        "job_type": job,
                        "started_at": started.isoformat(),
                        "finished_at": (
                            started + timedelta(minutes=rng.randrange(3, 40))
                        ).isoformat(),
                        "credits_total": round(usual * m, 2),
                        "items_processed": int(items * m),
                        "prompt_tokens": rng.randrange(20_000, 60_000),
                        "completion_tokens": rng.randrange(2_000, 8_000),
                        "retry_count": rng.choice((0, 0, 0, 1)),
                        "has_max_items_config": True,
                        "data_classification": cls,
                    }
                )
    return out


def _incidents(now: datetime, org_id: int) -> list[dict[str, Any]]:
    # The SEV0 run's export, held by riskops (moved to quarantine when the run is recorded).
    uri = f"artifact:{org_id}/DEMO-SEV0-0001/export.csv"
    path = artifacts.stored_path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"customer_id,email\nC-1001,jane@example.test\n")
    return [
        {
            "run_id": "DEMO-SEV1-0001", "scenario": "LEDGER_RECON_NIGHTLY", "job_type": "batch",
            "started_at": (now - timedelta(hours=20)).isoformat(), "credits_total": 4100.0,
            "items_processed": 31000, "retry_count": 6, "has_max_items_config": False,
            "prompt_tokens": 52_000, "data_classification": "internal",
            "deployment_ref": "recon-svc@4f2a9c1",
            "deployed_at": (now - timedelta(hours=21)).isoformat(),
        },
        {
            "run_id": "DEMO-SEV0-0001", "scenario": "BINDER_EXPORT_WEEKLY", "job_type": "batch",
            "started_at": (now - timedelta(hours=3)).isoformat(), "credits_total": 15200.0,
            "items_processed": 9800, "retry_count": 4, "has_max_items_config": False,
            "prompt_tokens": 140_000, "data_classification": "pii",
            "artifacts": [{"uri": uri, "sha256": artifacts.sha256_of(path)}],
        },
    ]  # fmt: skip


async def generate_demo_runs(principal: Principal, now: datetime | None = None) -> int:
    """Scenarios with baselines (from their first 30 days) and the ledger; returns runs recorded."""
    now = now or datetime.now(UTC)
    rng = random.Random(7)
    runs = _runs(now, rng)
    for key, name, _, _, _, cls in SCENARIOS:
        scenario = await Scenario.create(
            org_id=principal.org_id, key=key, name=name, data_classification=cls,
            max_items=None if key == "LEDGER_RECON_NIGHTLY" else 1000, created_at=now,
        )  # fmt: skip
        history = [r["credits_total"] for r in runs if r["scenario"] == key][: 2 * 30]
        stats = baseline(history)
        assert stats.median is not None
        await Baseline.create(
            org_id=principal.org_id, scenario_id=scenario.id, median=stats.median, cv=stats.cv,
            sample_size=stats.sample_size, window_days=30, source=BaselineSource.CALCULATED,
            set_at=now - timedelta(days=DAYS - 30),
        )  # fmt: skip
        await BaselineChange.create(
            org_id=principal.org_id, scenario_id=scenario.id, old_median=None,
            new_median=stats.median, sample_size=stats.sample_size, cv=stats.cv,
            source=BaselineSource.CALCULATED, status=ChangeStatus.APPROVED,
            rationale="Initial baseline from the first 30 days of demo runs.", window_days=30,
            created_at=now - timedelta(days=DAYS - 30),
            decided_at=now - timedelta(days=DAYS - 30),
        )  # fmt: skip
    items = runs + _incidents(now, principal.org_id)
    recorded = 0
    for i in range(0, len(items), 500):
        result = await record_runs(principal, items[i : i + 500])
        assert not result.errors, result.errors[:3]
        recorded += len(result.recorded)
    return recorded
