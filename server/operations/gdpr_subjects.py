"""Who a GDPR request is about: parsing the subject (a user's e-mail address or a customer
reference), finding it in one organization, and its keyed digest (what stays of it once erased).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from riskops.server.core import validation
from riskops.server.core.errors import Invalid, NotFound
from riskops.server.core.principal import Principal
from riskops.server.core.scoping import scoped
from riskops.server.identity.models import User
from riskops.server.operations.gdpr_models import SubjectKind
from riskops.server.settings import get_settings
from riskops.server.triage.models import Alert

CUSTOMER_REF_MAX = 100  # Alert.customer_ref


@dataclass(frozen=True)
class Subject:
    kind: SubjectKind
    value: str  # the e-mail (lower case) or the customer ref (as on the alerts)


@dataclass(frozen=True)
class Found:
    """A subject found in an organization: the user, or how many alerts carry the customer."""

    subject: Subject
    user: User | None = None
    alerts: int = 0


def parse_subject(raw: str | None) -> Subject:
    """An e-mail address names a user, anything else a customer reference."""
    if raw is not None and not isinstance(raw, str):
        raise Invalid("The subject must be text.", field="subject")
    value = validation.text(raw, "subject", max_len=254)
    if "@" in value:
        try:
            return Subject(SubjectKind.USER, validation.email(value, "subject"))
        except Invalid:
            raise Invalid(
                f"'{value}' is not an e-mail address (like name@example.com); a customer is "
                "named by the customer reference on its alerts (like CUST-000123).",
                field="subject",
            ) from None
    if len(value) > CUSTOMER_REF_MAX or any(c.isspace() for c in value):
        raise Invalid(
            f"'{value[:40]}' is neither an e-mail address nor a customer reference: a customer "
            f"reference is the one on its alerts (like CUST-000123), at most {CUSTOMER_REF_MAX} "
            "characters without spaces.",
            field="subject",
        )
    return Subject(SubjectKind.CUSTOMER, value)


def unknown_subject(subject: Subject) -> NotFound:
    if subject.kind is SubjectKind.USER:
        return NotFound(
            f"No user with the e-mail address {subject.value} in your organization: check the "
            "address (a customer is named by its customer reference instead).",
            field="subject",
        )
    return NotFound(
        f"No alert of your organization has the customer reference {subject.value}: check the "
        "reference as it appears on the alerts (like CUST-000123), or give a user's e-mail "
        "address.",
        field="subject",
    )


async def find_subject(
    principal: Principal, subject: Subject, conn: BaseDBAsyncClient | None = None
) -> Found:
    """The subject in the caller's organization, or NotFound saying what was looked for."""
    if subject.kind is SubjectKind.USER:
        q = scoped(User, principal).filter(email=subject.value)
        user = await (q.using_db(conn) if conn else q).first()
        if user is None:
            raise unknown_subject(subject)
        return Found(subject, user=user)
    q2 = scoped(Alert, principal).filter(customer_ref=subject.value)
    alerts = await (q2.using_db(conn) if conn else q2).count()
    if alerts == 0:
        raise unknown_subject(subject)
    return Found(subject, alerts=alerts)


def digest(org_id: int, subject: Subject) -> str:
    """A keyed digest of the subject: matches later requests about the same subject without
    keeping the subject itself once it is erased (nobody without the secret key can test a
    guess against it)."""
    message = f"{org_id}|{subject.kind.value}|{subject.value}".encode()
    return hmac.new(get_settings().key, message, hashlib.sha256).hexdigest()
