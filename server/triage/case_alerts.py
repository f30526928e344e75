"""Which alerts a case form or mutation names: internal ids (`alert_ids`) and the external ids
the queue shows (`alert_external_ids`), checked as input (`alert_ids`, `external_ids`), then
found in the caller's organization, every one not found named (`alerts_in_org`: another
organization's alert reads exactly like a missing one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.server.core.errors import Invalid, NotFound
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import parse_id, scoped
from riskops.server.triage.models import Alert

MAX_ALERTS = 100


def alert_ids(raw: Any, external_raw: Any = None, *, required: bool = True) -> list[int]:
    """The internal alert ids given (`alert_ids`); with `alert_external_ids` given too, the two
    lists together hold from 1 (0 when not `required`: a case may start without alerts) to
    MAX_ALERTS alerts."""
    raw = [] if raw is None else raw
    external = external_ids(external_raw)
    if not isinstance(raw, list | tuple):
        raise Invalid("Alerts must be a list of alert ids.", field="alert_ids")
    if not raw and not external and required:
        if external_raw is None:
            raise Invalid("Alerts: give at least one alert.", field="alert_ids")
        raise Invalid(
            "No alert given; give at least one alert (its external id, as the queue shows it).",
            field="alert_external_ids",
        )
    if len(raw) + len(external) > MAX_ALERTS:
        raise Invalid(
            f"Alerts has {len(raw) + len(external)} entries; the limit is {MAX_ALERTS}.",
            field="alert_ids" if raw else "alert_external_ids",
        )
    return list(dict.fromkeys(parse_id("Alert", a) for a in raw))


def external_ids(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list | tuple) or not all(isinstance(e, str) for e in raw):
        raise Invalid(
            "Alert external ids must be a list of external ids (text).",
            field="alert_external_ids",
        )
    return list(dict.fromkeys(e.strip() for e in raw if e.strip()))


def _missing(kind: str, missing: list[str]) -> str:
    listed = ", ".join(missing)
    if len(missing) == 1:
        return f"No alert with {kind} {listed} in your organization."
    return f"No alerts with {kind}s {listed} in your organization."


async def alerts_in_org(
    principal: Principal,
    conn: BaseDBAsyncClient,
    ids: list[int],
    given_external: Sequence[str] = (),
) -> list[int]:
    """The alerts given by id and by external id, all of the caller's organization, as ids in
    the order given; otherwise NotFound naming every one not found (another organization's
    alert reads exactly like a missing one)."""
    found = set(
        await scoped(Alert, principal)
        .filter(id__in=ids)
        .using_db(conn)
        .values_list("id", flat=True)
    ) if ids else set()  # fmt: skip
    missing = [i for i in ids if i not in found]
    if missing:  # "Alert 12 not found.", "Alerts 12, 14 not found."
        listed = ", ".join(str(i) for i in missing)
        plural = "s" if len(missing) > 1 else ""
        raise NotFound(f"Alert{plural} {listed} not found.", field="alert_ids", kind="alert")
    external = external_ids(list(given_external))
    by_external: dict[str, int] = {}
    if external:
        rows = (
            await scoped(Alert, principal)
            .filter(external_id__in=external)
            .using_db(conn)
            .values_list("external_id", "id")
        )
        by_external = {str(e): int(i) for e, i in rows}
        gone = [e for e in external if e not in by_external]
        if gone:
            raise NotFound(
                _missing("external id", gone) + " Check them against the queue.",
                field="alert_external_ids", kind="alert",
            )  # fmt: skip
    return list(dict.fromkeys([*ids, *(by_external[e] for e in external)]))
