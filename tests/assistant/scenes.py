"""Data the assistant's grounding and PII tests share: an alert and a case whose structured
fields and free text (transaction, matched values, notes, information requests, a resolution
summary, a closing comment) hold a customer's name, e-mail, phone, IBAN, account and card
number; a closed look-alike in a case of its own; and a SEV1 run with recent runs."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from riskops.server.credit import recording
from riskops.server.credit.models import Baseline, BaselineSource, Run, Scenario
from riskops.server.triage import alerts as alert_svc
from riskops.server.triage import case_create, case_resolution, cases
from riskops.server.triage.ingest import ingest_alerts
from riskops.server.triage.models import Alert, Case

NAME = "Maria Schmidt"
EMAIL = "maria.schmidt@example.com"
PHONE = "+44 20 7946 0958"
PHONE_NATIONAL = "020 7946 0958"
IBAN = "DE89 3704 0044 0532 0130 00"
CARD = "4111 1111 1111 1111"  # Luhn-valid
CARD_DASHED = "4111-1111-1111-1111"
STAFF_NAME = "Petra Novak"  # the strategist: a colleague notes may name


def digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


@dataclass
class Scene:
    tag: str
    strat: Any
    strat_user: Any
    account: str  # the alert's account number (digits)
    customer: str
    alert: Alert
    closed: Alert  # a closed look-alike (same customer) in a case of its own
    other: Alert  # an open alert of the same customer: never a "similar closed" one
    case: Case  # the alert's case (with the closed one's)
    closed_case: Case  # the closed alert's resolved-on-request case
    pii: dict[str, str] = field(default_factory=dict)  # name -> value never to leave

    @property
    def secrets(self) -> list[str]:
        """Every PII value and its digits-only form (those long enough to be telling)."""
        out = list(self.pii.values())
        numbers = ("phone", "phone_national", "iban", "card", "card_dashed", "account")
        out += [digits(self.pii[k]) for k in numbers]
        return out


def _alert_item(tag: str, n: int, customer: str, account: str, **over: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "external_id": f"pii-{tag}-{n}",
        "source": "card-engine",
        "title": f"Card velocity spike (1h): EUR 1,250.00 at Northwind Electronics ({n})",
        "score": 87.5,
        "priority": "critical",
        "customer_ref": customer,
        "account_ref": account,
        "amount": "1250.00",
        "currency": "EUR",
        "transaction": {
            "id": f"txn-{tag}-{n}",
            "channel": "ecommerce",
            "merchant": {"name": "Northwind Electronics", "mcc": "5732", "country": "US"},
            "country": "DE",
            "customer_name": NAME,
            "email": EMAIL,
            "phone": PHONE,
            "iban": IBAN,
            "card_number": CARD,
            "device_id": f"dev-{tag}",
        },
        "rule_hits": [
            {
                "rule_id": f"VEL-{tag}",
                "name": "Card velocity spike (1h)",
                "version": "3",
                "score_contribution": 30.0,
                "matched_values": {"velocity_1h": 14, "card": digits(CARD)},
            },
            {
                "rule_id": f"SAN-{tag}",
                "name": "Sanctions list fuzzy match",
                "version": "7",
                "score_contribution": 12.5,
                "matched_values": {
                    "name_match_score": 0.93,
                    "matched_name": NAME,
                    "payee_iban": IBAN,
                },
            },
        ],
        "signals": [
            {"signal": "velocity_1h", "value": 14, "contribution": 12.0, "direction": "up"},
            {"signal": "account_age_days", "value": 3, "contribution": 4.5, "direction": "up"},
            {"signal": "ip_risk", "value": 0.1, "contribution": -2.25, "direction": "down"},
        ],
    }
    item.update(over)
    return item


async def pii_scene(tenant: Any) -> Scene:
    tag = uuid.uuid4().hex[:8]
    strat_user, strat = await tenant.user("strategist", name=STAFF_NAME)
    customer = f"CUST-{tag}"
    account = str(random.randint(10**9, 10**10 - 1))
    made = await ingest_alerts(
        strat,
        [
            _alert_item(tag, 1, customer, account),
            _alert_item(tag, 2, customer, account),
            _alert_item(tag, 3, customer, account),
        ],
    )
    assert not made.errors, made.errors
    ids = {c.external_id: c.alert_id for c in made.created}
    alert_id, closed_id, other_id = (ids[f"pii-{tag}-{n}"] for n in (1, 2, 3))

    # the alert: assigned, a question about the customer answered with their phone number
    done = await alert_svc.assign_alert(
        strat, alert_id, assignee_id=strat.user_id, expected_version=1
    )
    done = await alert_svc.request_alert_info(
        strat, alert_id, question=f"Is {EMAIL} the e-mail {NAME} gave at onboarding?",
        answerer_id=strat.user_id, expected_version=done.alert.version,
    )  # fmt: skip
    await alert_svc.answer_alert_info(
        strat, alert_id, answer=f"Yes; she also gave {PHONE_NATIONAL} and card {CARD_DASHED}.",
        expected_version=done.alert.version,
    )  # fmt: skip

    # the look-alike: closed, in a case whose resolution was requested with a summary
    await alert_svc.close_alert(
        strat, closed_id, disposition="false_positive",
        comment=f"{NAME} confirmed the purchase from {EMAIL}.", expected_version=1,
    )  # fmt: skip
    closed_case = (
        await case_create.create_case(strat, title="Velocity review", alert_ids=[closed_id])
    ).case
    closed_case = (
        await case_resolution.request_case_resolution(
            strat,
            closed_case.id,
            expected_version=closed_case.version,
            summary=f"Customer {NAME} ({PHONE}) confirmed; IBAN {IBAN} is hers. Allow-listed.",
            root_cause="false_positive",
        )
    ).case

    case = (
        await case_create.create_case(
            strat,
            title=f"Velocity burst of {customer}",
            alert_ids=[alert_id, closed_id],
            severity="high",
        )
    ).case
    await cases.add_case_note(
        strat, case.id,
        f"Called {NAME} on {PHONE_NATIONAL}; she sent {EMAIL}. Account {account}, card "
        f"{CARD_DASHED}, IBAN {IBAN.replace(' ', '')}. Spoke with {STAFF_NAME} in fraud ops.",
    )  # fmt: skip

    alert = await Alert.get(id=alert_id)
    return Scene(
        tag=tag, strat=strat, strat_user=strat_user, account=account, customer=customer,
        alert=alert, closed=await Alert.get(id=closed_id), other=await Alert.get(id=other_id),
        case=await Case.get(id=case.id), closed_case=await Case.get(id=closed_case.id),
        pii={"name": NAME, "email": EMAIL, "phone": PHONE, "phone_national": PHONE_NATIONAL,
             "iban": IBAN, "iban_compact": IBAN.replace(" ", ""), "card": CARD,
             "card_dashed": CARD_DASHED, "account": account, "customer": customer,
             "staff": STAFF_NAME, "staff_email": strat.email},
    )  # fmt: skip


NOW = datetime.now(UTC)


@dataclass
class RunScene:
    scenario: Scenario
    run: Run
    recent: list[Run]


async def run_scene(tenant: Any, *, credits: float = 600.0, retries: int = 5) -> RunScene:
    """A run at `credits` against a baseline of 100 (600: SEV1) with a retry loop, after 12
    earlier healthy runs of its scenario."""
    key = f"SCEN_{uuid.uuid4().hex[:8].upper()}"
    scenario = await Scenario.create(org_id=tenant.org_id, key=key, name=key, created_at=NOW)
    await Baseline.create(
        org_id=tenant.org_id, scenario_id=scenario.id, median=100.0, cv=0.1, sample_size=20,
        source=BaselineSource.MANUAL, set_at=NOW - timedelta(days=2),
    )  # fmt: skip
    earlier = [
        {"run_id": f"RUN-{key}-{i:02d}", "scenario": key, "credits_total": 95.0 + i,
         "started_at": (NOW - timedelta(hours=24 - i)).isoformat()}
        for i in range(12)
    ]  # fmt: skip
    item = {
        "run_id": f"RUN-{key}-SPIKE", "scenario": key, "credits_total": credits,
        "retry_count": retries, "started_at": NOW.isoformat(),
    }  # fmt: skip
    result = await recording.record_runs(tenant.admin, [*earlier, item])
    assert result.errors == [], result.errors
    run = await Run.get(org_id=tenant.org_id, run_id=item["run_id"])
    recent = list(
        await Run.filter(scenario_id=scenario.id).exclude(id=run.id).order_by("-started_at")
    )
    return RunScene(scenario, run, recent)
