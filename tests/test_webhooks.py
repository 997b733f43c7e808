"""Webhook verification and translation in each connector's package, against the gateways' official
libraries: what they sign verifies, what they refuse is refused; and the sandbox's webhooks, rendered
from the engine's events, verify with those libraries too."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import stripe
from Adyen import util as adyen_util
from webhook_parts import (
    ADYEN_KEY,
    ADYEN_NEW_KEY,
    STRIPE_NEW_SECRET,
    STRIPE_SECRET,
    Clock,
    StripeObjects,
    adyen_body,
    adyen_ids,
    adyen_item,
    adyen_signed,
    engine,
    intent,
    stripe_event,
    stripe_ids,
    stripe_signed,
)

from connectors.adyen import Adyen
from connectors.adyen import webhooks as adyen_webhooks
from connectors.adyen.connector import AdyenAccount
from connectors.kit.connector import CallContext
from connectors.kit.models import WebhookEvent
from connectors.kit.sandbox import (
    Call,
    Capture,
    CaptureMode,
    CardInput,
    CreatePayment,
    Event,
    Refund,
    SandboxPolicy,
    Void,
)
from connectors.kit.sandbox import EventType as EngineEventType
from connectors.kit.webhooks import (
    RefusalReason,
    WebhookRefused,
    WebhookRequest,
    parse_signature_header,
    signature_header,
)
from connectors.stripe import Stripe
from connectors.stripe import webhooks as stripe_webhooks
from connectors.stripe.connector import StripeCredentials

NOW = 1_900_000_000
VISA = CardInput("4111111111111111", 3, 2031, cvc="737", holder_name="J Smith")


def stripe_events(body: bytes, header: str | None, secrets: Any = STRIPE_SECRET, now: float = NOW) -> list:
    creds = StripeCredentials(api_key="sk_test_x", webhook_secret=secrets)
    headers = {"stripe-signature": header} if header is not None else {}
    return _run(Stripe(), WebhookRequest(headers, body, now), creds)


def adyen_events(body: bytes, keys: Any = ADYEN_KEY, headers: dict[str, str] | None = None, **account: Any) -> list:
    creds = AdyenAccount(api_key="AQE_x", merchant_account="SidecarTestECOM", hmac_key=keys, **account)
    return _run(Adyen(), WebhookRequest(headers or {}, body, NOW), creds)


def _run(connector: Any, req: WebhookRequest, creds: Any) -> list[WebhookEvent]:
    """Drives the connector's webhook exchange as the runtime does; it makes no gateway call."""
    exchange = connector.webhook(req, CallContext("https://gateway.invalid", creds, "req-1"))
    with pytest.raises(StopIteration) as done:
        next(exchange)
    return done.value.value


def refused(reason: RefusalReason, call: Any, *args: Any, **kw: Any) -> WebhookRefused:
    with pytest.raises(WebhookRefused) as refusal:
        call(*args, **kw)
    assert refusal.value.reason is reason, refusal.value.message
    return refusal.value


# -- Stripe --------------------------------------------------------------------------------------------


def test_a_stripe_event_signed_by_stripes_library_verifies_and_translates() -> None:
    body, header = stripe_signed(stripe_event("payment_intent.succeeded", intent()), timestamp=NOW)
    [event] = stripe_events(body, header)
    assert event.model_dump(exclude={"payload"}, exclude_none=True) == {
        "connector": "stripe",
        "verified": True,
        "type": "payment.succeeded",
        "object": "payment",
        "id": "pi_3TestIntent",
        "event_id": "evt_1Test",
        "status": "charged",
        "amount": {"minor": 1000, "currency": "USD"},
        "reference": "order-7",
        "connector_event": "payment_intent.succeeded",
    }
    assert event.payload == json.loads(body)


