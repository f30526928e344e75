"""The SQL statements code runs, as the database client sends them (both backends log each one
on `tortoise.db_client` at DEBUG): for tests that pin how many queries a pass or a page costs.
Only the test's own statements count (its context and the tasks it starts meanwhile), not those
of background work started earlier, such as an in-process job a previous commit queued. Every
statement counts, those sent inside a transaction too: `len(sql.sent)` is what a page costs.

    with Statements() as sql:
        await deliver_due(...)
    assert len(sql.selecting("outbox_message", where="dedup_key")) == 1
"""

from __future__ import annotations

import contextvars
import logging
from types import TracebackType

LOGGER = logging.getLogger("tortoise.db_client")
_RECORDING: contextvars.ContextVar[object | None] = contextvars.ContextVar("sql", default=None)


class Statements(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sent: list[str] = []
        self._level = LOGGER.level
        self._token: contextvars.Token[object | None] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if _RECORDING.get() is not self:
            return
        text = record.args[0] if isinstance(record.args, tuple) and record.args else record.msg
        self.sent.append(str(text))

    def selecting(self, table: str, *, where: str = "") -> list[str]:
        """The SELECTs from `table` whose WHERE clause mentions `where`."""
        found = []
        for sql in self.sent:
            head, _, condition = sql.partition(" WHERE ")
            select = sql.lstrip().upper().startswith("SELECT")
            if select and f'FROM "{table}"' in head and where in condition:
                found.append(sql)
        return found

    def __enter__(self) -> Statements:
        self._token = _RECORDING.set(self)
        LOGGER.addHandler(self)
        LOGGER.setLevel(logging.DEBUG)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        LOGGER.removeHandler(self)
        LOGGER.setLevel(self._level)
        if self._token is not None:
            _RECORDING.reset(self._token)
