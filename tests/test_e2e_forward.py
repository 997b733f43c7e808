"""Legacy apps through the forward proxy: the official Stripe and Adyen SDKs, pointed at the sidecar
as their HTTPS proxy and trusting its CA, call the gateways' real host names with no secret of their
own; the sidecar injects the credentials, sends the calls through a real upstream proxy (tinyproxy)
to the sandbox over TLS, and writes everything down masked."""

from __future__ import annotations

import json
import ssl
import subprocess
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from detector import Detector, gateway_ids
from harness import SIDECAR, FakeGateway, SidecarProcess, Tinyproxy, free_port

WEB_PASSWORD = "forward-web-pass"
APP_PLACEHOLDER_KEY = "sk_test_appholdsnosecret"  # the SDK insists on some key; the sidecar replaces it
PANS = ("4242424242424242", "4111111111111111")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    tp = Tinyproxy(tmp_path_factory.mktemp("egress")).start()
    yield tp
    tp.stop()


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory, upstream):
    tmp = tmp_path_factory.mktemp("forward")
    egress = {"https": upstream.url, "http": upstream.url}
    config = {
        "web": {"enabled": True, "password": WEB_PASSWORD, "port": free_port()},
        "save_flows": str(tmp / "flows.mitm"),
        "connectors": {"stripe": {"sandbox": True, "proxy": egress}, "adyen": {"sandbox": True, "proxy": egress}},
    }
    proc = SidecarProcess(tmp, config).start()
    proc.ca_file = tmp / "sidecar-ca.pem"
    proc.ca_file.write_bytes(
        subprocess.run([SIDECAR, "ca", "--config", str(proc.config_path)], capture_output=True, check=True).stdout
    )
    proc.flows_file = tmp / "flows.mitm"
    yield proc
    assert proc.stop() == 0


@pytest.fixture
def stripe_sdk(sidecar):
    import stripe

    saved = (
        stripe.api_key,
        stripe.proxy,
        stripe.ca_bundle_path,
        stripe.default_http_client,
        stripe.max_network_retries,
    )
    stripe.api_key = APP_PLACEHOLDER_KEY
    stripe.proxy = sidecar.proxy_url
    stripe.ca_bundle_path = str(sidecar.ca_file)
    stripe.default_http_client = None  # built anew from the settings above
    stripe.max_network_retries = 0
    yield stripe
    stripe.api_key, stripe.proxy, stripe.ca_bundle_path, stripe.default_http_client, stripe.max_network_retries = saved


def test_stripe_sdk_create_capture_cancel_refund(stripe_sdk) -> None:
    stripe = stripe_sdk
    assert stripe.api_base == "https://api.stripe.com"  # the real host name; the sidecar routes it to the sandbox
    method = stripe.PaymentMethod.create(
        type="card", card={"number": PANS[0], "exp_month": 12, "exp_year": 2031, "cvc": "314"}
    )
    intent = stripe.PaymentIntent.create(
        amount=2000,
        currency="usd",
        payment_method=method.id,
        confirm=True,
        capture_method="manual",
        payment_method_types=["card"],
    )
    assert intent.status == "requires_capture"
    captured = stripe.PaymentIntent.capture(intent.id, amount_to_capture=1500)
    assert captured.status == "succeeded" and captured.amount_received == 1500
    refund = stripe.Refund.create(payment_intent=intent.id, amount=500)
    assert refund.status == "succeeded" and refund.amount == 500
    other = stripe.PaymentIntent.create(
        amount=900,
        currency="usd",
        payment_method="pm_card_visa",
        confirm=True,
        capture_method="manual",
        payment_method_types=["card"],
    )
    assert stripe.PaymentIntent.cancel(other.id).status == "canceled"
    with pytest.raises(stripe.CardError) as declined:
        stripe.PaymentIntent.create(
            amount=900,
            currency="usd",
            payment_method="pm_card_chargeDeclined",
            confirm=True,
            payment_method_types=["card"],
        )
    assert declined.value.code == "card_declined"


