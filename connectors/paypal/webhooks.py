"""PayPal webhooks: verification by PayPal's own API, event translation, and the events the sandbox sends.

PayPal signs a webhook with a certificate of its own (RSA over `<transmission id>|<time>|<webhook id>|<CRC32
of the body>`, headers PAYPAL-TRANSMISSION-ID, -TIME, -SIG, PAYPAL-CERT-URL, PAYPAL-AUTH-ALGO) and documents
one way to check it without fetching and trusting that certificate: `POST /v1/notifications/verify-webhook-
signature` (https://developer.paypal.com/api/webhooks/v1/#verify-webhook-signature_post) with those headers,
the account's `webhook_id` and the event, answered `verification_status` SUCCESS or FAILURE. The connector
yields that call like any other, with the account's token, through the pool. The event goes in exactly as
it came, its bytes unchanged, since the signature covers them. PayPal sets no time window of its own and
retries a webhook for three days, so the sidecar sets none either: `event_id` lets the app drop repeats.

Event types: https://developer.paypal.com/api/rest/webhooks/event-names/ (Payments v2, Disputes).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from connectors.kit.connector import CallContext, Exchange
from connectors.kit.models import EventType, PaymentStatus, RefundStatus, WebhookEvent
from connectors.kit.sandbox import CaptureMode
from connectors.kit.sandbox import Event as EngineEvent
from connectors.kit.sandbox import EventType as EngineEventType
from connectors.kit.webhooks import RefusalReason, WebhookMessage, WebhookRefused, WebhookRequest, amount_of, json_event
from connectors.paypal import sandbox
from connectors.paypal.codes import REFUND_STATUS
from connectors.paypal.connector import CURRENCIES

if TYPE_CHECKING:
    from connectors.paypal.connector import PayPal

VERIFY_PATH = "/v1/notifications/verify-webhook-signature"
# The verification call's fields, each from the webhook's header of that name.
HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}

EVENT_TYPES: dict[str, EventType] = {
    "PAYMENT.AUTHORIZATION.CREATED": EventType.PAYMENT_AUTHORIZED,
    "PAYMENT.AUTHORIZATION.VOIDED": EventType.PAYMENT_VOIDED,
    "PAYMENT.CAPTURE.COMPLETED": EventType.PAYMENT_CAPTURED,
    "PAYMENT.CAPTURE.DECLINED": EventType.PAYMENT_FAILED,
    "PAYMENT.CAPTURE.DENIED": EventType.PAYMENT_FAILED,
    "CUSTOMER.DISPUTE.CREATED": EventType.DISPUTE_OPENED,
    "CUSTOMER.DISPUTE.RESOLVED": EventType.DISPUTE_CLOSED,
}
# A refund's events take their type from the refund's status.
_REFUND_TYPES = {RefundStatus.SUCCEEDED: EventType.REFUND_SUCCEEDED, RefundStatus.FAILED: EventType.REFUND_FAILED}
_AUTHORIZATION_STATUS = {"CREATED": PaymentStatus.AUTHORIZED, "VOIDED": PaymentStatus.VOIDED}


def events(connector: PayPal, req: WebhookRequest, ctx: CallContext) -> Exchange[list[WebhookEvent]]:
    """The one event of a PayPal webhook, once PayPal's verification API said SUCCESS for this account."""
    event = json_event(req.body, "event_type", "a PayPal webhook event")
    signed = {field: req.headers.get(header) for field, header in HEADERS.items()}
    if not all(signed.values()):
        raise WebhookRefused(RefusalReason.UNSIGNED, "the PayPal transmission headers are missing")
    if not ctx.credentials.webhook_id:
        raise WebhookRefused(RefusalReason.NOT_CONFIGURED, "the account has no webhook_id")
    # The event's own bytes, not a re-encoding of them: they are what PayPal signed.
    body = orjson.dumps({**signed, "webhook_id": ctx.credentials.webhook_id})[:-1] + b',"webhook_event":'
    body += req.body.strip() + b"}"
    resp = yield from connector.send(ctx, "POST", VERIFY_PATH, body, key_step=None, step="verify webhook signature")
    if resp.status != 200:
        raise connector.status_error(resp, f"paypal answered the webhook verification with HTTP {resp.status}")
    status = connector.json_object(resp).get("verification_status")
    if status != "SUCCESS":
        raise WebhookRefused(RefusalReason.BAD_SIGNATURE, "PayPal's verification of the signature failed")
    return [translate(connector, event)]


