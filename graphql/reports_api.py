"""GraphQL for the weekly report: `reports` (newest week first, keyset), `report(id)` (audited
as report.view) and `generateWeeklyReport` (idempotent per week). Thin adapters over
`server/services/reports.py`; expected errors of the mutation are data (`errors`)."""

from __future__ import annotations

from datetime import date

import strawberry

from riskops.graphql.context import Info, or_none, principal, query
from riskops.graphql.report_types import Report, ReportConnection, ReportEdge, ReportPayload
from riskops.graphql.types import PageInfo, UserError
from riskops.server.core.errors import DomainError
from riskops.server.credit import reports


@strawberry.type
class ReportsQuery:
    @strawberry.field(description="Weekly reports of your organization, newest week first.")
    async def reports(
        self, info: Info, first: int = 20, after: str | None = None
    ) -> ReportConnection:
        page = await query(reports.list_reports(principal(info), first=first, after=after))
        return ReportConnection(
            edges=[
                ReportEdge(cursor=reports.page_cursor(r), node=Report.of(r)) for r in page.items
            ],
            page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=page.end_cursor),
        )

    @strawberry.field(
        description="One report with its JSON and SHA-256; viewing it is recorded in the audit "
        "trail. Null when it does not exist."
    )
    async def report(self, info: Info, id: strawberry.ID) -> Report | None:
        row = await or_none(reports.get_report(principal(info), str(id)))
        return Report.of(row) if row is not None else None


@strawberry.type
class ReportsMutation:
    @strawberry.mutation(
        description="Generate the weekly report of the 7 days from periodStart 00:00 UTC "
        "(default: the last complete Monday-to-Monday week). The week must have ended. "
        "Generating a week again returns the stored report."
    )
    async def generate_weekly_report(
        self, info: Info, period_start: date | None = None
    ) -> ReportPayload:
        try:
            row = await reports.generate_weekly_report(
                principal(info), period_start or reports.last_complete_week()
            )
        except DomainError as exc:
            return ReportPayload(errors=[UserError.of(exc)])
        return ReportPayload(report=Report.of(row))