def test_adyen_library_payments_captures_cancels_refunds(sidecar, monkeypatch) -> None:
    import Adyen

    monkeypatch.setenv("HTTPS_PROXY", sidecar.proxy_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sidecar.ca_file))
    adyen = Adyen.Adyen()
    adyen.client.xapikey = "app-holds-no-adyen-key"
    adyen.client.platform = "test"
    adyen.client.http_force = "requests"
    adyen.client.api_checkout_version = 71  # the Checkout version the sidecar and its sandbox speak
    merchant = "SidecarSandboxECOM"

    def pay(holder: str = "J Smith") -> dict:
        return adyen.checkout.payments_api.payments(
            request={
                "amount": {"value": 1500, "currency": "EUR"},
                "reference": "legacy-1",
                "merchantAccount": merchant,
                "returnUrl": "https://shop.example/return",
                "additionalData": {"manualCapture": "true"},
                "paymentMethod": {
                    "type": "scheme",
                    "number": PANS[1],
                    "expiryMonth": "03",
                    "expiryYear": "2030",
                    "cvc": "737",
                    "holderName": holder,
                },
            }
        ).message

    payment = pay()
    assert payment["resultCode"] == "Authorised"
    psp = payment["pspReference"]
    amount = {"value": 1500, "currency": "EUR"}
    mods = adyen.checkout.modifications_api
    capture = mods.capture_authorised_payment(
        request={"merchantAccount": merchant, "amount": amount}, paymentPspReference=psp
    ).message
    assert capture["status"] == "received" and capture["paymentPspReference"] == psp
    refund = mods.refund_captured_payment(
        request={"merchantAccount": merchant, "amount": amount}, paymentPspReference=psp
    ).message
    assert refund["status"] == "received"
    other = pay()["pspReference"]
    cancel = mods.cancel_authorised_payment_by_psp_reference(
        request={"merchantAccount": merchant}, paymentPspReference=other
    ).message
    assert cancel["status"] == "received"
    assert pay(holder="DECLINED")["resultCode"] == "Refused"


def test_calls_went_through_the_upstream_proxy(sidecar, upstream, stripe_sdk) -> None:
    stripe_sdk.PaymentIntent.create(
        amount=700, currency="usd", payment_method="pm_card_visa", confirm=True, payment_method_types=["card"]
    )
    starting = next(json.loads(line) for line in sidecar.stdout_path.read_text().splitlines() if '"starting"' in line)
    sandbox_ports = {urlsplit(target.split()[1]).port for target in starting["connectors"].values()}
    tunnels = {int(r.split()[1].rsplit(":", 1)[1]) for r in upstream.requests() if r.startswith("CONNECT ")}
    assert sandbox_ports <= tunnels, (sandbox_ports, upstream.requests())


def test_host_not_on_the_allowlist_is_refused(sidecar) -> None:
    with httpx.Client(proxy=sidecar.proxy_url, verify=ssl.create_default_context(cafile=sidecar.ca_file)) as c:
        with pytest.raises(httpx.ProxyError, match="403"):
            c.get("https://example.com/")  # the CONNECT itself is refused
        r = c.get("http://example.org/anything")
        assert r.status_code == 403 and r.json()["error"]["type"] == "forbidden"


def test_client_that_does_not_trust_the_ca_fails_the_handshake(sidecar) -> None:
    with httpx.Client(proxy=sidecar.proxy_url) as c:  # system CAs only
        with pytest.raises(httpx.ConnectError) as e:
            c.get("https://api.stripe.com/v1/payment_intents/pi_x")
    assert isinstance(e.value.__context__ or e.value.__cause__, ssl.SSLCertVerificationError) or "CERTIFICATE" in str(
        e.value
    )


def test_ca_is_the_sidecars_own_with_a_private_key_file(sidecar) -> None:
    pem = sidecar.ca_file.read_text()
    assert pem.startswith("-----BEGIN CERTIFICATE-----") and "PRIVATE KEY" not in pem
    key_file = sidecar.ca_dir / "mitmproxy-ca.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (
        subprocess.run([SIDECAR, "ca", "--config", str(sidecar.config_path)], capture_output=True).stdout
        == pem.encode()
    )


def test_forwarded_calls_are_logged_and_kept_masked(sidecar, stripe_sdk) -> None:
    stripe_sdk.PaymentMethod.create(
        type="card", card={"number": PANS[0], "exp_month": 1, "exp_year": 2032, "cvc": "828"}
    )
    lines = [json.loads(line) for line in sidecar.stdout_path.read_text().splitlines() if '"connector call"' in line]
    forwarded = [line for line in lines if line["operation"] == "forward"]
    assert {line["connector"] for line in forwarded} == {"stripe", "adyen"}
    stripe_lines = [line for line in forwarded if line["connector"] == "stripe"]
    assert all(line["request_headers"].get("Authorization") == "***" for line in stripe_lines)
    assert any("424242******4242" in line["request_body"] for line in stripe_lines)
    assert all(line["account"] == "default" for line in forwarded)  # injected from the configured account

    detector = Detector(
        secrets=["sk_test_sandbox", "sandbox_api_key", APP_PLACEHOLDER_KEY, "app-holds-no-adyen-key"],
        cvcs=["314", "737", "828"],
        allowed=gateway_ids(sidecar.stdout_path.read_text()),
    )
    assert not detector.allowed & set(PANS)
    detector.scan("stdout", sidecar.stdout_path.read_text())
    detector.scan("stderr", sidecar.stderr_path.read_text())
    detector.scan("saved flows", sidecar.flows_file.read_bytes())
    web = f"http://127.0.0.1:{yaml.safe_load(sidecar.config_path.read_text())['web']['port']}"
    auth = {"Authorization": f"Bearer {WEB_PASSWORD}"}
    flows = httpx.get(web + "/flows", headers=auth).json()
    assert any(f["request"]["host"] == "api.stripe.com" for f in flows)  # the app's own call, as it made it
    detector.scan("/flows/dump", httpx.get(web + "/flows/dump", headers=auth).content)
    for f in flows:
        for part in ("request", "response"):
            if f.get(part):
                detector.scan(
                    f"{f['id']} {part}", httpx.get(f"{web}/flows/{f['id']}/{part}/content.data", headers=auth).content
                )
    assert detector.findings == [], "\n".join(map(str, detector.findings))


