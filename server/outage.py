"""What a database outage looks like to the web process, and the words it is answered with.

While the database cannot be reached, every request that needs it answers 503 with
`Retry-After` (a styled page, or a GraphQL error with code UNAVAILABLE), never a bare 500.
Nothing needs to be restarted afterwards: the connection pool opens new connections on the next
request once the database answers again (after a restart or a crash-restart of PostgreSQL too).
`/health` and `/metrics` answer on their own, without authentication or the database.
"""

from __future__ import annotations

import errno
import socket
from types import TracebackType
from typing import Any

import asyncpg.exceptions as pg
from tortoise.exceptions import DBConnectionError

RETRY_AFTER_SECONDS = 5
TITLE = "Database not reachable"
MESSAGE = (
    "The database is not reachable; riskops retries on its own, and this page works again as "
    "soon as the database answers. Try again in a moment. If it lasts, check the database "
    "server (/health shows its state)."
)
API_MESSAGE = (
    "The database is not reachable, so the request was not completed. riskops reconnects on "
    f"its own: retry after {RETRY_AFTER_SECONDS} seconds (the Retry-After header)."
)

# Raised by the PostgreSQL driver when the server went away, refuses connections while it
# shuts down or starts up, or has no connection left.
_DRIVER_OUTAGE: tuple[type[BaseException], ...] = (
    DBConnectionError,
    pg.PostgresConnectionError,  # class 08: connection does not exist, connection failure...
    pg.AdminShutdownError,
    pg.CrashShutdownError,
    pg.CannotConnectNowError,
    pg.TooManyConnectionsError,
)
_NETWORK_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ETIMEDOUT,
    errno.EPIPE,
}
_DB_MODULES = ("asyncpg", "tortoise", "aiosqlite")


def _raised_in_database_client(tb: TracebackType | None) -> bool:
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if module.startswith(_DB_MODULES):
            return True
        tb = tb.tb_next
    return False


def _network_failure(exc: BaseException) -> bool:
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    return isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether an exception means the database cannot be reached (as opposed to a query that
    failed): a driver outage error, or a network failure raised inside the database client,
    anywhere in its chain of causes."""
    seen = 0
    while exc is not None and seen < 16:
        if isinstance(exc, _DRIVER_OUTAGE):
            return True
        if isinstance(exc, pg.InterfaceError) and "closed" in str(exc):
            return True  # "connection is closed": a pooled connection the server dropped
        if _network_failure(exc) and _raised_in_database_client(exc.__traceback__):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def unavailable_errors() -> dict[str, Any]:
    """The GraphQL answer while the database is unreachable (no `data`: nothing ran)."""
    return {"errors": [{"message": API_MESSAGE, "extensions": {"code": "UNAVAILABLE"}}]}
