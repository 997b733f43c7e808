"""PayPal's sandbox as api-m.sandbox.paypal.com answers: Orders v2 card orders, Payments v2 authorizations,
captures and refunds, the OAuth 2.0 token call and verify-webhook-signature; a codec over the shared engine.
Its account, wire, errors and test rules: the README, "Sandbox test rules"."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import zlib
from typing import Any
from urllib.parse import parse_qsl

from connectors.kit import sandbox as kit
from connectors.kit import sandbox_wire as wire
from connectors.kit.money import MoneyError
from connectors.paypal.connector import CURRENCIES, IDEMPOTENCY_KEY_LIMIT

__all__ = ["PAYPAL_SANDBOX_CLIENT_ID", "PAYPAL_SANDBOX_SECRET", "PAYPAL_SANDBOX_WEBHOOK_ID", "PayPalCodec"]

PAYPAL_SANDBOX_CLIENT_ID = "sidecar-sandbox-client"
PAYPAL_SANDBOX_SECRET = "sidecar-sandbox-secret"
PAYPAL_SANDBOX_WEBHOOK_ID = "SIDECARSANDBOXWEBHOOK"
TOKEN_LIFETIME = 32400  # PayPal's token answers carry about nine hours
_KEY = b"sidecar paypal sandbox"  # signs its tokens and webhooks: nothing outside the sandbox trusts it
_ACCOUNT = "paypal-sandbox"
# The engine's own declines as processor response codes (the sandbox's own: 7710 AUTHENTICATION_FAILED).
_CODES = dict(generic_decline="5100", expired_card="5400", insufficient_funds="5120", authentication_required="5650")
_CODES |= dict.fromkeys(("authentication_failed", "authentication_abandoned"), "7710")
_TRIGGERS = {"REFUSED": "0500", "SF": "9500", "EC": "5400", "IRC": "5180", "IF": "5120", "LS": "9520"}
_TRIGGERS |= {"IA": "1330", "BANK_ERROR": "5100", "CVV_F": "00N7"}
RULES = kit.SandboxRules(
    cards={
        "4868719460707704": kit.CardRule(three_ds=kit.ThreeDSRule(("challenge",))),
        "4868719796782421": kit.CardRule(three_ds=kit.ThreeDSRule(("challenge",), kit.AuthenticationResult.FAILED)),
    },
    holder_names={f"CCREJECT-{name}": kit.CardRule(decline=code) for name, code in _TRIGGERS.items()},
)
_ID = "([A-Z0-9]{1,36})"
_ROUTES = [
    ("POST", "/v2/checkout/orders", "order"),
    ("GET", f"/v2/checkout/orders/{_ID}", "get_order"),
    ("POST", f"/v2/checkout/orders/{_ID}/(?:authorize|capture)", "finish"),
    ("GET", f"/v2/payments/authorizations/{_ID}", "authorization"),
    ("POST", f"/v2/payments/authorizations/{_ID}/capture", "capture"),
    ("POST", f"/v2/payments/authorizations/{_ID}/void", "void"),
    ("GET", f"/v2/payments/captures/{_ID}", "get_capture"),
    ("POST", f"/v2/payments/captures/{_ID}/refund", "refund"),
    ("GET", f"/v2/payments/refunds/{_ID}", "get_refund"),
]
# authentication_result (liability_shift, authentication_status) per outcome, as PayPal's 3DS test cards answer.
_THREE_DS = dict(zip(kit.AuthenticationResult, (("POSSIBLE", "Y"), ("NO", "N"), ("NO", "U")), strict=True))
_OVER, _OTHER = kit.ErrorCode.AMOUNT_EXCEEDS, kit.ErrorCode.CURRENCY_MISMATCH
_ISSUES = {("capture", _OVER): "MAX_CAPTURE_AMOUNT_EXCEEDED", ("refund", _OVER): "REFUND_AMOUNT_EXCEEDED"}
_ISSUES |= {("capture", _OTHER): "AUTH_CAPTURE_CURRENCY_MISMATCH"}
_ISSUES |= {("refund", _OTHER): "REFUND_CAPTURE_CURRENCY_MISMATCH"}


class PayPalError(Exception):
    def __init__(self, issue: str, description: str, field: str = "", status: int = 422) -> None:
        super().__init__(description)
        self.status, self.issue, self.description, self.field = status, issue, description, field


def transmission_signature(transmission_id: str, time: str, webhook_id: str, body: bytes) -> str:
    """PayPal signs `<transmission id>|<time>|<webhook id>|<CRC32 of the body>`; the sandbox with an HMAC."""
    signed = f"{transmission_id}|{time}|{webhook_id}|{zlib.crc32(body)}".encode()
    return base64.b64encode(hmac.new(_KEY, signed, hashlib.sha256).digest()).decode()


def event_body(event: dict[str, Any]) -> bytes:
    """A webhook event as the sandbox sends it, and as its verification reads it back."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def _token_mac(expires: str) -> str:
    return hmac.new(_KEY, expires.encode(), hashlib.sha256).hexdigest()[:40]


