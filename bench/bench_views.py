"""Saved views on PostgreSQL with 1,000,000 alerts: the two figures of issue 12, in one run.

1. Applying a standard view costs at most 1.1x the same filters given directly (p50): for each of
   four definitions, the GraphQL page of 50 alerts `alerts(viewId: …)` against `alerts(filter: …)`
   with the same filters and sort, in process (ASGI, no network), interleaved one of each per
   round so a slow spell of this noisy machine hits both alike; and the same pair at the service
   (`list_alerts(within=[the view's filter])` after `alert_filter_of`, against `list_alerts` with
   the filter). The ratio is the view's p50 over the direct p50.
2. The "My work" home page `GET /` of a person with 10 views (default and pinned) and their
   counts: p95 at 20 concurrent clients against a real `riskops serve --workers 2`, load from
   wrk, measured as the queue figures are (20 clients like people with a mean pause of 1 s, the
   target; and 20 back to back, capacity). Counts are read from the count cache
   (`saved_view_count`), which jobs refresh in the server while the load runs, as in production.

The data is the alert-queue bench's database (bench_alert_queue.py `_prepare`: created and
filled on the first run, reused after). The views are (re)created on each run for the bench
person (the demo operator).
"""

from __future__ import annotations

import asyncio
import json
import statistics
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import bench_alert_queue as queue_bench
import httpx
from benchlib import db_url, machine, ms, timed, wrk

DB_NAME = queue_bench.DB_NAME
SECRET = queue_bench.SECRET
ROUNDS = int(queue_bench.os.environ.get("RISKOPS_BENCH_VIEW_ROUNDS", "40"))
HOME_TARGET = 0.100
RATIO_TARGET = 1.10

NODE = (
    "id externalId title score priority status assignee { id name } amount currency createdAt dueAt"
)
BY_VIEW = (
    "query V($view: ID!, $sort: AlertSort) { alerts(viewId: $view, sort: $sort, first: 50) "
    "{ edges { cursor node { " + NODE + " } } pageInfo { hasNextPage endCursor } } }"
)
BY_FILTER = (
    "query F($filter: AlertFilterInput, $sort: AlertSort) { alerts(filter: $filter, sort: $sort, "
    "first: 50) { edges { cursor node { " + NODE + " } } pageInfo { hasNextPage endCursor } } }"
)


def _definitions(info: dict[str, Any], now: datetime) -> list[tuple[str, dict[str, Any], str]]:
    """(label, filters as a view stores them, sort): what strategists save."""
    team = info["teams"][0]
    return [
        ("open high scores", {"status": ["assigned", "new"], "score_min": 70.0}, "score"),
        (
            "high priority, last 7 days",
            {"priority": ["high"], "created_from": (now - timedelta(days=7)).isoformat()},
            "created",
        ),
        ("a team's escalations", {"status": ["escalated"], "team": team}, "due"),
        ("large EUR amounts", {"currency": "EUR", "amount_min": "1000"}, "amount"),
    ]


