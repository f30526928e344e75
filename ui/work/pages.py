"""The home page `/`: what is waiting for the signed-in person (`server/work/service.my_work`),
each item a link with its count, and what each of their roles may do in one line (the
permission matrix is on the admin side). Conventions are in `riskops.ui.common`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.core.permissions import Perm
from riskops.server.work import service
from riskops.ui.common.rendering import page, render, signed_in


@page
async def home(request: Request) -> Response:
    principal = signed_in(request)
    work = await service.my_work(principal)
    ctx = {"work": work, "can_verify": principal.can(Perm.AUDIT_VERIFY)}
    return render(request, "work/home.html", ctx)


routes = [Route("/", home, methods=["GET"])]