def test_stripe_verification_agrees_with_stripes_library() -> None:
    """Every header shape the library accepts we accept, and what it refuses we refuse."""
    body = json.dumps(stripe_event("payment_intent.canceled", intent("canceled"))).encode()
    good = stripe.WebhookSignature.generate_signature_header(body.decode(), STRIPE_SECRET, NOW).split("v1=")[1]
    cases = {
        f"t={NOW},v1={good}": True,
        f"t={NOW},v1={'0' * 64},v1={good}": True,  # several v1: any may match
        f"t={NOW},v0={'1' * 64},v1={good}": True,  # other schemes ignored
        f"v1={good},t={NOW}": True,
        f"t={NOW},v1={good.upper()}": False,  # hex as Stripe writes it, lower case
        f"t={NOW + 1},v1={good}": False,  # the time is signed
        f"t={NOW},v0={good}": False,
        f"t={NOW},v1={'0' * 64}": False,
        f"t=abc,v1={good}": False,
        "garbage": False,
    }
    for header, accepted in cases.items():
        try:
            stripe.WebhookSignature.verify_header(body, header, STRIPE_SECRET, tolerance=None)
            library = True
        except stripe.SignatureVerificationError:
            library = False
        assert library is accepted, header
        if accepted:
            assert stripe_events(body, header)
        else:
            with pytest.raises(WebhookRefused):
                stripe_events(body, header)


def test_stripe_refuses_unsigned_forged_tampered_and_stale_events() -> None:
    event = stripe_event("payment_intent.succeeded", intent())
    body, header = stripe_signed(event, timestamp=NOW)
    refused(RefusalReason.UNSIGNED, stripe_events, body, None)
    refused(RefusalReason.UNSIGNED, stripe_events, body, f"t={NOW}")
    refused(RefusalReason.BAD_SIGNATURE, stripe_events, body, "not a signature header")
    refused(RefusalReason.BAD_SIGNATURE, stripe_events, body, f"t={NOW},v1=\udcff{'0' * 63}")  # a non-UTF-8 byte
    refused(RefusalReason.BAD_SIGNATURE, stripe_events, body.replace(b"1000", b"9000"), header)
    refused(RefusalReason.BAD_SIGNATURE, stripe_events, body, header, secrets="whsec_someoneElse000000000000")
    refused(RefusalReason.NOT_CONFIGURED, stripe_events, body, header, secrets=[])
    # 300 s, as stripe-python: older is refused, a clock running behind Stripe's is not.
    assert stripe_events(body, header, now=NOW + 300)
    refusal = refused(RefusalReason.STALE, stripe_events, body, header, now=NOW + 301)
    assert refusal.status == 401 and refusal.type.value == "webhook_unverified"
    assert stripe_events(body, header, now=NOW - 3600)


def test_stripe_secrets_rotate_as_a_list() -> None:
    event = stripe_event("payment_intent.succeeded", intent())
    for secret in (STRIPE_SECRET, STRIPE_NEW_SECRET):
        body, header = stripe_signed(event, secret, NOW)
        assert stripe_events(body, header, secrets=[STRIPE_SECRET, STRIPE_NEW_SECRET])
    body, header = stripe_signed(event, STRIPE_NEW_SECRET, NOW)
    refused(RefusalReason.BAD_SIGNATURE, stripe_events, body, header, secrets=STRIPE_SECRET)


def test_a_signed_body_that_is_no_stripe_event_is_malformed() -> None:
    for body in (b"[1, 2]", b"{not json", json.dumps({"type": "x"}).encode()):
        header = signature_header([STRIPE_SECRET], NOW, body)
        assert refused(RefusalReason.MALFORMED, stripe_events, body, header).status == 400


STRIPE_TABLE = [
    (
        "payment_intent.amount_capturable_updated",
        intent("requires_capture", received=0),
        "payment.authorized",
        "authorized",
    ),
    ("payment_intent.succeeded", intent(amount=1000, received=600), "payment.succeeded", "partially_charged"),
    (
        "payment_intent.payment_failed",
        intent(
            "requires_payment_method", received=0, last_payment_error={"type": "card_error", "code": "card_declined"}
        ),
        "payment.failed",
        "authorization_failed",
    ),
    ("payment_intent.canceled", intent("canceled", received=0), "payment.voided", "voided"),
    ("payment_intent.created", intent("requires_payment_method", received=0), "unknown", "started"),
]


@pytest.mark.parametrize("kind, obj, event_type, status", STRIPE_TABLE, ids=[row[0] for row in STRIPE_TABLE])
def test_stripe_payment_intent_events(kind: str, obj: dict, event_type: str, status: str) -> None:
    event = stripe_webhooks.translate(Stripe(), stripe_event(kind, obj))
    assert (event.type, event.object, event.id, event.status) == (event_type, "payment", "pi_3TestIntent", status)


