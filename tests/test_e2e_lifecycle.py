"""Process-level behaviour: pooled keep-alive connections to the gateway whatever the app does, and
a SIGTERM that stops listening, lets the in-flight call finish, and exits 0."""

from __future__ import annotations

import json
import socket
import threading

import httpx
import pytest
from harness import FakeGateway, SidecarProcess, wait_until

INTENT = (
    b'{"id": "pi_1", "object": "payment_intent", "status": "succeeded", "amount": 10, '
    b'"amount_received": 10, "currency": "usd"}'
)


@pytest.fixture
def gateway():
    fake = FakeGateway()
    fake.answer(200, INTENT)
    yield fake
    fake.close()


def start(tmp_path, gateway: FakeGateway, **extra) -> SidecarProcess:
    config = {
        "connectors": {"stripe": {"base_url": gateway.url, "accounts": {"default": {"api_key": "sk_test_x"}}}},
        **extra,
    }
    return SidecarProcess(tmp_path, config).start()


def sync(url: str) -> httpx.Response:
    # A fresh client each time: a new TCP connection to the sidecar per call, as many apps do.
    with httpx.Client(base_url=url, timeout=30) as c:
        return c.get("/v1/payments/pi_1", headers={"X-Connector": "stripe"})


def test_gateway_connections_are_pooled_across_app_connections(tmp_path, gateway) -> None:
    sidecar = start(tmp_path, gateway)
    try:
        for _ in range(30):
            assert sync(sidecar.url).status_code == 200
    finally:
        assert sidecar.stop() == 0
    assert gateway.hits == 30
    assert gateway.connections == 1  # one keep-alive connection served all thirty calls


def test_sigterm_drains_in_flight_calls_then_exits_zero(tmp_path, gateway) -> None:
    sidecar = start(tmp_path, gateway, drain_seconds=10)
    gateway.delay = 1.5
    results: list[httpx.Response] = []
    caller = threading.Thread(target=lambda: results.append(sync(sidecar.url)))
    caller.start()
    wait_until(lambda: gateway.hits == 1, 5, "call in flight")
    assert sidecar.proc is not None
    sidecar.proc.terminate()  # SIGTERM

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", sidecar.port), timeout=0.2).close()
            return False
        except ConnectionRefusedError:
            return True

    wait_until(refused, 1.0, "listener closed")  # no new calls while the in-flight one finishes
    caller.join(10)
    assert results and results[0].status_code == 200 and results[0].json()["status"] == "charged"
    assert sidecar.proc.wait(10) == 0
    events = [
        json.loads(line)["event"] for line in sidecar.stdout_path.read_text().splitlines() if line.startswith("{")
    ]
    assert "draining" in events and "stopped" in events


def test_drain_deadline_cuts_a_call_that_outlives_it(tmp_path, gateway) -> None:
    sidecar = start(tmp_path, gateway, drain_seconds=0.5)
    gateway.hang = True
    caller = threading.Thread(target=lambda: _swallow(sidecar.url))
    caller.start()
    wait_until(lambda: gateway.hits == 1, 5, "call in flight")
    assert sidecar.proc is not None
    sidecar.proc.terminate()
    assert sidecar.proc.wait(10) == 0  # the gateway would hold the call for a minute
    assert "drain deadline passed" in sidecar.output()
    caller.join(10)


def _swallow(url: str) -> None:
    try:
        sync(url)
    except httpx.HTTPError:
        pass
