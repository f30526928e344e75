"""Migration 0024 on a database that holds runs and cases already, on SQLite and PostgreSQL: the
new NOT NULL `updated_at` is filled (a run: when it was recorded; a case: its latest history
entry, else when it was opened), and a row inserted afterwards by plain SQL without it still
gets a time. The database starts as a copy of a template migrated up to 0023
(tests/support/templates.py: replaying 0001-0023 here took about 7 s a backend); 0024 and the
later migrations then run for real, in a child process: they open connections of their own,
which must not replace the suite's."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import _pg_admin, pg_url, require_service
from tests.support import templates

BEFORE = "0023_access_review"  # the migration before the one under test

SCRIPT = r"""
import asyncio, json, sys
from tortoise import connections
from tortoise.migrations.api.migrate import migrate
from riskops.server.settings import tortoise_config

URL = sys.argv[1]
T0, T1, T2, T3 = ("2026-01-02 03:04:05+00:00", "2026-01-05 00:00:00+00:00",
                  "2026-01-07 12:00:00+00:00", "2026-01-03 00:00:00+00:00")
INSERTS = [
    f"INSERT INTO organization (id, slug, name, created_at) VALUES (7, 'mig', 'Mig', '{T0}')",
    f"INSERT INTO scenario (id, key, name, data_classification, created_at, version, org_id) "
    f"VALUES (3, 'S', 'S', 'internal', '{T0}', 1, 7)",
    f"INSERT INTO run (id, run_id, started_at, recorded_at, credits_total, retry_count, "
    f"data_classification, producer_flags, flags, explanations, misconfig_likelihood, "
    f"policy_number, quarantined, dispatch_blocked, rerun_gate, version, org_id, scenario_id) "
    f"VALUES (11, 'RUN-1', '{T0}', '{T1}', 5.0, 0, 'internal', '[]', '[]', '[]', 'LOW', 0, "
    f"FALSE, FALSE, FALSE, 1, 7, 3)",
    f"INSERT INTO risk_case (id, number, title, status, severity, opened_at, version, org_id) "
    f"VALUES (21, 1, 'with history', 'open', 'medium', '{T0}', 1, 7)",
    f"INSERT INTO risk_case (id, number, title, status, severity, opened_at, version, org_id) "
    f"VALUES (22, 2, 'without history', 'open', 'medium', '{T3}', 1, 7)",
    f"INSERT INTO case_event (org_id, action, actor, data, at, case_id) "
    f"VALUES (7, 'create', 'user:1', '{{}}', '{T0}', 21)",
    f"INSERT INTO case_event (org_id, action, actor, data, at, case_id) "
    f"VALUES (7, 'add_note', 'user:1', '{{}}', '{T2}', 21)",
]


async def main():
    config = tortoise_config(URL)
    # a copy of the template at 0023 already: nothing to apply (the state is not even projected)
    await migrate(config=config, target="riskops.0023_access_review")
    conn = connections.get("default")
    for sql in INSERTS:
        await conn.execute_script(sql)
    await migrate(config=config)
    conn = connections.get("default")
    await conn.execute_script(
        "INSERT INTO risk_case (id, number, title, status, severity, opened_at, version, org_id) "
        f"VALUES (23, 3, 'plain SQL later', 'open', 'medium', '{T0}', 1, 7)"
    )
    runs = await conn.execute_query_dict("SELECT id, recorded_at, updated_at FROM run")
    cases = await conn.execute_query_dict("SELECT id, updated_at FROM risk_case ORDER BY id")
    print(json.dumps({"runs": runs, "cases": cases}, default=str))
    await connections.close_all()


asyncio.run(main())
"""


def _when(value: str) -> str:
    """A stored time as `YYYY-MM-DD HH:MM:SS` (SQLite keeps the text, PostgreSQL a timestamp)."""
    return str(value).replace("T", " ")[:19]


@pytest.mark.parametrize("backend_name", ["sqlite", "postgres"])
async def test_0024_fills_updated_at_of_existing_runs_and_cases(
    backend_name: str, tmp_path: Path
) -> None:
    dbname = f"riskops_mig_{uuid.uuid4().hex[:10]}"
    if backend_name == "postgres":
        require_service("PostgreSQL", "127.0.0.1", 5432)
        await asyncio.to_thread(templates.create_pg, dbname, BEFORE)
        url = pg_url(dbname)
    else:
        await asyncio.to_thread(templates.copy_sqlite, tmp_path / "mig.sqlite3", BEFORE)
        url = f"sqlite://{tmp_path / 'mig.sqlite3'}"
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SCRIPT, url, cwd=tmp_path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(child.communicate(), timeout=300)
        assert child.returncode == 0, stderr.decode()
        out = json.loads(stdout.decode().strip().splitlines()[-1])
    finally:
        if backend_name == "postgres":
            await _pg_admin(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    (run,) = out["runs"]
    assert _when(run["updated_at"]) == _when(run["recorded_at"]) == "2026-01-05 00:00:00"
    cases = {c["id"]: _when(c["updated_at"]) for c in out["cases"]}
    assert cases[21] == "2026-01-07 12:00:00"  # its latest history entry
    assert cases[22] == "2026-01-03 00:00:00"  # no history: when it was opened
    assert cases[23] is not None and cases[23] != "None"  # the column's default
