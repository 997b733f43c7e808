"""The ops listener, on the real process: kubelet probes and Prometheus reach `/healthz`, `/readyz`
and `/metrics` on it, and nothing else is served there. It stands on another loopback address
(127.0.0.2) than the canonical API and the forward proxy (127.0.0.1), as the pod's own address
stands beside the pod's loopback: from there, the sidecar's other listeners cannot be reached."""

from __future__ import annotations

import json
import re
import socket

import httpx
import pytest
from harness import SidecarProcess, wait_until
from test_e2e_connections import HEAD, answer, closed_by_server

from sidecar.config import Settings

OPS_HOST = "127.0.0.2"  # the pod's address, as far as a test on loopback can have one
CARD = {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}}
PAYMENT = {
    "reference": "ops-1",
    "amount": {"minor": 1000, "currency": "USD"},
    "capture": "manual",
    "payment_method": CARD,
}


def ops_port_on(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory):
    config = {"ops": {"host": OPS_HOST, "port": ops_port_on(OPS_HOST)}}
    proc = SidecarProcess(tmp_path_factory.mktemp("ops"), config).start()
    yield proc
    assert proc.stop() == 0


def gateway_calls(sidecar: SidecarProcess) -> float:
    text = httpx.get(sidecar.url + "/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith("sidecar_gateway_calls_total"))


def test_defaults_put_only_the_ops_listener_on_the_pod_network() -> None:
    settings = Settings()
    assert (settings.ops.enabled, settings.ops.host, settings.ops.port) == (True, "0.0.0.0", 9090)
    assert settings.listen.host == settings.forward_proxy.host == settings.web.host == "127.0.0.1"


def test_probes_and_scrapes_are_answered_on_the_ops_listener(sidecar) -> None:
    assert httpx.get(sidecar.ops_url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(sidecar.ops_url + "/readyz?verbose=1")
    assert ready.status_code == 200 and ready.json() == {"status": "ok"}
    scraped = httpx.get(sidecar.ops_url + "/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    assert "\nsidecar_client_connections " in scraped.text
    # The canonical listener keeps its own.
    assert httpx.get(sidecar.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(sidecar.url + "/readyz").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/payments", PAYMENT),
        ("GET", "/v1/payments/pi_3ops", None),
        ("GET", "/openapi.json", None),
        ("GET", "/", None),
        ("POST", "/healthz", {}),
        ("DELETE", "/metrics", None),
        ("GET", "/healthz/more", None),
    ],
)
def test_nothing_else_is_served_on_the_ops_listener(sidecar, method, path, body) -> None:
    before = gateway_calls(sidecar)
    r = httpx.request(method, sidecar.ops_url + path, json=body, headers={"X-Connector": "stripe"})
    assert r.status_code == 404
    error = r.json()["error"]
    assert error["type"] == "not_found" and "only GET /healthz, /readyz and /metrics" in error["message"]
    assert gateway_calls(sidecar) == before


def test_the_ops_listener_is_no_proxy(sidecar) -> None:
    before = gateway_calls(sidecar)
    with socket.create_connection((OPS_HOST, sidecar.ops_port), timeout=10) as sock:
        # An absolute-form request, as to a forward proxy: answered by the ops listener, not sent on.
        sock.sendall(
            b"POST https://api.stripe.com/v1/payment_intents HTTP/1.1\r\nHost: api.stripe.com\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 27\r\n\r\n"
            b"amount=100&currency=usd&x=1"
        )
        head, body = answer(sock)
    assert head.startswith(b"HTTP/1.1 404") and json.loads(body)["error"]["type"] == "not_found"
    with pytest.raises(httpx.ProxyError):
        with httpx.Client(proxy=sidecar.ops_url, verify=False) as client:
            client.get("https://api.stripe.com/v1/charges")
    assert gateway_calls(sidecar) == before


def test_the_canonical_api_and_forward_proxy_cannot_be_reached_from_the_ops_address(sidecar) -> None:
    for port in (sidecar.port, sidecar.forward_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((OPS_HOST, port), timeout=5).close()
    # And the ops listener is on its address only.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", sidecar.ops_port), timeout=5).close()
    # Yet the canonical API serves on loopback.
    r = httpx.post(sidecar.url + "/v1/payments", json=PAYMENT, headers={"X-Connector": "stripe"}, timeout=30)
    assert r.status_code == 200 and r.json()["status"] == "authorized"


def test_the_ops_listener_has_its_own_connection_cap(tmp_path) -> None:
    """Connections to the ops port cannot take the apps' places, nor the apps' the probes'."""
    sidecar = SidecarProcess(tmp_path, {"ops": {"max_open": 2}, "client_connections": {"max_open": 2}}).start()
    ops = ("127.0.0.1", sidecar.ops_port)
    app = ("127.0.0.1", sidecar.port)
    held: list[socket.socket] = []

    def served(address: tuple[str, int]) -> bool:
        """A call on a new connection, closed after it."""
        try:
            return httpx.get(f"http://{address[0]}:{address[1]}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def hold(address: tuple[str, int]) -> None:
        """A connection kept open once served, so surely counted (a closed one may still be, for a moment)."""

        def held_open() -> bool:
            sock = socket.create_connection(address, timeout=10)
            try:
                sock.sendall(HEAD)
                if answer(sock)[0].startswith(b"HTTP/1.1 200"):
                    held.append(sock)
                    return True
            except ConnectionError:
                pass
            sock.close()
            return False

        wait_until(held_open, 10, "a connection served")

    try:
        hold(ops)
        hold(ops)
        with socket.create_connection(ops) as over:
            over.sendall(HEAD)
            assert closed_by_server(over) == (True, b"")
        hold(app)  # the apps' listeners take connections still
        hold(app)
        assert not served(app)
        held.pop(0).close()  # a place on the ops listener, while the apps' are full: probes still pass
        wait_until(lambda: served(ops), 10, "a place under the ops cap")
        text = httpx.get(f"http://{ops[0]}:{ops[1]}/metrics", timeout=10).text
        assert refused(text, "ops") >= 1 and refused(text, "app") >= 1
        lines = [json.loads(line) for line in sidecar.stdout_path.read_text().splitlines() if line.startswith("{")]
        refusals = [line for line in lines if line["event"] == "client connections refused: too many open"]
        assert {line["listeners"] for line in refusals} == {"ops", "app"}
    finally:
        for sock in held:
            sock.close()
        assert sidecar.stop() == 0


def refused(metrics: str, listeners: str) -> float:
    found = re.search(rf'^sidecar_client_connections_refused_total{{listeners="{listeners}"}} (\S+)$', metrics, re.M)
    return float(found[1]) if found else 0.0
