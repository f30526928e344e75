"""The Backups page (issue 15, seed 003 BR-001, BR-002): the archives taken with their verified
state, the restores recorded in this database, the backup age /health watches, and the commands
an operator runs on the machine (taking or restoring a backup is never a button). Read-only, for
ops.read (admins). Conventions are in `riskops.ui.common`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from riskops.server.operations import backups
from riskops.ui.common.rendering import page, render, settings_of, signed_in

PAGE_SIZE = 50
DRILLS = 10


@page
async def backups_page(request: Request) -> Response:
    principal = signed_in(request)
    rows = await backups.list_backups(principal, PAGE_SIZE)  # checks ops.read first
    drills = await backups.list_restore_drills(principal, DRILLS)
    settings = settings_of(request)
    ctx = {
        "backups": rows,
        "drills": drills,
        "state": await backups.backup_state(settings),
        "backup_dir": backups.backup_dir(settings),
    }
    return render(request, "operations/backups.html", ctx)


routes: list[Route] = [
    Route("/admin/backups", backups_page, methods=["GET"]),
]