@pytest.fixture(scope="module")
def keeping(tmp_path_factory):
    """stripe: injects its account's key but keeps a key the app sends; adyen: its gateway is down."""
    fake = FakeGateway()
    fake.answer(200, b'{"id": "pi_1", "object": "payment_intent"}')
    config = {
        "connectors": {
            "stripe": {
                "base_url": fake.url,
                "accounts": {"default": {"api_key": "sk_test_injectedkey1"}},
                "forward": {"inject_credentials": True, "app_credentials": "keep"},
            },
            "adyen": {
                "base_url": f"http://127.0.0.1:{free_port()}/v71",
                "accounts": {"default": {"api_key": "adyen_key_x", "merchant_account": "M"}},
            },
        }
    }
    tmp = tmp_path_factory.mktemp("keeping")
    proc = SidecarProcess(tmp, config).start()
    ca_file = tmp / "ca.pem"
    ca_file.write_bytes(
        subprocess.run([SIDECAR, "ca", "--config", str(proc.config_path)], capture_output=True, check=True).stdout
    )
    client = httpx.Client(proxy=proc.proxy_url, verify=ssl.create_default_context(cafile=ca_file), timeout=20)
    yield client, fake
    client.close()
    fake.close()
    assert proc.stop() == 0


def test_injection_keeps_the_apps_key_when_configured_to(keeping) -> None:
    client, fake = keeping
    assert client.get("https://api.stripe.com/v1/payment_intents/pi_1").status_code == 200
    assert fake.last_headers["Authorization"] == "Bearer sk_test_injectedkey1"  # none sent: injected
    r = client.get("https://api.stripe.com/v1/payment_intents/pi_1", headers={"Authorization": "Bearer sk_test_apps"})
    assert r.status_code == 200 and fake.last_headers["Authorization"] == "Bearer sk_test_apps"  # kept
    # Plain HTTP to the gateway's host works too; the call still leaves as the connector sends.
    assert client.get("http://api.stripe.com/v1/payment_intents/pi_1").status_code == 200


def test_forwarded_call_to_a_down_gateway_gets_the_api_error(keeping) -> None:
    client, _ = keeping
    r = client.post("https://checkout-test.adyen.com/v71/payments", json={"amount": {"value": 1, "currency": "EUR"}})
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "gateway_unreachable" and r.json()["error"]["outcome"] == "not_sent"


def test_ca_loaded_from_mounted_files(tmp_path) -> None:
    from cryptography.hazmat.primitives import serialization
    from mitmproxy.certs import create_ca

    key, cert = create_ca(organization="Mounted", cn="Mounted secret CA", key_size=2048)
    (tmp_path / "tls.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (tmp_path / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    config = {
        "forward_proxy": {
            "port": free_port(),
            "ca": {"cert": str(tmp_path / "tls.crt"), "key": str(tmp_path / "tls.key")},
        }
    }
    proc = SidecarProcess(tmp_path, config).start()
    try:
        printed = subprocess.run([SIDECAR, "ca", "--config", str(proc.config_path)], capture_output=True, check=True)
        assert printed.stdout == (tmp_path / "tls.crt").read_bytes()
        proxy = f"http://127.0.0.1:{config['forward_proxy']['port']}"
        trust = ssl.create_default_context(cafile=tmp_path / "tls.crt")
        with httpx.Client(proxy=proxy, verify=trust) as c:
            r = c.post(
                "https://api.stripe.com/v1/payment_intents",
                data={
                    "amount": "500",
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                    "confirm": "true",
                    "payment_method_types[]": "card",
                },
            )
        assert r.status_code == 200 and r.json()["status"] == "succeeded"
    finally:
        assert proc.stop() == 0
