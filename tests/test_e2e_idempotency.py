"""Idempotency through the real process on the sandbox gateways (API.md v1.1 "Idempotency"): any key of
1-255 printable characters works on every connector, the same key and body returns the first result,
another body is 409 idempotency_conflict, and a key whose first call is still running is 409
request_in_progress with outcome unknown, each from the gateway's own signals."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from calls import VISA, payment, post

from connectors.kit.sandbox import SLOW_TEST_CARD as SLOW_CARD

CONNECTORS = ["stripe", "adyen", "paypal"]
PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F))


def key_of(length: int) -> str:
    """A fresh key of `length` printable ASCII characters, punctuation included."""
    return (uuid.uuid4().hex + PRINTABLE * 3)[:length]


def conflict(r, kind: str, outcome: str) -> None:
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert (error["type"], error["outcome"]) == (kind, outcome), r.text


@pytest.mark.parametrize("connector", CONNECTORS)
@pytest.mark.parametrize("length", [32, 64, 65, 241, 255])
def test_any_key_replays_the_first_result(client, connector, length) -> None:
    # 64 is Adyen's limit, 241 made Stripe's derived key pass its 255 before; each key must still work.
    headers = {"Idempotency-Key": key_of(length)}
    first = post(client, connector, "/v1/payments", payment(VISA), **headers)
    again = post(client, connector, "/v1/payments", payment(VISA), **headers)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["status"] == "authorized"


@pytest.mark.parametrize("connector", CONNECTORS)
def test_same_key_with_another_body_is_a_conflict(client, connector) -> None:
    headers = {"Idempotency-Key": key_of(40)}
    first = post(client, connector, "/v1/payments", payment(VISA), **headers)
    assert first.status_code == 200, first.text
    # Adyen answers with the first result whatever the body; the connector sees another reference echoed.
    other = post(client, connector, "/v1/payments", payment(VISA, minor=2000, reference="order-43"), **headers)
    conflict(other, "idempotency_conflict", "not_processed")


@pytest.mark.parametrize("connector", CONNECTORS)
def test_capture_with_a_reused_key_and_another_amount_is_a_conflict(client, connector) -> None:
    pid = post(client, connector, "/v1/payments", payment(VISA)).json()["id"]
    headers = {"Idempotency-Key": key_of(50)}
    path = f"/v1/payments/{pid}/capture"
    first = post(client, connector, path, {"amount": {"minor": 500, "currency": "USD"}}, **headers)
    assert first.status_code == 200, first.text
    other = post(client, connector, path, {"amount": {"minor": 700, "currency": "USD"}}, **headers)
    conflict(other, "idempotency_conflict", "not_processed")
    again = post(client, connector, path, {"amount": {"minor": 500, "currency": "USD"}}, **headers)
    assert again.status_code == 200 and again.json()["status"] == first.json()["status"]


@pytest.mark.parametrize("connector", CONNECTORS)
def test_key_of_a_call_still_running_is_request_in_progress(sandbox_sidecar, connector) -> None:
    # The sandbox answers the slow test card after a few seconds; the second call meets the first in flight.
    slow = dict(VISA, number=SLOW_CARD)
    headers = {"Idempotency-Key": key_of(36)}

    def authorize():
        with sandbox_sidecar.client() as c:
            return post(c, connector, "/v1/payments", payment(slow), **headers)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: authorize(), range(2)))
    done = [r for r in answers if r.status_code == 200]
    running = [r for r in answers if r.status_code != 200]
    assert len(done) == 1 and len(running) == 1, [r.text for r in answers]
    conflict(running[0], "request_in_progress", "unknown")
    # Once the first call has finished, the same key and body give its result.
    with sandbox_sidecar.client() as c:
        later = post(c, connector, "/v1/payments", payment(slow), **headers)
    assert later.status_code == 200 and later.json()["id"] == done[0].json()["id"]
