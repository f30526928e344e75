"""A real SMTP server on 127.0.0.1 (a free port) for tests: aiosmtpd's controller, run in a
thread of its own. It keeps every message it accepts and refuses (550) any recipient whose
address contains "bounce" and answers 451 (try later) to those with "busy".

    with MailServer() as mail:
        ... deliver to smtp://127.0.0.1:{mail.port} ...
        mail.messages          # email.message.EmailMessage, in arrival order
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler:
    def __init__(self, owner: MailServer) -> None:
        self.owner = owner

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if "bounce" in address:
            return "550 5.1.1 no such mailbox"
        if "busy" in address:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.owner.lock:
            self.owner.messages.append(message)
            self.owner.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


class MailServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.lock = threading.Lock()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]

    def __enter__(self) -> MailServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def serving() -> Iterator[MailServer]:
    """For a pytest fixture: `yield from serving()`."""
    with MailServer() as server:
        yield server