def test_stripe_charge_refund_and_dispute_events() -> None:
    charge = {
        "id": "ch_3Test",
        "object": "charge",
        "amount": 5000,
        "amount_captured": 5000,
        "amount_refunded": 1500,
        "currency": "jpy",
        "payment_intent": "pi_3TestIntent",
    }
    refunded = stripe_webhooks.translate(Stripe(), stripe_event("charge.refunded", charge))
    assert (refunded.type, refunded.object, refunded.id) == ("refund.succeeded", "payment", "pi_3TestIntent")
    assert refunded.amount is not None and refunded.amount.model_dump() == {"minor": 1500, "currency": "JPY"}
    captured = stripe_webhooks.translate(Stripe(), stripe_event("charge.captured", charge))
    assert (captured.type, captured.amount and captured.amount.minor) == ("payment.captured", 5000)

    refund = {"id": "re_3Test", "object": "refund", "amount": 10000, "currency": "isk", "payment_intent": "pi_3T"}
    for status, event_type, refund_status in (
        ("succeeded", "refund.succeeded", "succeeded"),
        ("failed", "refund.failed", "failed"),
        ("pending", "unknown", "pending"),
    ):
        event = stripe_webhooks.translate(Stripe(), stripe_event("refund.updated", {**refund, "status": status}))
        assert (event.type, event.object, event.id, event.payment_id) == (event_type, "refund", "re_3Test", "pi_3T")
        assert event.status == refund_status
        # Stripe counts ISK in hundredths (docs.stripe.com/currencies#special-cases); ISO in whole krónur.
        assert event.amount is not None and event.amount.model_dump() == {"minor": 100, "currency": "ISK"}

    dispute = {"id": "dp_1T", "object": "dispute", "amount": 1000, "currency": "usd", "payment_intent": "pi_3T"}
    for kind, event_type in (("charge.dispute.created", "dispute.opened"), ("charge.dispute.closed", "dispute.closed")):
        event = stripe_webhooks.translate(Stripe(), stripe_event(kind, dispute))
        assert (event.type, event.object, event.id, event.payment_id) == (event_type, "dispute", "dp_1T", "pi_3T")


def test_an_unknown_stripe_event_is_delivered_as_unknown_with_its_payload() -> None:
    raw = stripe_event("customer.created", {"id": "cus_1", "object": "customer", "email": "a@b.example"})
    event = stripe_webhooks.translate(Stripe(), raw)
    assert (event.type, event.id, event.connector_event, event.payload) == ("unknown", "cus_1", "customer.created", raw)
    thin = {"id": "evt_2", "object": "v2.core.event", "type": "v1.billing.meter.error_report_triggered"}
    assert stripe_webhooks.translate(Stripe(), thin).model_dump(include={"type", "id"}) == {
        "type": "unknown",
        "id": "evt_2",
    }


def test_odd_shapes_in_a_verified_event_still_give_an_event() -> None:
    """A verified event is never lost to a shape the tables do not expect: the gateway would send it again
    and again, and the app would never hear of it."""
    odd = [
        {"object": "refund", "id": 5, "status": ["succeeded"], "metadata": [1], "amount": "10", "currency": 3},
        {"object": "payment_intent", "id": "pi_1", "status": {}, "latest_charge": {"payment_method_details": []}},
        {"object": "charge", "id": "ch_1", "payment_intent": None, "metadata": {"sidecar_reference": 7}},
        {"object": "dispute", "id": "dp_1", "payment_intent": ["pi_1"]},
    ]
    for obj in odd:
        event = stripe_webhooks.translate(Stripe(), stripe_event("refund.updated", obj))
        assert event.id in ("evt_1Test", "pi_1", "ch_1", "dp_1") and event.payload["data"]["object"] == obj
    item = adyen_item("CANCEL_OR_REFUND", additionalData={"modification.action": ["refund"]}, amount={"value": "1"})
    assert adyen_webhooks.translate(item).type == "unknown"


