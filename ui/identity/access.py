"""The admin's "Sessions and tokens" page of one user (issue 14): their live sessions and API
tokens, where each was last used, their MFA status; revoking one session or one token.
Conventions are in `riskops.ui.common`."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.identity import access
from riskops.ui.common.forms import back
from riskops.ui.common.posts import Submission, form_post
from riskops.ui.common.rendering import page, render, signed_in
from riskops.ui.identity.pages import _signed_out


@page
async def user_access_page(request: Request) -> Response:
    principal = signed_in(request)
    seen = await access.user_access(principal, str(request.path_params["user_id"]))
    ctx = {"access": seen, "now": datetime.now(UTC)}
    return render(request, "identity/admin/access.html", ctx)


# Nothing to show inline: a refusal is the error page.
@form_post(None)
async def user_session_revoke(sub: Submission) -> Response:
    row = await access.revoke_session(
        sub.principal, sub.param("session_id"), user_id=sub.param("user_id")
    )
    if row.current:  # the admin ended the session they are using
        return _signed_out(sub.request, "signed_out")
    return back(f"/admin/users/{sub.param('user_id')}/access", "session.revoked")


# Nothing to show inline: a refusal is the error page.
@form_post(None)
async def user_token_revoke(sub: Submission) -> Response:
    await access.revoke_user_token(sub.principal, sub.param("user_id"), sub.param("token_id"))
    return back(f"/admin/users/{sub.param('user_id')}/access", "token.revoked")


routes: list[Route] = [
    Route("/admin/users/{user_id}/access", user_access_page, methods=["GET"]),
    Route(
        "/admin/users/{user_id}/access/sessions/{session_id}/revoke",
        user_session_revoke,
        methods=["POST"],
    ),
    Route(
        "/admin/users/{user_id}/access/tokens/{token_id}/revoke",
        user_token_revoke,
        methods=["POST"],
    ),
]
