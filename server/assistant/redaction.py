"""PII redaction: nothing that names a customer leaves the process. Customer names, e-mail
addresses, phone numbers (libphonenumber), IBANs (mod-97 checked) and account and card numbers
(Luhn-checked) are replaced by placeholders such as `<EMAIL_1>` before a prompt is sent, both in
structured fields and in free text such as case notes; `restore` puts the real values back where
a placeholder comes back in the answer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class Redactor:
    """One per response: the same value always gets the same placeholder.

    `known`: values the structured data says are PII (customer ref and name, account ref, card
    number, people's names ...), each with its kind ("CUSTOMER", "ACCOUNT", "NAME", ...): they
    are redacted wherever they appear, also inside free text."""

    def __init__(self, known: Mapping[str, str] | None = None) -> None:
        raise NotImplementedError  # issue 13: h/grounding

    def redact(self, text: str) -> str:
        raise NotImplementedError

    def redact_value(self, value: Any) -> Any:
        """`value` with every string in it (dict values, list items) redacted."""
        raise NotImplementedError

    def restore(self, text: str) -> str:
        raise NotImplementedError

    @property
    def placeholders(self) -> dict[str, str]:
        """placeholder -> original value (kept in memory only, never stored)."""
        raise NotImplementedError
