"""What the assistant answers about: the kinds of answer, on which targets (alerts, cases,
runs), who may ask for each, and finding the target in the caller's organization."""

from __future__ import annotations

from dataclasses import dataclass

from riskops.server.assistant.models import ResponseKind, TargetType
from riskops.server.core import validation
from riskops.server.core.errors import Invalid
from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import get_scoped
from riskops.server.credit.models import Run
from riskops.server.credit.terms import Severity
from riskops.server.triage.models import Alert, Case

K = ResponseKind
T = TargetType

# Who may ask for each kind, and on what.
ASK_PERM: dict[ResponseKind, Perm] = {
    K.EXPLAIN_ALERT: Perm.ASSISTANT_USE,
    K.SIMILAR_CASES: Perm.ASSISTANT_USE,
    K.ESCALATION_DRAFT: Perm.ASSISTANT_USE,
    K.EXPLAIN_RUN: Perm.ASSISTANT_RUNS,
}
TARGETS: dict[ResponseKind, tuple[TargetType, ...]] = {
    K.EXPLAIN_ALERT: (T.ALERT,),
    K.SIMILAR_CASES: (T.ALERT, T.CASE),
    K.ESCALATION_DRAFT: (T.ALERT, T.CASE),
    K.EXPLAIN_RUN: (T.RUN,),
}
READ_PERM: dict[TargetType, Perm] = {
    T.ALERT: Perm.ALERT_READ,
    T.CASE: Perm.CASE_READ,
    T.RUN: Perm.RUN_READ,
}
# The kind whose structured explanation a panel shows when the assistant is unavailable.
PANEL_KIND: dict[TargetType, ResponseKind] = {
    T.ALERT: K.EXPLAIN_ALERT,
    T.CASE: K.ESCALATION_DRAFT,
    T.RUN: K.EXPLAIN_RUN,
}
EXPLAINED_SEVERITIES = frozenset({Severity.SEV0, Severity.SEV1, Severity.SEV2})

# The kinds in words, as the panel's buttons and the usage page name them.
KIND_WORDS: dict[ResponseKind, str] = {
    K.EXPLAIN_ALERT: "explanation of an alert",
    K.SIMILAR_CASES: "similar cases",
    K.ESCALATION_DRAFT: "escalation draft",
    K.EXPLAIN_RUN: "explanation of a run",
}
KIND_A: dict[ResponseKind, str] = {
    K.EXPLAIN_ALERT: "an explanation of an alert",
    K.SIMILAR_CASES: "a list of similar cases",
    K.ESCALATION_DRAFT: "an escalation draft",
    K.EXPLAIN_RUN: "an explanation of a run",
}
_NAMES = {T.ALERT: "Alert", T.CASE: "Case", T.RUN: "Run"}


@dataclass(frozen=True)
class Target:
    """The row a response is about, as the caller knows it."""

    type: TargetType
    row: Alert | Case | Run

    @property
    def id(self) -> int:
        return int(self.row.id)

    @property
    def label(self) -> str:
        """ "alert EXT-17", "case CASE-000004", "run RUN-42"."""
        row = self.row
        if isinstance(row, Alert):
            return f"alert {row.external_id}"
        if isinstance(row, Case):
            return f"case {row.display_number}"
        return f"run {row.run_id}"


# --- input -------------------------------------------------------------------------------------


def require_may_ask(principal: Principal, kind: ResponseKind | str | None = None) -> None:
    """Permission first, before any input is judged: the permission `kind` needs when it names
    a kind, else (no kind, or one that names none) refused unless the caller may ask the
    assistant for something (a viewer may not)."""
    if kind is not None:
        try:
            known: ResponseKind | None = parse_kind(kind)
        except Invalid:
            known = None
        if known is not None:
            principal.require(ASK_PERM[known])
            return
    if not (principal.can(Perm.ASSISTANT_USE) or principal.can(Perm.ASSISTANT_RUNS)):
        principal.require(Perm.ASSISTANT_USE)


def parse_kind(raw: ResponseKind | str) -> ResponseKind:
    try:
        return ResponseKind(str(raw).strip().lower().replace(" ", "_"))
    except ValueError:
        choices = validation.choices(ResponseKind)  # by display names, as every page says them
        raise Invalid(f"Kind '{raw}' is unknown; choose one of {choices}.", field="kind") from None


def parse_target_type(raw: TargetType | str) -> TargetType:
    return validation.member(TargetType, raw, "Target type", "target_type")


def check_pair(kind: ResponseKind, target_type: TargetType) -> None:
    allowed = TARGETS[kind]
    if target_type not in allowed:
        raise Invalid(
            f"The assistant gives {KIND_WORDS[kind]} only for "
            f"{' or '.join(t.value + 's' for t in allowed)}, not for {target_type.value}s.",
            field="target_type",
        )


# --- targets -----------------------------------------------------------------------------------


async def find_target(principal: Principal, target_type: TargetType, raw_id: str | int) -> Target:
    """The caller's alert, case or run `raw_id`: missing, garbled and another organization's all
    read as the same not-found. Needs the target's read permission."""
    principal.require(READ_PERM[target_type])
    name = _NAMES[target_type]
    row: Alert | Case | Run
    if target_type is T.ALERT:
        row = await get_scoped(Alert, principal, raw_id, name)
    elif target_type is T.CASE:
        row = await get_scoped(Case, principal, raw_id, name)
    else:
        row = await get_scoped(Run, principal, raw_id, name)
    return Target(target_type, row)


def check_run(target: Target) -> None:
    run = target.row
    assert isinstance(run, Run)
    if run.severity not in EXPLAINED_SEVERITIES:
        what = f"is {run.severity.value}" if run.severity is not None else "has no severity"
        raise Invalid(
            f"Run {run.run_id} {what}; the assistant explains SEV0, SEV1 and SEV2 runs only.",
            field="run_id",
        )


def one_target(alert_id: str | int | None, case_id: str | int | None) -> tuple[TargetType, str]:
    """The one target of a request that may be about an alert or a case (exactly one given)."""
    given = [(t, v) for t, v in ((T.ALERT, alert_id), (T.CASE, case_id)) if v not in (None, "")]
    if len(given) != 1:
        raise Invalid(
            "Give the alert or the case to ask about: alertId or caseId, exactly one of them.",
            field="alert_id",
        )
    target_type, raw = given[0]
    return target_type, str(raw)
