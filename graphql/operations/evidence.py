"""The SOC 2-style evidence export over GraphQL (issue 15, seed 003 CO-001): the same files as
`riskops evidence export`, returned with their content and SHA-256 (evidence.export)."""

from __future__ import annotations

from datetime import date

import strawberry

from riskops.graphql.core.context import Info, principal
from riskops.graphql.core.errors import UserError, as_payload
from riskops.server.operations import evidence


@strawberry.type
class EvidenceFile:
    name: str
    rows: int = strawberry.field(description="Data rows (CSV, without the header).")
    sha256: str
    content: str = strawberry.field(description="The file as UTF-8 text.")


@strawberry.type
class EvidenceSet:
    period: str
    period_from: date
    period_to: date
    manifest_sha256: str
    files: list[EvidenceFile] = strawberry.field(
        description="The CSV files, then manifest.json and SHA256SUMS."
    )

    @classmethod
    def of(cls, s: evidence.EvidenceSet) -> EvidenceSet:
        return cls(
            period=s.period.label, period_from=s.period.first, period_to=s.period.last,
            manifest_sha256=s.manifest_sha256,
            files=[EvidenceFile(name=f.name, rows=f.rows, sha256=f.sha256,
                                content=f.content.decode()) for f in s.files],
        )  # fmt: skip


@strawberry.type
class ExportEvidencePayload:
    evidence: EvidenceSet | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class EvidenceMutation:
    @strawberry.mutation(
        description="The evidence set of a period: 2026-Q4, 2026-11 or 2026-10-01..2026-12-31 "
        "(evidence.export; audited as a data access)."
    )
    async def export_evidence(self, info: Info, period: str) -> ExportEvidencePayload:
        return await as_payload(
            ExportEvidencePayload,
            evidence.export(principal(info), period),
            lambda s: ExportEvidencePayload(evidence=EvidenceSet.of(s)),
        )