def _token_valid(token: str, now: float) -> bool:
    expires, _, mac = token.removeprefix("A21AA").partition(".")
    return hmac.compare_digest(mac, _token_mac(expires)) and expires.isdigit() and int(expires) > now


class PayPalCodec:
    rules = RULES
    policy = kit.SandboxPolicy()

    def new_id(self, kind: kit.IdKind) -> str:
        return wire.random_token(17, wire.UPPER_ALNUM)

    # -- requests -------------------------------------------------------------------------------

    def route(self, request: kit.SandboxRequest) -> kit.Call | kit.SandboxResponse:
        if request.path.startswith(wire.CHALLENGE_PATH):
            return wire.challenge_call(request, _ACCOUNT, finish=False, back=_back)
        if request.path == "/v1/oauth2/token" and request.method == "POST":
            return self._token(request)
        if not _token_valid(wire.authorization(request.headers.get("authorization", ""))[0], request.now):
            return _oauth_error(401, "invalid_token", "Token is not valid")
        try:
            if request.path == "/v1/notifications/verify-webhook-signature" and request.method == "POST":
                return _verify(wire.Fields(wire.json_object(request.body)))
            name, ref = _match(request.method, request.path)
            operation = _operation(name, ref, wire.Fields(wire.json_object(request.body or b"{}")))
            key = request.headers.get("paypal-request-id")
            if name == "order" and not key:
                raise PayPalError("PAYPAL_REQUEST_ID_REQUIRED", "A PayPal-Request-Id is required.", status=400)
            if key and len(key) > IDEMPOTENCY_KEY_LIMIT:
                raise PayPalError("INVALID_STRING_LENGTH", "PayPal-Request-Id is too long.", "PayPal-Request-Id", 400)
        except wire.WireError as exc:
            return _error(_wire_error(exc))
        except PayPalError as exc:
            return _error(exc)
        idempotency = kit.IdempotencyKey(key, "", None) if key else None
        return kit.Call(_ACCOUNT, operation, idempotency, name)

    def _token(self, request: kit.SandboxRequest) -> kit.SandboxResponse:
        client, secret = wire.authorization(request.headers.get("authorization", ""))
        if (client, secret) != (PAYPAL_SANDBOX_CLIENT_ID, PAYPAL_SANDBOX_SECRET):
            return _oauth_error(401, "invalid_client", "Client Authentication failed")
        if dict(parse_qsl(request.body.decode("utf-8", "replace"))).get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Grant Type is NULL")
        expires = str(int(request.now) + TOKEN_LIFETIME)
        token = f"A21AA{expires}.{_token_mac(expires)}"
        scope = "https://uri.paypal.com/services/payments/payment/authcapture openid"
        answer = {"scope": scope, "access_token": token, "token_type": "Bearer", "app_id": "APP-SIDECARSANDBOX"}
        return wire.json_answer(200, answer | {"expires_in": TOKEN_LIFETIME, "nonce": token[-12:]})

    # -- answers --------------------------------------------------------------------------------

    def render(self, request: kit.SandboxRequest, call: kit.Call, reply: kit.Reply) -> kit.SandboxResponse:
        result, base = reply.result, request.base_url
        if isinstance(result, kit.Refusal):
            return _error(_refusal_error(call.context, result))
        payment, subject = result.payment, result.subject
        assert payment is not None
        match call.context:
            case "order" | "finish":
                return wire.json_answer(201 if call.context == "order" else 200, order(payment, base))
            case "get_order" if subject is None:
                return wire.json_answer(200, order(payment, base))
            case "void" | "authorization" if call.context == "void" or payment.attempts[-1].id == subject:
                return wire.json_answer(200, authorization(payment))
            case "capture" | "get_capture" if payment.capture(subject or ""):
                return wire.json_answer(201 if call.context == "capture" else 200, capture(payment, subject))
            case "refund" | "get_refund" if payment.refund(subject or ""):
                return wire.json_answer(201 if call.context == "refund" else 200, refund(payment, subject, base))
        return _error(PayPalError("INVALID_RESOURCE_ID", "Specified resource ID does not exist.", status=404))


