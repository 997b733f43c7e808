"""Legacy apps through the forward proxy: the official Stripe and Adyen SDKs, pointed at the sidecar
as their HTTPS proxy and trusting its CA, call the gateways' real host names with no secret of their
own; the sidecar injects the credentials, sends the calls through a real upstream proxy (tinyproxy)
to the sandbox over TLS, and writes everything down masked."""

from __future__ import annotations

import json
import re
import socket
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


def sandbox_ports(sidecar: SidecarProcess) -> dict[str, int]:
    """Each connector's sandbox port, from the start-up line (`sandbox https://127.0.0.1:PORT...`)."""
    starting = next(json.loads(line) for line in sidecar.stdout_path.read_text().splitlines() if '"starting"' in line)
    return {name: urlsplit(target.split()[1]).port for name, target in starting["connectors"].items()}


def refused(sidecar: SidecarProcess, reason: str) -> float:
    """The sidecar_forward_refused counter for one reason."""
    text = httpx.get(sidecar.url + "/metrics").text
    found = re.search(rf'^sidecar_forward_refused_total{{reason="{reason}"}} (\S+)$', text, re.MULTILINE)
    return float(found[1]) if found else 0.0


def open_tunnel(sidecar: SidecarProcess, address: str) -> tuple[socket.socket, bytes]:
    """A CONNECT to `address` through the forward proxy: the socket and the proxy's status line."""
    sock = socket.create_connection(("127.0.0.1", sidecar.forward_port), timeout=10)
    sock.sendall(f"CONNECT {address} HTTP/1.1\r\nHost: {address}\r\n\r\n".encode())
    head = b""
    for _ in range(100):
        if b"\r\n\r\n" in head:
            break
        head += sock.recv(4096)
    return sock, head.split(b"\r\n", 1)[0]


def read_until_closed(sock: socket.socket) -> bytes:
    """What the peer sends before it closes the connection (a read timeout fails the test)."""
    received = b""
    for _ in range(100):
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLEOFError, ConnectionResetError):
            chunk = b""
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the connection is still open after {len(received)} bytes")


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
    tunnels = {int(r.split()[1].rsplit(":", 1)[1]) for r in upstream.requests() if r.startswith("CONNECT ")}
    assert set(sandbox_ports(sidecar).values()) <= tunnels, upstream.requests()


def test_only_the_gateways_https_addresses_are_opened(sidecar) -> None:
    ports = sandbox_ports(sidecar)
    web_port = yaml.safe_load(sidecar.config_path.read_text())["web"]["port"]
    before = refused(sidecar, "destination")
    for address in (
        "example.com:443",
        "api.stripe.com:22",  # a gateway's host, another port
        "api.stripe.com:80",
        f"127.0.0.1:{web_port}",  # mitmweb, on the sandbox's host
        f"127.0.0.1:{sidecar.port}",  # the canonical listener
        "acme-pal-live.adyenpayments.com:443",  # Adyen's, but not its Checkout API
    ):
        sock, status = open_tunnel(sidecar, address)
        sock.close()
        assert status.startswith(b"HTTP/1.1 403"), address
    for address in (
        "api.stripe.com:443",
        "checkout-test.adyen.com:443",
        "acme-checkout-live.adyenpayments.com:443",
        f"127.0.0.1:{ports['adyen']}",
    ):
        sock, status = open_tunnel(sidecar, address)
        sock.close()
        assert status.startswith(b"HTTP/1.1 200"), address
    with httpx.Client(proxy=sidecar.proxy_url) as c:
        for url in (
            "http://example.org/anything",
            "http://api.stripe.com/v1/payment_intents",  # plain HTTP: port 80 is not the gateway's
            f"http://127.0.0.1:{ports['stripe']}/v1/payment_intents",  # the sandbox's port, but not HTTPS
        ):
            r = c.get(url)
            assert r.status_code == 403 and r.json()["error"]["type"] == "forbidden", url
    assert refused(sidecar, "destination") == before + 9


