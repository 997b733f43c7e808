"""Checkout.com webhooks: `Cko-Signature` verification, event translation, and the events the sandbox sends.

Signature (https://www.checkout.com/docs/developer-resources/webhooks/manage-webhooks/set-up-your-webhook-receiver):
"We generate the HMAC by hashing the contents of the webhook notification using the key you provide in your
workflow's webhook action, and then send it in the hex-encoded (Base16) Cko-Signature header"; the receiver hashes
"the contents in the webhook body with the SHA-256 hash function, using your webhook's signature key as the hash
key", over "the raw body from the HTTP request". So: lower-case hex HMAC-SHA256 keyed with the key's UTF-8 bytes over
the body as it arrived, compared in constant time. Checkout.com signs no time, so there is no time window; it
delivers at least once (up to eight resends), so each event carries its `evt_` id for the app to de-duplicate.

Event types: the `EventTypesObject` example of Checkout.com's API reference
(`../shared/specs/checkout-com.openapi.json`) and
https://www.checkout.com/docs/reporting-and-insights/events-api/event-types (June 2022), which spells `payment_canceled`
where the reference has `payment_cancelled`: both are here. Each event's `data` is the payment
(`id`), the action it is about (`action_id`) and that action's amount.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson
from pydantic import SecretStr

from connectors.checkout.connector import CURRENCIES
from connectors.checkout.sandbox import response, status_word, timestamp
from connectors.kit.models import EventType, PaymentStatus, RefundStatus, WebhookEvent
from connectors.kit.sandbox import Event as EngineEvent
from connectors.kit.sandbox import EventType as EngineEventType
from connectors.kit.sandbox import OperationState
from connectors.kit.webhooks import (
    RefusalReason,
    WebhookMessage,
    WebhookRefused,
    WebhookRequest,
    amount_of,
    hmac_sha256,
    json_event,
    same,
)

if TYPE_CHECKING:
    from connectors.checkout.connector import Checkout

HEADER = "cko-signature"


@dataclass(frozen=True, slots=True)
class Translation:
    """What an event type means. `modification`: the event settles an action (capture, void, refund) whose
    `action_id` the app holds as an `operation_id`."""

    type: EventType
    object: Literal["payment", "refund", "dispute"] = "payment"
    status: PaymentStatus | RefundStatus | None = None
    modification: bool = False


def _payment(event_type: EventType, status: PaymentStatus, modification: bool = False) -> Translation:
    return Translation(event_type, "payment", status, modification)


def _refund(event_type: EventType, status: RefundStatus) -> Translation:
    return Translation(event_type, "refund", status, modification=True)


_FAILED = _payment(EventType.PAYMENT_FAILED, PaymentStatus.FAILURE)

EVENT_TYPES: dict[str, Translation] = {
    "card_verified": _payment(EventType.PAYMENT_AUTHORIZED, PaymentStatus.AUTHORIZED),
    "card_verification_declined": _payment(EventType.PAYMENT_FAILED, PaymentStatus.AUTHORIZATION_FAILED),
    "payment_approved": _payment(EventType.PAYMENT_AUTHORIZED, PaymentStatus.AUTHORIZED),
    "payment_pending": _payment(EventType.UNKNOWN, PaymentStatus.PENDING),
    "payment_declined": _payment(EventType.PAYMENT_FAILED, PaymentStatus.AUTHORIZATION_FAILED),
    "payment_expired": _FAILED,
    "payment_cancelled": _FAILED,
    "payment_canceled": _FAILED,
    "payment_voided": _payment(EventType.PAYMENT_VOIDED, PaymentStatus.VOIDED, modification=True),
    "payment_void_declined": _payment(EventType.PAYMENT_FAILED, PaymentStatus.VOID_FAILED, modification=True),
    "payment_captured": _payment(EventType.PAYMENT_CAPTURED, PaymentStatus.CHARGED, modification=True),
    "payment_capture_declined": _payment(EventType.PAYMENT_FAILED, PaymentStatus.CAPTURE_FAILED, modification=True),
    "payment_capture_pending": _payment(EventType.UNKNOWN, PaymentStatus.CAPTURE_INITIATED, modification=True),
    "payment_paid": _payment(EventType.PAYMENT_SUCCEEDED, PaymentStatus.CHARGED),
    "payment_refunded": _refund(EventType.REFUND_SUCCEEDED, RefundStatus.SUCCEEDED),
    "payment_refund_declined": _refund(EventType.REFUND_FAILED, RefundStatus.FAILED),
    "payment_refund_pending": _refund(EventType.UNKNOWN, RefundStatus.PENDING),
    "payment_chargeback": Translation(EventType.DISPUTE_OPENED, "dispute"),
    "payment_retrieval": Translation(EventType.UNKNOWN, "dispute"),  # a request for documents, before any dispute
    "dispute_evidence_required": Translation(EventType.DISPUTE_OPENED, "dispute"),
    "dispute_canceled": Translation(EventType.DISPUTE_CLOSED, "dispute"),
    "dispute_expired": Translation(EventType.DISPUTE_CLOSED, "dispute"),
    "dispute_lost": Translation(EventType.DISPUTE_CLOSED, "dispute"),
    "dispute_resolved": Translation(EventType.DISPUTE_CLOSED, "dispute"),
    "dispute_won": Translation(EventType.DISPUTE_CLOSED, "dispute"),
}


def signature(key: str, body: bytes) -> str:
    return hmac_sha256(key.encode(), body).hex()


def verify(req: WebhookRequest, secrets: Sequence[SecretStr]) -> None:
    """Raises WebhookRefused unless `Cko-Signature` is the HMAC of the body with one of `secrets`."""
    header = req.headers.get(HEADER)
    if not header:
        raise WebhookRefused(RefusalReason.UNSIGNED, "no Cko-Signature header")
    if not secrets:
        raise WebhookRefused(RefusalReason.NOT_CONFIGURED, "the account has no webhook_secret")
    given = header.strip().lower()
    # Every key is compared, so that the time taken says nothing about which one matched.
    if not sum(same(signature(secret.get_secret_value(), req.body), given) for secret in secrets):
        raise WebhookRefused(RefusalReason.BAD_SIGNATURE, "Cko-Signature does not match the account's signature key")


def events(connector: Checkout, req: WebhookRequest, secrets: Sequence[SecretStr]) -> list[WebhookEvent]:
    """The one event of a verified Checkout.com webhook."""
    verify(req, secrets)
    event = json_event(req.body, "type", "a Checkout.com event")
    return [translate(connector, event)]


def translate(connector: Checkout, event: dict[str, Any]) -> WebhookEvent:
    """A Checkout.com event as a WebhookEvent; a type not in the table is `unknown`, with its payload, never dropped."""
    kind: str = event["type"]
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    rule = EVENT_TYPES.get(kind, Translation(EventType.UNKNOWN))
    payment_id, action_id = _text(data.get("id")), _text(data.get("action_id"))
    fields: dict[str, Any] = {"object": rule.object, "status": rule.status, "id": payment_id or event["id"]}
    if rule.object == "dispute":
        fields["payment_id"] = _text(data.get("payment_id"))
    elif rule.object == "refund":
        fields |= {"payment_id": payment_id, "operation_id": action_id}
        fields["id"] = f"{payment_id}~{action_id}" if payment_id and action_id else fields["id"]
    elif rule.modification:
        fields["operation_id"] = action_id
    return WebhookEvent(
        connector=connector.name,
        type=rule.type,
        event_id=event["id"],
        amount=amount_of(CURRENCIES, data.get("amount"), data.get("currency")),
        reference=_text(data.get("reference")),
        connector_event=kind,
        payload=event,
        **fields,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- the sandbox's events -----------------------------------------------------------------------------


def sandbox_event(event: EngineEvent) -> tuple[str, str | None, int] | None:
    """(event type, action id, amount in Checkout.com's units) of an engine event; None where it sends none."""
    payment, subject = event.payment, event.subject or ""
    match event.type:
        case EngineEventType.AUTHENTICATION_PENDING:
            return "payment_pending", None, payment.amount
        case EngineEventType.AUTHORIZED:
            return "payment_approved", "act_" + subject[4:], payment.amount
        case EngineEventType.DECLINED:
            return "payment_declined", "act_" + subject[4:], payment.amount
        case EngineEventType.CAPTURE_SETTLED if (capture := payment.capture(subject)) is not None:
            ok = capture.status is OperationState.SUCCEEDED
            return ("payment_captured" if ok else "payment_capture_declined"), subject, capture.amount
        case EngineEventType.VOID_SETTLED if payment.void is not None:
            ok = payment.void.status is OperationState.SUCCEEDED
            return ("payment_voided" if ok else "payment_void_declined"), subject, payment.released
        case EngineEventType.REFUND_SETTLED | EngineEventType.REFUND_FAILED if refund := payment.refund(subject):
            ok = event.type is EngineEventType.REFUND_SETTLED
            return ("payment_refunded" if ok else "payment_refund_declined"), subject, refund.amount
    return None


def sandbox_webhook(event: EngineEvent, key: str) -> WebhookMessage | None:
    """The signed webhook Checkout.com sends for an engine event, or None when it sends none."""
    found = sandbox_event(event)
    if found is None:
        return None
    kind, action_id, amount = found
    payment = event.payment
    code, summary = response(payment)
    data: dict[str, Any] = {"id": payment.id, "amount": amount, "currency": payment.currency}
    data |= {"status": status_word(payment), "reference": payment.reference, "metadata": dict(payment.metadata)}
    data |= {"response_code": code, "response_summary": summary, "processed_on": timestamp(event.at)}
    if action_id:
        data["action_id"] = action_id
    # The same engine event always gets the same id: a resent webhook is the same event.
    seed = f"{payment.id}:{event.subject}:{event.type}".encode()
    body = orjson.dumps(
        {
            "id": "evt_" + hashlib.sha256(seed).hexdigest()[:26],
            "type": kind,
            "created_on": timestamp(event.at),
            "data": data,
            "_links": {"payment": {"href": f"/payments/{payment.id}"}},
        }
    )
    return WebhookMessage(body, {"Content-Type": "application/json", "Cko-Signature": signature(key, body)})
