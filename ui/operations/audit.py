"""The audit log page: filtered, keyset-paged events of one's organization and verification of
the chain on demand. Conventions are in `riskops.ui.common`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.audit.models import AuditEvent
from riskops.server.core.errors import (
    Invalid,
)
from riskops.server.core.principal import Principal
from riskops.server.identity import tokens, users
from riskops.server.identity.models import User
from riskops.server.operations import audit_log
from riskops.server.operations.audit_log import AuditFilter
from riskops.server.web import settings_of
from riskops.ui.common.forms import (
    directory,
    form_text,
    int_or_none,
    parse_local,
)
from riskops.ui.common.posts import Submission, form_post
from riskops.ui.common.rendering import (
    fragment_of,
    page,
    render,
    signed_in,
)

AUDIT_PAGE_SIZE = 50


AUDIT_FILTERS = ("actor", "action", "entity_type", "entity_id", "since", "until")


KNOWN_ACTIONS = (
    "auth.login", "auth.login_failed", "auth.logout", "session.revoke",
    "user.create", "user.roles_change", "user.suspend", "user.reactivate", "user.password_set",
    "team.create", "team.members_change", "token.create", "token.revoke", "audit.verify",
)  # fmt: skip


def _query(values: Mapping[str, str], **extra: str) -> str:
    return urlencode({k: v for k, v in {**values, **extra}.items() if v})


async def _actor_names(
    principal: Principal, events: Iterable[AuditEvent], people: Iterable[User]
) -> dict[str, str]:
    """Display names for `user:N` and `token:N` actors (tokens: one query, only when needed)."""
    # Every actor gets a label (a name, "deleted user", "system"): never a bare "user:4".
    names = await users.actor_labels(principal.org_id, [e.actor for e in events])
    names.update({f"user:{u.id}": u.name for u in people if f"user:{u.id}" in names})
    if any(e.actor.startswith("token:") for e in events):
        names.update(
            {f"token:{t.id}": f"API token “{t.name}”" for t in await tokens.list_tokens(principal)}
        )
    return names


@page
async def audit_page(request: Request) -> Response:
    principal = signed_in(request)
    params = request.query_params
    values = {name: form_text(params, name) for name in AUDIT_FILTERS}
    after = params.get("after") or None
    first = int_or_none(params.get("first", "")) or AUDIT_PAGE_SIZE
    errors: dict[str, str] = {}
    flt = AuditFilter(
        actor=values["actor"] or None,
        action=values["action"] or None,
        entity_type=values["entity_type"] or None,
        entity_id=values["entity_id"] or None,
        since=parse_local(values["since"], "since", errors),
        until=parse_local(values["until"], "until", errors),
    )
    events: list[AuditEvent] = []
    has_next, cursor = False, None
    try:
        result = await audit_log.list_events(principal, flt, first=first, after=after)
    except Invalid as exc:
        errors[exc.field or "_form"] = exc.message
    else:
        if not errors:  # a bound that did not parse: show the error, not a widened result
            events, has_next, cursor = result.events, result.has_next, result.end_cursor
    full_page = fragment_of(request, None) is None
    # One query resolves every `user:N` on the page (and fills the actor picker of a full page).
    people = await directory(principal) if full_page or events else []
    more_values = {**values, "first": str(first) if first != AUDIT_PAGE_SIZE else ""}
    ctx = {
        "values": values,
        "errors": errors,
        "events": [(e, *audit_log.values_of(e)) for e in events],
        "names": await _actor_names(principal, events, people),
        "more_url": f"/audit?{_query(more_values, after=cursor)}" if has_next and cursor else None,
        "directory": people,
        "KNOWN_ACTIONS": KNOWN_ACTIONS,
    }
    return render(
        request,
        "operations/audit/index.html",
        ctx,
        422 if errors else 200,
        partials={
            "audit-results": "operations/audit/_results.html",
            "audit-more": "operations/audit/_rows.html",
        },
    )


# Nothing to show inline: the result is the page (or, for htmx, the partial it swaps in); a
# refusal is the error page.
@form_post(None)
async def audit_verify(sub: Submission) -> Response:
    verification = await audit_log.verify_chain(sub.principal, settings_of(sub.request).key)
    return render(sub.request, "operations/audit/verify.html", {"verification": verification},
                  partials={"verify-result": "operations/audit/_verify.html"})  # fmt: skip


routes: list[Route] = [
    Route("/audit", audit_page, methods=["GET"]),
    Route("/audit/verify", audit_verify, methods=["POST"]),
]
