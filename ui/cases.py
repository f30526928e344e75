"""Cases pages (see ui/common.py for the conventions every page follows)."""

from __future__ import annotations

from starlette.routing import Route

routes: list[Route] = []
