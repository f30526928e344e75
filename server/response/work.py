"""The response loop on "My work" (issue 16): the SEV0/SEV1 items nobody acknowledged (for people
who may acknowledge) and the post-incident reports past due (for people who read cases), with
the target in words. Called by `riskops.server.work.service.my_work`, shown first."""

from __future__ import annotations

from datetime import UTC, datetime

from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.response import clocks as rc
from riskops.server.response import service as svc
from riskops.server.work.items import MAX_ENTRIES, Entry, Item, Section


async def response_section(principal: Principal, now: datetime | None = None) -> Section | None:
    now = now or datetime.now(UTC)
    may_ack = principal.can(Perm.RESPONSE_ACK)
    items: list[Item] = []
    if may_ack:
        waiting = await svc.unacknowledged(principal, limit=MAX_ENTRIES + 1)
        if waiting:
            items.append(
                Item(
                    "response.unacknowledged",
                    "Unacknowledged SEV0/SEV1",
                    len(waiting[:MAX_ENTRIES]),
                    waiting[0].href,
                    exact=len(waiting) <= MAX_ENTRIES,
                    detail="acknowledge each: it escalates, then pages PagerDuty",
                    entries=tuple(
                        Entry(
                            f"{w.label} · {w.clock.severity} · {w.title}"
                            + (f" (runs {', '.join(w.runs)})" if w.runs else ""),
                            w.href,
                            w.view.text,
                        )
                        for w in waiting[:MAX_ENTRIES]
                    ),
                )
            )
    late = await svc.overdue_reports(principal, limit=MAX_ENTRIES + 1)
    if late:
        items.append(
            Item(
                "response.reports_overdue",
                "Post-incident reports overdue",
                len(late[:MAX_ENTRIES]),
                f"/cases/{late[0].id}#incident",
                exact=len(late) <= MAX_ENTRIES,
                entries=tuple(
                    Entry(
                        f"{c.display_number} {c.title}",
                        f"/cases/{c.id}#incident",
                        "overdue by " + rc.span((now - c.postmortem_due_at).total_seconds())
                        if c.postmortem_due_at
                        else "overdue",
                    )
                    for c in late[:MAX_ENTRIES]
                ),
            )
        )
    if not items and not may_ack:
        return None
    return Section(
        "response", "Incidents waiting for you",
        "No SEV0/SEV1 run or case waits for an acknowledgement, and no post-incident report is "
        "overdue.",
        tuple(items),
    )  # fmt: skip
