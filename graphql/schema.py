"""The one Strawberry schema: the root types compose one mixin per domain (NetBox style)."""

from __future__ import annotations

import strawberry

from riskops.graphql.assistant.mutations import AssistantMutation
from riskops.graphql.assistant.queries import AssistantQuery
from riskops.graphql.core.errors import audit_refusals
from riskops.graphql.credit.mutations import (
    BaselinesMutation,
    ControlsMutation,
    ReportsMutation,
    RunsMutation,
)
from riskops.graphql.credit.queries import BaselinesQuery, ControlsQuery, ReportsQuery, RunsQuery
from riskops.graphql.identity.access import AccessMutation, AccessQuery
from riskops.graphql.identity.mfa import MfaMutation
from riskops.graphql.identity.mutations import IdentityMutation
from riskops.graphql.identity.passwords import PasswordMutation
from riskops.graphql.identity.queries import IdentityQuery
from riskops.graphql.identity.sso import SsoMutation, SsoQuery
from riskops.graphql.notify.channels import ChannelsMutation, ChannelsQuery
from riskops.graphql.notify.queries import NotifyQuery
from riskops.graphql.operations.access_review import AccessReviewMutation, AccessReviewQuery
from riskops.graphql.operations.approvals import ApprovalTrailQuery
from riskops.graphql.operations.backups import BackupsQuery
from riskops.graphql.operations.evidence import EvidenceMutation
from riskops.graphql.operations.gdpr import GdprMutation, GdprQuery
from riskops.graphql.operations.maintenance import MaintenanceMutation, MaintenanceQuery
from riskops.graphql.operations.queries import AuditQuery
from riskops.graphql.operations.retention import RetentionMutation, RetentionQuery
from riskops.graphql.response.mutations import ResponseMutation
from riskops.graphql.triage.case_mutations import CasesMutation
from riskops.graphql.triage.mutations import AlertsMutation
from riskops.graphql.triage.queries import AlertsQuery
from riskops.graphql.views.mutations import ViewsMutation
from riskops.graphql.views.promotion import ViewPromotionMutation, ViewPromotionQuery
from riskops.graphql.views.queries import ViewsQuery
from riskops.graphql.work.queries import WorkQuery


@strawberry.type
class Query(
    IdentityQuery,
    SsoQuery,
    AccessQuery,
    AuditQuery,
    ApprovalTrailQuery,
    BackupsQuery,
    AccessReviewQuery,
    AlertsQuery,
    RunsQuery,
    BaselinesQuery,
    ControlsQuery,
    NotifyQuery,
    ChannelsQuery,
    ReportsQuery,
    ViewsQuery,
    ViewPromotionQuery,
    WorkQuery,
    AssistantQuery,
    MaintenanceQuery,
    GdprQuery,
    RetentionQuery,
):
    pass


@audit_refusals  # a FORBIDDEN answer to any mutation is audited (issue 11, item 4)
@strawberry.type
class Mutation(
    IdentityMutation,
    SsoMutation,
    MfaMutation,
    PasswordMutation,
    AccessMutation,
    AlertsMutation,
    CasesMutation,
    RunsMutation,
    BaselinesMutation,
    ControlsMutation,
    ReportsMutation,
    ChannelsMutation,
    ViewsMutation,
    ViewPromotionMutation,
    AssistantMutation,
    MaintenanceMutation,
    AccessReviewMutation,
    EvidenceMutation,
    GdprMutation,
    RetentionMutation,
    ResponseMutation,
):
    pass


schema = strawberry.Schema(query=Query, mutation=Mutation)
