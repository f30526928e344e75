"""GDPR requests through the service, on SQLite and PostgreSQL: the export document of a customer
and of a user, the maker-checker erasure that pseudonymizes the subject everywhere while the
audit chain still verifies, and every refused input leaving nothing behind."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from riskops.audit.models import AuditEvent, AuditHead
from riskops.audit.verify import verify_org
from riskops.server.assistant.models import AssistantResponse, ResponseKind, TargetType
from riskops.server.core.errors import Conflict, Forbidden, Invalid, NotFound
from riskops.server.identity import users
from riskops.server.identity.models import Session, User, UserEvent, UserStatus
from riskops.server.operations import access_review, gdpr
from riskops.server.operations.access_review import Decision
from riskops.server.operations.gdpr_models import GdprRequest, GdprStatus
from riskops.server.operations.review_models import AccessReview
from riskops.server.settings import get_settings
from riskops.server.triage import alerts, case_create, cases, ingest
from riskops.server.triage.models import Alert, AlertEvent, Case, CaseNote


@dataclasses.dataclass
class World:
    ref: str
    name: str
    email: str
    alert_ids: list[int]
    other_alert: int
    case_id: int
    response_id: int


async def world(tenant: Any) -> World:
    """A customer with three alerts (its name and e-mail in the transaction), a case of two of
    them with a note naming the customer, an assistant answer about the case; and an alert of
    another customer."""
    tag = uuid.uuid4().hex[:8]
    ref, name, email = f"CUST-{tag}", f"Jane Roe{tag}", f"jane.{tag}@mail.test"
    _, strat = await tenant.user("strategist")

    def item(customer: str, n: int) -> dict[str, Any]:
        return {
            "external_id": f"ext-{tag}-{customer}-{n}",
            "source": "card-rules",
            "title": f"Card testing for {customer}",
            "score": 70,
            "priority": "high",
            "customer_ref": customer,
            "account_ref": f"ACC-{customer}-1",
            "transaction": {
                "id": f"txn-{n}",
                "customer": {"name": name if customer == ref else "Max Other", "email": email
                             if customer == ref else "max@mail.test"},
                "merchant": {"name": "ShopCo", "country": "DE"},
            },
        }  # fmt: skip

    result = await ingest.ingest_alerts(
        strat, [item(ref, 1), item(ref, 2), item(ref, 3), item(f"OTHER-{tag}", 1)]
    )
    assert result.errors == []
    ids = [c.alert_id for c in result.created]
    made = await case_create.create_case(strat, title=f"{name} card testing", alert_ids=ids[:2])
    await cases.add_case_note(strat, made.case.id, f"Called {name} at {email} about {ref}.")
    await alerts.close_alert(
        strat, ids[2], disposition="benign", comment=f"{name} confirmed the purchase",
        expected_version=1,
    )  # fmt: skip
    now = datetime.now(UTC)
    response = await AssistantResponse.create(
        org_id=tenant.org_id, kind=ResponseKind.EXPLAIN_ALERT, target_type=TargetType.CASE,
        target_id=made.case.id, status="succeeded", output=f"{ref} ({name}) tested cards.",
        created_at=now,
    )  # fmt: skip
    return World(ref, name, email, ids[:3], ids[3], made.case.id, response.id)


async def head(org_id: int) -> int:
    row = await AuditHead.get_or_none(org_id=org_id)
    return row.seq if row else 0


async def state(org_id: int) -> tuple[Any, ...]:
    reqs = await GdprRequest.filter(org_id=org_id).order_by("id").values_list("status", "subject")
    return (reqs, await head(org_id))


async def verified(org_id: int) -> bool:
    return (await verify_org(org_id, get_settings().key)).ok


async def audit_text(org_id: int) -> str:
    rows = await AuditEvent.filter(org_id=org_id).values_list(
        "entity_id", "old_values", "new_values", "actor"
    )
    return json.dumps(rows).lower()


# --- export --------------------------------------------------------------------------------------


async def test_export_of_a_customer_holds_everything_about_it(tenant):
    w = await world(tenant)
    _, officer = await tenant.user("compliance_reviewer")
    before = await head(tenant.org_id)

    out = await gdpr.export_subject(officer, f"  {w.ref} ")
    doc = out.document
    assert doc["format"] == "riskops-gdpr-export/1" and doc["organization"] == tenant.slug
    assert doc["subject"] == {"kind": "customer", "value": w.ref}
    assert sorted(a["id"] for a in doc["alerts"]) == w.alert_ids
    assert {t["transaction"]["customer"]["email"] for t in doc["transactions"]} == {w.email}
    assert [c["id"] for c in doc["cases"]] == [w.case_id]
    assert doc["cases"][0]["alert_ids"] == w.alert_ids[:2]
    assert [n["body"] for n in doc["notes"]] == [f"Called {w.name} at {w.email} about {w.ref}."]
    assert [r["id"] for r in doc["assistant_records"]] == [w.response_id]
    about = {(e["entity_type"], e["entity_id"]) for e in doc["audit_events"]}
    assert ("case", str(w.case_id)) in about
    assert all(a["rule_hits"] == [] and a["history"] for a in doc["alerts"])
    json.dumps(doc)  # one JSON document

    req = out.request
    assert (req.kind, req.status, req.subject) == ("export", GdprStatus.COMPLETED, w.ref)
    assert req.completed_at is not None and req.summary["alerts"] == 3
    assert req.due_at - req.received_at == timedelta(days=30)
    event = await AuditEvent.get(org_id=tenant.org_id, seq=before + 1)
    assert (event.action, event.entity_type, event.entity_id) == (
        "gdpr.export", "gdpr_request", str(req.id),
    )  # fmt: skip
    assert w.ref.lower() not in event.new_values.lower()
    assert json.loads(event.new_values)["counts"]["alerts"] == 3


async def test_export_of_a_user_holds_account_sessions_notes_and_audit(tenant):
    w = await world(tenant)
    user, person = await tenant.user("strategist", name="Paula")
    await Session.create(
        id=uuid.uuid4().hex, user_id=user.id, org_id=tenant.org_id,
        expires_at=datetime.now(UTC) + timedelta(hours=1), ip="198.51.100.4", user_agent="UA",
    )  # fmt: skip
    await cases.add_case_note(person, w.case_id, "Paula's note")

    doc = (await gdpr.export_subject(tenant.admin, user.email.upper())).document
    assert doc["subject"] == {"kind": "user", "value": user.email}
    assert doc["user"]["email"] == user.email and doc["user"]["name"] == "Paula"
    assert [s["ip"] for s in doc["sessions"]] == ["198.51.100.4"]
    assert [n["body"] for n in doc["notes"]] == ["Paula's note"]
    assert any(e["action"] == "case.add_note" for e in doc["audit_events"])
    assert all(e["actor"] == f"user:{user.id}" or e["entity_id"] == str(user.id)
               for e in doc["audit_events"])  # fmt: skip
    assert "password_hash" not in json.dumps(doc)


# --- erasure -------------------------------------------------------------------------------------


async def test_erasure_of_a_customer_is_maker_checker_and_pseudonymizes_everywhere(tenant):
    w = await world(tenant)
    _, maker = await tenant.user("compliance_reviewer")
    await gdpr.export_subject(maker, w.ref)  # an earlier export names the subject too
    req = await gdpr.request_erasure(
        maker, w.ref, legal_review=True, legal_note="No litigation hold found."
    )
    assert (req.status, req.legal_review, req.approved_by_id) == (
        GdprStatus.REQUESTED, True, None,
    )  # fmt: skip
    assert await Alert.filter(org_id=tenant.org_id, customer_ref=w.ref).count() == 3

    done = await gdpr.approve_erasure(tenant.admin, str(req.id))
    assert done.status is GdprStatus.COMPLETED and done.completed_at is not None
    assert done.approved_by_id == tenant.admin.user_id
    assert done.summary["alerts"] == 3 and done.summary["notes"] == 1
    assert done.summary["alert_history"] == 1  # the close comment naming the customer
    assert done.summary["cases"] == 1 and done.summary["assistant_records"] == 1
    p = done.pseudonym
    assert p and p.startswith("ERASED-") and done.subject == p

    secrets = (w.ref.lower(), w.name.lower(), w.email.lower())
    alerts = await Alert.filter(id__in=w.alert_ids)
    assert {a.customer_ref for a in alerts} == {p}
    assert {a.account_ref for a in alerts} == {f"{p}-ACCOUNT1"}
    case = await Case.get(id=w.case_id)
    note = await CaseNote.get(case_id=w.case_id)
    answer = await AssistantResponse.get(id=w.response_id)
    history = await AlertEvent.filter(alert_id__in=w.alert_ids).values_list("data", flat=True)
    blob = json.dumps(
        [[a.title, a.transaction] for a in alerts]
        + [case.title, note.body, answer.output]
        + history
    ).lower()
    assert not [s for s in secrets if s in blob], blob
    assert "shopco" in blob  # a merchant is not the customer
    assert note.body.startswith("Called ERASED-") and f"about {p}." in note.body
    other = await Alert.get(id=w.other_alert)
    assert other.customer_ref.startswith("OTHER-")
    assert other.transaction["customer"]["name"] == "Max Other"

    # Every request about the subject forgot it; the chain holds none of it and still verifies.
    subjects = await GdprRequest.filter(org_id=tenant.org_id).values_list("subject", flat=True)
    assert set(subjects) == {p}
    assert not [s for s in secrets if s in await audit_text(tenant.org_id)]
    assert await verified(tenant.org_id)
    actions = await AuditEvent.filter(org_id=tenant.org_id, entity_type="gdpr_request").order_by(
        "seq"
    ).values_list("action", flat=True)  # fmt: skip
    assert actions[-3:] == ["gdpr.erase_request", "gdpr.erase_approve", "gdpr.erase"]
    with pytest.raises(NotFound, match="customer reference"):
        await gdpr.export_subject(maker, w.ref)


async def test_erasure_of_a_user_ends_their_access_and_keeps_their_work(tenant):
    w = await world(tenant)
    user, person = await tenant.user("strategist", name=f"Erin{uuid.uuid4().hex[:4]}")
    await Session.create(
        id=uuid.uuid4().hex, user_id=user.id, org_id=tenant.org_id,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )  # fmt: skip
    note = await cases.add_case_note(person, w.case_id, "a finding")
    _, colleague = await tenant.user("strategist")
    await cases.add_case_note(colleague, w.case_id, f"Asked {user.name} ({user.email}).")
    _, maker = await tenant.user("compliance_reviewer")

    req = await gdpr.request_erasure(maker, user.email)
    done = await gdpr.approve_erasure(tenant.admin, req.id)
    erased = await User.get(id=user.id)
    assert erased.email == f"{done.pseudonym.lower()}@erased.invalid"
    assert erased.name == f"Erased person {done.pseudonym}"
    assert erased.status is UserStatus.SUSPENDED and erased.password_hash is None
    assert await Session.filter(user_id=user.id).count() == 0
    assert (await CaseNote.get(id=note.id)).author_id == user.id  # the work stays theirs
    bodies = await CaseNote.filter(case_id=w.case_id).values_list("body", flat=True)
    assert f"Asked {erased.name} ({erased.email})." in bodies
    assert done.summary["users"] == 1 and done.summary["sessions"] == 1
    text = await audit_text(tenant.org_id)
    assert user.email.lower() not in text and user.name.lower() not in text
    assert await verified(tenant.org_id)


async def test_a_suspension_reason_is_exported_then_erased_off_the_chain(tenant):
    """The reason an admin typed about a person is in their account's history, not the audit
    chain: the export shows it, the erasure replaces it, and the chain still verifies."""
    user, _ = await tenant.user("viewer", name=f"Sam{uuid.uuid4().hex[:4]}")
    reason = f"{user.name} shared a password with a contractor"
    await users.suspend_user(tenant.admin, user.id, reason=reason)
    await access_review.record_review(
        tenant.admin, [Decision(user.id, "keep", f"{user.name} back in March")], note="Q1"
    )
    assert reason not in await audit_text(tenant.org_id)

    doc = (await gdpr.export_subject(tenant.admin, user.email)).document
    assert [(e["action"], e["data"]) for e in doc["account_history"]] == [
        ("suspend", {"reason": reason})
    ]
    _, maker = await tenant.user("compliance_reviewer")
    req = await gdpr.request_erasure(maker, user.email)
    done = await gdpr.approve_erasure(tenant.admin, req.id)
    assert [e.data for e in await UserEvent.filter(user_id=user.id)] == [{"reason": "(erased)"}]
    review = await AccessReview.get(org_id=tenant.org_id)
    text = json.dumps([review.decisions, review.findings])
    assert user.name not in text and user.email not in text and "March" not in text
    assert review.decisions[0]["note"] == "(erased)"
    assert done.summary["user_history"] == 1 and done.summary["access_reviews"] == 1
    assert user.name.lower() not in await audit_text(tenant.org_id)
    assert await verified(tenant.org_id)


# --- refusals leave nothing behind ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "operator", "approver", "strategist"])
async def test_roles_without_gdpr_permissions_are_refused_before_input_is_read(tenant, role):
    w = await world(tenant)
    _, who = await tenant.user(role)
    req = await gdpr.request_erasure(tenant.admin, w.ref)
    before = await state(tenant.org_id)
    for call in (
        gdpr.export_subject(who, w.ref),
        gdpr.export_subject(who, "not an e-mail @"),
        gdpr.request_erasure(who, ""),
        gdpr.approve_erasure(who, req.id),
        gdpr.reject_erasure(who, req.id, ""),
        gdpr.list_requests(who),
    ):
        with pytest.raises(Forbidden, match=r"gdpr\.(request|approve)"):
            await call
    assert await state(tenant.org_id) == before


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        ("", "Subject is required"),
        ("   ", "Subject is required"),
        ("jane@", "is not an e-mail address"),
        ("@example.test", "is not an e-mail address"),
        ("CUST 0001", "neither an e-mail address nor a customer reference"),
        ("C" * 101, "neither an e-mail address nor a customer reference"),
        ("x" * 300, "limit is 254"),
        ("CUST-1\n2", "control characters"),
    ],
)
async def test_a_malformed_subject_is_refused_clearly(tenant, subject, message):
    before = await state(tenant.org_id)
    for call in (gdpr.export_subject, gdpr.request_erasure):
        with pytest.raises(Invalid, match=message) as err:
            await call(tenant.admin, subject)
        assert err.value.field == "subject"
    assert await state(tenant.org_id) == before


async def test_an_unknown_subject_says_what_was_looked_for(tenant, other_tenant):
    w = await world(other_tenant)  # another organization's customer is unknown here
    before = await state(tenant.org_id)
    with pytest.raises(NotFound, match=f"No alert of your organization has the customer "
                       f"reference {w.ref}"):  # fmt: skip
        await gdpr.export_subject(tenant.admin, w.ref)
    with pytest.raises(NotFound, match=r"No user with the e-mail address nobody@example\.test"):
        await gdpr.request_erasure(tenant.admin, "nobody@example.test")
    with pytest.raises(NotFound, match="No user with the e-mail address"):
        await gdpr.export_subject(tenant.admin, other_tenant.admin_user.email)
    assert await state(tenant.org_id) == before


async def test_nobody_approves_their_own_erasure_request(tenant):
    w = await world(tenant)
    req = await gdpr.request_erasure(tenant.admin, w.ref)
    before = await state(tenant.org_id)
    with pytest.raises(Forbidden, match="nobody decides their own request") as err:
        await gdpr.approve_erasure(tenant.admin, req.id)
    assert err.value.maker_checker
    assert await state(tenant.org_id) == before
    assert await Alert.filter(id__in=w.alert_ids, customer_ref=w.ref).count() == 3


async def test_nobody_approves_the_erasure_of_their_own_account(tenant):
    _, officer = await tenant.user("compliance_reviewer")
    req = await gdpr.request_erasure(officer, tenant.admin_user.email)
    before = await state(tenant.org_id)
    with pytest.raises(Forbidden, match="your own account"):
        await gdpr.approve_erasure(tenant.admin, req.id)
    assert await state(tenant.org_id) == before


async def test_a_request_is_decided_once(tenant):
    w = await world(tenant)
    _, maker = await tenant.user("compliance_reviewer")
    req = await gdpr.request_erasure(maker, w.ref)
    await gdpr.approve_erasure(tenant.admin, req.id)
    before = await state(tenant.org_id)
    with pytest.raises(Conflict, match=rf"#{req.id} is already completed \(on "):
        await gdpr.approve_erasure(tenant.admin, req.id)
    with pytest.raises(Conflict, match="already completed"):
        await gdpr.reject_erasure(tenant.admin, req.id, "too late")
    assert await state(tenant.org_id) == before


async def test_reject_with_a_reason_then_a_new_request_may_be_made(tenant):
    w = await world(tenant)
    _, maker = await tenant.user("compliance_reviewer")
    req = await gdpr.request_erasure(maker, w.ref)
    with pytest.raises(Conflict, match=rf"already requested \(GDPR request #{req.id}"):
        await gdpr.request_erasure(tenant.admin, w.ref)
    before = await state(tenant.org_id)
    with pytest.raises(Invalid, match="Reason is required"):
        await gdpr.reject_erasure(tenant.admin, req.id, "  ")
    assert await state(tenant.org_id) == before

    done = await gdpr.reject_erasure(tenant.admin, req.id, f"Open fraud case on {w.ref}")
    assert (done.status, done.reject_reason) == (GdprStatus.REJECTED, f"Open fraud case on {w.ref}")
    event = await AuditEvent.filter(org_id=tenant.org_id).order_by("-seq").first()
    assert event.action == "gdpr.erase_reject" and w.ref not in event.new_values
    with pytest.raises(Conflict, match="already rejected"):
        await gdpr.approve_erasure(tenant.admin, req.id)
    again = await gdpr.request_erasure(maker, w.ref)
    assert again.id != req.id
    assert await verified(tenant.org_id)


async def test_another_organizations_request_is_not_found(tenant, other_tenant):
    w = await world(other_tenant)
    _, maker = await other_tenant.user("compliance_reviewer")
    theirs = await gdpr.request_erasure(maker, w.ref)
    before = await state(other_tenant.org_id)
    for ident in (theirs.id, 2_000_000_000, "abc"):
        with pytest.raises(NotFound, match=rf"GDPR request {ident} not found\."):
            await gdpr.approve_erasure(tenant.admin, ident)
        with pytest.raises(NotFound, match=rf"GDPR request {ident} not found\."):
            await gdpr.reject_erasure(tenant.admin, ident, "no")
        with pytest.raises(NotFound, match=rf"GDPR request {ident} not found\."):
            await gdpr.get_request(tenant.admin, ident)
    assert await state(other_tenant.org_id) == before
    assert await gdpr.list_requests(tenant.admin) == []


async def test_an_export_has_nothing_to_decide(tenant):
    w = await world(tenant)
    _, maker = await tenant.user("compliance_reviewer")
    out = await gdpr.export_subject(maker, w.ref)
    with pytest.raises(Conflict, match="is an export"):
        await gdpr.approve_erasure(tenant.admin, out.request.id)


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"legal_note": "a note"}, "legal_note", "goes with the legal-review flag"),
        ({"legal_review": True}, "legal_note", "Legal note is required"),
        ({"received_at": datetime.now(UTC) + timedelta(days=2)}, "received_at", "in the future"),
        ({"received_at": datetime.now(UTC) - timedelta(days=400)}, "received_at", "a year ago"),
    ],
)
async def test_legal_review_and_received_date_are_checked(tenant, kwargs, field, message):
    w = await world(tenant)
    before = await state(tenant.org_id)
    with pytest.raises(Invalid, match=message) as err:
        await gdpr.request_erasure(tenant.admin, w.ref, **kwargs)
    assert err.value.field == field
    assert await state(tenant.org_id) == before


# --- the list and its deadlines ------------------------------------------------------------------


async def test_the_list_shows_open_requests_by_deadline_and_counts_the_overdue(tenant):
    w = await world(tenant)
    _, maker = await tenant.user("compliance_reviewer")
    user, _ = await tenant.user("viewer")
    now = datetime.now(UTC)
    late = await gdpr.request_erasure(maker, w.ref, received_at=now - timedelta(days=31))
    soon = await gdpr.request_erasure(maker, user.email, received_at=now - timedelta(days=2))
    export = (await gdpr.export_subject(maker, w.ref)).request

    listed = await gdpr.list_requests(tenant.admin)
    assert [r.id for r in listed] == [late.id, soon.id, export.id]
    assert [gdpr.is_overdue(r) for r in listed] == [True, False, False]
    assert [r.id for r in await gdpr.list_requests(maker, overdue=True)] == [late.id]
    assert [r.id for r in await gdpr.list_requests(maker, status="completed")] == [export.id]
    assert await gdpr.overdue_count(tenant.org_id) == 1
    with pytest.raises(Invalid, match="Status 'done' is unknown"):
        await gdpr.list_requests(maker, status="done")


async def test_overdue_requests_show_on_the_home_of_those_who_decide_them(tenant, other_tenant):
    from riskops.server.work.service import my_work

    w = await world(tenant)
    _, maker = await tenant.user("compliance_reviewer")
    _, viewer = await tenant.user("viewer")
    assert (await my_work(tenant.admin)).section("gdpr") is None  # nothing overdue: no section
    late = await gdpr.request_erasure(
        maker, w.ref, received_at=datetime.now(UTC) - timedelta(days=33)
    )
    await world(other_tenant)  # another organization's requests never count here
    work = await my_work(tenant.admin)
    section = work.section("gdpr")
    assert section is not None
    [item] = section.items
    assert (item.key, item.count, item.href) == ("gdpr.overdue", 1, "/admin/gdpr")
    assert f"request #{late.id}, erase" in item.detail
    assert (await my_work(maker)).section("gdpr") is not None
    assert (await my_work(viewer)).section("gdpr") is None
    assert (await my_work(other_tenant.admin)).section("gdpr") is None

    await gdpr.approve_erasure(tenant.admin, late.id)
    assert (await my_work(tenant.admin)).section("gdpr") is None


async def test_erasures_show_in_the_approval_trail(tenant):
    from riskops.server.operations import approval_trail
    from riskops.server.operations.approval_trail import TrailFilter

    w = await world(tenant)
    _, maker = await tenant.user("compliance_reviewer", name="Carla")
    req = await gdpr.request_erasure(maker, w.ref)
    await gdpr.approve_erasure(tenant.admin, req.id)
    page = await approval_trail.list_trail(maker, TrailFilter(kind="gdpr_erasure"))
    assert [(e.step, e.actor, e.requested_by, e.entity_id) for e in page.entries] == [
        ("approved", "Admin", "Carla", str(req.id)),
        ("requested", "Carla", None, str(req.id)),
    ]


async def test_the_last_active_admin_is_not_erased(tenant):
    _, maker = await tenant.user("compliance_reviewer")
    _, checker = await tenant.user("compliance_reviewer")
    req = await gdpr.request_erasure(maker, tenant.admin_user.email)
    before = await state(tenant.org_id)
    with pytest.raises(Conflict, match="is the last active admin of the organization"):
        await gdpr.approve_erasure(checker, req.id)
    assert await state(tenant.org_id) == before
    assert (await User.get(id=tenant.admin_user.id)).email == tenant.admin_user.email

    await tenant.user("admin")  # another admin: now it may go ahead
    done = await gdpr.approve_erasure(checker, req.id)
    assert done.status is GdprStatus.COMPLETED