def translate(connector: PayPal, event: dict[str, Any]) -> WebhookEvent:
    """A PayPal event as a WebhookEvent, read by its resource's type; any other type is `unknown`, with the
    payload, never dropped."""
    kind: str = event["event_type"]
    resource = event.get("resource") if isinstance(event.get("resource"), dict) else {}
    amount = resource.get("amount") if isinstance(resource.get("amount"), dict) else {}
    fields: dict[str, Any] = {
        "object": "payment",
        "id": resource.get("id") if isinstance(resource.get("id"), str) else event["id"],
        "amount": _amount(amount),
        "reference": _text(resource.get("custom_id")),
        "type": EVENT_TYPES.get(kind, EventType.UNKNOWN),
    }
    match event.get("resource_type"):
        case "authorization" | "capture":
            related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
            fields |= {"id": _text(related.get("order_id")) or fields["id"], "operation_id": _text(resource.get("id"))}
            if kind.startswith("PAYMENT.AUTHORIZATION."):
                fields["status"] = _AUTHORIZATION_STATUS.get(str(resource.get("status")))
        case "refund":
            status = REFUND_STATUS.get(str(resource.get("status")), RefundStatus.MANUAL_REVIEW)
            fields |= {"object": "refund", "status": status, "type": _REFUND_TYPES.get(status, EventType.UNKNOWN)}
        case "dispute":
            fields |= {"object": "dispute", "id": _text(resource.get("dispute_id")) or fields["id"], "amount": None}
    return WebhookEvent(connector=connector.name, event_id=event["id"], connector_event=kind, payload=event, **fields)


def _amount(money: dict[str, Any]) -> Any:
    try:
        units = CURRENCIES.units(str(money.get("value")), str(money.get("currency_code")))
    except (ValueError, KeyError):
        return None
    return amount_of(CURRENCIES, units, money.get("currency_code"))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- the sandbox's events -----------------------------------------------------------------------------


def sandbox_webhook(event: EngineEvent, webhook_id: str, base: str, now: float) -> WebhookMessage | None:
    """The signed webhook PayPal sends for an engine event, its resource as the sandbox's API shows it; None
    where PayPal sends none. An authorization with automatic capture is reported once, by its capture."""
    payment, subject = event.payment, event.subject or ""
    match event.type:
        case EngineEventType.AUTHORIZED if payment.capture_mode is CaptureMode.MANUAL:
            kind, of, resource = (
                "PAYMENT.AUTHORIZATION.CREATED",
                "authorization",
                sandbox.authorization(payment),
            )
        case EngineEventType.VOID_SETTLED:
            kind, of, resource = (
                "PAYMENT.AUTHORIZATION.VOIDED",
                "authorization",
                sandbox.authorization(payment),
            )
        case EngineEventType.CAPTURE_SETTLED:
            kind, of, resource = "PAYMENT.CAPTURE.COMPLETED", "capture", sandbox.capture(payment, subject)
        case EngineEventType.REFUND_SETTLED:
            kind, of, resource = "PAYMENT.CAPTURE.REFUNDED", "refund", sandbox.refund(payment, subject, base)
        case _:
            return None
    # The same engine event always gets the same id: a resent webhook is the same event.
    seed = f"{event.payment.id}:{event.subject}:{event.type}".encode()
    body = sandbox.event_body(
        {
            "id": "WH-" + hashlib.sha256(seed).hexdigest()[:24].upper(),
            "event_version": "1.0",
            "create_time": _iso(event.at),
            "resource_type": of,
            "resource_version": "2.0",
            "event_type": kind,
            "summary": kind.replace(".", " ").title(),
            "resource": resource,
        }
    )
    transmission_id, time = hashlib.sha256(seed + b"%d" % int(now)).hexdigest()[:32], _iso(now)
    headers = {
        "Content-Type": "application/json",
        "PAYPAL-TRANSMISSION-ID": transmission_id,
        "PAYPAL-TRANSMISSION-TIME": time,
        "PAYPAL-TRANSMISSION-SIG": sandbox.transmission_signature(transmission_id, time, webhook_id, body),
        "PAYPAL-CERT-URL": f"{base}/v1/notifications/certs/CERT-sidecar-sandbox",
        "PAYPAL-AUTH-ALGO": "SHA256withRSA",
    }
    return WebhookMessage(body, headers)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
