"""Adyen standard webhooks: HMAC per notification item, the endpoint's optional basic auth, event
translation, and the notifications the sandbox sends.

Signature (https://docs.adyen.com/development-resources/webhooks/verify-hmac-signatures; the page defers
the details to Adyen's libraries: adyen-python-api-library `Adyen/util.py`, adyen-java-api-library
`HMACValidator.java`): the item's `pspReference`, `originalReference`, `merchantAccountCode`,
`merchantReference`, `amount.value`, `amount.currency`, `eventCode` and `success`, joined by `:` with
missing fields empty and no escaping, HMAC-SHA256 keyed with the hex-decoded key, Base64, compared with
`additionalData.hmacSignature`. Every item of a batch is verified before any is delivered (the Python
library checks only the first). Adyen signs no time, so there is no time window. Basic auth is what
Adyen adds "in the header of the webhook event" once a username and password are set in its Customer
Area (https://docs.adyen.com/development-resources/webhooks/best-practices, "Security").
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson

from connectors.adyen.connector import CURRENCIES
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
    same,
)

if TYPE_CHECKING:
    from connectors.adyen.connector import AdyenAccount

SIGNED_FIELDS = (
    "pspReference",
    "originalReference",
    "merchantAccountCode",
    "merchantReference",
    "value",
    "currency",
    "eventCode",
    "success",
)

Status = PaymentStatus | RefundStatus


@dataclass(frozen=True, slots=True)
class Translation:
    """What an eventCode means, with `success` true and false. For a modification, `pspReference` is the
    modification's own id and `originalReference` the payment's."""

    object: Literal["payment", "refund", "dispute"]
    succeeded: tuple[EventType, Status | None]
    failed: tuple[EventType, Status | None]
    modification: bool = True


def _dispute(event_type: EventType) -> Translation:
    # https://docs.adyen.com/risk-management/disputes-api/dispute-notifications: "pspReference: the PSP
    # reference of the dispute", "originalReference: the PSP reference of the disputed payment".
    return Translation("dispute", (event_type, None), (event_type, None))


_CANCELLATION = Translation(
    "payment",
    (EventType.PAYMENT_VOIDED, PaymentStatus.VOIDED),
    (EventType.PAYMENT_FAILED, PaymentStatus.VOID_FAILED),
)
_REFUND = Translation(
    "refund",
    (EventType.REFUND_SUCCEEDED, RefundStatus.SUCCEEDED),
    (EventType.REFUND_FAILED, RefundStatus.FAILED),
)
_REFUND_FAILED = (EventType.REFUND_FAILED, RefundStatus.FAILED)
_CAPTURE_FAILED = (EventType.PAYMENT_FAILED, PaymentStatus.CAPTURE_FAILED)

# eventCode -> its meaning (event codes: adyen-java-api-library `NotificationRequestItem.java`). CAPTURE_FAILED
# and REFUND_FAILED come after a CAPTURE or REFUND that succeeded, when the scheme refused it later.
TRANSLATIONS: dict[str, Translation] = {
    "AUTHORISATION": Translation(
        "payment",
        (EventType.PAYMENT_AUTHORIZED, PaymentStatus.AUTHORIZED),
        (EventType.PAYMENT_FAILED, PaymentStatus.AUTHORIZATION_FAILED),
        modification=False,
    ),
    "CAPTURE": Translation("payment", (EventType.PAYMENT_CAPTURED, PaymentStatus.CHARGED), _CAPTURE_FAILED),
    "CAPTURE_FAILED": Translation("payment", _CAPTURE_FAILED, _CAPTURE_FAILED),
    "CANCELLATION": _CANCELLATION,
    "REFUND": _REFUND,
    "REFUND_FAILED": Translation("refund", _REFUND_FAILED, _REFUND_FAILED),
    "NOTIFICATION_OF_CHARGEBACK": _dispute(EventType.DISPUTE_OPENED),
    "CHARGEBACK": _dispute(EventType.DISPUTE_OPENED),
    "SECOND_CHARGEBACK": _dispute(EventType.DISPUTE_OPENED),
    "CHARGEBACK_REVERSED": _dispute(EventType.DISPUTE_CLOSED),
    "PREARBITRATION_WON": _dispute(EventType.DISPUTE_CLOSED),
    "PREARBITRATION_LOST": _dispute(EventType.DISPUTE_CLOSED),
}
# CANCEL_OR_REFUND says which it was in `additionalData["modification.action"]` (Adyen's Webhooks API,
# CancelOrRefundNotificationRequestItem).
_CANCEL_OR_REFUND = {"cancel": _CANCELLATION, "refund": _REFUND}


# -- verification -------------------------------------------------------------------------------------


def signing_string(item: dict[str, Any]) -> str:
    amount = item.get("amount") if isinstance(item.get("amount"), dict) else {}
    values = {**item, "value": amount.get("value"), "currency": amount.get("currency")}
    return ":".join(_signed_text(values.get(name)) for name in SIGNED_FIELDS)


def _signed_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # Adyen sends "true"/"false" as text; a JSON boolean reads the same
        return "true" if value else "false"
    return str(value)


def item_signature(item: dict[str, Any], key: bytes) -> str:
    return base64.b64encode(hmac_sha256(key, signing_string(item).encode())).decode()


def items_of(body: bytes) -> list[dict[str, Any]]:
    """The NotificationRequestItems of a notification body; WebhookRefused (400) when it is none."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    wrappers = data.get("notificationItems") if isinstance(data, dict) else None
    wrappers = wrappers if isinstance(wrappers, list) else []
    items = [w.get("NotificationRequestItem") if isinstance(w, dict) else None for w in wrappers]
    if not items or not all(isinstance(item, dict) for item in items):
        raise WebhookRefused(RefusalReason.MALFORMED, "the body is not an Adyen notification with notificationItems")
    return items


