"""Pages for scenarios (issue 4)."""

from __future__ import annotations

from starlette.routing import Route

routes: list[Route] = []
