"""Process-level behaviour: pooled keep-alive connections to the gateway whatever the app does; a
SIGTERM or SIGINT that stops listening and lets the call in flight finish (exit 0), cuts it at the
drain deadline (exit 3) or at once on a second signal (exit 128 + signal), with no error line and no
temporary file left; and the modes of the files the sidecar writes."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import threading

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from harness import FakeGateway, SidecarProcess, wait_until
from mitmproxy.certs import create_ca

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


def stripe_on(gateway: FakeGateway) -> dict:
    return {"connectors": {"stripe": {"base_url": gateway.url, "accounts": {"default": {"api_key": "sk_test_x"}}}}}


def start(tmp_path, gateway: FakeGateway, **extra) -> SidecarProcess:
    return SidecarProcess(tmp_path, {**stripe_on(gateway), **extra}).start()


def sync(url: str) -> httpx.Response:
    # A fresh client each time: a new TCP connection to the sidecar per call, as many apps do.
    with httpx.Client(base_url=url, timeout=30) as c:
        return c.get("/v1/payments/pi_1", headers={"X-Connector": "stripe"})


def call_in_background(sidecar: SidecarProcess, gateway: FakeGateway) -> tuple[threading.Thread, list]:
    """One call from the app, held in flight at the gateway (by its delay or hang)."""
    results: list[httpx.Response | Exception] = []

    def call() -> None:
        try:
            results.append(sync(sidecar.url))
        except httpx.HTTPError as e:
            results.append(e)

    caller = threading.Thread(target=call)
    caller.start()
    wait_until(lambda: gateway.hits == 1, 5, "call in flight")
    return caller, results


def events(sidecar: SidecarProcess) -> list[dict]:
    return [json.loads(line) for line in sidecar.stdout_path.read_text().splitlines() if line.startswith("{")]


def test_gateway_connections_are_pooled_across_app_connections(tmp_path, gateway) -> None:
    sidecar = start(tmp_path, gateway)
    try:
        for _ in range(30):
            assert sync(sidecar.url).status_code == 200
    finally:
        assert sidecar.stop() == 0
    assert gateway.hits == 30
    assert gateway.connections == 1  # one keep-alive connection served all thirty calls


def _write_ca(path) -> None:
    key, cert = create_ca(organization="Test", cn="Test CA", key_size=2048)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    path.write_bytes(key_pem + cert.public_bytes(serialization.Encoding.PEM))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_drains_the_call_in_flight_then_exits_zero_leaving_nothing_behind(tmp_path, gateway, signum) -> None:
    tmp = tmp_path / "tmp"  # the process's TMPDIR, so what it leaves there can be seen
    tmp.mkdir()
    _write_ca(tmp_path / "ca.pem")
    config = {
        **stripe_on(gateway),
        # adyen on the sandbox (TLS files in a temporary directory); the CA loaded from a file
        # (assembled in another one).
        "drain_seconds": 10,
        "forward_proxy": {"enabled": False, "ca": {"cert": str(tmp_path / "ca.pem")}},
    }
    config["connectors"]["adyen"] = {}
    sidecar = SidecarProcess(tmp_path, config, env={"TMPDIR": str(tmp)}).start()
    assert sorted(p.name.rsplit("-", 1)[0] for p in tmp.iterdir()) == ["sidecar-ca", "sidecar-sandbox-tls"]

    kept_alive = sidecar.client()  # a kept-alive connection with no call in progress at the signal
    assert kept_alive.get("/healthz").status_code == 200
    gateway.delay = 1.5
    caller, results = call_in_background(sidecar, gateway)
    assert sidecar.proc is not None
    sidecar.proc.send_signal(signum)

    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", sidecar.port), timeout=0.2).close()
            return False
        except ConnectionRefusedError:
            return True

    wait_until(refused, 1.0, "listener closed")  # no new calls while the in-flight one finishes
    caller.join(10)
    answer = results[0]
    assert isinstance(answer, httpx.Response) and answer.status_code == 200
    assert answer.json()["status"] == "charged"
    assert answer.headers["connection"] == "close"  # the app reconnects, to a sidecar that serves
    assert sidecar.proc.wait(10) == 0
    kept_alive.close()
    names = [e["event"] for e in events(sidecar)]
    assert "draining" in names and names[-1] == "stopped"
    # The drained call is written down before the process stops.
    assert names.index("draining") < names.index("connector call") < names.index("canonical call")
    assert sidecar.error_lines() == []
    assert list(tmp.iterdir()) == []


def test_drain_deadline_cuts_a_call_that_outlives_it_and_exits_3(tmp_path, gateway) -> None:
    sidecar = start(tmp_path, gateway, drain_seconds=0.5)
    gateway.hang = True  # the gateway would hold the call for a minute
    caller, results = call_in_background(sidecar, gateway)
    assert sidecar.proc is not None
    sidecar.proc.terminate()
    assert sidecar.proc.wait(10) == 3
    caller.join(10)
    # The app is told the call's outcome is unknown (it may have reached the gateway): sync, not retry.
    answer = results[0]
    assert isinstance(answer, httpx.Response) and answer.status_code == 502
    assert answer.json()["error"]["outcome"] == "unknown"
    assert "drain deadline passed" in sidecar.output()
    # The cut call is written down too, before the process stops.
    lines = events(sidecar)
    (cut,) = [e for e in lines if e["event"] == "connector call"]
    assert cut["outcome"] == "unknown"
    assert [e["event"] for e in lines][-1] == "stopped"
    assert sidecar.error_lines() == []


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_second_signal_during_the_drain_stops_at_once_with_128_plus_signal(tmp_path, gateway, second) -> None:
    sidecar = start(tmp_path, gateway, drain_seconds=60)
    gateway.hang = True
    caller, results = call_in_background(sidecar, gateway)
    assert sidecar.proc is not None
    sidecar.proc.terminate()
    wait_until(lambda: "draining" in sidecar.output(), 5, "drain started")
    sidecar.proc.send_signal(second)
    assert sidecar.proc.wait(10) == 128 + second  # long before the 60 s deadline or the gateway's minute
    caller.join(10)
    answer = results[0]
    assert isinstance(answer, httpx.Response) and answer.json()["error"]["outcome"] == "unknown"
    assert "second signal: stopping now" in sidecar.output()
    assert sidecar.error_lines() == []


def test_written_files_are_private(tmp_path, gateway) -> None:
    flows = tmp_path / "flows.mitm"
    ca_dir = tmp_path / "state" / "ca"  # made by the sidecar, parents and all
    config = {**stripe_on(gateway), "save_flows": str(flows), "forward_proxy": {"ca": {"dir": str(ca_dir)}}}
    umask = os.umask(0o022)  # the usual umask, which leaves new files readable by all
    try:
        sidecar = SidecarProcess(tmp_path, config).start()
    finally:
        os.umask(umask)
    try:
        assert sync(sidecar.url).status_code == 200
    finally:
        assert sidecar.stop() == 0

    def mode(path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(flows) == 0o600 and flows.stat().st_size > 0
    assert mode(ca_dir) == 0o700
    assert mode(ca_dir / "mitmproxy-ca.pem") == 0o600  # the key, with its certificate
    assert mode(ca_dir / "mitmproxy-ca.p12") == 0o600  # the key again, for Windows clients