def verify(req: WebhookRequest, account: AdyenAccount) -> list[dict[str, Any]]:
    """The notification's items, once the endpoint's basic auth (if the account sets one) and every item's
    HMAC with one of the account's keys have verified; else WebhookRefused."""
    items = items_of(req.body)
    signatures = [_signature_of(item) for item in items]
    if not all(signatures):
        raise WebhookRefused(RefusalReason.UNSIGNED, "a notification item has no additionalData.hmacSignature")
    if not account.hmac_key:
        raise WebhookRefused(RefusalReason.NOT_CONFIGURED, "the account has no hmac_key")
    if account.webhook_username is not None and not _basic_auth_matches(req, account):
        raise WebhookRefused(RefusalReason.BASIC_AUTH, "the webhook's basic auth is missing or wrong")
    keys = [bytes.fromhex(key.get_secret_value()) for key in account.hmac_key]
    for item, signature in zip(items, signatures, strict=True):
        # Every key is tried, so that the time taken says nothing about which one matched.
        if not sum(same(item_signature(item, key), signature) for key in keys):
            raise WebhookRefused(RefusalReason.BAD_SIGNATURE, "a notification item's hmacSignature does not verify")
    return items


def _signature_of(item: dict[str, Any]) -> str:
    extra = item.get("additionalData")
    signature = extra.get("hmacSignature") if isinstance(extra, dict) else None
    return signature if isinstance(signature, str) else ""


def _basic_auth_matches(req: WebhookRequest, account: AdyenAccount) -> bool:
    scheme, _, encoded = req.headers.get("authorization", "").partition(" ")
    try:
        user, sep, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    expected = account.webhook_password.get_secret_value() if account.webhook_password else ""
    user_ok = same(user, account.webhook_username or "")
    password_ok = same(password, expected)  # both compared, whichever is wrong
    return scheme.lower() == "basic" and bool(sep) and user_ok and password_ok


# -- translation --------------------------------------------------------------------------------------


def events(req: WebhookRequest, account: AdyenAccount) -> list[WebhookEvent]:
    """Every event of a verified notification, in order."""
    return [translate(item) for item in verify(req, account)]


