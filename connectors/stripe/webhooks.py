"""Stripe webhooks: `Stripe-Signature` verification, event translation, and the events the sandbox sends.

Verification follows Stripe's official library (stripe-python `stripe/_webhook.py`,
`WebhookSignature.verify_header`): the header is `t=<unix>,v1=<hex>[,v1=...]` (other schemes ignored),
the signed payload is `<t>.<raw body>`, the MAC HMAC-SHA256 keyed with the whole `whsec_...` secret,
lower-case hex; any `v1` may match; the signature is checked before the time, and a timestamp more than
300 s old is refused. stripe-python refuses only old timestamps (stripe-php also refuses future ones):
a clock behind Stripe's must not refuse every event, so the sidecar does as stripe-python does.

Event types are those of Stripe's API (the `enabled_events` enum of `POST /v1/webhook_endpoints` in its
OpenAPI spec); each event's `data.object` is the object as it stands after the event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson
from pydantic import SecretStr, ValidationError

from connectors.kit.errors import SidecarError
from connectors.kit.models import EventType, RefundStatus, WebhookEvent
from connectors.kit.sandbox import CaptureMode, PaymentRecord
from connectors.kit.sandbox import Event as EngineEvent
from connectors.kit.sandbox import EventType as EngineEventType
from connectors.kit.webhooks import (
    RefusalReason,
    WebhookMessage,
    WebhookRefused,
    WebhookRequest,
    amount_of,
    json_event,
    parse_signature_header,
    same,
    signature_header,
    timestamped_signature,
)
from connectors.stripe.connector import API_VERSION, CURRENCIES, REFUND_STATUS, _reference

if TYPE_CHECKING:
    from connectors.stripe.connector import Stripe

HEADER = "stripe-signature"
TOLERANCE_SECONDS = 300  # stripe-python's DEFAULT_TOLERANCE

# Stripe event type -> canonical type. Refund objects' events take their type from the refund's status.
EVENT_TYPES: dict[str, EventType] = {
    "payment_intent.amount_capturable_updated": EventType.PAYMENT_AUTHORIZED,
    "payment_intent.succeeded": EventType.PAYMENT_SUCCEEDED,
    "payment_intent.payment_failed": EventType.PAYMENT_FAILED,
    "payment_intent.canceled": EventType.PAYMENT_VOIDED,
    "charge.captured": EventType.PAYMENT_CAPTURED,
    "charge.refunded": EventType.REFUND_SUCCEEDED,
    "charge.dispute.created": EventType.DISPUTE_OPENED,
    "charge.dispute.closed": EventType.DISPUTE_CLOSED,
}
_REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "charge.refund.updated"})
_REFUND_TYPES = {RefundStatus.SUCCEEDED: EventType.REFUND_SUCCEEDED, RefundStatus.FAILED: EventType.REFUND_FAILED}


def verify(req: WebhookRequest, secrets: Sequence[SecretStr]) -> None:
    """Raises WebhookRefused unless a `v1` signature is the HMAC of one of `secrets`, made in the last 300 s."""
    header = req.headers.get(HEADER)
    if not header:
        raise WebhookRefused(RefusalReason.UNSIGNED, "no Stripe-Signature header")
    if not secrets:
        raise WebhookRefused(RefusalReason.NOT_CONFIGURED, "the account has no webhook_secret")
    try:
        timestamp, signatures = parse_signature_header(header)
    except ValueError:
        raise WebhookRefused(RefusalReason.BAD_SIGNATURE, "Stripe-Signature has no timestamp") from None
    if not signatures:
        raise WebhookRefused(RefusalReason.UNSIGNED, "Stripe-Signature has no v1 signature")
    expected = [timestamped_signature(secret.get_secret_value(), timestamp, req.body) for secret in secrets]
    # Every pair is compared, so that the time taken says nothing about which one matched.
    if not sum(same(mine, theirs) for mine in expected for theirs in signatures):
        raise WebhookRefused(
            RefusalReason.BAD_SIGNATURE, "no Stripe-Signature v1 signature matches the account's secret"
        )
    if timestamp < req.now - TOLERANCE_SECONDS:
        raise WebhookRefused(RefusalReason.STALE, f"the signature is more than {TOLERANCE_SECONDS} s old")


def events(connector: Stripe, req: WebhookRequest, secrets: Sequence[SecretStr]) -> list[WebhookEvent]:
    """The one event of a verified Stripe webhook."""
    verify(req, secrets)
    event = json_event(req.body, "type", "a Stripe event")
    return [translate(connector, event)]


def translate(connector: Stripe, event: dict[str, Any]) -> WebhookEvent:
    """A Stripe event as a WebhookEvent: its object read by the object's own type, its type from the
    table; any other type is `unknown`, with the payload, never dropped."""
    kind: str = event["type"]
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    obj = obj if isinstance(obj, dict) else {}
    fields = _object_fields(connector, obj, kind)
    event_type = fields.pop("type", None) or EVENT_TYPES.get(kind, EventType.UNKNOWN)
    fields.setdefault("object", "payment")
    fields["id"] = fields.get("id") or _text(obj.get("id")) or event["id"]
    return WebhookEvent(
        connector=connector.name,
        type=event_type,
        event_id=event["id"],
        connector_event=kind,
        payload=event,
        **fields,
    )


def _object_fields(connector: Stripe, obj: dict[str, Any], kind: str) -> dict[str, Any]:
    match obj.get("object"):
        case "payment_intent":
            try:
                payment = connector._payment_from_intent(obj)
            except (SidecarError, ValidationError, AttributeError, TypeError):
                return {}  # an intent the connector cannot read: the event still goes, with its payload
            return {
                "status": payment.status,
                "amount": payment.captured or payment.amount,
                "reference": payment.reference,
            }
        case "charge":
            amount = obj.get("amount_refunded") if kind == "charge.refunded" else obj.get("amount_captured")
            return {
                "id": _text(obj.get("payment_intent")),
                "amount": amount_of(CURRENCIES, amount, obj.get("currency")),
                "reference": _reference_of(obj),
            }
        case "refund":
            status = REFUND_STATUS.get(_text(obj.get("status")) or "", RefundStatus.MANUAL_REVIEW)
            fields: dict[str, Any] = {
                "object": "refund",
                "payment_id": _text(obj.get("payment_intent")),
                "status": status,
                "amount": amount_of(CURRENCIES, obj.get("amount"), obj.get("currency")),
                "reference": _reference_of(obj),
            }
            if kind in _REFUND_EVENTS:
                fields["type"] = _REFUND_TYPES.get(status, EventType.UNKNOWN)
            return fields
        case "dispute":
            return {
                "object": "dispute",
                "payment_id": _text(obj.get("payment_intent")),
                "amount": amount_of(CURRENCIES, obj.get("amount"), obj.get("currency")),
            }
    return {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _reference_of(obj: dict[str, Any]) -> str | None:
    return _text(_reference(obj)) if isinstance(obj.get("metadata"), dict) else None


# -- the sandbox's events -----------------------------------------------------------------------------


class StripeObjects(Protocol):
    """The Stripe sandbox codec's renderings of its objects, as its API answers carry them."""

    def payment_intent(self, payment: PaymentRecord) -> dict[str, Any]: ...

    def charge(self, payment: PaymentRecord) -> dict[str, Any]: ...

    def refund(self, payment: PaymentRecord, refund_id: str) -> dict[str, Any]: ...


