"""Saved views: save the current filters as a view, edit, rename, share with a team, archive,
restore, set one's default view of a queue, pin a view to one's home page; open a view (its
definition, and what it names that no longer exists); and the filter a view applies to its queue.

CONTRACT (issue 12): the signatures below are what the GraphQL and page faces call. Every
mutation: `principal.require(Perm.VIEW_SAVE)` and the queue's read permission first; another
organization's id, or a view the caller may not see, is "not found"; a stale `expected_version`
is a Conflict carrying the current version; the change and its audit event (`view.created`,
`view.updated`, `view.shared`, `view.archived`, `view.restored`, `view.default_set`,
`view.pinned`) are written in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from riskops.server.core.principal import Principal
from riskops.server.credit.runs import RunFilter
from riskops.server.triage.queue_filters import AlertFilter
from riskops.server.views.access import get_view, visible
from riskops.server.views.definitions import Definition
from riskops.server.views.models import SavedView, ViewPreference, ViewQueue

__all__ = ["get_view", "visible"]


@dataclass(frozen=True)
class ViewResult:
    view: SavedView
    replayed: bool = False


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


async def list_views(
    principal: Principal, queue: ViewQueue | str | None = None, *, archived: bool = False
) -> list[SavedView]:
    """The views the caller may see: standard first, then team, then personal, each by name."""
    raise NotImplementedError


async def open_view(principal: Principal, view_id: str | int) -> OpenedView:
    raise NotImplementedError


async def save_view(
    principal: Principal,
    *,
    queue: ViewQueue | str,
    name: str,
    definition: object,
    description: str = "",
    idempotency_key: str | None = None,
) -> ViewResult:
    """A new personal view of `queue` (names are unique per owner and queue, case-insensitive)."""
    raise NotImplementedError


async def update_view(
    principal: Principal,
    view_id: str | int,
    *,
    expected_version: int,
    name: str | None = None,
    description: str | None = None,
    definition: object | None = None,
) -> ViewResult:
    """Rename or edit one's own personal/team view. On a standard view, the edit becomes its
    draft (the version in force stays until a promotion of the draft is published)."""
    raise NotImplementedError


async def share_view_with_team(
    principal: Principal, view_id: str | int, *, expected_version: int, team_id: str | int | None
) -> ViewResult:
    """Share one's own view with one of one's teams (team_id None: make it personal again)."""
    raise NotImplementedError


async def archive_view(
    principal: Principal, view_id: str | int, *, expected_version: int
) -> ViewResult:
    raise NotImplementedError


async def restore_view(
    principal: Principal, view_id: str | int, *, expected_version: int
) -> ViewResult:
    raise NotImplementedError


async def set_default_view(
    principal: Principal, queue: ViewQueue | str, view_id: str | int | None
) -> SavedView | None:
    """The caller's default view of `queue` (None: no default). Returns the new default."""
    raise NotImplementedError


async def pin_view(principal: Principal, view_id: str | int, pinned: bool) -> ViewPreference:
    raise NotImplementedError


async def default_view(principal: Principal, queue: ViewQueue | str) -> SavedView | None:
    raise NotImplementedError


async def my_views(principal: Principal) -> list[tuple[SavedView, ViewPreference]]:
    """The caller's default and pinned views (for the home page), defaults first."""
    raise NotImplementedError


async def alert_filter_of(
    principal: Principal, view_id: str | int
) -> tuple[SavedView, AlertFilter, str]:
    """The filter and sort an alert-queue view applies (not found if not visible; Invalid if the
    view is of the runs ledger). The queue applies it AND the caller's own filters: extra filters
    narrow a view, they never widen it."""
    raise NotImplementedError


async def run_filter_of(principal: Principal, view_id: str | int) -> tuple[SavedView, RunFilter]:
    raise NotImplementedError
