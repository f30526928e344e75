"""What a standard view may hold: everyone of the organization who reads its queue sees it, so
its definition must make sense to, and be readable by, all of them. The one table of the rule
is `RULES` (each with its reason, shown to the requester); `FIELD_READ` lists the parts of a
definition that need a permission beyond the queue's own read permission. The validation job
(`view.promotion.validate`) applies them; `problems` is pure (the names of what a definition
mentions are looked up by the caller).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from riskops.server.core.permissions import MATRIX, Perm
from riskops.server.views.definitions import Definition, filter_label
from riskops.server.views.models import ViewQueue

# Parts of a definition (a filter or a column, per queue) whose values show something only some
# readers of the queue may see, and the permission it takes. Every role that reads the queue
# must hold it, or a standard view would show a reader what their role does not.
FIELD_READ: dict[tuple[ViewQueue, str], Perm] = {
    (ViewQueue.ALERTS, "assignee"): Perm.USER_READ,  # a person's name
    (ViewQueue.ALERTS, "team"): Perm.USER_READ,  # a team's name
    (ViewQueue.RUNS, "case"): Perm.CASE_READ,  # the case a run opened
}


@dataclass(frozen=True)
class Rule:
    name: str
    reason: str  # shown to the requester and the reviewers
    broken: Callable[[Definition, Mapping[str, str]], str | None]  # the problem, in words


def _named_person(defn: Definition, names: Mapping[str, str]) -> str | None:
    who = defn.filters.get("assignee")
    if who is None or who in ("me", "unassigned"):
        return None
    person = names.get(f"user:{who}", f"user #{who}")
    return (
        f"Assignee names one person ({person}). A standard view is everyone's: use “me” "
        "(whoever looks) or “unassigned” instead."
    )


def _free_text(defn: Definition, names: Mapping[str, str]) -> str | None:
    if "text" not in defn.filters:
        return None
    return (
        "Text contains is a free-text search, which may hold a customer reference: a standard "
        "view would show it to everyone. Filter by rule, priority, score or amount instead."
    )


def _gone(defn: Definition, names: Mapping[str, str]) -> str | None:
    gone = []
    team = defn.filters.get("team")
    if team is not None and f"team:{team}" not in names:
        gone.append(f"team #{team}")
    who = defn.filters.get("assignee")
    if isinstance(who, int) and f"user:{who}" not in names:
        gone.append(f"user #{who}")
    if not gone:
        return None
    return f"It names {' and '.join(gone)}, which no longer exists; remove that filter."


def _readers_lack(defn: Definition, names: Mapping[str, str]) -> str | None:
    readers = [r for r, perms in MATRIX.items() if defn.spec.read in perms]
    parts = [*defn.filters, *defn.columns]
    lacking = []
    for part in dict.fromkeys(parts):
        need = FIELD_READ.get((defn.queue, part))
        if need is None:
            continue
        roles = [r.value for r in readers if need not in MATRIX[r]]
        if roles:
            lacking.append(f"{_part_label(defn, part)} (the {', '.join(roles)} role cannot)")
    if not lacking:
        return None
    return (
        f"Not every reader of the {defn.spec.label} may see {', '.join(lacking)}; remove it "
        "from the view."
    )


def _part_label(defn: Definition, part: str) -> str:
    if part in defn.spec.column_names:
        return defn.spec.column_label(part)
    return filter_label(part)


RULES: tuple[Rule, ...] = (
    Rule(
        "no named person",
        "a standard view is the same for everyone: one person's queue belongs in a personal "
        "view, and naming them shows everyone their workload",
        _named_person,
    ),
    Rule(
        "no free text",
        "free text may carry a customer reference (personal data), which a standard view "
        "would publish to the whole organization",
        _free_text,
    ),
    Rule(
        "nothing that no longer exists",
        "a filter on a removed team or person selects nothing and misleads the reader",
        _gone,
    ),
    Rule(
        "readable by every reader",
        "everyone who reads the queue sees a standard view, so each filter and column must be "
        "readable by every role that reads the queue (FIELD_READ)",
        _readers_lack,
    ),
)


def problems(defn: Definition, names: Mapping[str, str]) -> list[str]:
    """What keeps `defn` from being a standard view, in words (empty: it may be one)."""
    return [p for rule in RULES if (p := rule.broken(defn, names)) is not None]
