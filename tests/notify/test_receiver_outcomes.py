"""What one POST's answer means, for a webhook and for PagerDuty alike (`webhooks.post`, the one
rule both share): sent, retried (with a 429's Retry-After) or failed for good, each in the
receiver's own words. No database, no network: httpx's mock transport answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from riskops.server.notify import pagerduty, webhooks
from riskops.server.notify.webhooks import Outcome, WebhookRequest

URL = "https://receiver.example/hook"
Answer = Callable[[httpx.Request], httpx.Response]


def answering(status: int, text: str = "", **headers: str) -> Answer:
    return lambda request: httpx.Response(status, text=text, headers=headers)


def raising(exc: type[httpx.HTTPError]) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        raise exc("no answer", request=request)

    return answer


async def webhook(answer: Answer) -> Outcome:
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        return await webhooks.post(client, URL, WebhookRequest(b"{}", {}))


async def pager(answer: Answer) -> Outcome:
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        return await pagerduty.send(client, URL, {"routing_key": "k", "event_action": "trigger"})


def fate(outcome: Outcome) -> tuple[bool, bool, float | None, int | None]:
    return outcome.ok, outcome.permanent, outcome.retry_after, outcome.code


# (answer, what becomes of the message: ok, failed for good, retry after, code)
RULE: list[tuple[Answer, tuple[bool, bool, float | None, int | None]]] = [
    (answering(200), (True, False, None, 200)),
    (answering(202, '{"status": "success"}'), (True, False, None, 202)),
    (answering(429, "slow down", **{"Retry-After": "90"}), (False, False, 90.0, 429)),
    (answering(429), (False, False, None, 429)),
    (answering(400, "bad"), (False, True, None, 400)),
    (answering(410, "gone"), (False, True, None, 410)),
    (answering(500, "oops"), (False, False, None, 500)),
    (answering(503), (False, False, None, 503)),
    (answering(302), (False, False, None, 302)),  # redirects are not followed: retried
    (raising(httpx.ConnectError), (False, False, None, None)),
    (raising(httpx.ReadTimeout), (False, False, None, None)),
]


@pytest.mark.parametrize(("answer", "expected"), RULE)
async def test_webhooks_and_pagerduty_share_one_rule(answer: Answer, expected: Any) -> None:
    assert fate(await webhook(answer)) == expected
    assert fate(await pager(answer)) == expected


async def test_each_receiver_says_it_in_its_own_words() -> None:
    refused = answering(400, '{"status": "invalid event", "message": "Event object is invalid", '
                        '"errors": ["Invalid routing key"]}')  # fmt: skip
    assert (await pager(refused)).error == "400: Event object is invalid; Invalid routing key"
    assert (await webhook(answering(410, "no such hook"))).error == (
        "refused by the webhook (HTTP 410: no such hook)"
    )
    busy = answering(429, "", **{"Retry-After": "5"})
    assert (await pager(busy)).error == "429: rate limited by PagerDuty"
    assert (await webhook(busy)).error == "rate limited (HTTP 429)"
    assert (await pager(answering(502, "bad   gateway"))).error == "502: bad gateway"
    assert (await webhook(answering(502, "bad   gateway"))).error == "HTTP 502: bad gateway"
    for send in (pager, webhook):
        refused_connection = await send(raising(httpx.ConnectError))
        assert refused_connection.error == "could not connect: ConnectError: no answer"
        assert (await send(raising(httpx.ReadTimeout))).error == "timed out: ReadTimeout"
    # Errors are one line of at most 500 characters, whatever the receiver sent.
    long = await webhook(answering(418, "x\n" * 2000))
    assert long.error is not None and len(long.error) <= 500 and "\n" not in long.error