# --- reading requests ----------------------------------------------------------------------------


def _match(method: str, path: str) -> tuple[str, str]:
    if (found := wire.match_route(_ROUTES, method, path)) is None:
        raise PayPalError("INVALID_RESOURCE_ID", "The requested resource was not found.", status=404)
    (_, _, name), ref = found
    return name, ref


def _operation(name: str, ref: str, body: wire.Fields) -> kit.Operation:
    amount = _amount(body.object("amount")) if body.get("amount") is not None else (None, None)
    match name:
        case "order":
            return _order(body)
        case "finish":
            return kit.FinishAuthentication(ref)
        case "capture":
            return kit.Capture(ref, *amount, final=body.boolean("final_capture") is True)
        case "void":
            return kit.Void(ref)
        case "refund":
            return kit.Refund(ref, *amount, reference=body.string("custom_id"))
    return kit.GetPayment(ref)


def _order(body: wire.Fields) -> kit.Operation:
    intent = body.choice("intent", ("CAPTURE", "AUTHORIZE"), required=True)
    units = body.get("purchase_units")
    if not isinstance(units, list) or len(units) != 1 or not isinstance(units[0], dict):
        raise PayPalError("INVALID_ARRAY_MAX_ITEMS", "The sandbox takes one purchase unit.", "/purchase_units", 400)
    unit = wire.Fields(units[0], "purchase_units/0")
    card = body.object("payment_source", required=True).object("card", required=True)
    expiry, number = card.string("expiry", required=True), card.string("number", required=True)
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", expiry):
        raise PayPalError("INVALID_PARAMETER_SYNTAX", "Not YYYY-MM.", "/payment_source/card/expiry", 400)
    if not wire.luhn_valid(number):
        raise PayPalError("PAYMENT_SOURCE_INFO_CANNOT_BE_VERIFIED", "The card number is not valid.")
    sca = card.object("attributes").object("verification").string("method") == "SCA_ALWAYS"
    return kit.CreatePayment(
        *_amount(unit.object("amount", required=True)),
        kit.CaptureMode.AUTOMATIC if intent == "CAPTURE" else kit.CaptureMode.MANUAL,
        kit.CardInput(number, int(expiry[5:]), int(expiry[:4]), card.string("security_code"), card.string("name")),
        three_ds=kit.ThreeDSMode.REQUIRED if sca else kit.ThreeDSMode.AUTO,
        reference=unit.string("custom_id"),
        description=unit.string("description"),
        return_url=card.object("experience_context").string("return_url"),
    )


def _amount(money: wire.Fields) -> tuple[int, str]:
    currency, value = money.string("currency_code", required=True), money.string("value", required=True)
    if currency not in CURRENCIES.exponents:
        raise PayPalError("INVALID_CURRENCY_CODE", "Currency code is invalid or is not currently supported.")
    try:
        units = CURRENCIES.units(value, currency)
    except MoneyError:
        if CURRENCIES.exponents[currency] == 0:
            raise PayPalError("DECIMALS_NOT_SUPPORTED", "Currency does not support decimals.") from None
        raise PayPalError("DECIMAL_PRECISION", "The value has too many decimal places.") from None
    if units <= 0:
        raise PayPalError("CANNOT_BE_ZERO_OR_NEGATIVE", "Must be greater than zero.")
    return units, currency