def translate(item: dict[str, Any]) -> WebhookEvent:
    """One notification item as a WebhookEvent; an eventCode not in the tables is `unknown`, never dropped."""
    code = _text(item.get("eventCode")) or ""
    success = _signed_text(item.get("success"))
    psp, original = _text(item.get("pspReference")) or "", _text(item.get("originalReference"))
    extra = item.get("additionalData") if isinstance(item.get("additionalData"), dict) else {}
    action = _text(extra.get("modification.action")) or ""
    rule = _CANCEL_OR_REFUND.get(action) if code == "CANCEL_OR_REFUND" else TRANSLATIONS.get(code)
    amount = item.get("amount") if isinstance(item.get("amount"), dict) else {}
    common: dict[str, Any] = {
        "connector": "adyen",
        "event_id": f"{psp}:{code}:{success}",
        "amount": amount_of(CURRENCIES, amount.get("value"), amount.get("currency")),
        "reference": _text(item.get("merchantReference")),
        "connector_event": code,
        "payload": item,
    }
    if rule is None:
        return WebhookEvent(type=EventType.UNKNOWN, object="payment", id=original or psp, **common)
    event_type, status = rule.succeeded if success == "true" else rule.failed
    if not rule.modification or original is None:
        return WebhookEvent(type=event_type, object=rule.object, id=psp, status=status, **common)
    if rule.object == "payment":  # a capture or cancel: the payment, and the modification it settles
        return WebhookEvent(type=event_type, object="payment", id=original, operation_id=psp, status=status, **common)
    return WebhookEvent(type=event_type, object=rule.object, id=psp, payment_id=original, status=status, **common)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# -- the sandbox's notifications ------------------------------------------------------------------------

# Adyen's paymentMethod words for the card brands the sandbox engine knows.
_PAYMENT_METHODS = {"mastercard": "mc", "unionpay": "cup"}


def sandbox_notification(event: EngineEvent, merchant_account: str, hmac_key: str) -> WebhookMessage | None:
    """The signed notification Adyen sends for an engine event, or None when Adyen sends none: AUTHORISATION
    after an authorization or a decline; CAPTURE, CANCELLATION and REFUND once the modification settled.
    An automatic capture has no CAPTURE: Adyen sends one as "the outcome of the request" to /captures
    (Checkout v71)."""
    found = _sandbox_event(event)
    if found is None:
        return None
    code, success, psp, original, amount = found
    payment = event.payment
    item: dict[str, Any] = {
        "amount": {"currency": payment.currency, "value": CURRENCIES.to_gateway(amount, payment.currency)},
        "eventCode": code,
        "eventDate": datetime.fromtimestamp(event.at, UTC).isoformat(timespec="seconds"),
        "merchantAccountCode": merchant_account,
        "merchantReference": payment.reference or "",
        "pspReference": psp,
        "success": "true" if success else "false",
        "additionalData": {},
    }
    if original is not None:
        item["originalReference"] = original
    if payment.card is not None:
        item["paymentMethod"] = _PAYMENT_METHODS.get(payment.card.brand, payment.card.brand)
    if not success:
        item["reason"] = (payment.decline or "Refused") if code == "AUTHORISATION" else f"{code.lower()} failed"
    item["additionalData"]["hmacSignature"] = item_signature(item, bytes.fromhex(hmac_key))
    body = orjson.dumps({"live": "false", "notificationItems": [{"NotificationRequestItem": item}]})
    return WebhookMessage(body, {"Content-Type": "application/json"})


def _sandbox_event(event: EngineEvent) -> tuple[str, bool, str, str | None, int] | None:
    """(eventCode, success, pspReference, originalReference, amount in ISO minor units) of an engine event."""
    payment = event.payment
    if event.type in (EngineEventType.AUTHORIZED, EngineEventType.DECLINED):
        return "AUTHORISATION", event.type is EngineEventType.AUTHORIZED, payment.id, None, payment.amount
    if event.type is EngineEventType.CAPTURE_SETTLED:
        capture = payment.capture(event.subject or "")
        if capture is None or capture.automatic:
            return None
        return "CAPTURE", capture.status is OperationState.SUCCEEDED, capture.id, payment.id, capture.amount
    if event.type is EngineEventType.VOID_SETTLED and payment.void is not None:
        void = payment.void
        return "CANCELLATION", void.status is OperationState.SUCCEEDED, void.id, payment.id, payment.amount
    if event.type in (EngineEventType.REFUND_SETTLED, EngineEventType.REFUND_FAILED):
        refund = payment.refund(event.subject or "")
        if refund is None:
            return None
        return "REFUND", event.type is EngineEventType.REFUND_SETTLED, refund.id, payment.id, refund.amount
    return None
