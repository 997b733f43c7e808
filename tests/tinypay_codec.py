"""TinyPay: the sandbox codec of a made-up JSON gateway, written only against the connector kit.

It shows that a gateway's sandbox fits on the shared engine: it imports nothing but the standard
library and the kit (``connectors.kit.sandbox`` and its wire pieces, ``sandbox_wire``), as
``connectors/<gateway>/sandbox.py`` must, and keeps no state.

Wire (JSON bodies; ``Authorization: Bearer tp_alpha`` or ``tp_beta``; ``Idempotency-Key`` on POSTs)::

    POST /v1/cards                        {"number", "exp_month", "exp_year", "cvc"?, "holder"?}
    POST /v1/payments                     {"amount", "currency", "capture"?: "auto"|"manual",
                                           "card"?: {...} | "card_id"?, "confirm"?: bool,
                                           "three_ds"?: "auto"|"required"|"unavailable", "reference"?}
    GET  /v1/payments/{id}
    POST /v1/payments/{id}/confirm        {"card"? | "card_id"?, "three_ds"?}
    POST /v1/payments/{id}/authenticate   {"result": "succeeded"|"failed"|"abandoned", "step"?, "later"?: bool}
    POST /v1/payments/complete            {"token"}
    POST /v1/payments/{id}/captures       {"amount"?, "currency"?, "final"?: bool}
    POST /v1/payments/{id}/void           {"reason"?}
    POST /v1/payments/{id}/refunds        {"amount"?, "currency"?, "capture_id"?}
    GET  /v1/refunds/{id}

Test data beside the shared cards: 4000000000009995 declines ``insufficient_funds``; 4000000000003220
authenticates by fingerprint then challenge; 4000000000003063 frictionlessly; holder ``DECLINED``
declines. Refunds of 666 fail, of 1337 stay pending. Captures
and refunds settle two seconds later by default.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from connectors.kit.sandbox import (
    Attempt,
    Authenticate,
    AuthenticationResult,
    Call,
    Capture,
    CaptureMode,
    CardInput,
    CardRule,
    CreatePayment,
    DeclineCode,
    ErrorCode,
    FinishAuthentication,
    GetPayment,
    IdempotencyKey,
    IdKind,
    Operation,
    PaymentRecord,
    PaymentState,
    Refund,
    RefundRecord,
    Refusal,
    Reply,
    SandboxPolicy,
    SandboxRequest,
    SandboxResponse,
    SandboxRules,
    Settlement,
    StoredCard,
    ThreeDSMode,
    ThreeDSRule,
    Tokenize,
    Void,
)
from connectors.kit.sandbox_wire import Fields, WireError, authorization, json_answer, json_object, match_route

API_KEYS = {"tp_alpha": "alpha", "tp_beta": "beta"}

RULES = SandboxRules(
    cards={
        "4000000000009995": CardRule(decline=DeclineCode.INSUFFICIENT_FUNDS),
        "4000000000003220": CardRule(three_ds=ThreeDSRule(("fingerprint", "challenge"))),
        "4000000000003063": CardRule(three_ds=ThreeDSRule(())),
    },
    holder_names={"DECLINED": CardRule(decline=DeclineCode.GENERIC_DECLINE)},
    refund_amounts={666: Settlement.FAILS, 1337: Settlement.STAYS_PENDING},
)

_ROUTES = [
    ("POST", re.compile(r"/v1/cards"), "card"),
    ("POST", re.compile(r"/v1/payments"), "create"),
    ("POST", re.compile(r"/v1/payments/complete"), "complete"),
    ("GET", re.compile(r"/v1/payments/([^/]+)"), "get"),
    ("POST", re.compile(r"/v1/payments/([^/]+)/confirm"), "confirm"),
    ("POST", re.compile(r"/v1/payments/([^/]+)/authenticate"), "authenticate"),
    ("POST", re.compile(r"/v1/payments/([^/]+)/captures"), "capture"),
    ("POST", re.compile(r"/v1/payments/([^/]+)/void"), "void"),
    ("POST", re.compile(r"/v1/payments/([^/]+)/refunds"), "refund"),
    ("GET", re.compile(r"/v1/refunds/([^/]+)"), "get_refund"),
]
_ID_PREFIXES = {
    IdKind.PAYMENT: "pay_",
    IdKind.ATTEMPT: "att_",
    IdKind.CAPTURE: "cap_",
    IdKind.VOID: "void_",
    IdKind.REFUND: "ref_",
    IdKind.CARD: "card_",
    IdKind.TOKEN: "tok_",
}
_REFUSAL_STATUS = {
    ErrorCode.INVALID_ARGUMENT: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.IDEMPOTENCY_CONFLICT: 409,
    ErrorCode.IDEMPOTENCY_IN_PROGRESS: 409,
    ErrorCode.AMOUNT_EXCEEDS: 422,
    ErrorCode.CURRENCY_MISMATCH: 422,
}
_CAPTURE_MODES = {"auto": CaptureMode.AUTOMATIC, "manual": CaptureMode.MANUAL}


class TinyPayCodec:
    rules = RULES

    def __init__(self, policy: SandboxPolicy | None = None) -> None:
        self.policy = policy or SandboxPolicy(capture_delay=2.0, refund_delay=2.0)

    def new_id(self, kind: IdKind) -> str:
        return _ID_PREFIXES[kind] + secrets.token_hex(8)

    # -- requests -------------------------------------------------------------------------------

    def route(self, request: SandboxRequest) -> Call | SandboxResponse:
        account = API_KEYS.get(authorization(request.headers.get("authorization", ""))[0])
        if account is None:
            return _error(401, "unauthorized", "a valid API key is needed")
        found = match_route(_ROUTES, request.method, request.path)
        if found is None:
            return _error(404, "not_found", "no such endpoint")
        (_, _, name), ref = found
        try:
            body = Fields(json_object(request.body or b"{}") if request.method == "POST" else {})
            operation = _operation(name, ref, body)
        except WireError as exc:
            expected = ", ".join(exc.expected) if isinstance(exc.expected, tuple) else exc.expected
            return _error(400, "invalid_request", f"{exc.field}: {exc.problem} (expected {expected})", exc.field)
        key = request.headers.get("idempotency-key")
        idempotency = IdempotencyKey(key, request.path, body.data) if key and request.method == "POST" else None
        return Call(account, operation, idempotency, context=name)

    # -- answers --------------------------------------------------------------------------------

    def render(self, request: SandboxRequest, call: Call, reply: Reply) -> SandboxResponse:
        headers = {"Idempotent-Replayed": "true"} if reply.replayed else {}
        result = reply.result
        if isinstance(result, Refusal):
            return _error(_REFUSAL_STATUS[result.code], result.code, result.message, result.field, result.available)
        if call.context == "card":
            assert result.card is not None
            return json_answer(201, _card(result.card), headers)
        payment = result.payment
        assert payment is not None
        if call.context in ("refund", "get_refund"):
            refund = payment.refund(result.subject or "")
            if refund is None:  # a GET /v1/refunds/ with the id of something else
                return _error(404, "not_found", "no such refund")
            return json_answer(201 if call.context == "refund" else 200, _refund(refund, payment), headers)
        body = _payment(payment, request.base_url)
        if call.context == "authenticate" and result.subject:
            body["token"] = result.subject
        return json_answer(200, body, headers)


# --- reading requests ----------------------------------------------------------------------------


def _operation(name: str, ref: str, body: Fields) -> Operation:
    three_ds = ThreeDSMode(body.choice("three_ds", tuple(ThreeDSMode)) or "auto")
    match name:
        case "card":
            return Tokenize(_card_input(body))
        case "create":
            return CreatePayment(
                amount=body.integer("amount", required=True),
                currency=body.string("currency", required=True),
                capture=_CAPTURE_MODES[body.choice("capture", tuple(_CAPTURE_MODES)) or "auto"],
                pay_with=_pay_with(body),
                confirm=body.boolean("confirm") is not False,
                three_ds=three_ds,
                reference=body.string("reference"),
            )
        case "confirm":
            return Attempt(ref, _pay_with(body), three_ds)
        case "authenticate":
            result = AuthenticationResult(body.choice("result", tuple(AuthenticationResult), required=True))
            return Authenticate(ref, result, body.string("step"), finish=not body.boolean("later"))
        case "complete":
            return FinishAuthentication(body.string("token", required=True))
        case "capture":
            amount, currency = body.integer("amount"), body.string("currency")
            return Capture(ref, amount, currency, final=body.boolean("final") is not False)
        case "void":
            return Void(ref, body.string("reason"))
        case "refund":
            return Refund(ref, body.integer("amount"), body.string("currency"), body.string("capture_id"))
    return GetPayment(ref)  # get, get_refund


def _pay_with(body: Fields) -> CardInput | str | None:
    return _card_input(body.object("card")) if body.get("card") is not None else body.string("card_id")


def _card_input(card: Fields) -> CardInput:
    return CardInput(
        number=card.string("number", required=True),
        exp_month=card.integer("exp_month", required=True),
        exp_year=card.integer("exp_year", required=True),
        cvc=card.string("cvc"),
        holder_name=card.string("holder"),
    )


# --- writing answers -----------------------------------------------------------------------------


def _error(
    status: int, code: str, message: str, field: str | None = None, available: int | None = None
) -> SandboxResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    if available is not None:
        error["available"] = available
    return json_answer(status, {"error": error})


def _card(card: StoredCard) -> dict[str, Any]:
    return {
        "id": card.id,
        "brand": card.brand,
        "last4": card.last4,
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
    }


def _refund(refund: RefundRecord, payment: PaymentRecord) -> dict[str, Any]:
    return {
        "id": refund.id,
        "payment_id": payment.id,
        "amount": refund.amount,
        "currency": payment.currency,
        "status": refund.status,
        "capture_id": refund.capture_id,
    }


def _payment(payment: PaymentRecord, base_url: str) -> dict[str, Any]:
    attempt = payment.latest_attempt
    body: dict[str, Any] = {
        "id": payment.id,
        "status": payment.status,
        "amount": payment.amount,
        "currency": payment.currency,
        "reference": payment.reference,
        "capture": "auto" if payment.capture_mode is CaptureMode.AUTOMATIC else "manual",
        "authorized": payment.authorized,
        "captured": payment.captured,
        "capturable": payment.capturable,
        "refunded": payment.refunded,
        "released": payment.released,
        "decline": payment.decline,
        "card": _card(payment.card) if payment.card else None,
        "network_transaction_id": attempt.network_transaction_id if attempt else None,
        "captures": [{"id": c.id, "amount": c.amount, "status": c.status, "final": c.final} for c in payment.captures],
        "refunds": [_refund(r, payment) for r in payment.refunds],
        "void": {"id": payment.void.id, "status": payment.void.status} if payment.void else None,
    }
    if payment.status is PaymentState.AUTHENTICATION_PENDING and payment.three_ds is not None:
        step = payment.three_ds.current
        body["next_action"] = {"step": step, "url": f"{base_url}/v1/payments/{payment.id}/authenticate"}
    return body
