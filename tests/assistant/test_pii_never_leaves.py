"""PII never leaves the process (issue 13): an alert and a case whose structured fields and free
text (transaction, matched values, information requests, a closing comment, a resolution
summary, case notes) hold a customer's name, e-mail, phone number, IBAN, account number and a
Luhn-valid card number. Each kind's job runs end to end against the loopback provider, which
records every byte it receives: none of those values, nor their digits-only forms, is among
them, and the stored answer has them back where the placeholders came back. Both backends."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from riskops.jobs import runner
from riskops.jobs.models import Job, JobStatus
from riskops.server.assistant.models import (
    AssistantResponse,
    ResponseKind,
    ResponseStatus,
    TargetType,
)
from riskops.server.assistant.redaction import PLACEHOLDER
from tests.assistant.helpers import enqueue, pending
from tests.assistant.scenes import CARD, EMAIL, IBAN, NAME, PHONE, Scene, pii_scene, run_scene
from tests.support.fake_llm import FakeLLM

K = ResponseKind
T = TargetType

TARGETS = [
    (K.EXPLAIN_ALERT, T.ALERT),
    (K.SIMILAR_CASES, T.ALERT),
    (K.SIMILAR_CASES, T.CASE),
    (K.ESCALATION_DRAFT, T.ALERT),
    (K.ESCALATION_DRAFT, T.CASE),
]


async def answered(org_id: int, kind: K, target_type: T, target_id: int) -> AssistantResponse:
    row = await pending(org_id, target_id, kind=kind, target_type=target_type)
    job = await enqueue(row)
    await runner.drain()
    done = await Job.get(id=job.id)
    assert done.status == JobStatus.SUCCEEDED, done.error
    row = await AssistantResponse.get(id=row.id)
    assert row.status is ResponseStatus.SUCCEEDED, (row.reason, row.error)
    return row


def sent_texts(llm: FakeLLM) -> list[str]:
    """Every message the provider received, decoded (JSON escapes undone)."""
    return [str(m.get("content", "")) for r in llm.received for m in r.json.get("messages", [])]


def assert_nothing_of(scene: Scene, llm: FakeLLM) -> None:
    raw = llm.all_bytes()
    decoded = "\n".join(sent_texts(llm))
    assert raw and decoded
    for secret in scene.secrets:
        assert secret.encode() not in raw, f"{secret!r} left riskops"
        assert secret.lower() not in decoded.lower(), f"{secret!r} left riskops"
    digits_sent = re.sub(r"\D", "", decoded)
    for secret in scene.secrets:
        only = re.sub(r"\D", "", secret)
        if len(only) >= 9:  # long enough to be the value, not a date or an amount
            assert only not in digits_sent, f"the digits of {secret!r} left riskops"


@pytest.mark.parametrize(("kind", "target_type"), TARGETS)
async def test_no_pii_of_the_alert_or_case_reaches_the_provider(
    tenant, assistant_on, fake_llm, kind, target_type
) -> None:
    s = await pii_scene(tenant)
    target = s.alert.id if target_type is T.ALERT else s.case.id

    row = await answered(tenant.org_id, kind, target_type, target)

    assert len(fake_llm.received) == 1
    assert_nothing_of(s, fake_llm)
    # what was sent is on record, redacted as it was sent
    stored = json.dumps(row.prompt_redacted, ensure_ascii=False)
    for secret in s.secrets:
        assert secret not in stored
    # the loopback model repeats every placeholder it was sent: each comes back restored
    sent = "\n".join(sent_texts(fake_llm))
    assert PLACEHOLDER.search(sent), "nothing was redacted"
    output = row.output or ""
    assert not PLACEHOLDER.search(output), output
    assert s.customer in output


async def test_the_alert_explanation_restores_every_kind_of_value(
    tenant, assistant_on, fake_llm
) -> None:
    s = await pii_scene(tenant)

    row = await answered(tenant.org_id, K.EXPLAIN_ALERT, T.ALERT, s.alert.id)

    sent = "\n".join(sent_texts(fake_llm))
    kinds = {p[1:].rsplit("_", 1)[0] for p in PLACEHOLDER.findall(sent)}
    assert {"CUSTOMER", "ACCOUNT", "NAME", "EMAIL", "PHONE", "IBAN", "CARD"} <= kinds
    output = row.output or ""
    for value in (s.customer, s.account, NAME, EMAIL, PHONE, IBAN, CARD):
        assert value in output, value
    # and the citations it made name the alert's rows
    assert [c["kind"] for c in row.citations] == ["rule", "rule"]
    assert row.dropped_citations == 0


async def test_a_case_draft_hides_the_notes_free_text(tenant, assistant_on, fake_llm) -> None:
    s = await pii_scene(tenant)

    row = await answered(tenant.org_id, K.ESCALATION_DRAFT, T.CASE, s.case.id)

    user = json.loads(row.prompt_redacted[1]["content"])
    (note,) = user["notes"]
    assert note["by"] == "strategist"
    text: Any = note["text"]
    assert text.startswith("Called <NAME_1> on <PHONE_")
    assert "Spoke with <NAME_" in text and "in fraud ops." in text
    assert_nothing_of(s, fake_llm)


async def test_a_run_explanation_goes_out_and_comes_back(tenant, assistant_on, fake_llm) -> None:
    rs = await run_scene(tenant)

    row = await answered(tenant.org_id, K.EXPLAIN_RUN, T.RUN, rs.run.id)

    assert f"[run:{rs.run.run_id}]" in (row.output or "")
    assert row.citations[0] == {
        "kind": "run", "ref": rs.run.run_id, "label": f"Run {rs.run.run_id}",
        "url": f"/runs/{rs.run.id}",
    }  # fmt: skip
