"""The cache of applied standard views (`views.applying._applied`, docs/PERFORMANCE.md "Saved
views"): a standard view applied lately is applied again without the database, yet a new
version published in this process applies at once, another organization's caller still gets
"not found", a caller who does not read the queue is still refused, and a personal view is
never cached (archiving it takes effect at once). SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from riskops.server.core.errors import Forbidden, NotFound
from riskops.server.triage.queue import count_alerts
from riskops.server.views import applying
from riskops.server.views import service as views
from riskops.server.views.models import SavedView, ViewScope
from tests.views.test_promotion_flow import alerts, make_view, people, requested, review


async def test_a_published_version_applies_at_once_and_the_cache_keeps_tenancy(
    tenant, other_tenant
) -> None:
    p = await people(tenant)
    await alerts(tenant.admin)
    view = await make_view(p["maker"])
    await review(p["product"], await review(p["compliance"], await requested(p["maker"], view)))
    view = await SavedView.get(id=view.id)
    assert view.scope is ViewScope.STANDARD

    _, applied, _ = await applying.alert_filter_of(p["peer"], view.id)  # cached from here
    assert (await count_alerts(p["peer"], applied)).count == 3
    assert view.id in applying._applied_standard

    wider = {"filters": {"priority": ["high", "low"]}}
    await views.update_view(p["peer"], view.id, expected_version=view.version, definition=wider)
    view = await SavedView.get(id=view.id)
    _, applied, _ = await applying.alert_filter_of(p["peer"], view.id)
    assert (await count_alerts(p["peer"], applied)).count == 3  # a draft changes nothing
    req = await requested(p["peer"], view)
    await review(p["product"], await review(p["compliance"], req))
    _, applied, _ = await applying.alert_filter_of(p["maker"], view.id)
    assert (await count_alerts(p["maker"], applied)).count == 5  # the new version, at once

    stranger = (await other_tenant.user("strategist"))[1]
    with pytest.raises(NotFound):
        await applying.alert_filter_of(stranger, view.id)
    admin = (await tenant.user("admin"))[1]
    with pytest.raises(Forbidden):
        await applying.alert_filter_of(admin, view.id)


async def test_a_personal_view_is_read_each_time(tenant) -> None:
    p = await people(tenant)
    view = await make_view(p["maker"])
    await applying.alert_filter_of(p["maker"], view.id)
    assert view.id not in applying._applied_standard
    await views.archive_view(p["maker"], view.id, expected_version=view.version)
    applied, *_ = await applying.alert_filter_of(p["maker"], view.id)  # the owner still may
    assert applied.id == view.id
    with pytest.raises(NotFound):
        await applying.alert_filter_of(p["peer"], view.id)
