"""PII redaction: nothing that names a customer leaves the process. Customer names, e-mail
addresses, phone numbers (libphonenumber), IBANs (mod-97 checked) and account and card numbers
(Luhn-checked) are replaced by placeholders such as `<EMAIL_1>` before a prompt is sent, both in
structured fields and in free text such as case notes; `restore` puts the real values back where
a placeholder comes back in the answer.

What is found, in this order (docs/ASSISTANT.md, "What never leaves riskops"):

1. `known` values (the alert's customer and account refs, names and numbers the structured data
   holds, people's names), anywhere, case-insensitively, on word boundaries; a number among
   them also when its digits are written with other spaces, dashes or dots. A whole string
   equal to a known value is always redacted; inside longer text a known value must be at least
   3 characters long (so "A1" does not eat every "a1"). Each word of a known name (3 letters or
   more, capitalised in the text) is redacted on its own too: "Ms Schmidt".
2. E-mail addresses (a regex).
3. IBANs, spaced or not, that pass the mod-97 check (python-stdnum).
4. Card numbers: 13 to 19 digits, run together or grouped as cards are (fours, or 4-6-5 and
   4-6-4) with spaces or dashes, Luhn-valid (python-stdnum), not inside a longer word or
   reference. A Luhn-invalid number stays: amounts, ids and references are not eaten.
5. Phone numbers (phonenumbers, the libphonenumber port): any number written internationally
   (+49 ..., 0049 ...), and numbers of a few default regions written nationally when they look
   like a phone number (a trunk 0, a bracketed area code, or the 3-3-4 North American layout).
6. Account numbers in free text: a run of 6 to 34 letters and digits (at least 6 digits) right
   after the word account, acct, a/c or konto (with an optional no., number, nr or #).
7. People's names after a title (Mr, Mrs, Ms, Miss, Dr, Herr, Frau).

Amounts ("1,250.00"), dates, times, scores and ids shorter than 13 digits are not touched.
presidio-analyzer was considered and not used: it pulls spaCy and tldextract, which fetches the
public suffix list at run time, and riskops runs without network access.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import phonenumbers
from stdnum import iban as std_iban
from stdnum import luhn

PLACEHOLDER = re.compile(r"<[A-Z]+_\d+>")

# The kinds the redactor itself finds (known values may bring others: CUSTOMER, NAME, ...).
EMAIL, PHONE, IBAN, CARD, ACCOUNT, NAME, CUSTOMER = (
    "EMAIL", "PHONE", "IBAN", "CARD", "ACCOUNT", "NAME", "CUSTOMER",
)  # fmt: skip

PHONE_REGIONS = ("US", "GB", "DE", "FR", "NL", "ES", "IT")
MIN_KNOWN_IN_TEXT = 3  # a known value shorter than this is redacted only as a whole string
MAX_TEXT = 200_000  # longer text is cut before scanning (the prompt budget is far below)

_EDGE_L = r"(?<![A-Za-z0-9])"
_EDGE_R = r"(?![A-Za-z0-9])"
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
_CARD = re.compile(r"(?<![\w.,/\-])\d(?:[ -]?\d){12,18}(?![\w]|[.,]\d|-\d)")
# How card numbers are grouped when they are: fours (the last group shorter), or 4-6-5 / 4-6-4.
_CARD_GROUPS = re.compile(r"^(?:\d{4}([ -])(?:\d{4}\1)*\d{1,4}|\d{4}([ -])\d{6}\2\d{4,5})$")
_ACCOUNT = re.compile(
    r"(?i)\b(?:account|acct|a/c|konto)(?:\s*(?:no\.?|number|nr\.?|#))?\s*[:#]?\s*"
    r"([A-Z0-9](?:[A-Z0-9]|-(?=[A-Z0-9])){5,33})(?![A-Za-z0-9])"
)
_TITLED = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Dr|Herr|Frau)\.?\s+([A-Z][a-z'\-]+(?:\s+[A-Z][a-z'\-]+)?)"
)
# Where a phone number could be: an optional + or (, then digits with the separators phones are
# written with, not inside a word or a longer reference.
_PHONE_CANDIDATE = re.compile(r"(?<![\w+<])(?:\+|\()?\d[\d \t().\-/]{5,24}\d(?![\w>])")
_US_LAYOUT = re.compile(r"^\(?\d{3}\)?[-. ]?\d{3}[-. ]\d{4}$")
_SEPARATORS = re.compile(r"[\s.\-/]")


def _kind_name(kind: str) -> str:
    """A kind as placeholders spell it: uppercase letters only (`<[A-Z]+_\\d+>`)."""
    name = re.sub(r"[^A-Z]", "", str(kind).upper())
    return name or "PII"


def _compact(value: str) -> str:
    return _SEPARATORS.sub("", value).upper()


def _phone_key(value: str) -> str:
    for region in (None, *PHONE_REGIONS):
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return re.sub(r"\D", "", value)


def _key(kind: str, value: str) -> str:
    """What makes two spellings the same value, per kind."""
    if kind == EMAIL:
        return value.strip().lower()
    if kind == PHONE:
        return _phone_key(value)
    if kind in (IBAN, CARD, ACCOUNT) or _is_number_like(value):
        return _compact(value)
    return " ".join(value.casefold().split())


def _is_number_like(value: str) -> bool:
    """A reference written with digits (an account or card number, a phone): it may come back
    with other separators."""
    compact = _compact(value)
    digits = sum(c.isdigit() for c in compact)
    return digits >= 6 and compact.isalnum() and digits * 2 >= len(compact)


def _known_pattern(value: str) -> str:
    if _is_number_like(value):
        body = r"[\s.\-/]?".join(re.escape(c) for c in _compact(value))
    else:
        body = r"\s+".join(re.escape(w) for w in value.split())
    return _EDGE_L + body + _EDGE_R


UNKNOWN = "(hidden value)"  # what an answer shows for a placeholder riskops never sent


class Redactor:
    """One per response: the same value always gets the same placeholder.

    `known`: values the structured data says are PII (customer ref and name, account ref, card
    number, people's names ...), each with its kind ("CUSTOMER", "ACCOUNT", "NAME", ...): they
    are redacted wherever they appear, also inside free text."""

    def __init__(self, known: Mapping[str, str] | None = None) -> None:
        self._originals: dict[str, str] = {}  # placeholder -> original value
        self._memo: dict[str, str] = {}  # text -> its redaction (facts repeat their words)
        self._by_key: dict[tuple[str, str], str] = {}  # (kind, key) -> placeholder
        self._counts: dict[str, int] = {}
        self._exact: dict[str, str] = {}  # casefolded whole value -> kind
        self._known_kind: dict[str, str] = {}  # casefolded known value or word -> kind
        self._name_words: set[str] = set()  # casefolded words split out of known names
        patterns: list[tuple[str, str]] = []
        for raw, kind in (known or {}).items():
            if not isinstance(raw, str):
                continue
            value = raw.strip()
            if not value:
                continue
            k = _kind_name(kind)
            self._exact.setdefault(value.casefold(), k)
            if len(value) >= MIN_KNOWN_IN_TEXT:
                patterns.append((value, k))
            if k in (NAME, CUSTOMER) and not _is_number_like(value):
                for word in value.split():
                    folded = word.casefold()
                    if len(word) >= 3 and word[:1].isalpha() and folded != value.casefold():
                        self._exact.setdefault(folded, k)
                        self._name_words.add(folded)
                        patterns.append((word, k))
        self._name_words -= {str(v).strip().casefold() for v in (known or {})}
        # longest first, so "Maria Schmidt" wins over "Maria"
        patterns.sort(key=lambda p: (-len(p[0]), p[0]))
        seen: set[str] = set()
        alternatives = []
        for value, k in patterns:
            if value.casefold() in seen:
                continue
            seen.add(value.casefold())
            self._known_kind.setdefault(value.casefold(), k)
            alternatives.append(_known_pattern(value))
        self._known = re.compile("|".join(alternatives), re.IGNORECASE) if alternatives else None

    # --- placeholders ---------------------------------------------------------------------------

    def _placeholder(self, kind: str, original: str, key_of: str | None = None) -> str:
        key = (kind, key_of if key_of is not None else _key(kind, original))
        found = self._by_key.get(key)
        if found is not None:
            return found
        n = self._counts.get(kind, 0) + 1
        self._counts[kind] = n
        placeholder = f"<{kind}_{n}>"
        self._by_key[key] = placeholder
        self._originals[placeholder] = original
        return placeholder

    def _known_kind_of(self, matched: str) -> str:
        folded = matched.casefold()
        kind = self._known_kind.get(folded)
        if kind is not None:
            return kind
        compact = _compact(matched).casefold()
        for value, k in self._known_kind.items():
            if _compact(value).casefold() == compact:
                return k
        return NAME

    # --- finding --------------------------------------------------------------------------------

    def _replace_known(self, text: str) -> str:
        if self._known is None:
            return text

        def repl(m: re.Match[str]) -> str:
            matched = m.group(0)
            # a lone word of a name counts only when written as a name (capitalised)
            if matched.casefold() in self._name_words and not matched[:1].isupper():
                return matched
            return self._placeholder(self._known_kind_of(matched), matched)

        return self._known.sub(repl, text)

    def _replace_pattern(
        self, text: str, pattern: re.Pattern[str], kind: str, accept: Callable[[str], str | None]
    ) -> str:
        """Each match of `pattern` that `accept` turns into a value (the matched text, or a
        shorter prefix of it) becomes a placeholder of `kind`."""
        out: list[str] = []
        pos = 0
        for m in pattern.finditer(text):
            group = 1 if pattern.groups else 0
            start = m.start(group)
            if start < pos:
                continue
            value = accept(m.group(group))
            if value is None:
                continue
            out.append(text[pos:start])
            out.append(self._placeholder(kind, value))
            pos = start + len(value)
        out.append(text[pos:])
        return "".join(out)

    def _replace_phones(self, text: str) -> str:
        """Phone numbers, looked for only where a run of 7 digits or more (with the spaces,
        dashes, dots, slashes and brackets phones are written with) could be one: libphonenumber
        over the whole text costs tens of milliseconds a prompt."""
        out: list[str] = []
        pos = 0
        for m in _PHONE_CANDIDATE.finditer(text):
            span = m.group(0)
            if sum(c.isdigit() for c in span) < 7:
                continue
            replaced = self._phones_in(span)
            if replaced != span:
                out.append(text[pos : m.start()])
                out.append(replaced)
                pos = m.end()
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)

    def _phones_in(self, text: str) -> str:
        for region in PHONE_REGIONS:
            spans: list[tuple[int, int, str, str]] = []
            for match in phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.VALID
            ):
                raw = match.raw_string
                if not raw.startswith(("+", "00")) and not _looks_national(raw):
                    continue
                e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
                spans.append((match.start, match.end, raw, e164))
            if not spans:
                continue
            out: list[str] = []
            pos = 0
            for start, end, raw, e164 in spans:
                out.append(text[pos:start])
                out.append(self._placeholder(PHONE, raw, e164))
                pos = end
            out.append(text[pos:])
            text = "".join(out)
        return text

    # --- the contract ---------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        if not isinstance(text, str) or not text:
            return text
        done = self._memo.get(text)
        if done is None:
            done = self._memo[text] = self._redact(text[:MAX_TEXT])
        return done

    def _redact(self, text: str) -> str:
        kind = self._exact.get(text.strip().casefold())
        if kind is not None:
            return self._placeholder(kind, text.strip())
        text = self._replace_known(text)
        text = self._replace_pattern(text, _EMAIL, EMAIL, lambda s: s)
        text = self._replace_pattern(text, _IBAN, IBAN, _valid_iban_prefix)
        text = self._replace_pattern(text, _CARD, CARD, _valid_card)
        text = self._replace_phones(text)
        text = self._replace_pattern(text, _ACCOUNT, ACCOUNT, _account_number)
        text = self._replace_pattern(text, _TITLED, NAME, lambda s: s)
        return text

    def redact_value(self, value: Any) -> Any:
        """`value` with every string in it (dict values, list items) redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self.redact_value(k): self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.redact_value(v) for v in value]
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | Decimal) or (isinstance(value, float) and value.is_integer()):
            # a number long enough to be a card, account or phone number is checked as text
            text = str(int(value)) if not isinstance(value, Decimal) else str(value)
            if sum(c.isdigit() for c in text) >= 6:
                redacted = self.redact(text)
                if redacted != text:
                    return redacted
        return value

    def restore(self, text: str) -> str:
        if not isinstance(text, str) or not text:
            return text
        # a placeholder the model made up (it was never sent) names nothing: say so
        return PLACEHOLDER.sub(lambda m: self._originals.get(m.group(0), UNKNOWN), text)

    @property
    def placeholders(self) -> dict[str, str]:
        """placeholder -> original value (kept in memory only, never stored)."""
        return dict(self._originals)