# -- Adyen ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "item",
    [
        adyen_item(),
        adyen_item("CAPTURE", originalReference="ORIGINALREF00001", amount={"currency": "CLP", "value": 100000}),
        adyen_item("REFUND", "false", merchantReference="ümlaut:and:colons", reason="Insufficient balance"),
        adyen_item("CHARGEBACK", additionalData={"disputeStatus": "Undefended"}),
    ],
    ids=["authorisation", "capture", "refund with colons and non-ascii", "chargeback"],
)
def test_an_adyen_item_signed_by_adyens_library_verifies(item: dict) -> None:
    signed = adyen_signed(item)
    assert adyen_webhooks.item_signature(item, bytes.fromhex(ADYEN_KEY)) == signed["additionalData"]["hmacSignature"]
    assert adyen_util.is_valid_hmac_notification(json.loads(adyen_body(signed)), ADYEN_KEY)
    [event] = adyen_events(adyen_body(signed))
    assert event.connector == "adyen" and event.payload == signed


def test_an_adyen_batch_is_verified_whole() -> None:
    first = adyen_signed(adyen_item())
    second = adyen_signed(adyen_item("CAPTURE", originalReference="QFQTPCQ8HXSKGK82", pspReference="CAPTUREREF000001"))
    assert [e.connector_event for e in adyen_events(adyen_body(first, second))] == ["AUTHORISATION", "CAPTURE"]
    forged = {**second, "amount": {"currency": "EUR", "value": 999999}}
    refused(RefusalReason.BAD_SIGNATURE, adyen_events, adyen_body(first, forged))
    unsigned = {**second, "additionalData": {}}
    refused(RefusalReason.UNSIGNED, adyen_events, adyen_body(first, unsigned))
    other_key = adyen_signed(adyen_item(), ADYEN_NEW_KEY)
    refused(RefusalReason.BAD_SIGNATURE, adyen_events, adyen_body(first, other_key))
    assert len(adyen_events(adyen_body(first, other_key), keys=[ADYEN_KEY, ADYEN_NEW_KEY])) == 2  # rotation
    refused(RefusalReason.NOT_CONFIGURED, adyen_events, adyen_body(first), keys=[])


def test_adyen_basic_auth_when_the_account_sets_one() -> None:
    body = adyen_body(adyen_signed(adyen_item()))
    account = {"webhook_username": "adyen-hook", "webhook_password": "pa:ss-word"}

    def basic(user: str, password: str) -> dict[str, str]:
        return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    assert adyen_events(body, headers=basic("adyen-hook", "pa:ss-word"), **account)
    for headers in ({}, basic("adyen-hook", "wrong"), basic("other", "pa:ss-word"), {"authorization": "Basic !!"}):
        refused(RefusalReason.BASIC_AUTH, adyen_events, body, headers=headers, **account)
    with pytest.raises(ValueError, match="go together"):
        AdyenAccount(api_key="k", merchant_account="m", webhook_username="u")
    with pytest.raises(ValueError, match="hex"):
        AdyenAccount(api_key="k", merchant_account="m", hmac_key=[ADYEN_KEY, "not-hex"])


def test_what_is_no_adyen_notification_is_malformed() -> None:
    for body in (
        b"{",
        b"[]",
        b"{}",
        json.dumps({"notificationItems": []}).encode(),
        json.dumps({"notificationItems": [1]}).encode(),
        json.dumps({"notificationItems": 5}).encode(),
        json.dumps({"notificationItems": [{"NotificationRequestItem": {}}, {"other": {}}]}).encode(),
    ):
        assert refused(RefusalReason.MALFORMED, adyen_events, body).status == 400