ObjectKind = Literal["payment_intent", "charge", "refund"]


def sandbox_event_type(event: EngineEvent) -> tuple[str, ObjectKind] | None:
    """The Stripe event an engine event is, and the kind of object it carries; None when Stripe sends none.
    An authorization with automatic capture is reported once, by `payment_intent.succeeded`."""
    match event.type:
        case EngineEventType.AUTHENTICATION_PENDING:
            return "payment_intent.requires_action", "payment_intent"
        case EngineEventType.AUTHORIZED if event.payment.capture_mode is CaptureMode.MANUAL:
            return "payment_intent.amount_capturable_updated", "payment_intent"
        case EngineEventType.DECLINED:
            return "payment_intent.payment_failed", "payment_intent"
        case EngineEventType.CAPTURE_SETTLED:
            return "payment_intent.succeeded", "payment_intent"
        case EngineEventType.VOID_SETTLED:
            return "payment_intent.canceled", "payment_intent"
        case EngineEventType.REFUND_SETTLED:
            return "charge.refunded", "charge"
        case EngineEventType.REFUND_FAILED:
            return "charge.refund.updated", "refund"
    return None


def sandbox_webhook(event: EngineEvent, objects: StripeObjects, secret: str, now: float) -> WebhookMessage | None:
    """The signed webhook Stripe sends for an engine event, its object rendered by the codec; None if none."""
    found = sandbox_event_type(event)
    if found is None:
        return None
    kind, object_kind = found
    if object_kind == "payment_intent":
        obj = objects.payment_intent(event.payment)
    elif object_kind == "charge":
        obj = objects.charge(event.payment)
    else:
        obj = objects.refund(event.payment, event.subject or "")
    # The same engine event always gets the same id: a resent webhook is the same event.
    seed = f"{event.payment.id}:{event.subject}:{event.type}".encode()
    body = orjson.dumps(
        {
            "id": "evt_" + hashlib.sha256(seed).hexdigest()[:24],
            "object": "event",
            "api_version": API_VERSION,
            "created": int(event.at),
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }
    )
    header = signature_header([secret], int(now), body)
    return WebhookMessage(body, {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header})