def _valid_iban_prefix(candidate: str) -> str | None:
    """The longest prefix of `candidate` (ending on a character) that is a valid IBAN."""
    end = len(candidate)
    while end >= 15:
        piece = candidate[:end].rstrip()
        if std_iban.is_valid(piece):
            return piece
        end = len(piece) - 1
    return None


def _valid_card(candidate: str) -> str | None:
    digits = re.sub(r"\D", "", candidate)
    if not (13 <= len(digits) <= 19 and luhn.is_valid(digits) and len(set(digits)) > 1):
        return None
    if digits != candidate and not _CARD_GROUPS.match(candidate):
        return None  # digits run together with other separators: a reference, not a card
    return candidate


def _account_number(candidate: str) -> str | None:
    return candidate if sum(c.isdigit() for c in candidate) >= 6 else None


def _looks_national(raw: str) -> bool:
    text = raw.strip()
    return text.startswith(("0", "(")) or bool(_US_LAYOUT.match(text))


# --- what in structured data names a person -------------------------------------------------

_NOT_PII_WORDS = (
    "type", "kind", "country", "bin", "brand", "category", "status", "risk", "score", "count",
    "age", "mcc", "currency", "match", "channel", "network", "scheme", "days", "level",
)  # fmt: skip
_PII_KEYS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("email", "mail"), "EMAIL"),
    (("phone", "mobile", "msisdn", "telephone", "tel"), "PHONE"),
    (("iban",), "IBAN"),
    (("card", "pan"), "CARD"),
    (("account", "acct"), "ACCOUNT"),
    (("customer", "client"), "CUSTOMER"),
    (
        ("name", "holder", "beneficiary", "payee", "payer", "owner", "sender", "recipient",
         "person"),
        "NAME",
    ),
)  # fmt: skip


