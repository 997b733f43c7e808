"""Gateways' webhooks as the gateways send them, signed by their official SDKs (stripe-python's
`WebhookSignature`, Adyen's `Adyen.util`), and a sandbox engine with Adyen's and Stripe's ids, for the
webhook tests."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Callable
from typing import Any

import stripe
from Adyen import util as adyen_util

from connectors.kit.sandbox import CaptureMode, Event, IdKind, PaymentRecord, SandboxPolicy, SandboxRules
from sidecar.sandbox.engine import Engine

STRIPE_SECRET = "whsec_testOld0000000000000000000000"
STRIPE_NEW_SECRET = "whsec_testNew1111111111111111111111"
ADYEN_KEY = "3f6a1c0e9b7d2a4c5e8f01a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6"
ADYEN_NEW_KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00"


def stripe_event(kind: str, obj: dict[str, Any], event_id: str = "evt_1Test") -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": kind, "created": 1700000000, "data": {"object": obj}}


def intent(status: str = "succeeded", amount: int = 1000, received: int = 1000, **extra: Any) -> dict[str, Any]:
    return {
        "id": "pi_3TestIntent",
        "object": "payment_intent",
        "amount": amount,
        "amount_received": received,
        "currency": "usd",
        "status": status,
        "metadata": {"sidecar_reference": "order-7"},
        **extra,
    }


def stripe_signed(
    event: dict[str, Any], secret: str = STRIPE_SECRET, timestamp: int | None = None
) -> tuple[bytes, str]:
    """The body and its Stripe-Signature header, as Stripe's own library computes them."""
    body = json.dumps(event)
    return body.encode(), stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)


def adyen_item(code: str = "AUTHORISATION", success: str = "true", **extra: Any) -> dict[str, Any]:
    return {
        "amount": {"currency": "EUR", "value": 1000},
        "eventCode": code,
        "eventDate": "2030-06-15T12:00:00+02:00",
        "merchantAccountCode": "SidecarTestECOM",
        "merchantReference": "order-9",
        "pspReference": "QFQTPCQ8HXSKGK82",
        "success": success,
        "additionalData": {},
        **extra,
    }


def adyen_signed(item: dict[str, Any], key: str = ADYEN_KEY) -> dict[str, Any]:
    """The item with its hmacSignature, as Adyen's own library computes it."""
    signed = copy.deepcopy(item)
    unsigned = {k: v for k, v in signed.items() if k != "additionalData"}
    signed.setdefault("additionalData", {})["hmacSignature"] = adyen_util.generate_notification_sig(
        unsigned, key
    ).decode()
    return signed


def adyen_body(*items: dict[str, Any]) -> bytes:
    return json.dumps({"live": "false", "notificationItems": [{"NotificationRequestItem": i} for i in items]}).encode()


def adyen_ids() -> Callable[[IdKind], str]:
    """16 upper-case letters and digits, as Adyen's pspReferences are now; never a run of 13 digits."""
    counter = itertools.count(1)
    return lambda kind: f"T{kind.value[:3].upper()}{next(counter):012d}"


def stripe_ids(kind: IdKind) -> str:
    prefixes = {IdKind.PAYMENT: "pi", IdKind.REFUND: "re", IdKind.ATTEMPT: "ch", IdKind.CARD: "pm"}
    return f"{prefixes.get(kind, 'x')}_{next(_counter):08d}Test"


_counter = itertools.count(1)


class Clock:
    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def engine(
    new_id: Callable[[IdKind], str],
    on_event: Callable[[Event], None],
    clock: Clock,
    policy: SandboxPolicy | None = None,
) -> Engine:
    return Engine(SandboxRules(), policy or SandboxPolicy(), new_id, clock=clock, on_event=on_event)


class StripeObjects:
    """What the Stripe codec renders, in Stripe's shapes, enough for its events (stands in for the codec
    until it is on the engine)."""

    def payment_intent(self, payment: PaymentRecord) -> dict[str, Any]:
        status = {
            "authentication_pending": "requires_action",
            "declined": "requires_payment_method",
            "authorized": "requires_capture",
            "voided": "canceled",
        }.get(payment.status, "succeeded")
        attempt = payment.latest_attempt
        return {
            "id": payment.id,
            "object": "payment_intent",
            "amount": payment.amount,
            "amount_capturable": payment.capturable,
            "amount_received": payment.captured,
            "capture_method": "manual" if payment.capture_mode is CaptureMode.MANUAL else "automatic",
            "currency": payment.currency.lower(),
            "status": status,
            "metadata": dict(payment.metadata),
            "last_payment_error": {"type": "card_error", "decline_code": payment.decline} if payment.decline else None,
            "latest_charge": attempt.id if attempt else None,
        }

    def charge(self, payment: PaymentRecord) -> dict[str, Any]:
        attempt = payment.latest_attempt
        return {
            "id": attempt.id if attempt else "",
            "object": "charge",
            "amount": payment.amount,
            "amount_captured": payment.captured,
            "amount_refunded": payment.refunded,
            "currency": payment.currency.lower(),
            "payment_intent": payment.id,
            "refunded": payment.refunded == payment.captured,
        }

    def refund(self, payment: PaymentRecord, refund_id: str) -> dict[str, Any]:
        refund = payment.refund(refund_id)
        assert refund is not None
        return {
            "id": refund.id,
            "object": "refund",
            "amount": refund.amount,
            "currency": payment.currency.lower(),
            "payment_intent": payment.id,
            "status": refund.status.value,
        }
