"""The access review over GraphQL (issue 15, seed 003 DO-002): the live findings
(`accessReview`), recording a review with its keep/suspend decisions (`recordAccessReview`;
suspending also needs user.manage) and the recorded reviews (`accessReviews`). access.review."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from riskops.graphql.core.context import Info, principal, query
from riskops.graphql.core.errors import UserError, as_payload
from riskops.server.operations import access_review
from riskops.server.operations.access_review import Decision
from riskops.server.operations.review_models import AccessReview as AccessReviewModel


@strawberry.type
class AccessReviewPerson:
    user_id: strawberry.ID
    name: str
    email: str
    kind: str = strawberry.field(description="person or service (a service account).")
    status: str
    roles: list[str]
    mfa_enabled: bool
    last_active_at: datetime | None = strawberry.field(
        description="Last sign-in or API token use; null: never."
    )
    idle_days: int
    active_tokens: int
    inactive: bool
    privileged: bool
    anomalous: bool
    flags: list[str] = strawberry.field(
        description="inactive, privileged, anomalous, tokens, no_mfa."
    )

    @classmethod
    def of(cls, p: access_review.Person) -> AccessReviewPerson:
        return cls(
            user_id=strawberry.ID(str(p.user_id)), name=p.name, email=p.email, kind=p.kind,
            status=p.status, roles=p.roles, mfa_enabled=p.mfa_enabled,
            last_active_at=p.last_active_at, idle_days=p.idle_days,
            active_tokens=p.active_tokens, inactive=p.inactive, privileged=p.privileged,
            anomalous=p.anomalous, flags=p.flags,
        )  # fmt: skip


@strawberry.type
class AccessAnomaly:
    actor: str = strawberry.field(description="The audit reference: user:N, token:N, cli, ...")
    user_id: strawberry.ID | None
    name: str
    action: str
    count: int = strawberry.field(description="Events of this action by this actor in 7 days.")


@strawberry.type
class AccessReviewFindings:
    generated_at: datetime
    inactive_days: int
    anomaly_threshold: int
    people: list[AccessReviewPerson]
    anomalies: list[AccessAnomaly]

    @strawberry.field(description="Active users with no activity for more than inactiveDays.")
    def inactive(self) -> list[AccessReviewPerson]:
        return [p for p in self.people if p.inactive]

    @strawberry.field(description="Active admins and approvers.")
    def privileged(self) -> list[AccessReviewPerson]:
        return [p for p in self.people if p.privileged]

    @strawberry.field(description="Users with live API tokens.")
    def token_holders(self) -> list[AccessReviewPerson]:
        return [p for p in self.people if p.active_tokens]

    @classmethod
    def of(cls, r: access_review.Review) -> AccessReviewFindings:
        return cls(
            generated_at=r.generated_at,
            inactive_days=r.inactive_days,
            anomaly_threshold=access_review.ANOMALY_THRESHOLD,
            people=[AccessReviewPerson.of(p) for p in r.people],
            anomalies=[
                AccessAnomaly(
                    actor=a.actor,
                    user_id=None if a.user_id is None else strawberry.ID(str(a.user_id)),
                    name=a.name,
                    action=a.action,
                    count=a.count,
                )
                for a in r.anomalies
            ],
        )


@strawberry.type
class AccessReviewDecision:
    user_id: strawberry.ID
    name: str
    decision: str = strawberry.field(description="keep or suspend.")
    note: str


@strawberry.type
class AccessReviewRecord:
    id: strawberry.ID
    reviewed_at: datetime
    reviewer: str
    inactive_days: int
    kept: int
    suspended: int
    note: str
    decisions: list[AccessReviewDecision]
    findings: JSON = strawberry.field(description="The review as it was shown when recorded.")

    @classmethod
    def of(cls, r: AccessReviewModel) -> AccessReviewRecord:
        decisions = [
            AccessReviewDecision(
                user_id=strawberry.ID(str(d["user_id"])),
                name=d["name"],
                decision=d["decision"],
                note=d.get("note", ""),
            )
            for d in r.decisions
        ]
        return cls(
            id=strawberry.ID(str(r.id)), reviewed_at=r.reviewed_at, reviewer=r.reviewer,
            inactive_days=r.inactive_days, kept=r.kept, suspended=r.suspended, note=r.note,
            decisions=decisions, findings=r.findings,
        )  # fmt: skip


@strawberry.input
class AccessDecisionInput:
    user_id: strawberry.ID
    decision: str = strawberry.field(description="keep or suspend (needs user.manage too).")
    note: str = strawberry.field(default="", description="Required to suspend: the reason.")


@strawberry.type
class RecordAccessReviewPayload:
    review: AccessReviewRecord | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AccessReviewQuery:
    @strawberry.field(
        description="The live access review of your organization: inactive, privileged and "
        "token-holding users, MFA, anomalous activity (access.review)."
    )
    async def access_review(
        self, info: Info, inactive_days: int | None = None
    ) -> AccessReviewFindings:
        found = await query(access_review.review(principal(info), inactive_days=inactive_days))
        return AccessReviewFindings.of(found)

    @strawberry.field(description="Recorded access reviews, newest first (access.review).")
    async def access_reviews(self, info: Info, first: int = 50) -> list[AccessReviewRecord]:
        rows = await query(access_review.list_reviews(principal(info), limit=min(first, 200)))
        return [AccessReviewRecord.of(r) for r in rows]


@strawberry.type
class AccessReviewMutation:
    @strawberry.mutation(
        description="Record an access review with a decision per person (access.review); "
        "suspending (user.manage too) revokes the person's sessions and API tokens."
    )
    async def record_access_review(
        self,
        info: Info,
        decisions: list[AccessDecisionInput],
        inactive_days: int | None = None,
        note: str = "",
    ) -> RecordAccessReviewPayload:
        taken = [Decision(d.user_id, d.decision, d.note) for d in decisions]
        return await as_payload(
            RecordAccessReviewPayload,
            access_review.record_review(
                principal(info), taken, inactive_days=inactive_days, note=note
            ),
            lambda r: RecordAccessReviewPayload(review=AccessReviewRecord.of(r)),
        )
