"""Webhooks through the real `sidecar run`: gateways' webhooks signed by the gateways' own libraries on
the webhook listener, delivered to a real local app server signed `X-Sidecar-Signature`; forged,
unsigned and stale ones refused with nothing delivered; an app that fails or hangs gives the gateway
503; rotation; batches; the listener serving nothing else; metrics; nothing written down unmasked."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from calls import VISA, payment
from detector import Detector
from harness import SIDECAR, FakeGateway, SidecarProcess, free_port
from mitmproxy import io
from webhook_parts import (
    ADYEN_KEY,
    ADYEN_NEW_KEY,
    STRIPE_NEW_SECRET,
    STRIPE_SECRET,
    Clock,
    adyen_body,
    adyen_ids,
    adyen_item,
    adyen_signed,
    engine,
    intent,
    stripe_event,
    stripe_signed,
)

from connectors.kit.sandbox import Call, Capture, CaptureMode, CardInput, CreatePayment, SandboxPolicy
from sidecar.config import Settings
from sidecar.sandbox import ADYEN_SANDBOX_MERCHANT
from sidecar.sandbox.webhooks import STRIPE_SANDBOX_WEBHOOK_SECRET, WebhookSender, adyen_render, listener_url

STRIPE_EU_SECRET = "whsec_testEu22222222222222222222222"
ADYEN_GUARDED_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
BASIC = ("adyen-hook", "basic-pass-9zq")
SIGNING = ["sidecar-signing-one-0001", "sidecar-signing-two-0002"]
API_KEYS = [
    "sk_test_webhooksKey0001",
    "sk_test_webhooksEu0002",
    "AQE_testWebhooksKey0003xyzabc",
    "AQE_testGuarded0004xyzabc",
]
CARD = "4242424242424242"
CARD_ADYEN = {"number": "4111111111111111", "exp_month": 3, "exp_year": 2031, "cvc": "737"}
EUR_10 = {"amount": {"minor": 1000, "currency": "EUR"}}
USD_3 = {"amount": {"minor": 300, "currency": "USD"}}


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("webhooks")
    app = FakeGateway()
    port = free_port()
    adyen = {"merchant_account": "SidecarTestECOM"}
    proc = SidecarProcess(
        tmp,
        {
            "save_flows": str(tmp / "webhooks.flows"),
            "webhooks": {
                "listen": {"host": "127.0.0.1", "port": port},
                "deliver_to": app.url + "/payments/events",
                "deliver_timeout": 1,
                "signing_secret": SIGNING,
            },
            "connectors": {
                "stripe": {
                    "accounts": {
                        "default": {"api_key": API_KEYS[0], "webhook_secret": [STRIPE_SECRET, STRIPE_NEW_SECRET]},
                        "eu": {"api_key": API_KEYS[1], "webhook_secret": STRIPE_EU_SECRET},
                    }
                },
                "adyen": {
                    "accounts": {
                        "default": {"api_key": API_KEYS[2], **adyen, "hmac_key": [ADYEN_KEY, ADYEN_NEW_KEY]},
                        "guarded": {
                            "api_key": API_KEYS[3],
                            **adyen,
                            "hmac_key": ADYEN_GUARDED_KEY,
                            "webhook_username": BASIC[0],
                            "webhook_password": BASIC[1],
                        },
                    }
                },
            },
        },
    ).start()
    yield {"proc": proc, "app": app, "hooks": f"http://127.0.0.1:{port}", "tmp": tmp, "sent": []}
    app.release.set()
    assert proc.stop() == 0, proc.output()[-3000:]
    assert proc.error_lines() == []
    app.close()


@pytest.fixture
def app(parts) -> FakeGateway:
    parts["app"].answer(200, b"{}")
    return parts["app"]


def post(parts: dict, path: str, body: bytes, headers: dict[str, str], base: str | None = None) -> httpx.Response:
    parts["sent"].append(headers)
    return httpx.post((base or parts["hooks"]) + path, content=body, headers=headers, timeout=30)


def stripe_post(parts: dict, event: dict, secret: str = STRIPE_SECRET, path: str = "/v1/webhooks/stripe", **kw: Any):
    body, header = stripe_signed(event, secret, kw.pop("timestamp", None))
    return post(parts, path, body, {"Stripe-Signature": header, "Content-Type": "application/json"}, **kw)


def delivered(app: FakeGateway, since: int) -> list[dict[str, Any]]:
    return [json.loads(body) for _, body in app.received[since:]]


def test_a_signed_stripe_event_is_delivered_signed_and_acknowledged(parts, app) -> None:
    before = len(app.received)
    r = stripe_post(parts, stripe_event("payment_intent.succeeded", intent(), "evt_1Delivered"))
    assert (r.status_code, r.json()) == (200, {"received": True})
    [(headers, body)] = app.received[before:]
    event = json.loads(body)
    assert {
        k: event[k] for k in ("connector", "account", "verified", "type", "object", "id", "event_id", "status")
    } == {
        "connector": "stripe",
        "account": "default",
        "verified": True,
        "type": "payment.succeeded",
        "object": "payment",
        "id": "pi_3TestIntent",
        "event_id": "evt_1Delivered",
        "status": "charged",
    }
    assert headers["X-Request-Id"] == r.headers["X-Request-Id"]
    # Any receiver that verifies Stripe-style signatures verifies the sidecar's, with either secret.
    for secret in SIGNING:
        assert stripe.WebhookSignature.verify_header(body, headers["X-Sidecar-Signature"], secret, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(body, headers["X-Sidecar-Signature"], "not-the-secret", tolerance=300)


def test_forged_unsigned_and_stale_events_are_refused_and_nothing_is_delivered(parts, app) -> None:
    before = len(app.received)
    event = stripe_event("payment_intent.succeeded", intent())
    body, header = stripe_signed(event, timestamp=int(time.time()))
    tampered = body.replace(b'"amount": 1000', b'"amount": 99000')
    stale = stripe_signed(event, timestamp=int(time.time()) - 400)
    attempts = {
        "forged": post(parts, "/v1/webhooks/stripe", tampered, {"Stripe-Signature": header}),
        "other secret": stripe_post(parts, event, "whsec_attacker0000000000000000000"),
        "unsigned": post(parts, "/v1/webhooks/stripe", body, {}),
        "not utf-8": httpx.post(
            parts["hooks"] + "/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": b"t=1,v1=\xff\xfe"}
        ),
        "stale": post(parts, "/v1/webhooks/stripe", stale[0], {"Stripe-Signature": stale[1]}),
        "adyen forged": post(
            parts,
            "/v1/webhooks/adyen",
            adyen_body({**adyen_signed(adyen_item()), "merchantReference": "changed"}),
            {"Content-Type": "application/json"},
        ),
        "adyen unsigned": post(parts, "/v1/webhooks/adyen", adyen_body(adyen_item()), {}),
    }
    for what, r in attempts.items():
        assert r.status_code == 401, (what, r.text)
        error = r.json()["error"]
        assert error["type"] == "webhook_unverified" and header.split("v1=")[1] not in r.text, what
    assert len(app.received) == before


def test_rotated_secrets_and_accounts_named_in_the_path(parts, app) -> None:
    before = len(app.received)
    event = stripe_event("payment_intent.canceled", intent("canceled", received=0))
    assert stripe_post(parts, event, STRIPE_SECRET).status_code == 200
    assert stripe_post(parts, event, STRIPE_NEW_SECRET).status_code == 200
    assert stripe_post(parts, event, STRIPE_EU_SECRET).status_code == 200  # tried on every account
    assert stripe_post(parts, event, STRIPE_EU_SECRET, "/v1/webhooks/stripe/eu").status_code == 200
    assert stripe_post(parts, event, STRIPE_SECRET, "/v1/webhooks/stripe/eu").status_code == 401
    assert stripe_post(parts, event, STRIPE_SECRET, "/v1/webhooks/stripe/nobody").status_code == 401
    assert [e["account"] for e in delivered(app, before)] == ["default", "default", "eu", "eu"]


def test_an_adyen_batch_is_verified_whole_and_delivered_in_order(parts, app) -> None:
    before = len(app.received)
    auth = adyen_signed(adyen_item(pspReference="PAYMENTPSPREF001"))
    capture = adyen_signed(
        adyen_item("CAPTURE", originalReference="PAYMENTPSPREF001", pspReference="CAPTUREPSPREF001"), ADYEN_NEW_KEY
    )
    r = post(parts, "/v1/webhooks/adyen", adyen_body(auth, capture), {"Content-Type": "application/json"})
    assert (r.status_code, r.text) == (200, "[accepted]")
    events = delivered(app, before)
    assert [(e["type"], e["id"], e.get("operation_id")) for e in events] == [
        ("payment.authorized", "PAYMENTPSPREF001", None),
        ("payment.captured", "PAYMENTPSPREF001", "CAPTUREPSPREF001"),
    ]
    assert [e["event_id"] for e in events] == ["PAYMENTPSPREF001:AUTHORISATION:true", "CAPTUREPSPREF001:CAPTURE:true"]
    assert events[0]["payload"]["additionalData"]["hmacSignature"] == "***"
    forged = {**capture, "amount": {"currency": "EUR", "value": 1}}
    r = post(parts, "/v1/webhooks/adyen", adyen_body(auth, forged), {"Content-Type": "application/json"})
    assert r.status_code == 401 and len(app.received) == before + 2  # the good first item was not delivered


def test_adyen_basic_auth(parts, app) -> None:
    body = adyen_body(adyen_signed(adyen_item(), ADYEN_GUARDED_KEY))
    good = "Basic " + base64.b64encode(f"{BASIC[0]}:{BASIC[1]}".encode()).decode()
    wrong = "Basic " + base64.b64encode(f"{BASIC[0]}:guess".encode()).decode()
    before = len(app.received)
    assert post(parts, "/v1/webhooks/adyen", body, {"Authorization": wrong}).status_code == 401
    assert post(parts, "/v1/webhooks/adyen", body, {}).status_code == 401
    assert post(parts, "/v1/webhooks/adyen", body, {"Authorization": good}).status_code == 200
    assert [e["account"] for e in delivered(app, before)] == ["guarded"]


def test_an_app_that_fails_or_hangs_gives_the_gateway_503(parts, app) -> None:
    event = stripe_event("charge.refunded", {"object": "charge", "id": "ch_1", "payment_intent": "pi_1"})
    app.answer(500, b'{"error": "the app is down"}')
    r = stripe_post(parts, event)
    assert r.status_code == 503 and r.json()["error"]["type"] == "webhook_undelivered", r.text
    batch = adyen_body(adyen_signed(adyen_item()), adyen_signed(adyen_item("CAPTURE", originalReference="X" * 16)))
    before = len(app.received)
    r = post(parts, "/v1/webhooks/adyen", batch, {})
    assert r.status_code == 503 and r.text != "[accepted]"
    assert len(app.received) == before + 1  # stopped at the first event the app did not take
    app.hang = True
    r = stripe_post(parts, event)
    assert r.status_code == 503 and "did not answer" in r.json()["error"]["message"]


def test_the_webhook_listener_serves_only_webhooks_and_healthz(parts) -> None:
    hooks = parts["hooks"]
    assert httpx.get(hooks + "/healthz").json() == {"status": "ok"}
    for method, path in (
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("POST", "/v1/payments"),
        ("GET", "/v1/payments/pi_1"),
    ):
        r = httpx.request(method, hooks + path, json={} if method == "POST" else None)
        assert (r.status_code, r.json()["error"]["type"]) == (404, "not_found"), path
    assert httpx.get(hooks + "/v1/webhooks/stripe").status_code == 405
    unknown = httpx.post(hooks + "/v1/webhooks/paypal", content=b"{}")
    assert (unknown.status_code, unknown.json()["error"]["type"]) == (404, "unknown_connector")


def test_the_canonical_listener_serves_the_same_path(parts, app) -> None:
    before = len(app.received)
    r = stripe_post(parts, stripe_event("payment_intent.succeeded", intent()), base=parts["proc"].url)
    assert r.status_code == 200 and len(app.received) == before + 1


def test_payloads_are_delivered_masked_and_nothing_written_down_holds_card_data_or_secrets(parts, app) -> None:
    before = len(app.received)
    leaky = intent(description=f"card {CARD}", metadata={"sidecar_reference": "order-7", "note": f"pan {CARD}"})
    assert stripe_post(parts, stripe_event("payment_intent.succeeded", leaky, "evt_leaky")).status_code == 200
    item = adyen_item(additionalData={"shopperEmail": "jane@example.com", "note": f"card {CARD}"})
    assert post(parts, "/v1/webhooks/adyen", adyen_body(adyen_signed(item)), {}).status_code == 200
    bodies = [body for _, body in app.received[before:]]
    assert all(CARD.encode() not in body and b"424242******4242" in body for body in bodies)
    assert b"jane@example.com" not in bodies[1]

    proc = parts["proc"]
    proc_flows = parts["tmp"] / "webhooks.flows"
    signatures = [value.split("v1=", 1)[1] for h in parts["sent"] for value in h.values() if "v1=" in value]
    signatures += [h["X-Sidecar-Signature"].split("v1=", 1)[1] for h, _ in app.received]
    secrets = [STRIPE_SECRET, STRIPE_NEW_SECRET, STRIPE_EU_SECRET, ADYEN_KEY, ADYEN_NEW_KEY, ADYEN_GUARDED_KEY]
    detector = Detector(secrets=[*secrets, *SIGNING, BASIC[1], *API_KEYS, *signatures], cvcs=[])
    detector.scan("stdout", proc.stdout_path.read_text())
    detector.scan("stderr", proc.stderr_path.read_text())
    detector.scan("saved flows", proc_flows.read_bytes())
    assert detector.findings == [], "\n".join(map(str, detector.findings))
    assert "424242******4242" in proc.stdout_path.read_text()  # the deliveries were written down, masked

    with proc_flows.open("rb") as f:
        flows = list(io.FlowReader(f).stream())
    webhook_calls = [f for f in flows if f.comment.endswith("webhook call")]
    deliveries = [f for f in flows if "delivery call" in f.comment]
    assert webhook_calls and deliveries
    ids = {f.metadata["request_id"] for f in webhook_calls}
    assert {f.metadata["request_id"] for f in deliveries} <= ids  # each delivery belongs to its webhook
    adyen_flow = next(f for f in webhook_calls if "connector=adyen" in f.comment and f.response.status_code == 200)
    assert b'"hmacSignature":"***"' in adyen_flow.request.content


def test_metrics(parts, app) -> None:
    text = httpx.get(parts["proc"].url + "/metrics").text

    def value(name: str, **labels: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    assert value("sidecar_webhooks_received_total", connector="stripe") >= 10
    assert value("sidecar_webhooks_verified_total", connector="adyen") >= 3
    for reason in ("bad_signature", "unsigned", "stale"):
        assert value("sidecar_webhooks_refused_total", connector="stripe", reason=reason) >= 1, reason
    assert value("sidecar_webhooks_refused_total", connector="adyen", reason="basic_auth") >= 1
    assert value("sidecar_webhook_events_total", connector="adyen", type="payment.captured") >= 1
    for outcome in ("delivered", "app_error", "timeout"):
        assert value("sidecar_webhook_deliveries_total", connector="stripe", outcome=outcome) >= 1, outcome
    assert value("sidecar_webhook_delivery_latency_seconds_count", connector="stripe") >= 3


def test_without_a_webhooks_section_the_canonical_listener_answers_the_events(sandbox_sidecar) -> None:
    """For apps that receive webhooks themselves: verified and translated, nothing delivered anywhere."""
    body, header = stripe_signed(stripe_event("payment_intent.succeeded", intent()), STRIPE_SANDBOX_WEBHOOK_SECRET)
    r = httpx.post(sandbox_sidecar.url + "/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": header})
    assert r.status_code == 200, r.text
    [event] = r.json()["events"]
    assert (event["type"], event["account"], event["id"]) == ("payment.succeeded", "default", "pi_3TestIntent")
    assert httpx.post(sandbox_sidecar.url + "/v1/webhooks/stripe", content=body).status_code == 401


def test_the_openapi_document_has_the_webhook_paths_and_what_the_app_receives(sandbox_sidecar) -> None:
    doc = httpx.get(sandbox_sidecar.url + "/openapi.json").json()
    assert {"/v1/webhooks/{connector}", "/v1/webhooks/{connector}/{account}"} <= set(doc["paths"])
    delivery = doc["webhooks"]["webhookEvent"]["post"]
    assert delivery["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/WebhookEvent")
    event = doc["components"]["schemas"]["WebhookEvent"]
    assert {"connector", "type", "object", "id", "event_id", "connector_event", "payload"} <= set(event["required"])


# -- the sandbox's webhooks, from engine events through the real process to the app ---------------------


def test_an_adyen_capture_on_the_sandbox_is_settled_at_the_app_by_its_capture_webhook(tmp_path: Path) -> None:
    """The engine's events, rendered as Adyen's notifications and sent by the sandbox's sender to the
    webhook listener of a sidecar whose Adyen connector runs on the sandbox (so its sandbox account's
    key verifies them), reach the app: the authorization at once, the capture once it settles."""
    app = FakeGateway()
    config = {
        "listen": {"host": "127.0.0.1", "port": free_port()},
        "deliver_to": app.url,
        "signing_secret": "s3cret-01",
    }
    proc = SidecarProcess(tmp_path, {"webhooks": config}).start()
    try:
        url = listener_url(Settings(webhooks=config), "adyen")
        assert url is not None

        async def flow() -> None:
            sender = await WebhookSender(url, adyen_render(ADYEN_SANDBOX_MERCHANT), retry_delays=()).start()
            clock = Clock(time.time())
            ledger = engine(adyen_ids(), sender.on_event, clock, SandboxPolicy(capture_delay=30.0))
            try:
                card = CardInput("4111111111111111", 3, 2031, cvc="737")
                made = ledger.execute(
                    Call(ADYEN_SANDBOX_MERCHANT, CreatePayment(2500, "EUR", CaptureMode.MANUAL, card))
                )
                payment_id = made.result.payment.id  # type: ignore[union-attr]
                captured = ledger.execute(Call(ADYEN_SANDBOX_MERCHANT, Capture(payment_id, 2500)))
                await sender.idle()
                assert [json.loads(b)["type"] for _, b in app.received] == ["payment.authorized"]
                clock.now += 30  # Adyen settles the capture later: its CAPTURE webhook says so
                ledger.settle_due()
                await sender.idle()
                settled = json.loads(app.received[-1][1])
                assert (settled["type"], settled["id"], settled["operation_id"], settled["status"]) == (
                    "payment.captured",
                    payment_id,
                    captured.result.subject,  # type: ignore[union-attr]
                    "charged",
                )
                assert (sender.sent, sender.dropped) == (2, 0)
            finally:
                await sender.aclose()

        asyncio.run(flow())
    finally:
        assert proc.stop() == 0
        app.close()


def test_webhook_settings_a_run_cannot_use_are_reported_without_their_secrets(tmp_path: Path) -> None:
    secret_hmac = "not-hex-but-a-secret-9f8e7d"
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        json.dumps(
            {
                "listen": {"port": free_port()},
                "webhooks": {"deliver_to": "ftp://app.example/events", "deliver_timeout": 0, "signing_secret": []},
                "connectors": {
                    "adyen": {
                        "accounts": {
                            "default": {
                                "api_key": "AQE_checkKey0001xyzabcdef",
                                "merchant_account": "M",
                                "hmac_key": [ADYEN_KEY, secret_hmac],
                            },
                            "half": {
                                "api_key": "AQE_checkKey0002xyz",
                                "merchant_account": "M",
                                "webhook_username": "u",
                            },
                        }
                    },
                    "stripe": {
                        "accounts": {"default": {"api_key": "sk_test_1", "webhook_secret": "env:NO_SUCH_ENV_VAR"}}
                    },
                },
            }
        )
    )
    r = subprocess.run([SIDECAR, "check", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert secret_hmac not in r.stdout + r.stderr and ADYEN_KEY not in r.stdout + r.stderr
    for expected in (
        "webhooks.deliver_to: must be an http(s) URL",
        "webhooks.deliver_timeout:",
        "webhooks.signing_secret:",
        "connectors.adyen.accounts.default.hmac_key: an hmac_key is the hex string",
        "webhook_username and webhook_password go together",
        "connectors.stripe.accounts.default.webhook_secret: environment variable NO_SUCH_ENV_VAR is not set",
    ):
        assert expected in r.stderr, (expected, r.stderr)


SANDBOX_FLOWS = {
    "adyen": (
        [("POST", "/v1/payments", payment(CARD_ADYEN, currency="EUR")), ("POST", "capture", EUR_10)],
        ["payment.authorized", "payment.captured"],
    ),
    "checkout": (
        [("POST", "/v1/payments", payment(VISA)), ("POST", "capture", {}), ("POST", "refunds", USD_3)],
        ["payment.authorized", "payment.captured", "refund.succeeded"],
    ),
    "stripe": (
        [("POST", "/v1/payments", payment(VISA)), ("POST", "capture", {}), ("POST", "refunds", USD_3)],
        ["payment.authorized", "payment.succeeded", "refund.succeeded"],
    ),
    "paypal": (
        [("POST", "/v1/payments", payment(VISA)), ("POST", "capture", {}), ("POST", "refunds", USD_3)],
        ["payment.authorized", "payment.captured", "refund.succeeded"],
    ),
}


@pytest.mark.parametrize("connector", sorted(SANDBOX_FLOWS))
def test_the_sandbox_gateways_send_their_webhooks_to_the_app(tmp_path: Path, connector: str) -> None:
    """Canonical calls on the sandbox, and the app hears of each by its gateway's webhook, through the listener."""
    app = FakeGateway()
    hooks = {"listen": {"host": "127.0.0.1", "port": free_port()}, "deliver_to": app.url, "signing_secret": "s-01"}
    proc = SidecarProcess(tmp_path, {"webhooks": hooks}).start()
    try:
        calls, expected = SANDBOX_FLOWS[connector]
        operations: list[str | None] = []
        with proc.client() as client:
            payment_id = ""
            for method, path, body in calls:
                path = path if path.startswith("/") else f"/v1/payments/{payment_id}/{path}"
                answer = client.request(method, path, json=body, headers={"X-Connector": connector}).json()
                payment_id = payment_id or answer["id"]
                operations.append(answer.get("operation_id"))
        deadline = time.monotonic() + 8
        while len(app.received) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.05)
        events = [json.loads(body) for _, body in app.received]
        assert [e["type"] for e in events] == expected
        assert all(e["id"] == payment_id for e in events if e["object"] == "payment")
        if connector in ("adyen", "paypal"):  # the capture's answer and its webhook name the same modification
            assert events[1]["operation_id"] == operations[1]
    finally:
        assert proc.stop() == 0
        app.close()