async def _views(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Ten views of the bench person (four standard, three shared with a team, three personal),
    all pinned, the first the default; standard ones published as version 1. Returns the four
    standard views with their definitions."""
    from riskops.server.db import close_db, init_db
    from riskops.server.settings import load_settings, use_settings
    from riskops.server.views.definitions import parse
    from riskops.server.views.models import (
        SavedView,
        ViewPreference,
        ViewQueue,
        ViewScope,
        ViewVersion,
    )

    await init_db(
        use_settings(
            load_settings(database_url=db_url(DB_NAME), secret_key=SECRET, log_level="WARNING")
        )
    )
    org, me = info["org"], info["me"]
    await SavedView.filter(org_id=org).delete()  # the bench's own views of an earlier run
    now = datetime.now(UTC)
    defs = _definitions(info, now)
    out = []
    for i in range(10):
        label, filters, sort = defs[i % len(defs)]
        scope = ViewScope.STANDARD if i < 4 else ViewScope.TEAM if i < 7 else ViewScope.PERSONAL
        d = parse(ViewQueue.ALERTS, {"filters": filters, "sort": sort})
        view = await SavedView.create(
            org_id=org, owner_id=me, queue=ViewQueue.ALERTS, scope=scope,
            team_id=info["teams"][0] if scope is ViewScope.TEAM else None,
            name=f"{label} #{i + 1}", definition=d.to_json(),
            published_number=1 if scope is ViewScope.STANDARD else None,
            created_at=now, updated_at=now,
        )  # fmt: skip
        if scope is ViewScope.STANDARD:
            await ViewVersion.create(
                org_id=org, view_id=view.id, number=1, name=view.name,
                definition=d.to_json(), approvals=[], published_at=now,
            )  # fmt: skip
            out.append({"id": view.id, "label": label, "filters": filters, "sort": sort})
        await ViewPreference.create(
            org_id=org, user_id=me, view_id=view.id, queue=ViewQueue.ALERTS,
            is_default=i == 0, pinned=True,
        )  # fmt: skip
    await close_db()
    return out


def _gql_filter(filters: dict[str, Any]) -> dict[str, Any]:
    return {
        queue_bench._camel(k): queue_bench._gql_value(k, v)
        if k not in ("team", "amount_min")
        else str(v)
        for k, v in filters.items()
    }


async def _apply_figure(info: dict[str, Any], secret: str, views: list[dict[str, Any]]) -> bool:
    from riskops.server.app import create_app
    from riskops.server.core.principal import Principal
    from riskops.server.db import close_db, init_db
    from riskops.server.settings import load_settings, use_settings
    from riskops.server.triage.queue import list_alerts
    from riskops.server.triage.queue_filters import AlertFilter
    from riskops.server.views.applying import alert_filter_of
    from riskops.server.views.definitions import parse

    settings = use_settings(
        load_settings(database_url=db_url(DB_NAME), secret_key=SECRET, log_level="WARNING")
    )
    await init_db(settings)
    app = create_app(settings, manage_db=False)
    me = Principal(user_id=info["me"], org_id=info["org"], roles=frozenset({"operator"}))
    headers = {"Authorization": f"Bearer {secret}"}
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    ok = True
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        for v in views:
            sort = v["sort"]
            flt = parse("alerts", {"filters": v["filters"], "sort": sort}).alert_filter()
            variables_view = {"view": str(v["id"]), "sort": sort.upper()}
            variables_filter = {"filter": _gql_filter(v["filters"]), "sort": sort.upper()}

            async def gql(query: str, variables: dict[str, Any]) -> list[str]:
                r = await http.post(
                    "/graphql", json={"query": query, "variables": variables}, headers=headers
                )
                body = r.json()
                assert r.status_code == 200 and "errors" not in body, r.text[:500]
                return [e["node"]["id"] for e in body["data"]["alerts"]["edges"]]

            same = await gql(BY_VIEW, variables_view) == await gql(BY_FILTER, variables_filter)
            assert same, f"{v['label']}: the view and its filters give different rows"

            async def svc_view(view_id: int = v["id"], sort: str = sort) -> None:
                _, view_flt, _ = await alert_filter_of(me, view_id)
                await list_alerts(me, AlertFilter(), within=[view_flt], sort=sort, first=50)

            async def svc_direct(flt: AlertFilter = flt, sort: str = sort) -> None:
                await list_alerts(me, flt, sort=sort, first=50)

            async def g_view(vv: dict[str, Any] = variables_view) -> None:
                await gql(BY_VIEW, vv)

            async def g_direct(vf: dict[str, Any] = variables_filter) -> None:
                await gql(BY_FILTER, vf)

            fns = (svc_view, svc_direct, g_view, g_direct)
            for fn in fns:
                await timed(fn, 0)
            times: dict[Any, list[float]] = {fn: [] for fn in fns}
            for _ in range(ROUNDS):
                for fn in fns:
                    times[fn] += await timed(fn, 1, warmup=0)
            p = {fn: statistics.median(t) for fn, t in times.items()}
            g_ratio = p[g_view] / p[g_direct]
            s_ratio = p[svc_view] / p[svc_direct]
            passed = g_ratio <= RATIO_TARGET
            ok &= passed
            print(
                f"   {v['label']} (sort {sort}): GraphQL page by view {ms(p[g_view])} vs by "
                f"filters {ms(p[g_direct])}, ratio {g_ratio:.3f}x "
                f"{'PASS' if passed else 'FAIL'}; service {ms(p[svc_view])} vs "
                f"{ms(p[svc_direct])}, ratio {s_ratio:.3f}x",
                flush=True,
            )
    await close_db()
    return ok


async def _home_figure(base: str) -> None:
    cookies = await queue_bench._session_cookies(base)
    assert cookies is not None
    async with httpx.AsyncClient(base_url=base, cookies=cookies) as c:
        r = await c.get("/")
        assert r.status_code == 200, r.status_code
        # Let the count jobs the first visit queued fill the cache (in-process jobs).
        for _ in range(60):
            if "counting" not in (await c.get("/")).text.lower():
                break
            await asyncio.sleep(0.5)

        async def home() -> None:
            r = await c.get("/")
            assert r.status_code == 200, r.status_code

        single = statistics.median(await timed(home, 40))
    print(f"   single request p50 {ms(single)}", flush=True)
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    for think, name in ((queue_bench.THINK, "like people"), (0.0, "back to back")):
        load = await asyncio.to_thread(
            wrk, url=base + "/", headers={"Cookie": cookie}, clients=queue_bench.CLIENTS,
            seconds=queue_bench.LOAD_SECONDS, think=think,
        )  # fmt: skip
        verdict = ""
        if think:
            passed = load.p95 <= HOME_TARGET and load.errors == 0
            verdict = f" (target p95 ≤ {HOME_TARGET * 1000:.0f} ms) {'PASS' if passed else 'FAIL'}"
        print(
            f"2{'' if think else 's'}. home page GET / with 10 views, {queue_bench.CLIENTS} "
            f"clients {name}{f' (mean pause {think:g} s)' if think else ''}: {load.line()}"
            f"{verdict}",
            flush=True,
        )


async def main() -> None:
    info = await queue_bench._prepare()
    pg = await asyncpg.connect(db_url(DB_NAME).replace("postgres://", "postgresql://"))
    version = (await pg.fetchval("SHOW server_version")).split()[0]
    await pg.close()
    c = info["counts"]
    print(
        f"{DB_NAME}: {c['alerts']:,} alerts; {machine()}, PostgreSQL {version}; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        flush=True,
    )
    views = await _views(info)
    secret = await queue_bench._token(info)
    print(f"1. applying a standard view vs the same filters given directly ({ROUNDS} rounds):")
    await _apply_figure(info, secret, views)
    proc, base = await queue_bench._start_server(2)
    try:
        await _home_figure(base)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
        await _drop_views()
    print(json.dumps({"views": [v["id"] for v in views]}))


async def _drop_views() -> None:
    """The bench person's views go again: the alert queue bench measures the queue without a
    default view (which `GET /alerts` would otherwise open)."""
    from riskops.server.db import close_db, init_db
    from riskops.server.settings import load_settings, use_settings
    from riskops.server.views.models import SavedView

    await init_db(
        use_settings(
            load_settings(database_url=db_url(DB_NAME), secret_key=SECRET, log_level="WARNING")
        )
    )
    await SavedView.all().delete()
    await close_db()