_GENERIC_WORDS = frozenset({"id", "ref", "reference", "number", "no", "nr", "num", "value"})


def _words(key: str) -> list[str]:
    spaced = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
    return [w for w in spaced.replace("-", "_").lower().split("_") if w]


def _pii_kind(path: tuple[str, ...]) -> str | None:
    """The kind of PII a value under this key path holds, or None. A merchant's fields and
    words like type, country, score say it is not a person's data."""
    words = [w for key in path for w in _words(key)]
    if not words or "merchant" in words or any(w in _NOT_PII_WORDS for w in words[-2:]):
        return None
    last = _words(path[-1])
    # the last word decides (customer_name is a name); a generic key (id, number, ...) is read
    # with its parent's: {"card": {"number": ...}}, {"customer": {"id": ...}}
    if all(w in _GENERIC_WORDS for w in last) and len(path) > 1:
        last = _words(path[-2]) + last
    for w in reversed(last):
        for names, kind in _PII_KEYS:
            if w in names:
                return kind
        # a compound word: cardholder and username are names, accountnumber an account
        for names, kind in _PII_KEYS:
            if any(w.endswith(n) for n in names if len(n) > 3):
                return kind
        for names, kind in _PII_KEYS:
            if any(w.startswith(n) for n in names if len(n) > 3):
                return kind
    return None


def known_in(value: Any, known: dict[str, str], path: tuple[str, ...] = ()) -> dict[str, str]:
    """Add to `known` (value -> kind) the values of structured data (a transaction, a rule
    hit's matched values) whose key says they are a person's: an e-mail, phone, IBAN, card,
    account, customer or name field, not a merchant's, nor a type, country, score, ... of it."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            known_in(v, known, (*path, str(k)))
    elif isinstance(value, list | tuple):
        for v in value:
            known_in(v, known, path)
    elif isinstance(value, str | int) and not isinstance(value, bool) and path:
        kind = _pii_kind(path)
        text = str(value).strip()
        if kind is not None and text:
            known.setdefault(text, kind)
    return known
