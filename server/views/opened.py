"""A saved view opened for the people who look at it: its definition (and a standard view's
draft) in words, the names of the people and teams it names, what it names that no longer
exists, and what the caller may do with it. Read-only: `service` changes views."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from riskops.server.core.permissions import Perm
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.credit.models import Scenario
from riskops.server.identity.models import Team, User
from riskops.server.identity.users import DELETED
from riskops.server.triage.models import Alert
from riskops.server.triage.queue_filters import AlertFilter, FilterErrors, apply_filter
from riskops.server.views import definitions
from riskops.server.views.definitions import Definition, describe
from riskops.server.views.models import SavedView, ViewPreference, ViewQueue, ViewScope, ViewStatus


@dataclass(frozen=True)
class OpenedView:
    """A view as its page and `view(id)` show it."""

    view: SavedView
    definition: Definition  # the version in force (for a standard view)
    lines: list[str]  # the definition in words (definitions.describe)
    missing: list[str]  # what it names that no longer exists, in words ("Team #3 no longer exists")
    draft: Definition | None = None  # a standard view's edit waiting for review
    is_default: bool = False
    pinned: bool = False
    can_edit: bool = False  # the caller may update/share/archive/restore it
    can_request_promotion: bool = False
    names: dict[str, str] = field(default_factory=dict)  # "team:3"/"user:7" -> display name
    draft_lines: list[str] = field(default_factory=list)  # the draft in words


def stored_definition(view: SavedView, data: Any) -> tuple[Definition, list[str]]:
    """A stored definition; one a later release no longer accepts still opens, with what is
    wrong with it in `problems`."""
    spec = definitions.QUEUES[ViewQueue(view.queue)]
    try:
        return definitions.stored(spec.queue, data or {}), []
    except FilterErrors as exc:
        raw = data if isinstance(data, dict) else {}
        filters = raw.get("filters") if isinstance(raw.get("filters"), dict) else {}
        known = {k: v for k, v in (filters or {}).items() if k in spec.filters}
        columns = tuple(c for c in raw.get("columns") or () if c in spec.column_names)
        sort = str(raw["sort"]) if raw.get("sort") in spec.sorts else spec.default_sort
        defn = Definition(spec.queue, known, columns or spec.column_names, sort, spec)
        return defn, [f"No longer valid: {m}" for m in exc.errors.values()]


def _draft_definition(view: SavedView) -> Any:
    draft = view.draft if isinstance(view.draft, dict) else None
    return draft.get("definition") if draft else None


async def _names(
    principal: Principal, views: Sequence[SavedView], defs: Iterable[Definition]
) -> dict[str, str]:
    """Display names of the people and teams the views and their definitions name."""
    user_ids: set[int] = set()
    team_ids_: set[int] = set()
    for v in views:
        user_ids.add(v.owner_id)
        if v.draft_by_id is not None:
            user_ids.add(v.draft_by_id)
        if v.team_id is not None:
            team_ids_.add(v.team_id)
    for d in defs:
        assignee = d.filters.get("assignee")
        if isinstance(assignee, int) or (isinstance(assignee, str) and assignee.isdigit()):
            user_ids.add(int(assignee))
        team = d.filters.get("team")
        if team is not None and str(team).isdigit():
            team_ids_.add(int(team))
    names: dict[str, str] = {}
    if user_ids:
        people = scoped(User, principal).filter(id__in=sorted(user_ids))
        for pk, name, deleted_at in await people.values_list("id", "name", "deleted_at"):
            # A deleted person reads as the rest of the product says it; as an assignee filter
            # they are missing (`_missing`).
            names[f"user:{pk}"] = name if deleted_at is None else DELETED
    if team_ids_:
        for pk, name in (
            await scoped(Team, principal).filter(id__in=sorted(team_ids_)).values_list("id", "name")
        ):
            names[f"team:{pk}"] = name
    return names


async def _missing(
    principal: Principal, defn: Definition, names: dict[str, str], cache: dict[str, bool]
) -> list[str]:
    """What the definition names that no longer exists, in words."""
    out: list[str] = []
    f = defn.filters
    team = f.get("team")
    if team is not None and f"team:{team}" not in names:
        out.append(f"Team #{team} no longer exists: the view selects no alert of it.")
    assignee = f.get("assignee")
    if assignee not in (None, "me", "unassigned") and names.get(f"user:{assignee}", DELETED) == (
        DELETED
    ):
        out.append(f"User #{assignee} (assignee) no longer exists.")
    rule = f.get("rule_id")
    if defn.queue is ViewQueue.ALERTS and isinstance(rule, str) and rule:
        key = f"rule:{rule.upper()}"
        if key not in cache:
            q = apply_filter(scoped(Alert, principal), principal, AlertFilter(rule_id=rule))
            cache[key] = await q.exists()
        if not cache[key]:
            out.append(f"Rule {rule}: no alert of your organization was hit by it.")
    scenario = f.get("scenario")
    if defn.queue is ViewQueue.RUNS and isinstance(scenario, str) and scenario:
        key = f"scenario:{scenario}"
        if key not in cache:
            cache[key] = await scoped(Scenario, principal).filter(key=scenario).exists()
        if not cache[key]:
            out.append(f"Scenario {scenario} no longer exists.")
    return out


def _can_edit(principal: Principal, view: SavedView) -> bool:
    if not principal.can(Perm.VIEW_SAVE):
        return False
    if view.scope is ViewScope.STANDARD:
        return view.status is ViewStatus.ACTIVE
    return view.owner_id == principal.user_id


def _can_request_promotion(principal: Principal, view: SavedView) -> bool:
    if not principal.can(Perm.VIEW_SAVE) or view.status is not ViewStatus.ACTIVE:
        return False
    if view.scope is ViewScope.STANDARD:
        return view.draft is not None
    return view.owner_id == principal.user_id


async def open_views(principal: Principal, views: Sequence[SavedView]) -> list[OpenedView]:
    """Several views opened at once (the names and preferences they need in one query each):
    for lists, the picker and the home page. The caller has already checked visibility."""
    if not views:
        return []
    opened: list[tuple[SavedView, Definition, list[str], Definition | None]] = []
    for v in views:
        defn, problems = stored_definition(v, v.definition)
        raw_draft = _draft_definition(v)
        draft = stored_definition(v, raw_draft)[0] if raw_draft is not None else None
        opened.append((v, defn, problems, draft))
    defs = [d for _, d, _, _ in opened] + [d for _, _, _, d in opened if d is not None]
    names = await _names(principal, views, defs)
    prefs = {
        p.view_id: p
        for p in await scoped(ViewPreference, principal).filter(
            user_id=principal.user_id, view_id__in=[v.id for v in views]
        )
    }
    cache: dict[str, bool] = {}
    out = []
    for v, defn, problems, draft in opened:
        pref = prefs.get(v.id)
        out.append(
            OpenedView(
                view=v,
                definition=defn,
                lines=describe(defn, names),
                missing=problems + await _missing(principal, defn, names, cache),
                draft=draft,
                is_default=bool(pref and pref.is_default),
                pinned=bool(pref and pref.pinned),
                can_edit=_can_edit(principal, v),
                can_request_promotion=_can_request_promotion(principal, v),
                names=names,
                draft_lines=describe(draft, names) if draft is not None else [],
            )
        )
    return out
