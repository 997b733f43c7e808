"""TinyPay: the sandbox codec of a made-up JSON gateway, written only against the connector kit.

It shows that a gateway's sandbox fits on the shared engine: it imports nothing but the standard
library and ``connectors.kit.sandbox``, as ``connectors/<gateway>/sandbox.py`` must, and keeps no state.

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

import json
import re
import secrets
from collections.abc import Mapping
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


class _BadInput(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class TinyPayCodec:
    rules = RULES

    def __init__(self, policy: SandboxPolicy | None = None) -> None:
        self.policy = policy or SandboxPolicy(capture_delay=2.0, refund_delay=2.0)

    def new_id(self, kind: IdKind) -> str:
        return _ID_PREFIXES[kind] + secrets.token_hex(8)

    # -- requests -------------------------------------------------------------------------------

    def route(self, request: SandboxRequest) -> Call | SandboxResponse:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        account = API_KEYS.get(key) if scheme.lower() == "bearer" else None
        if account is None:
            return _error(401, "unauthorized", "a valid API key is needed")
        found = _match_route(request.method, request.path)
        if found is None:
            return _error(404, "not_found", "no such endpoint")
        name, ref = found
        try:
            body = _json_object(request.body) if request.method == "POST" else {}
            operation = _operation(name, ref, body)
        except _BadInput as exc:
            return _error(400, "invalid_request", str(exc), field=exc.field)
        key = request.headers.get("idempotency-key")
        idempotency = IdempotencyKey(key, request.path, body) if key and request.method == "POST" else None
        return Call(account, operation, idempotency, context=name)

    # -- answers --------------------------------------------------------------------------------

    def render(self, request: SandboxRequest, call: Call, reply: Reply) -> SandboxResponse:
        headers = {"Idempotent-Replayed": "true"} if reply.replayed else {}
        result = reply.result
        if isinstance(result, Refusal):
            return _error(_REFUSAL_STATUS[result.code], result.code, result.message, result.field, result.available)
        if call.context == "card":
            assert result.card is not None
            return _json(201, _card(result.card), headers)
        payment = result.payment
        assert payment is not None
        if call.context in ("refund", "get_refund"):
            refund = payment.refund(result.subject or "")
            if refund is None:  # a GET /v1/refunds/ with the id of something else
                return _error(404, "not_found", "no such refund")
            return _json(201 if call.context == "refund" else 200, _refund(refund, payment), headers)
        body = _payment(payment, request.base_url)
        if call.context == "authenticate" and result.subject:
            body["token"] = result.subject
        return _json(200, body, headers)


# --- reading requests ----------------------------------------------------------------------------


def _match_route(method: str, path: str) -> tuple[str, str] | None:
    for route_method, pattern, name in _ROUTES:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return name, match.group(1) if match.groups() else ""
    return None


def _operation(name: str, ref: str, body: Mapping[str, Any]) -> Operation:
    match name:
        case "card":
            return Tokenize(_card_input(body))
        case "create":
            return CreatePayment(
                amount=_int(body, "amount", required=True),
                currency=_str(body, "currency", required=True),
                capture=_CAPTURE_MODES[_choice(body, "capture", tuple(_CAPTURE_MODES), "auto")],
                pay_with=_pay_with(body),
                confirm=_bool(body, "confirm", True),
                three_ds=ThreeDSMode(_choice(body, "three_ds", tuple(ThreeDSMode), "auto")),
                reference=_str(body, "reference"),
            )
        case "confirm":
            return Attempt(ref, _pay_with(body), ThreeDSMode(_choice(body, "three_ds", tuple(ThreeDSMode), "auto")))
        case "authenticate":
            result = AuthenticationResult(_choice(body, "result", tuple(AuthenticationResult), None))
            return Authenticate(ref, result, _str(body, "step"), finish=not _bool(body, "later", False))
        case "complete":
            return FinishAuthentication(_str(body, "token", required=True))
        case "capture":
            amount, currency = _int(body, "amount"), _str(body, "currency")
            return Capture(ref, amount, currency, final=_bool(body, "final", True))
        case "void":
            return Void(ref, _str(body, "reason"))
        case "refund":
            return Refund(ref, _int(body, "amount"), _str(body, "currency"), _str(body, "capture_id"))
    return GetPayment(ref)  # get, get_refund


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(raw or b"{}")
    except ValueError:
        raise _BadInput("body", "the body is not JSON") from None
    if not isinstance(parsed, dict):
        raise _BadInput("body", "the body is not a JSON object")
    return parsed


def _pay_with(body: Mapping[str, Any]) -> CardInput | str | None:
    card = body.get("card")
    if card is not None:
        if not isinstance(card, dict):
            raise _BadInput("card", "card is not an object")
        return _card_input(card)
    return _str(body, "card_id")


def _card_input(card: Mapping[str, Any]) -> CardInput:
    return CardInput(
        number=_str(card, "number", required=True),
        exp_month=_int(card, "exp_month", required=True),
        exp_year=_int(card, "exp_year", required=True),
        cvc=_str(card, "cvc"),
        holder_name=_str(card, "holder"),
    )


def _str(body: Mapping[str, Any], name: str, *, required: bool = False) -> Any:
    value = body.get(name)
    if (value is None and required) or (value is not None and not isinstance(value, str)):
        raise _BadInput(name, f"{name} must be a string")
    return value


def _int(body: Mapping[str, Any], name: str, *, required: bool = False) -> Any:
    value = body.get(name)
    if (value is None and required) or (value is not None and (type(value) is not int)):
        raise _BadInput(name, f"{name} must be an integer")
    return value


def _bool(body: Mapping[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise _BadInput(name, f"{name} must be true or false")
    return value


def _choice(body: Mapping[str, Any], name: str, choices: tuple[str, ...], default: str | None) -> str:
    value = body.get(name, default)
    if value not in choices:
        raise _BadInput(name, f"{name} must be one of {', '.join(choices)}")
    return value


# --- writing answers -----------------------------------------------------------------------------


def _json(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    return SandboxResponse(status, json.dumps(payload, separators=(",", ":")).encode(), headers=dict(headers or {}))


def _error(
    status: int, code: str, message: str, field: str | None = None, available: int | None = None
) -> SandboxResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    if available is not None:
        error["available"] = available
    return _json(status, {"error": error})


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
