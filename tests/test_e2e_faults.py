"""Transport and gateway faults against the real process: each gives its API.md error and outcome,
and the sidecar keeps serving afterwards."""

from __future__ import annotations

import threading

import httpx
import pytest
from calls import VISA, payment, post
from harness import FakeGateway, SidecarProcess, Tinyproxy, free_port, wait_until


@pytest.fixture(scope="module")
def gateway():
    fake = FakeGateway()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    tp = Tinyproxy(tmp_path_factory.mktemp("tinyproxy-auth"), auth=("egress", "s3cret-proxy-pw")).start()
    yield tp
    tp.stop()


@pytest.fixture(scope="module")
def faulty(tmp_path_factory, gateway, proxy):
    """stripe -> a gateway that misbehaves on demand; adyen -> a port where nothing listens."""
    dead = free_port()
    timeouts = {"connect": 2, "read": 1, "total": 3}
    config = {
        "connectors": {
            "stripe": {
                "base_url": gateway.url,
                "accounts": {"default": {"api_key": "sk_test_fault"}},
                "timeouts": timeouts,
            },
            "adyen": {
                "base_url": f"http://127.0.0.1:{dead}/v71",
                "timeouts": timeouts,
                "accounts": {
                    "default": {
                        "api_key": "adyen_fault_key",
                        "merchant_account": "M",
                        "return_url": "https://shop.example/r",
                    }
                },
            },
        }
    }
    proc = SidecarProcess(tmp_path_factory.mktemp("faults"), config).start()
    yield proc
    assert proc.stop() == 0


@pytest.fixture(scope="module")
def proxied(tmp_path_factory, proxy):
    """stripe -> through a proxy that is down; adyen -> through tinyproxy, which demands auth we do not have.
    Adyen is https here, as every real gateway is: the proxy answers the CONNECT with 407."""
    dead = free_port()
    config = {
        "connectors": {
            "stripe": {
                "base_url": "http://127.0.0.1:9/",
                "accounts": {"default": {"api_key": "sk_test_fault"}},
                "proxy": {"http": f"http://127.0.0.1:{dead}", "https": f"http://127.0.0.1:{dead}"},
            },
            "adyen": {
                "base_url": "https://127.0.0.1:9/v71",
                "proxy": {"https": proxy.url},
                "accounts": {
                    "default": {
                        "api_key": "adyen_fault_key",
                        "merchant_account": "M",
                        "return_url": "https://shop.example/r",
                    }
                },
            },
        }
    }
    proc = SidecarProcess(tmp_path_factory.mktemp("proxied"), config).start()
    yield proc
    assert proc.stop() == 0


def error(r, status: int, kind: str, outcome: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["type"] == kind
    assert body.get("outcome") == outcome
    for secret in ("4242424242424242", "sk_test_fault", "adyen_fault_key", "s3cret-proxy-pw"):
        assert secret not in r.text
    return body


def still_serving(sidecar: SidecarProcess) -> None:
    with sidecar.client() as c:
        assert c.get("/readyz").status_code == 200


def test_gateway_refuses_connection(faulty) -> None:
    with faulty.client() as c:
        error(post(c, "adyen", "/v1/payments", payment(VISA)), 502, "gateway_unreachable", "not_sent")
    still_serving(faulty)


def test_gateway_accepts_but_never_answers(faulty, gateway) -> None:
    gateway.hang = True
    try:
        with faulty.client() as c:
            body = error(post(c, "stripe", "/v1/payments/pi_1/capture"), 504, "gateway_timeout", "unknown")
        assert "may have been processed" in body["message"]
    finally:
        gateway.answer(200, b"{}")
    still_serving(faulty)


def test_gateway_500(faulty, gateway) -> None:
    gateway.answer(500, b'{"error": {"type": "api_error", "message": "Something went wrong on Stripe\'s end."}}')
    with faulty.client() as c:
        body = error(post(c, "stripe", "/v1/payments/pi_1/capture"), 502, "gateway_error", "unknown")
    assert "Something went wrong" in body["message"]
    still_serving(faulty)


def test_gateway_answers_html(faulty, gateway) -> None:
    gateway.answer(200, b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>", "text/html")
    with faulty.client() as c:
        body = error(c.get("/v1/payments/pi_1", headers={"X-Connector": "stripe"}), 502, "gateway_error", "unknown")
    assert "text/html" in body["message"]
    gateway.answer(502, b"<html>Bad Gateway</html>", "text/html")
    with faulty.client() as c:
        error(c.get("/v1/payments/pi_1", headers={"X-Connector": "stripe"}), 502, "gateway_error", "unknown")
    still_serving(faulty)


def test_gateway_refuses_our_credentials(faulty, gateway) -> None:
    gateway.answer(
        401, b'{"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****ault"}}'
    )
    with faulty.client() as c:
        error(post(c, "stripe", "/v1/payments/pi_1/capture"), 502, "gateway_authentication", "not_processed")


def test_serving_after_faults(faulty, gateway) -> None:
    gateway.answer(
        200,
        b'{"id": "pi_1", "object": "payment_intent", "status": "succeeded", "amount": 10, '
        b'"amount_received": 10, "currency": "usd"}',
    )
    with faulty.client() as c:
        r = post(c, "stripe", "/v1/payments/pi_1/capture")
    assert r.status_code == 200 and r.json()["status"] == "charged"


def test_upstream_proxy_down(proxied) -> None:
    with proxied.client() as c:
        error(post(c, "stripe", "/v1/payments", payment(VISA)), 502, "proxy_error", "not_sent")
    still_serving(proxied)


def test_upstream_proxy_demands_auth(proxied, proxy) -> None:
    with proxied.client() as c:
        body = error(post(c, "adyen", "/v1/payments", payment(VISA)), 502, "proxy_error", "not_sent")
    assert "407" in body["message"]
    still_serving(proxied)


def test_a_call_that_waits_too_long_for_a_pooled_connection_is_not_sent(tmp_path) -> None:
    """pool.wait_timeout bounds the wait for a busy pool, apart from the connect timeout: the call is
    answered gateway_unreachable, not sent, and the gateway never sees it."""
    gateway = FakeGateway()
    gateway.hang = True  # the first call holds the route's only connection
    config = {
        "connectors": {
            "stripe": {
                "base_url": gateway.url,
                "accounts": {"default": {"api_key": "sk_test_fault"}},
                "timeouts": {"connect": 30, "read": 30, "total": 40},
                "pool": {"max_connections": 1, "wait_timeout": 0.2},
            }
        }
    }
    sidecar = SidecarProcess(tmp_path, config).start()
    first: list[httpx.Response] = []
    holder = threading.Thread(target=lambda: first.append(capture(sidecar)))
    try:
        holder.start()
        wait_until(lambda: gateway.hits == 1, 10, "the first call at the gateway")
        body = error(capture(sidecar), 502, "gateway_unreachable", "not_sent")
        assert "pool.wait_timeout" in body["message"]
        assert gateway.hits == 1  # the second call never left
    finally:
        gateway.release.set()
        holder.join(30)
        gateway.close()
        assert sidecar.stop() == 0
    assert first[0].json()["error"]["outcome"] == "unknown"  # the gateway closed without answering


def capture(sidecar: SidecarProcess) -> httpx.Response:
    with sidecar.client() as c:
        return post(c, "stripe", "/v1/payments/pi_1/capture")