def _verify(body: wire.Fields) -> kit.SandboxResponse:
    names = ("auth_algo", "cert_url", "transmission_id", "transmission_sig", "transmission_time", "webhook_id")
    sent = {name: body.string(name, required=True) for name in names}
    event = event_body(dict(body.object("webhook_event", required=True).data))
    expected = transmission_signature(sent["transmission_id"], sent["transmission_time"], sent["webhook_id"], event)
    good = hmac.compare_digest(expected, sent["transmission_sig"]) and sent["webhook_id"] == PAYPAL_SANDBOX_WEBHOOK_ID
    return wire.json_answer(200, {"verification_status": "SUCCESS" if good else "FAILURE"})


# --- writing answers -----------------------------------------------------------------------------

_NAMES = {400: "INVALID_REQUEST", 404: "RESOURCE_NOT_FOUND", 409: "RESOURCE_CONFLICT", 422: "UNPROCESSABLE_ENTITY"}


def _error(exc: PayPalError) -> kit.SandboxResponse:
    detail = ({"field": exc.field} if exc.field else {}) | {"issue": exc.issue, "description": exc.description}
    body = {"name": _NAMES[exc.status], "message": exc.description, "debug_id": wire.random_token(13).lower()}
    return wire.json_answer(exc.status, body | {"details": [detail]})


def _oauth_error(status: int, error: str, description: str) -> kit.SandboxResponse:
    return wire.json_answer(status, {"error": error, "error_description": description})


def _wire_error(exc: wire.WireError) -> PayPalError:
    if exc.field == "body":
        return PayPalError("MALFORMED_REQUEST_JSON", "The request JSON is not well formed.", status=400)
    issue = "MISSING_REQUIRED_PARAMETER" if exc.problem == "missing" else "INVALID_PARAMETER_VALUE"
    return PayPalError(issue, f"The field is {exc.problem}.", "/" + exc.field.replace(".", "/"), 400)


def _refusal_error(context: str, refusal: kit.Refusal) -> PayPalError:
    code, payment = refusal.code, refusal.payment
    if code is kit.ErrorCode.NOT_FOUND:
        return PayPalError("INVALID_RESOURCE_ID", "Specified resource ID does not exist.", status=404)
    if code is kit.ErrorCode.IDEMPOTENCY_IN_PROGRESS:
        return PayPalError("PREVIOUS_REQUEST_IN_PROGRESS", "A previous request is still being processed.", status=409)
    issue = _ISSUES.get((context, code)) or (_state_issue(context, payment) if payment else None)
    return PayPalError(issue or "INVALID_PARAMETER_VALUE", refusal.message)


def _state_issue(context: str, payment: kit.PaymentRecord) -> str:
    """The issue PayPal names for an operation its object's state refuses."""
    if context == "finish":
        waiting = payment.three_ds is not None and payment.three_ds.result is None
        done = payment.status is not kit.PaymentState.AUTHENTICATION_PENDING
        return "PAYER_ACTION_REQUIRED" if waiting else ("ORDER_ALREADY_AUTHORIZED" if done else "ORDER_NOT_APPROVED")
    if payment.void is not None:
        return "PREVIOUSLY_VOIDED" if context == "void" else "AUTHORIZATION_VOIDED"
    if payment.status is kit.PaymentState.CAPTURED:
        return {"void": "PREVIOUSLY_CAPTURED", "capture": "AUTHORIZATION_ALREADY_CAPTURED"}.get(context, "")
    return {"void": "CANNOT_BE_VOIDED", "capture": "AUTHORIZATION_DENIED"}.get(context, "REFUND_NOT_ALLOWED")


def _back(payment: kit.PaymentRecord) -> kit.SandboxResponse:
    return wire.return_to(payment.return_url, {"token": payment.id}, "Authentication finished.")


def _money(units: int, currency: str) -> dict[str, str]:
    return {"currency_code": currency, "value": CURRENCIES.decimal(units, currency)}


def _processor(attempt: kit.AttemptRecord) -> dict[str, str]:
    if attempt.decline is None:
        return {"avs_code": "Y", "cvv_code": "M", "response_code": "0000"}
    return {"avs_code": "G", "cvv_code": "P", "response_code": _CODES.get(attempt.decline, attempt.decline)}