PSP, ORIGINAL = "MODIFICATIONREF1", "PAYMENTPSPREF001"
ADYEN_TABLE = [
    # eventCode, success, extra additionalData, type, object, id, payment_id, operation_id, status
    ("AUTHORISATION", "true", {}, "payment.authorized", "payment", PSP, None, None, "authorized"),
    ("AUTHORISATION", "false", {}, "payment.failed", "payment", PSP, None, None, "authorization_failed"),
    ("CAPTURE", "true", {}, "payment.captured", "payment", ORIGINAL, None, PSP, "charged"),
    ("CAPTURE", "false", {}, "payment.failed", "payment", ORIGINAL, None, PSP, "capture_failed"),
    ("CAPTURE_FAILED", "true", {}, "payment.failed", "payment", ORIGINAL, None, PSP, "capture_failed"),
    ("CANCELLATION", "true", {}, "payment.voided", "payment", ORIGINAL, None, PSP, "voided"),
    ("CANCELLATION", "false", {}, "payment.failed", "payment", ORIGINAL, None, PSP, "void_failed"),
    ("REFUND", "true", {}, "refund.succeeded", "refund", PSP, ORIGINAL, None, "succeeded"),
    ("REFUND", "false", {}, "refund.failed", "refund", PSP, ORIGINAL, None, "failed"),
    ("REFUND_FAILED", "true", {}, "refund.failed", "refund", PSP, ORIGINAL, None, "failed"),
    (
        "CANCEL_OR_REFUND",
        "true",
        {"modification.action": "cancel"},
        "payment.voided",
        "payment",
        ORIGINAL,
        None,
        PSP,
        "voided",
    ),
    (
        "CANCEL_OR_REFUND",
        "true",
        {"modification.action": "refund"},
        "refund.succeeded",
        "refund",
        PSP,
        ORIGINAL,
        None,
        "succeeded",
    ),
    ("CANCEL_OR_REFUND", "true", {}, "unknown", "payment", ORIGINAL, None, None, None),
    ("NOTIFICATION_OF_CHARGEBACK", "true", {}, "dispute.opened", "dispute", PSP, ORIGINAL, None, None),
    ("CHARGEBACK", "true", {}, "dispute.opened", "dispute", PSP, ORIGINAL, None, None),
    ("CHARGEBACK_REVERSED", "true", {}, "dispute.closed", "dispute", PSP, ORIGINAL, None, None),
    ("PREARBITRATION_LOST", "true", {}, "dispute.closed", "dispute", PSP, ORIGINAL, None, None),
    ("REPORT_AVAILABLE", "true", {}, "unknown", "payment", ORIGINAL, None, None, None),
]


@pytest.mark.parametrize(
    "code, success, extra, event_type, obj, id, payment_id, operation_id, status",
    ADYEN_TABLE,
    ids=[f"{row[0]}-{row[1]}-{row[2].get('modification.action', '')}" for row in ADYEN_TABLE],
)
def test_adyen_event_codes(
    code: str,
    success: str,
    extra: dict,
    event_type: str,
    obj: str,
    id: str,
    payment_id: Any,
    operation_id: Any,
    status: Any,
) -> None:
    original = {} if code == "AUTHORISATION" else {"originalReference": ORIGINAL}
    item = adyen_item(code, success, pspReference=PSP, additionalData=extra, **original)
    event = adyen_webhooks.translate(item)
    assert (event.type, event.object, event.id, event.payment_id, event.operation_id, event.status) == (
        event_type,
        obj,
        id,
        payment_id,
        operation_id,
        status,
    )
    assert event.event_id == f"{PSP}:{code}:{success}" and event.connector_event == code
    assert event.reference == "order-9" and event.payload == item


def test_adyen_amounts_in_iso_minor_units() -> None:
    # Adyen counts CLP in hundredths and IDR in whole units (docs.adyen.com/development-resources/currency-codes).
    clp = adyen_webhooks.translate(adyen_item(amount={"currency": "CLP", "value": 150000}))
    idr = adyen_webhooks.translate(adyen_item(amount={"currency": "IDR", "value": 15000}))
    assert clp.amount is not None and clp.amount.model_dump() == {"minor": 1500, "currency": "CLP"}
    assert idr.amount is not None and idr.amount.model_dump() == {"minor": 1500000, "currency": "IDR"}
    # Money the tables do not know is no reason to drop the event.
    assert adyen_webhooks.translate(adyen_item(amount={"currency": "XXX", "value": 1})).amount is None


# -- the sidecar's own signature ------------------------------------------------------------------------


def test_the_sidecars_signature_verifies_with_each_secret_like_stripes() -> None:
    body = b'{"type":"payment.captured"}'
    header = signature_header(["secret-one", "secret-two"], NOW, body)
    timestamp, signatures = parse_signature_header(header)
    assert timestamp == NOW and len(signatures) == 2
    for secret in ("secret-one", "secret-two"):
        assert stripe.WebhookSignature.verify_header(body, header, secret, tolerance=None)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(body, header, "secret-three", tolerance=None)


# -- the sandbox's webhooks, from engine events ----------------------------------------------------------


