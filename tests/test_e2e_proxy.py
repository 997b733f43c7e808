"""Every operation on both connectors through a real upstream proxy (tinyproxy, with Basic auth),
proven from the proxy's own access log; a bypassed host never appears there."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from calls import VISA, payment, post
from harness import SIDECAR, SidecarProcess, Tinyproxy, free_port, wait_until

ADYEN_CARD = {"number": "4111111111111111", "exp_month": 3, "exp_year": 2030, "cvc": "737"}


@pytest.fixture(scope="module")
def sandbox_gateways(tmp_path_factory):
    """The sandbox as its own process (`sidecar sandbox`), reached like a remote gateway."""
    stripe_port, adyen_port = free_port(), free_port()
    out = tmp_path_factory.mktemp("gateways") / "sandbox.out"
    with open(out, "wb") as f:
        proc = subprocess.Popen(
            [SIDECAR, "sandbox", "--stripe-port", str(stripe_port), "--adyen-port", str(adyen_port)],
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    wait_until(lambda: "stripe_url" in out.read_text(), 15, "sandbox")
    yield stripe_port, adyen_port
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    tp = Tinyproxy(tmp_path_factory.mktemp("tinyproxy"), auth=("egress", "pr0xy-pass")).start()
    yield tp
    tp.stop()


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory, sandbox_gateways, proxy):
    stripe_port, adyen_port = sandbox_gateways
    via_proxy = {"http": proxy.url, "https": proxy.url, "username": "egress", "password": "env:TEST_PROXY_PASSWORD"}
    config = {
        "allow_request_credentials": True,
        "connectors": {
            "stripe": {
                "base_url": f"http://127.0.0.1:{stripe_port}",
                "proxy": via_proxy,
                "accounts": {"default": {"api_key": "env:TEST_STRIPE_KEY"}},
            },
            # Same proxy settings, but this gateway's host name is on the bypass list: it goes direct.
            "adyen": {
                "base_url": f"http://localhost:{adyen_port}/v71",
                "proxy": {**via_proxy, "bypass": ["localhost"]},
                "accounts": {
                    "default": {
                        "api_key": "sandbox_api_key",
                        "merchant_account": "SidecarSandboxECOM",
                        "return_url": "https://shop.example/return",
                    }
                },
            },
        },
    }
    env = {"TEST_PROXY_PASSWORD": "pr0xy-pass", "TEST_STRIPE_KEY": "sk_test_sandbox"}
    proc = SidecarProcess(tmp_path_factory.mktemp("proxied"), config, env).start()
    yield proc
    assert proc.stop() == 0


def test_stripe_every_operation_goes_through_the_proxy(sidecar, proxy, sandbox_gateways) -> None:
    stripe_port, _ = sandbox_gateways
    with sidecar.client() as c:
        p = post(c, "stripe", "/v1/payments", payment(VISA)).json()
        assert p["status"] == "authorized", p
        assert post(c, "stripe", f"/v1/payments/{p['id']}/capture").json()["status"] == "charged"
        refund = post(
            c, "stripe", f"/v1/payments/{p['id']}/refunds", {"amount": {"minor": 100, "currency": "USD"}}
        ).json()
        assert refund["status"] == "succeeded"
        assert c.get(f"/v1/payments/{p['id']}", headers={"X-Connector": "stripe"}).json()["refunded"]["minor"] == 100
        assert c.get(f"/v1/refunds/{refund['id']}", headers={"X-Connector": "stripe"}).json()["status"] == "succeeded"
        voided = post(c, "stripe", "/v1/payments", payment(VISA)).json()
        assert post(c, "stripe", f"/v1/payments/{voided['id']}/void").json()["status"] == "voided"

    base = f"http://127.0.0.1:{stripe_port}"
    seen = proxy.requests()
    expected = [
        f"POST {base}/v1/payment_methods",
        f"POST {base}/v1/payment_intents",
        f"POST {base}/v1/payment_intents/{p['id']}/capture",
        f"POST {base}/v1/refunds",
        f"GET {base}/v1/payment_intents/{p['id']}?expand%5B%5D=latest_charge",
        f"GET {base}/v1/refunds/{refund['id']}",
        f"POST {base}/v1/payment_intents/{voided['id']}/cancel",
    ]
    for line in expected:
        assert any(s.startswith(line + " ") for s in seen), (line, seen)


def test_bypassed_host_never_reaches_the_proxy(sidecar, proxy, sandbox_gateways) -> None:
    _, adyen_port = sandbox_gateways
    with sidecar.client() as c:
        p = post(c, "adyen", "/v1/payments", payment(ADYEN_CARD, currency="EUR")).json()
        assert p["status"] == "authorized", p
        amount = {"minor": 1000, "currency": "EUR"}
        assert (
            post(c, "adyen", f"/v1/payments/{p['id']}/capture", {"amount": amount}).json()["status"]
            == "capture_initiated"
        )
        assert post(c, "adyen", f"/v1/payments/{p['id']}/refunds", {"amount": amount}).json()["status"] == "pending"
        other = post(c, "adyen", "/v1/payments", payment(ADYEN_CARD)).json()
        assert post(c, "adyen", f"/v1/payments/{other['id']}/void").json()["status"] == "void_initiated"
    assert not [s for s in proxy.requests() if "localhost" in s or f":{adyen_port}" in s]
    # ... and the sidecar did make those calls (its own log says so), just not through the proxy.
    calls = [
        json.loads(line)
        for line in sidecar.stdout_path.read_text().splitlines()
        if line.startswith("{") and '"connector call"' in line
    ]
    assert sum(1 for c in calls if c["connector"] == "adyen" and c.get("status_code") in (200, 201)) >= 5


def test_per_request_credentials_when_allowed(sidecar) -> None:
    with sidecar.client() as c:
        ok = post(c, "stripe", "/v1/payments", payment(VISA), **{"X-Connector-Auth": '{"api_key": "sk_test_sandbox"}'})
        assert ok.status_code == 200 and ok.json()["status"] == "authorized"
        wrong = post(
            c, "stripe", "/v1/payments", payment(VISA), **{"X-Connector-Auth": '{"api_key": "sk_test_wrong1"}'}
        )
        assert wrong.status_code == 502 and wrong.json()["error"]["type"] == "gateway_authentication"
        bad = post(c, "stripe", "/v1/payments", payment(VISA), **{"X-Connector-Auth": '{"key": "sk_test_wrong2"}'})
        assert bad.status_code == 400
        assert {d["path"] for d in bad.json()["error"]["details"]} == {
            "X-Connector-Auth.api_key",
            "X-Connector-Auth.key",
        }
        assert "sk_test_wrong" not in wrong.text + bad.text


def test_proxy_password_and_keys_are_not_logged(sidecar) -> None:
    out = sidecar.output()
    for secret in (
        "pr0xy-pass",
        "sk_test_sandbox",
        "sk_test_wrong",
        "sandbox_api_key",
        "4242424242424242",
        "4111111111111111",
    ):
        assert secret not in out


def test_config_check_reports_every_bad_field_without_secrets(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "listen: {port: 99999}\n"
        "connectors:\n"
        "  stripe:\n"
        "    accounts: {default: {api_key: sk_live_verysecretvalue123}}\n"
        "    timeouts: {connect: 10, total: 2}\n"
        "    proxy: {http: 'ftp://nope'}\n"
    )
    r = subprocess.run([SIDECAR, "check", "--config", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "listen.port" in r.stderr and "connectors.stripe.timeouts" in r.stderr
    assert "connectors.stripe.proxy.http" in r.stderr
    assert "sk_live_verysecretvalue123" not in r.stdout + r.stderr

    creds = tmp_path / "creds.yaml"
    creds.write_text(
        "connectors:\n  stripe:\n    accounts: {default: {api_key: 'env:NOT_SET_ANYWHERE'}}\n"
        "  adyen:\n    accounts: {default: {api_key: 'hunter2-adyen'}}\n  worldpay: {}\n"
    )
    r = subprocess.run([SIDECAR, "check", "--config", str(creds)], capture_output=True, text=True)
    assert r.returncode == 2
    assert "connectors.stripe.accounts.default.api_key: environment variable NOT_SET_ANYWHERE is not set" in r.stderr
    assert "connectors.adyen.accounts.default.merchant_account" in r.stderr
    assert "connectors.worldpay: no such connector" in r.stderr
    assert "hunter2-adyen" not in r.stdout + r.stderr

    good = tmp_path / "good.yaml"
    good.write_text("connectors:\n  stripe:\n    accounts: {default: {api_key: 'file:%s'}}\n" % (tmp_path / "key"))
    (tmp_path / "key").write_text("sk_test_fromfile\n")
    r = subprocess.run([SIDECAR, "check", "--config", str(good)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "is valid" in r.stdout and "sk_test_fromfile" not in r.stdout
