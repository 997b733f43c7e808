"""The PayPal connector on recorded answers: what PayPal's error bodies, issues and processor codes become,
the token steps around every call, and webhook verification by PayPal's own API."""

from __future__ import annotations

import orjson
import pytest

from connectors.kit.connector import CallContext, GatewayRequest, GatewayResponse
from connectors.kit.errors import ErrorType, SidecarError
from connectors.kit.models import CaptureMethod, Card, CardPaymentMethod, Money, PaymentRequest, RefundRequest
from connectors.kit.testing import drive
from connectors.kit.webhooks import RefusalReason, WebhookRefused, WebhookRequest
from connectors.paypal import PayPal
from connectors.paypal.connector import PayPalCredentials

BASE = "https://api-m.sandbox.paypal.com"
CREDS = PayPalCredentials(client_id="id", client_secret="secret", webhook_id="WH1")
TOKEN = {"access_token": "A21AAtoken", "token_type": "Bearer", "expires_in": 32400}


def ctx(key: str | None = None) -> CallContext:
    return CallContext(BASE, CREDS, "req-1", idempotency_key=key)


def answers(*replies: tuple[int, object]):
    """Answers API calls in order; every token call gets a token."""
    queue = list(replies)
    sent: list[GatewayRequest] = []

    def answer(request: GatewayRequest) -> GatewayResponse:
        if request.url.endswith("/v1/oauth2/token"):
            return GatewayResponse(200, {}, orjson.dumps(TOKEN))
        sent.append(request)
        status, body = queue.pop(0)
        return GatewayResponse(status, {"content-type": "application/json"}, orjson.dumps(body))

    return answer, sent


def payment_request() -> PaymentRequest:
    card = Card(number="4111111111111111", exp_month=12, exp_year=2035, cvc="123")
    return PaymentRequest(
        reference="order-1",
        amount=Money(minor=1000, currency="USD"),
        capture=CaptureMethod.MANUAL,
        payment_method=CardPaymentMethod(type="card", card=card),
    )


def error(status: int, name: str, issue: str) -> tuple[int, dict]:
    return status, {"name": name, "message": "m", "details": [{"issue": issue, "description": f"{issue} text"}]}


def test_a_card_refused_before_any_order_is_a_decline_with_no_id() -> None:
    answer, sent = answers(error(422, "UNPROCESSABLE_ENTITY", "INSTRUMENT_DECLINED"))
    payment, _ = drive(PayPal().authorize(payment_request(), ctx()), answer)
    assert (payment.id, payment.status, payment.error.code) == (None, "authorization_failed", "card_declined")
    assert payment.reference == "order-1" and payment.error.connector_code == "INSTRUMENT_DECLINED"
    # Without the app's key, a fresh PayPal-Request-Id: a call without a key is never taken for another's.
    assert sent[0].headers["PayPal-Request-Id"].startswith("sidecar-")
    assert sent[0].headers["Authorization"] == "Bearer A21AAtoken"


@pytest.mark.parametrize(
    ("reply", "kind", "status"),
    [
        (error(409, "RESOURCE_CONFLICT", "PREVIOUS_REQUEST_IN_PROGRESS"), ErrorType.REQUEST_IN_PROGRESS, 409),
        (error(422, "UNPROCESSABLE_ENTITY", "REFUND_CAPTURE_CURRENCY_MISMATCH"), ErrorType.INVALID_REQUEST, 400),
        (error(422, "UNPROCESSABLE_ENTITY", "REFUND_NOT_ALLOWED"), ErrorType.GATEWAY_REJECTED, 422),
        (error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID"), ErrorType.NOT_FOUND, 404),
        ((503, {"name": "SERVICE_UNAVAILABLE"}), ErrorType.GATEWAY_ERROR, 502),
    ],
)
def test_paypal_errors_by_status_and_issue(reply, kind, status) -> None:
    order = {"id": "O1", "status": "COMPLETED", "intent": "CAPTURE", "purchase_units": [{"amount": {
        "currency_code": "USD", "value": "10.00"}, "payments": {"captures": [{"id": "C1", "status": "COMPLETED",
        "amount": {"currency_code": "USD", "value": "10.00"}}]}}]}  # fmt: skip
    answer, _ = answers((200, order), reply)
    with pytest.raises(SidecarError) as raised:
        drive(PayPal().refund("O1", RefundRequest(), ctx()), answer)
    assert (raised.value.type, raised.value.status) == (kind, status)


def test_a_token_refused_twice_is_the_gateways_refusal() -> None:
    replies = [(401, {"error": "invalid_token"}), (401, {"error": "invalid_token"})]
    answer, sent = answers(*replies)
    with pytest.raises(SidecarError) as raised:
        drive(PayPal().sync("O1", ctx()), answer)
    assert raised.value.type is ErrorType.GATEWAY_AUTHENTICATION and len(sent) == 2


WEBHOOK = orjson.dumps(
    {
        "id": "WH-1",
        "event_type": "PAYMENT.CAPTURE.COMPLETED",
        "resource_type": "capture",
        "resource": {
            "id": "C1",
            "status": "COMPLETED",
            "amount": {"currency_code": "JPY", "value": "1500"},
            "supplementary_data": {"related_ids": {"order_id": "O1", "authorization_id": "A1"}},
        },
    }
)
SIGNED = {
    "paypal-auth-algo": "SHA256withRSA",
    "paypal-cert-url": "https://api-m.paypal.com/v1/notifications/certs/CERT-1",
    "paypal-transmission-id": "t-1",
    "paypal-transmission-sig": "c2ln",
    "paypal-transmission-time": "2026-01-01T00:00:00Z",
}


def test_a_webhook_is_verified_by_paypals_api_with_its_own_bytes_and_translated() -> None:
    answer, sent = answers((200, {"verification_status": "SUCCESS"}))
    body = b" " + WEBHOOK.replace(b",", b", ") + b"\n"  # its own spacing: the bytes PayPal signed
    (event,), _ = drive(PayPal().webhook(WebhookRequest(SIGNED, body, 0.0), ctx()), answer)
    verify = sent[0]
    assert verify.url == BASE + "/v1/notifications/verify-webhook-signature"
    assert verify.body.endswith(b'"webhook_event":' + body.strip() + b"}")
    assert orjson.loads(verify.body)["webhook_id"] == "WH1"
    assert (event.type, event.id, event.operation_id) == ("payment.captured", "O1", "C1")
    assert event.amount == Money(minor=1500, currency="JPY")


@pytest.mark.parametrize(
    ("headers", "credentials", "reason"),
    [
        (SIGNED, CREDS, RefusalReason.BAD_SIGNATURE),
        ({}, CREDS, RefusalReason.UNSIGNED),
        (SIGNED, PayPalCredentials(client_id="id", client_secret="s"), RefusalReason.NOT_CONFIGURED),
    ],
)
def test_a_webhook_paypal_does_not_vouch_for_is_refused(headers, credentials, reason) -> None:
    answer, sent = answers((200, {"verification_status": "FAILURE"}))
    context = CallContext(BASE, credentials, "req-1")
    with pytest.raises(WebhookRefused) as refused:
        drive(PayPal().webhook(WebhookRequest(headers, WEBHOOK, 0.0), context), answer)
    assert refused.value.reason is reason
    assert len(sent) == (1 if reason is RefusalReason.BAD_SIGNATURE else 0)
