"""Everything the sidecar writes down is masked. Three real sidecar processes, each with mitmweb and a
saved-flows file, take approvals, declines, captures, refunds, voids, bad input, wrong credentials and
every transport fault, with several test cards and credentials; then an independent detector scans
all they wrote: stdout, stderr, the saved flows, and mitmweb's HTTP API (flow list, every content
endpoint, the raw view, the dump, the event log)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from calls import flow_labels, payment, post
from detector import Detector, gateway_ids
from harness import SIDECAR, FakeGateway, SidecarProcess, Tinyproxy, free_port, wait_until

WEB_PASSWORD = "web-pass-for-audit-test"
STRIPE_KEY = "sk_test_sandbox"
STALE_STRIPE_KEY = "sk_live_51HqStaleKeyDoNotLog0xyz"
ADYEN_KEY = "sandbox_api_key"
PER_CALL_KEY = '{"api_key": "sk_test_sandbox"}'
PROXY_PASSWORD = "egress-proxy-pw-9"
FAULT_KEY = "sk_test_faultgatewaykey77"

CARDS = {  # number -> CVC, each CVC used once so the detector can recognise it anywhere
    "4242424242424242": "314",
    "5555555555554444": "271",
    "4000000000000002": "828",
    "4000000000009995": "459",
    "4111111111111111": "737",
    "5555444433331111": "602",
}
SECRETS = [STRIPE_KEY, STALE_STRIPE_KEY, ADYEN_KEY, PROXY_PASSWORD, FAULT_KEY]


def card(number: str, **extra) -> dict:
    return {"number": number, "exp_month": 3, "exp_year": 2031, "cvc": CARDS[number], **extra}


def web(**extra) -> dict:
    return {"web": {"enabled": True, "password": WEB_PASSWORD, "port": free_port(), "max_flows": 500}, **extra}


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """The gateways, proxy and three sidecars; stopped at the end (each must exit 0)."""
    tmp = tmp_path_factory.mktemp("audit")
    stripe_port, adyen_port = free_port(), free_port()
    sandbox = subprocess.Popen(
        [SIDECAR, "sandbox", "--stripe-port", str(stripe_port), "--adyen-port", str(adyen_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    wait_until(lambda: _listening(stripe_port) and _listening(adyen_port), 15, "sandbox")
    proxy = Tinyproxy(tmp, auth=("egress", PROXY_PASSWORD)).start()
    fake = FakeGateway()
    adyen_account = {
        "api_key": ADYEN_KEY,
        "merchant_account": "SidecarSandboxECOM",
        "return_url": "https://s.example/r",
    }
    happy = SidecarProcess(
        tmp,
        {
            **web(save_flows=str(tmp / "happy.flows")),
            "allow_request_credentials": True,
            "connectors": {
                "stripe": {
                    "base_url": f"http://127.0.0.1:{stripe_port}",
                    "accounts": {"default": {"api_key": STRIPE_KEY}, "stale": {"api_key": STALE_STRIPE_KEY}},
                },
                "adyen": {
                    "base_url": f"http://127.0.0.1:{adyen_port}/v71",
                    "proxy": {"http": proxy.url, "username": "egress", "password": PROXY_PASSWORD},
                    "accounts": {"default": adyen_account},
                },
            },
        },
    )
    timeouts = {"connect": 2, "read": 1, "total": 3}
    faulty = SidecarProcess(
        tmp,
        {
            **web(save_flows=str(tmp / "faulty.flows")),
            "connectors": {
                "stripe": {"base_url": fake.url, "timeouts": timeouts, "accounts": {"default": {"api_key": FAULT_KEY}}},
                "adyen": {"base_url": f"http://127.0.0.1:{free_port()}/v71", "accounts": {"default": adyen_account}},
            },
        },
    )
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    proxied = SidecarProcess(
        tmp,
        {
            **web(save_flows=str(tmp / "proxied.flows")),
            "connectors": {
                "stripe": {
                    "base_url": "https://127.0.0.1:9",
                    "proxy": {"https": dead_proxy},
                    "accounts": {"default": {"api_key": FAULT_KEY}},
                },
                "adyen": {
                    "base_url": "https://127.0.0.1:9/v71",
                    "proxy": {"https": proxy.url},
                    "accounts": {"default": adyen_account},
                },
            },
        },
    )
    sidecars = {"happy": happy.start(), "faulty": faulty.start(), "proxied": proxied.start()}
    yield {"sidecars": sidecars, "fake": fake, "tmp": tmp}
    for proc in sidecars.values():
        assert proc.stop() == 0
    fake.close()
    proxy.stop()
    sandbox.terminate()
    sandbox.wait(10)


def _listening(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5).status_code > 0
    except httpx.TransportError:
        return False


@pytest.fixture(scope="module")
def traffic(parts) -> dict:
    """Makes every kind of call; returns what the tests check against."""
    s = parts["sidecars"]
    made = 0
    with s["happy"].client() as c:
        for number in ("4242424242424242", "5555555555554444"):
            p = post(
                c,
                "stripe",
                "/v1/payments",
                payment(
                    card(number, holder_name="Jane Roe"),
                    customer={"email": "jane@example.com", "phone": "+4915112345678"},
                ),
            ).json()
            assert p["status"] == "authorized", p
            assert (
                post(
                    c, "stripe", f"/v1/payments/{p['id']}/capture", {"amount": {"minor": 700, "currency": "USD"}}
                ).status_code
                == 200
            )
            assert (
                post(
                    c, "stripe", f"/v1/payments/{p['id']}/refunds", {"amount": {"minor": 100, "currency": "USD"}}
                ).status_code
                == 200
            )
            assert c.get(f"/v1/payments/{p['id']}", headers={"X-Connector": "stripe"}).status_code == 200
            made += 4
        for number in ("4000000000000002", "4000000000009995"):
            r = post(c, "stripe", "/v1/payments", payment(card(number), capture="automatic"))
            assert r.json()["status"] == "authorization_failed"
            made += 1
        voided = post(c, "stripe", "/v1/payments", payment(card("4242424242424242"))).json()
        assert post(c, "stripe", f"/v1/payments/{voided['id']}/void").json()["status"] == "voided"
        # A card number where no field is declared for it: the safety net must catch it.
        r = post(
            c, "stripe", "/v1/payments", payment(card("5555555555554444"), metadata={"note": "card 5555555555554444"})
        )
        assert r.status_code == 200
        assert (
            post(
                c, "stripe", "/v1/payments", payment(card("4242424242424242")), **{"X-Connector-Auth": PER_CALL_KEY}
            ).status_code
            == 200
        )
        r = post(c, "stripe", "/v1/payments", payment(card("4242424242424242")), **{"X-Connector-Account": "stale"})
        assert r.json()["error"]["type"] == "gateway_authentication"
        r = c.post(
            "/v1/payments",
            json={**payment(card("4242424242424242")), "4242424242424242": "314"},
            headers={"X-Connector": "stripe"},
        )
        assert r.status_code == 400
        made += 6
        for number, holder in (("4111111111111111", "J Smith"), ("5555444433331111", "DECLINED")):
            p = post(c, "adyen", "/v1/payments", payment(card(number, holder_name=holder), currency="EUR")).json()
            assert p["status"] in ("authorized", "authorization_failed"), p
            made += 1
            if p["status"] == "authorized":
                amount = {"minor": 1000, "currency": "EUR"}
                assert post(c, "adyen", f"/v1/payments/{p['id']}/capture", {"amount": amount}).status_code == 200
                assert post(c, "adyen", f"/v1/payments/{p['id']}/refunds", {"amount": amount}).status_code == 200
                made += 2
    fake = parts["fake"]
    with s["faulty"].client() as c:
        fake.hang = True
        assert post(c, "stripe", "/v1/payments", payment(card("4242424242424242"))).status_code == 504
        fake.answer(500, b'{"error": {"type": "api_error", "message": "card 4242424242424242 broke us"}}')
        assert post(c, "stripe", "/v1/payments", payment(card("5555555555554444"))).status_code == 502
        fake.answer(200, b"<html>maintenance for 4000000000000002</html>", "text/html")
        assert post(c, "stripe", "/v1/payments", payment(card("4000000000000002"))).status_code == 502
        assert post(c, "adyen", "/v1/payments", payment(card("4111111111111111"))).status_code == 502
        made += 4
    with s["proxied"].client() as c:
        assert (
            post(c, "stripe", "/v1/payments", payment(card("4242424242424242"))).json()["error"]["type"]
            == "proxy_error"
        )
        assert (
            post(c, "adyen", "/v1/payments", payment(card("4111111111111111"))).json()["error"]["type"] == "proxy_error"
        )
        made += 2
    return {"calls": made}


def web_api(proc: SidecarProcess) -> tuple[str, dict[str, str]]:
    port = yaml.safe_load(proc.config_path.read_text())["web"]["port"]
    return f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {WEB_PASSWORD}"}


def without_hashes(flow: dict) -> dict:
    """contentHash is a SHA-256 hex digest of a (masked) body: its digit runs are not data."""
    return {k: {**v, "contentHash": None} if k in ("request", "response") and v else v for k, v in flow.items()}


def test_nothing_written_holds_a_card_number_cvc_or_secret(parts, traffic) -> None:
    ids = set().union(*(gateway_ids(proc.stdout_path.read_text()) for proc in parts["sidecars"].values()))
    assert not ids & set(CARDS)
    detector = Detector(secrets=SECRETS, cvcs=list(CARDS.values()), allowed=ids)
    masked_seen = {"stdout": False, "flows": False, "web": False}
    for name, proc in parts["sidecars"].items():
        out = proc.stdout_path.read_text()
        detector.scan(f"{name} stdout", out)
        detector.scan(f"{name} stderr", proc.stderr_path.read_text())
        masked_seen["stdout"] |= "424242******4242" in out
        flows = (parts["tmp"] / f"{name}.flows").read_bytes()
        detector.scan(f"{name} saved flows", flows)
        masked_seen["flows"] |= b"424242******4242" in flows
        base, auth = web_api(proc)
        with httpx.Client(base_url=base, headers=auth, timeout=10) as w:
            listing = w.get("/flows")
            assert listing.status_code == 200
            detector.scan(f"{name} /flows", json.dumps([without_hashes(f) for f in listing.json()]))
            detector.scan(f"{name} /flows/dump", w.get("/flows/dump").content)
            # An event's id is a Python object id (a 15-digit number), not data.
            detector.scan(f"{name} /events", json.dumps([{**e, "id": None} for e in w.get("/events").json()]))
            for flow in listing.json():
                for part in ("request", "response"):
                    if part == "response" and not flow.get("response"):
                        continue
                    for endpoint in ("content.data", "content/raw.json", "content/auto.json"):
                        r = w.get(f"/flows/{flow['id']}/{part}/{endpoint}")
                        assert r.status_code == 200, (endpoint, r.status_code)
                        detector.scan(f"{name} {flow['id']} {part} {endpoint}", r.content)
                        masked_seen["web"] |= b"424242******4242" in r.content
    print(
        f"\nmasking audit: {traffic['calls']} calls made; {detector.sources} sources, {detector.lines} lines, "
        f"{detector.bytes} bytes scanned; {len(detector.findings)} findings"
    )
    assert detector.findings == [], "\n".join(map(str, detector.findings))
    assert all(masked_seen.values()), masked_seen


def connector_calls(proc: SidecarProcess) -> list[dict]:
    return [
        json.loads(line)
        for line in proc.stdout_path.read_text().splitlines()
        if line.startswith("{") and '"connector call"' in line
    ]


def test_golden_lines_carry_the_call(parts, traffic) -> None:
    happy, faulty = parts["sidecars"]["happy"], parts["sidecars"]["faulty"]
    lines = connector_calls(happy)
    for line in lines:
        for key in (
            "request_id",
            "connector",
            "account",
            "operation",
            "method",
            "url",
            "outcome",
            "latency_ms",
            "request_bytes",
            "request_headers",
            "request_body",
        ):
            assert key in line, (key, line)
        assert line["latency_ms"] > 0
    answered = [line for line in lines if "status_code" in line]
    assert {line["status_code"] for line in answered} >= {200, 402, 401}
    decline = next(line for line in answered if line["status_code"] == 402)
    assert decline["outcome"] == "client_error" and decline["response_bytes"] > 0
    assert next(line for line in answered if line["status_code"] == 401)["account"] == "stale"
    assert all(line["request_headers"].get("Authorization") == "***" for line in lines if line["connector"] == "stripe")

    faults = connector_calls(faulty)
    timeout = next(line for line in faults if line.get("error_type") == "gateway_timeout")
    assert timeout["outcome"] == "unknown" and "status_code" not in timeout and timeout["latency_ms"] >= 1000
    refused = next(line for line in faults if line.get("error_type") == "gateway_unreachable")
    assert refused["outcome"] == "not_sent"
    assert next(line for line in faults if line.get("status_code") == 500)["outcome"] == "server_error"

    canonical = [json.loads(line) for line in happy.stdout_path.read_text().splitlines() if '"canonical call"' in line]
    by_id = {line["request_id"]: line for line in canonical}
    for line in lines:  # every gateway call belongs to a canonical call with the same request id
        assert by_id[line["request_id"]]["operation"] == line["operation"]


def test_mitmweb_links_the_app_call_to_the_gateway_calls(parts, traffic) -> None:
    base, auth = web_api(parts["sidecars"]["happy"])
    flows = httpx.get(base + "/flows", headers=auth).json()
    app_calls = [f for f in flows if flow_labels(f)["call"] == "app" and f["request"]["path"] == "/v1/payments"]
    assert app_calls
    request_id = flow_labels(app_calls[0])["request"]
    linked = [flow_labels(f) for f in flows if flow_labels(f)["request"] == request_id]
    assert {labels["call"] for labels in linked} == {"app", "gateway"}
    assert {labels["connector"] for labels in linked} == {"stripe"}
    assert {labels["operation"] for labels in linked} == {"authorize"}


def test_mitmweb_labels_each_flow_with_its_outcome(parts, traffic) -> None:
    base, auth = web_api(parts["sidecars"]["faulty"])
    labels = [flow_labels(f) for f in httpx.get(base + "/flows", headers=auth).json()]
    timeout = next(lab for lab in labels if lab["outcome"] == "gateway_timeout")
    assert timeout["call"] == "app" and timeout["connector"] == "stripe" and timeout["operation"] == "authorize"
    # The gateway call it made has the same request id and says the money's fate is unknown.
    gateway = [lab for lab in labels if lab["request"] == timeout["request"] and lab["call"] == "gateway"]
    assert [lab["outcome"] for lab in gateway] == ["unknown"]
    assert any(lab["outcome"] == "server_error" and lab["call"] == "gateway" for lab in labels)


def test_metrics(parts, traffic) -> None:
    text = httpx.get(parts["sidecars"]["happy"].url + "/metrics").text
    assert 'sidecar_calls_total{connector="stripe",operation="authorize",outcome="ok"}' in text
    assert 'sidecar_errors_total{connector="stripe",type="gateway_authentication"}' in text
    assert 'sidecar_gateway_latency_seconds_count{connector="stripe",operation="capture"}' in text
    assert 'sidecar_gateway_calls_total{connector="stripe",operation="authorize",outcome="client_error"}' in text
    catches = [
        line
        for line in text.splitlines()
        if line.startswith("sidecar_masking_safety_net_catches_total")
        and 'source="stripe"' in line
        and 'kind="pan"' in line
    ]
    assert catches and float(catches[0].split()[-1]) >= 1  # the metadata card number, caught and counted
    assert "sidecar_pool_open_connections" in text
    faulty = httpx.get(parts["sidecars"]["faulty"].url + "/metrics").text
    assert 'sidecar_errors_total{connector="stripe",type="gateway_timeout"}' in faulty


def test_mitmweb_needs_the_password(parts) -> None:
    base, _ = web_api(parts["sidecars"]["happy"])
    assert httpx.get(base + "/flows").status_code == 403
    assert httpx.get(base + "/flows", headers={"Authorization": "Bearer wrong"}).status_code == 403


def test_web_refused_without_password(tmp_path: Path) -> None:
    config = tmp_path / "web.yaml"
    config.write_text("web: {enabled: true, host: 0.0.0.0}\n")
    r = subprocess.run([SIDECAR, "check", "--config", str(config)], capture_output=True, text=True)
    assert r.returncode == 2 and "mitmweb needs a password" in r.stderr