def test_two_sandboxes_on_one_host_are_told_apart_by_port(sidecar) -> None:
    ports = sandbox_ports(sidecar)
    trust = ssl.create_default_context(cafile=sidecar.ca_file)
    with httpx.Client(proxy=sidecar.proxy_url, verify=trust) as c:
        r = c.post(
            f"https://127.0.0.1:{ports['adyen']}/v71/payments",
            headers={"X-Request-Id": "to-the-adyen-sandbox-port"},
            json={
                "amount": {"value": 700, "currency": "EUR"},
                "reference": "by-port",
                "merchantAccount": "SidecarSandboxECOM",
                "returnUrl": "https://shop.example/return",
                "paymentMethod": {
                    "type": "scheme",
                    "number": PANS[1],
                    "expiryMonth": "03",
                    "expiryYear": "2030",
                    "cvc": "737",
                    "holderName": "J Smith",
                },
            },
        )
        assert r.status_code == 200 and r.json()["resultCode"] == "Authorised"  # Adyen's key was accepted
        r = c.post(
            f"https://127.0.0.1:{ports['stripe']}/v1/payment_intents",
            headers={"X-Request-Id": "to-the-stripe-sandbox-port"},
            data={"amount": "700", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"},
        )
        assert r.status_code == 200 and r.json()["status"] == "succeeded"  # Stripe's key was accepted
    calls = {
        line["request_id"]: line
        for line in map(json.loads, sidecar.stdout_path.read_text().splitlines())
        if line["event"] == "connector call" and line["request_id"].endswith("-sandbox-port")
    }
    adyen, stripe = calls["to-the-adyen-sandbox-port"], calls["to-the-stripe-sandbox-port"]
    assert adyen["connector"] == "adyen" and adyen["url"] == f"https://127.0.0.1:{ports['adyen']}/v71/payments"
    assert adyen["request_headers"]["X-API-Key"] == "***" and "Authorization" not in adyen["request_headers"]
    assert (
        stripe["connector"] == "stripe" and stripe["url"] == f"https://127.0.0.1:{ports['stripe']}/v1/payment_intents"
    )
    assert stripe["request_headers"]["Authorization"] == "***" and "X-API-Key" not in stripe["request_headers"]


def test_tunnel_carrying_anything_but_tls_with_http_inside_is_closed(sidecar) -> None:
    before = {reason: refused(sidecar, reason) for reason in ("not_tls", "not_http")}
    raw, _ = open_tunnel(sidecar, "api.stripe.com:443")
    raw.sendall(b"\x00\x01 neither TLS nor HTTP\r\n")
    assert read_until_closed(raw) == b""
    plain, _ = open_tunnel(sidecar, "api.stripe.com:443")
    plain.sendall(b"GET /v1/payment_intents HTTP/1.1\r\nHost: api.stripe.com\r\n\r\n")
    assert read_until_closed(plain) == b""
    trust = ssl.create_default_context(cafile=sidecar.ca_file)
    tls = trust.wrap_socket(open_tunnel(sidecar, "api.stripe.com:443")[0], server_hostname="api.stripe.com")
    tls.sendall(b"\x00\x01 TLS, but no HTTP in it\r\n")
    assert read_until_closed(tls) == b""
    assert refused(sidecar, "not_tls") == before["not_tls"] + 2
    assert refused(sidecar, "not_http") == before["not_http"] + 1
    logged = [
        json.loads(line) for line in sidecar.stdout_path.read_text().splitlines() if "closed a connection" in line
    ]
    assert {(line["reason"], line["host"], line["port"]) for line in logged} == {
        ("not_tls", "api.stripe.com", 443),
        ("not_http", "api.stripe.com", 443),
    }


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
    # Plain HTTP works only to the address of a base URL that is plain HTTP itself.
    assert client.get(f"{fake.url}/v1/payment_intents/pi_1").status_code == 200
    assert client.get("http://api.stripe.com/v1/payment_intents/pi_1").status_code == 403


def test_forwarded_call_to_a_down_gateway_gets_the_api_error(keeping) -> None:
    client, _ = keeping
    r = client.post("https://checkout-test.adyen.com/v71/payments", json={"amount": {"value": 1, "currency": "EUR"}})
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "gateway_unreachable" and r.json()["error"]["outcome"] == "not_sent"


@pytest.fixture(scope="module")
def live_like(tmp_path_factory):
    """Both connectors on plain-HTTP local gateways, Adyen's with the live base URL's /checkout prefix,
    and one more local server that is Stripe's extra host."""
    stripe_gw, adyen_gw, extra = FakeGateway(), FakeGateway(), FakeGateway()
    config = {
        "connectors": {
            "stripe": {
                "base_url": stripe_gw.url,
                "accounts": {"default": {"api_key": "sk_test_stripeonly"}},
                "forward": {"inject_credentials": True, "extra_hosts": [f"127.0.0.1:{extra.port}"]},
            },
            "adyen": {
                "base_url": adyen_gw.url + "/checkout/v71",
                "accounts": {"default": {"api_key": "adyen_key_only", "merchant_account": "M"}},
                "forward": {"inject_credentials": True},
            },
        }
    }
    tmp = tmp_path_factory.mktemp("live-like")
    proc = SidecarProcess(tmp, config).start()
    proc.ca_file = tmp / "ca.pem"
    proc.ca_file.write_bytes(
        subprocess.run([SIDECAR, "ca", "--config", str(proc.config_path)], capture_output=True, check=True).stdout
    )
    client = httpx.Client(proxy=proc.proxy_url, verify=ssl.create_default_context(cafile=proc.ca_file), timeout=20)
    yield proc, client, stripe_gw, adyen_gw, extra
    client.close()
    for gateway in (stripe_gw, adyen_gw, extra):
        gateway.close()
    assert proc.stop() == 0


def test_public_paths_are_mapped_onto_the_base_urls_prefix_once(live_like) -> None:
    _, client, _, adyen_gw, _ = live_like
    for url, path in (
        ("https://checkout-test.adyen.com/v71/payments", "/checkout/v71/payments"),
        ("https://checkout-test.adyen.com/v70/payments/P1/refunds?x=1", "/checkout/v70/payments/P1/refunds?x=1"),
        ("https://acme-checkout-live.adyenpayments.com/checkout/v71/payments", "/checkout/v71/payments"),
        (f"{adyen_gw.url}/checkout/v71/payments", "/checkout/v71/payments"),  # the base URL's own address
    ):
        assert client.post(url, json={}).status_code == 200, url
        assert adyen_gw.last_path == path, url
        assert adyen_gw.last_headers["X-API-Key"] == "adyen_key_only" and "Authorization" not in adyen_gw.last_headers


def test_calls_to_two_gateways_on_one_host_reach_each_with_its_own_key(live_like) -> None:
    _, client, stripe_gw, adyen_gw, _ = live_like
    stripe_hits, adyen_hits = stripe_gw.hits, adyen_gw.hits
    assert client.get(f"{adyen_gw.url}/checkout/v71/paymentMethods").status_code == 200
    assert adyen_gw.hits == adyen_hits + 1 and stripe_gw.hits == stripe_hits
    assert adyen_gw.last_headers["X-API-Key"] == "adyen_key_only" and "Authorization" not in adyen_gw.last_headers
    assert client.get(f"{stripe_gw.url}/v1/refunds/re_1").status_code == 200
    assert stripe_gw.hits == stripe_hits + 1 and adyen_gw.hits == adyen_hits + 1
    assert stripe_gw.last_headers["Authorization"] == "Bearer sk_test_stripeonly"
    assert "X-API-Key" not in stripe_gw.last_headers


def test_nothing_but_intercepted_tls_is_relayed_to_an_allowed_address(live_like) -> None:
    proc, client, stripe_gw, _, extra = live_like
    address = f"127.0.0.1:{extra.port}"  # Stripe's extra host: HTTPS only
    sock, status = open_tunnel(proc, f"127.0.0.1:{stripe_gw.port}")  # a plain-HTTP base URL: no tunnel
    sock.close()
    assert status.startswith(b"HTTP/1.1 403")
    assert client.get(f"http://{address}/v1/files").status_code == 403
    for payload in (b"\x00\x01 neither TLS nor HTTP\r\n", b"GET /v1/files HTTP/1.1\r\nHost: x\r\n\r\n"):
        sock, status = open_tunnel(proc, address)
        assert status.startswith(b"HTTP/1.1 200")
        sock.sendall(payload)
        assert read_until_closed(sock) == b""
    assert extra.connections == 0  # nothing was opened to it
    # HTTPS in the tunnel is the one thing that goes out (and fails: the server does not speak TLS).
    r = client.get(f"https://{address}/v1/files")
    assert r.status_code == 502 and extra.connections == 1


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