def adyen_flow() -> list[Event]:
    """An authorization, a partial capture settled later, a refund, and a void of another payment."""
    events: list[Event] = []
    clock = Clock()
    ledger = engine(adyen_ids(), events.append, clock, SandboxPolicy(capture_delay=60.0))
    pay = ledger.execute(
        Call("SidecarSandboxECOM", CreatePayment(2500, "EUR", CaptureMode.MANUAL, VISA, reference="o-1"))
    )
    payment_id = pay.result.payment.id  # type: ignore[union-attr]
    ledger.execute(Call("SidecarSandboxECOM", Capture(payment_id, 2000)))
    clock.now += 60
    ledger.settle_due()
    ledger.execute(Call("SidecarSandboxECOM", Refund(payment_id, 500)))
    other = ledger.execute(Call("SidecarSandboxECOM", CreatePayment(700, "EUR", CaptureMode.MANUAL, VISA)))
    ledger.execute(Call("SidecarSandboxECOM", Void(other.result.payment.id)))  # type: ignore[union-attr]
    return events


def test_the_adyen_sandbox_sends_what_adyen_sends_signed_as_adyen_signs() -> None:
    events = adyen_flow()
    sent = [m for e in events if (m := adyen_webhooks.sandbox_notification(e, "SidecarSandboxECOM", ADYEN_KEY))]
    translated = []
    for message in sent:
        data = json.loads(message.body)
        assert adyen_util.is_valid_hmac_notification(data, ADYEN_KEY)
        translated += adyen_events(message.body)
    assert [(e.connector_event, e.type) for e in translated] == [
        ("AUTHORISATION", "payment.authorized"),
        ("CAPTURE", "payment.captured"),
        ("REFUND", "refund.succeeded"),
        ("AUTHORISATION", "payment.authorized"),
        ("CANCELLATION", "payment.voided"),
    ]
    capture = next(e for e in events if e.type is EngineEventType.CAPTURE_SETTLED)
    captured = translated[1]
    assert (captured.id, captured.operation_id) == (capture.payment.id, capture.subject)
    assert captured.amount is not None and captured.amount.minor == 2000 and captured.reference == "o-1"


def test_the_stripe_sandbox_sends_what_stripe_sends_signed_as_stripe_signs() -> None:
    events: list[Event] = []
    ledger = engine(stripe_ids, events.append, Clock())
    pay = ledger.execute(Call("acct", CreatePayment(1000, "USD", CaptureMode.MANUAL, VISA)))
    payment_id = pay.result.payment.id  # type: ignore[union-attr]
    ledger.execute(Call("acct", Capture(payment_id, 1000)))
    ledger.execute(Call("acct", Refund(payment_id, 300)))
    now = time.time()
    messages = [m for e in events if (m := stripe_webhooks.sandbox_webhook(e, StripeObjects(), STRIPE_SECRET, now))]
    kinds = []
    for message in messages:
        sdk_event = stripe.Webhook.construct_event(message.body, message.headers["Stripe-Signature"], STRIPE_SECRET)
        [event] = stripe_events(message.body, message.headers["Stripe-Signature"], now=now)
        kinds.append((sdk_event["type"], event.type))
    assert kinds == [
        ("payment_intent.amount_capturable_updated", "payment.authorized"),
        ("payment_intent.succeeded", "payment.succeeded"),
        ("charge.refunded", "refund.succeeded"),
    ]
    again = stripe_webhooks.sandbox_webhook(events[0], StripeObjects(), STRIPE_SECRET, now + 5)
    assert again is not None and json.loads(again.body)["id"] == json.loads(messages[0].body)["id"]  # same event


def test_an_automatic_capture_is_one_event_for_each_gateway() -> None:
    events: list[Event] = []
    ledger = engine(adyen_ids(), events.append, Clock())
    ledger.execute(Call("SidecarSandboxECOM", CreatePayment(1000, "EUR", CaptureMode.AUTOMATIC, VISA)))
    adyen = [m for e in events if (m := adyen_webhooks.sandbox_notification(e, "SidecarSandboxECOM", ADYEN_KEY))]
    assert [json.loads(m.body)["notificationItems"][0]["NotificationRequestItem"]["eventCode"] for m in adyen] == [
        "AUTHORISATION"
    ]
    stripe_kinds = [found[0] for e in events if (found := stripe_webhooks.sandbox_event_type(e))]
    assert stripe_kinds == ["payment_intent.succeeded"]
