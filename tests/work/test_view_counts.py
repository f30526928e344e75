"""View counts computed cheaply (`views.counts`), on both backends: the first look says
"counting…" and enqueues `view.count`; the job counts as the organization's system with the
queue's capped count; a fresh count is read back in one query; a stale one (older than a minute,
or of another version of the view) is shown and refreshed; an "assignee me" view is counted per
person, every other view once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from riskops.jobs import runner
from riskops.jobs.models import Job
from riskops.server.credit.terms import Severity
from riskops.server.triage.models import AlertStatus
from riskops.server.views import counts, preferences
from riskops.server.views import service as views
from riskops.server.views.models import SavedView, ViewCount
from riskops.server.work.service import my_work
from tests.work.world import alert, run


async def _settle() -> None:
    await runner.drain()
    counts._asked.clear()


async def test_a_view_is_counted_by_the_job_then_read_from_the_cache(
    tenant: Any, other_tenant: Any
) -> None:
    _, me = await tenant.user("strategist")
    for score_status in (AlertStatus.NEW, AlertStatus.ASSIGNED, AlertStatus.CLOSED):
        await alert(tenant.org_id, assignee=None, status=score_status)
    await alert(other_tenant.org_id, assignee=None, status=AlertStatus.NEW)
    saved = await views.save_view(
        me, queue="alerts", name="Open", definition={"filters": {"status": ["new", "assigned"]}}
    )
    view = saved.view
    await preferences.pin_view(me, view.id, True)

    first = (await counts.counts_for(me, [view]))[view.id]
    assert (first.count, first.fresh, first.words) == (None, False, "counting…")
    item = (await my_work(me)).section("views").items[0]  # type: ignore[union-attr]
    assert (item.label, item.count, item.count_words) == ("Open", None, "counting…")
    assert item.href == f"/alerts?view={view.id}"
    await _settle()
    assert await Job.filter(kind="view.count", org_id=tenant.org_id).count() == 1  # deduped

    again = (await counts.counts_for(me, [view]))[view.id]
    assert (again.count, again.exact, again.fresh) == (2, True, True)
    await _settle()
    assert await Job.filter(kind="view.count", org_id=tenant.org_id).count() == 1  # fresh: none
    row = await ViewCount.get(view_id=view.id)
    assert (row.user_id, row.view_version, row.org_id) == (0, view.version, tenant.org_id)


async def test_a_stale_count_is_shown_and_refreshed(tenant: Any) -> None:
    _, me = await tenant.user("strategist")
    await alert(tenant.org_id, assignee=None, status=AlertStatus.NEW)
    view = (
        await views.save_view(
            me, queue="alerts", name="New", definition={"filters": {"status": ["new"]}}
        )
    ).view
    await counts.count_view(tenant.org_id, view.id, 0)
    await alert(tenant.org_id, assignee=None, status=AlertStatus.NEW)
    later = datetime.now(UTC) + counts.FRESH_FOR + timedelta(seconds=1)
    stale = (await counts.counts_for(me, [view], now=later))[view.id]
    assert (stale.count, stale.fresh) == (1, False)  # the last count, while a new one comes
    await _settle()
    assert (await counts.counts_for(me, [view]))[view.id].count == 2
    # Another version of the view: the count is of the old definition, so it is refreshed.
    await SavedView.filter(id=view.id).update(version=view.version + 1)
    view = await SavedView.get(id=view.id)
    assert not (await counts.counts_for(me, [view]))[view.id].fresh
    await _settle()
    assert (await counts.counts_for(me, [view]))[view.id].fresh


async def test_an_assignee_me_view_is_counted_per_person(tenant: Any) -> None:
    a_user, a = await tenant.user("strategist")
    b_user, b = await tenant.user("strategist")
    await alert(tenant.org_id, assignee=a_user.id, status=AlertStatus.ASSIGNED)
    await alert(tenant.org_id, assignee=a_user.id, status=AlertStatus.ESCALATED)
    await alert(tenant.org_id, assignee=b_user.id, status=AlertStatus.ASSIGNED)
    view = (
        await views.save_view(
            a, queue="alerts", name="Mine", definition={"filters": {"assignee": "me"}}
        )
    ).view
    assert counts.counter_of(view, a) == a_user.id and counts.counter_of(view, b) == b_user.id
    await counts.count_view(tenant.org_id, view.id, a_user.id)
    await counts.count_view(tenant.org_id, view.id, b_user.id)
    assert (await counts.counts_for(a, [view]))[view.id].count == 2
    assert (await counts.counts_for(b, [view]))[view.id].count == 1
    assert set(await ViewCount.filter(view_id=view.id).values_list("user_id", flat=True)) == {
        a_user.id, b_user.id,
    }  # fmt: skip


async def test_counts_are_capped_like_the_queue(tenant: Any, monkeypatch: Any) -> None:
    from riskops.server.triage import queue

    monkeypatch.setattr(queue, "COUNT_CAP", 2)
    monkeypatch.setattr(counts, "COUNT_CAP", 2)
    _, me = await tenant.user("approver")
    for _ in range(3):
        await alert(tenant.org_id, assignee=None, status=AlertStatus.NEW)
        await run(tenant.org_id, Severity.SEV1)
    alerts_view = (await views.save_view(me, queue="alerts", name="All", definition={})).view
    runs_view = (
        await views.save_view(
            me, queue="runs", name="SEV1", definition={"filters": {"severities": ["SEV1"]}}
        )
    ).view
    for v in (alerts_view, runs_view):
        await counts.count_view(tenant.org_id, v.id, 0)
    got = await counts.counts_for(me, [alerts_view, runs_view])
    shown = [(got[v.id].count, got[v.id].exact, got[v.id].words) for v in (alerts_view, runs_view)]
    assert shown == [(2, False, "more than 2"), (2, False, "more than 2")]


async def test_the_job_skips_an_archived_or_missing_view(tenant: Any) -> None:
    _, me = await tenant.user("strategist")
    view = (await views.save_view(me, queue="alerts", name="Gone", definition={})).view
    await views.archive_view(me, view.id, expected_version=view.version)
    assert "skipped" in await counts.count_view(tenant.org_id, view.id, 0)
    assert "skipped" in await counts.count_view(tenant.org_id + 10_000, view.id, 0)
    assert not await ViewCount.filter(view_id=view.id).exists()


async def test_the_home_costs_the_same_queries_for_1_or_10_views(tenant: Any) -> None:
    """The benchmark's home (10 views and their counts) stays a handful of queries: the counts
    come from their cache in one query, whatever the number of views."""
    from tests.support.statements import Statements

    _, me = await tenant.user("approver", "strategist", "compliance_reviewer")
    made = []
    for n in range(10):
        view = (await views.save_view(me, queue="alerts", name=f"View {n}", definition={})).view
        await preferences.pin_view(me, view.id, True)
        await counts.count_view(tenant.org_id, view.id, 0)
        made.append(view)
    spent = {}
    for shown in (1, 10):
        for view in made[shown:]:
            await preferences.pin_view(me, view.id, False)
        with Statements() as sql:
            work = await my_work(me)
        spent[shown] = len(sql.sent)
        assert len(work.section("views").items) == shown  # type: ignore[union-attr]
        assert all(i.count == 0 for i in work.section("views").items)  # type: ignore[union-attr]
        for view in made[shown:]:
            await preferences.pin_view(me, view.id, True)
    assert spent[1] == spent[10] <= 25, spent
