"""The one Strawberry schema: the root types compose one mixin per domain (NetBox style)."""

from __future__ import annotations

import strawberry

from riskops.graphql.alerts_api import AlertsMutation, AlertsQuery
from riskops.graphql.audit_api import AuditQuery
from riskops.graphql.baselines_api import BaselinesMutation, BaselinesQuery
from riskops.graphql.controls_api import ControlsMutation, ControlsQuery
from riskops.graphql.identity import IdentityMutation, IdentityQuery
from riskops.graphql.reports_api import ReportsMutation, ReportsQuery
from riskops.graphql.runs_api import RunsMutation, RunsQuery


@strawberry.type
class Query(
    IdentityQuery,
    AuditQuery,
    AlertsQuery,
    RunsQuery,
    BaselinesQuery,
    ControlsQuery,
    ReportsQuery,
):
    pass


@strawberry.type
class Mutation(
    IdentityMutation,
    AlertsMutation,
    RunsMutation,
    BaselinesMutation,
    ControlsMutation,
    ReportsMutation,
):
    pass


schema = strawberry.Schema(query=Query, mutation=Mutation)