def order(payment: kit.PaymentRecord, base: str) -> dict[str, Any]:
    """An order as Orders v2 shows it (`Prefer: return=representation`)."""
    three_ds, attempt = payment.three_ds, payment.latest_attempt
    status = "COMPLETED"
    if payment.status is kit.PaymentState.AUTHENTICATION_PENDING:
        status = "PAYER_ACTION_REQUIRED" if three_ds is None or three_ds.result is None else "APPROVED"
    action = [{"href": wire.page_url(base, payment.id), "rel": "payer-action", "method": "GET"}]
    stored = attempt.card if attempt else None
    card: dict[str, Any] = {"last_digits": stored.last4, "brand": stored.brand.upper()} if stored else {}
    card |= {"type": "CREDIT", "expiry": f"{stored.exp_year:04d}-{stored.exp_month:02d}"} if stored else {}
    if three_ds is not None and three_ds.result is not None:
        shift, outcome = _THREE_DS[three_ds.result]
        secure = {"enrollment_status": "Y", "authentication_status": outcome}
        card["authentication_result"] = {"liability_shift": shift, "three_d_secure": secure}
    unit: dict[str, Any] = {"reference_id": "default", "amount": _money(payment.amount, payment.currency)}
    unit |= {"custom_id": payment.reference} if payment.reference else {}
    payments: dict[str, Any] = {}
    if attempt is not None and attempt.status is not kit.OperationState.PENDING:
        if payment.capture_mode is kit.CaptureMode.MANUAL:
            payments["authorizations"] = [authorization(payment)]
        elif attempt.decline is not None:  # PayPal's card-testing answer: the order's capture DECLINED
            declined = {"id": attempt.id, "status": "DECLINED", "amount": unit["amount"]}
            payments["captures"] = [declined | {"processor_response": _processor(attempt)}]
    payments["captures"] = payments.get("captures", []) + [capture(payment, c.id) for c in payment.captures]
    payments["refunds"] = [refund(payment, r.id, base) for r in payment.refunds]
    unit["payments"] = {kind: items for kind, items in payments.items() if items}
    intent = "CAPTURE" if payment.capture_mode is kit.CaptureMode.AUTOMATIC else "AUTHORIZE"
    body = {"id": payment.id, "intent": intent, "status": status, "payment_source": {"card": card} if card else {}}
    return body | {"purchase_units": [unit], "links": action if status == "PAYER_ACTION_REQUIRED" else []}


def authorization(payment: kit.PaymentRecord) -> dict[str, Any]:
    attempt = payment.attempts[-1]
    status = "DENIED" if attempt.decline else "VOIDED" if payment.void else "CREATED"
    if status == "CREATED" and payment.captures:
        status = "CAPTURED" if payment.status is kit.PaymentState.CAPTURED else "PARTIALLY_CAPTURED"
    body = {"id": attempt.id, "status": status, "amount": _money(payment.amount, payment.currency)}
    if attempt.network_transaction_id:
        body["network_transaction_reference"] = {"id": attempt.network_transaction_id, "network": "VISA"}
    related = {"related_ids": {"order_id": payment.id}}
    return body | {"processor_response": _processor(attempt), "supplementary_data": related}


def capture(payment: kit.PaymentRecord, capture_id: str | None) -> dict[str, Any]:
    record = payment.capture(capture_id or "")
    assert record is not None
    back = sum(r.amount for r in payment.refunds if r.capture_id == record.id and r.status == "succeeded")
    status = {"pending": "PENDING", "failed": "DECLINED"}.get(record.status, "COMPLETED")
    if status == "COMPLETED" and back:
        status = "REFUNDED" if back >= record.amount else "PARTIALLY_REFUNDED"
    related = {"order_id": payment.id} | ({} if record.automatic else {"authorization_id": payment.attempts[-1].id})
    body = {"id": record.id, "status": status, "amount": _money(record.amount, payment.currency)}
    return body | {"final_capture": record.final, "supplementary_data": {"related_ids": related}}


def refund(payment: kit.PaymentRecord, refund_id: str | None, base: str) -> dict[str, Any]:
    record = payment.refund(refund_id or "")
    assert record is not None
    status = {"pending": "PENDING", "failed": "FAILED"}.get(record.status, "COMPLETED")
    body = {"id": record.id, "status": status, "amount": _money(record.amount, payment.currency)}
    body |= {"custom_id": record.reference} if record.reference else {}
    up = {"href": f"{base}/v2/payments/captures/{record.capture_id}", "rel": "up", "method": "GET"}
    return body | {"links": [up]}
