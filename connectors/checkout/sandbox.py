"""Checkout.com's sandbox: card payments on the Payments API as api.sandbox.checkout.com answers them, a codec over
the shared sandbox engine. Its account, wire, errors and test rules: the README, "Sandbox test rules"."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connectors.checkout import codes
from connectors.checkout import connector as checkout
from connectors.kit import sandbox as kit
from connectors.kit import sandbox_wire as wire

__all__ = ["CHECKOUT_SANDBOX_KEY", "CheckoutCodec", "actions", "response", "status_word", "timestamp"]

# The shape checkout-sdk 4 accepts for a secret key: ^sk_(sbox_)?[a-z2-7]{26}[a-z2-7*#$=]$.
CHECKOUT_SANDBOX_KEY = "sk_sbox_sidecarsandboxsecretkey234a"
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_PREFIXES = {kit.IdKind.PAYMENT: "pay_", kit.IdKind.ATTEMPT: "sid_", kit.IdKind.CARD: "src_"}

# Checkout.com's test cards and the response code each declines with (its table, number by number).
_CARDS = dict(
    pair.split(":")
    for pair in "4544249167673670:20051 4724117215951699:20054 4485381577182090:20014 4897453568485113:20059 "
    "4818924250131070:20062 4111111111111129:20001 4024007103573027:20012 4151512736305999:20057 "
    "4556294593757189:20061 4556253752712245:20063 4095254802642505:20068 4532819413487978:20078 "
    "4734868958733862:200N7 4567361325981788:200R3".split()
)
# The engine's own declines as Checkout.com words them.
_ENGINE_DECLINES = {kit.DeclineCode.GENERIC_DECLINE: "20005", kit.DeclineCode.EXPIRED_CARD: "20054"}
_ENGINE_DECLINES |= {kit.DeclineCode.AUTHENTICATION_REQUIRED: "20154"}
_ENGINE_DECLINES |= dict.fromkeys(
    (kit.DeclineCode.AUTHENTICATION_FAILED, kit.DeclineCode.AUTHENTICATION_ABANDONED), "20151"
)
RULES = kit.SandboxRules(cards={number: kit.CardRule(decline=code) for number, code in _CARDS.items()})
_SCHEMES = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover"}
_SCHEMES |= {"diners": "Diners Club International", "jcb": "JCB", "unionpay": "China UnionPay"}
_ROUTE = re.compile(r"/payments(?:/([^/]+)(?:/(actions|captures|voids|refunds))?)?")
_ACTIONS = {"captures": "Capture", "voids": "Void", "refunds": "Refund"}


class CheckoutError(Exception):
    def __init__(self, status: int, *error_codes: str) -> None:
        super().__init__(status)
        self.status, self.error_codes = status, error_codes


class CheckoutCodec:
    rules = RULES
    # The shopper authenticates first and the issuer's decline comes after; a 3DS request always challenges.
    policy = kit.SandboxPolicy(decline_before_authentication=False, amount_steps=checkout.CURRENCIES.steps)

    def __init__(self, secret_key: str = CHECKOUT_SANDBOX_KEY) -> None:
        self.secret_key = secret_key

    def new_id(self, kind: kit.IdKind) -> str:
        return _PREFIXES.get(kind, "act_") + wire.random_token(26, _BASE32)

    # -- requests -------------------------------------------------------------------------------

    def route(self, request: kit.SandboxRequest) -> kit.Call | kit.SandboxResponse:
        if request.path.startswith(wire.CHALLENGE_PATH):
            return wire.challenge_call(request, self.secret_key, finish=True, back=_back)
        if wire.authorization(request.headers.get("authorization", "")) != (self.secret_key, ""):
            return _error(CheckoutError(401))
        match = _ROUTE.fullmatch(request.path)
        if match is None:
            return _error(CheckoutError(404))
        ref, sub = match.groups()
        name = sub or ("get" if ref else "payments")
        if request.method != ("GET" if name in ("get", "actions") else "POST"):
            return _error(CheckoutError(405))
        try:
            body = wire.Fields(wire.json_object(request.body) if request.method == "POST" else {})
            operation = getattr(self, f"_{name}")(body, ref or "", request.now)
        except wire.WireError as exc:
            return _error(_wire_error(exc))
        except CheckoutError as exc:
            return _error(exc)
        key = request.headers.get("cko-idempotency-key") if name == "payments" else None
        return kit.Call(self.secret_key, operation, kit.IdempotencyKey(key, "", None) if key else None, name)

    def _payments(self, body: wire.Fields, _: str, now: float) -> kit.Operation:
        source = body.object("source")
        if body.get("source") is None:
            raise CheckoutError(422, "payment_source_required")
        if source.choice("type", ("card",), required=True) != "card":
            raise CheckoutError(422, "source_type_invalid")
        amount, currency = body.integer("amount", minimum=0) or 0, body.string("currency", required=True)
        if currency not in checkout.CURRENCIES.exponents:
            raise CheckoutError(422, "currency_invalid")
        if amount > checkout.MAX_AMOUNT:
            raise CheckoutError(422, "amount_invalid")
        reference, description = _limited(body, "reference", 50), _limited(body, "description", 100)
        success, failure = (_url(body, name) for name in ("success_url", "failure_url"))
        three_ds = body.object("3ds").boolean("enabled")
        return kit.CreatePayment(
            amount,
            currency,
            kit.CaptureMode.MANUAL if body.boolean("capture") is False else kit.CaptureMode.AUTOMATIC,
            _card(source, now),
            three_ds=kit.ThreeDSMode.REQUIRED if three_ds else kit.ThreeDSMode.AUTO,
            reference=reference,
            description=description,
            return_url=success,
            metadata=_metadata(body),
            extra={"failure_url": failure, "customer": body.get("customer"), "three_ds": bool(three_ds)},
        )

    def _get(self, _: wire.Fields, ref: str, now: float) -> kit.Operation:
        return kit.GetPayment(ref)

    _actions = _get

    def _captures(self, body: wire.Fields, ref: str, _: float) -> kit.Operation:
        final = body.choice("capture_type", ("NonFinal", "Final")) != "NonFinal"
        reference, amount = _limited(body, "reference", 50), body.integer("amount", minimum=0)
        return kit.Capture(ref, amount, final=final, reference=reference, metadata=_metadata(body))

    def _voids(self, body: wire.Fields, ref: str, _: float) -> kit.Operation:
        return kit.Void(ref, reference=_limited(body, "reference", 50))

    def _refunds(self, body: wire.Fields, ref: str, _: float) -> kit.Operation:
        amount, reference = body.integer("amount", minimum=0), _limited(body, "reference", 50)
        return kit.Refund(ref, amount, reference=reference, metadata=_metadata(body))

    # -- answers --------------------------------------------------------------------------------

    def render(self, request: kit.SandboxRequest, call: kit.Call, reply: kit.Reply) -> kit.SandboxResponse:
        result, base = reply.result, request.base_url
        if isinstance(result, kit.Refusal):
            return _error(_refusal(result))
        payment = result.payment
        assert payment is not None
        if call.context == "payments":
            pending = payment.status is kit.PaymentState.AUTHENTICATION_PENDING
            return wire.json_answer(
                202 if pending else 201, _pending(payment, base) if pending else _result(payment, base)
            )
        if call.context == "get":
            by_session = isinstance(call.operation, kit.GetPayment) and call.operation.ref.startswith("sid_")
            return wire.json_answer(200, _details(payment, base, by_session))
        if call.context == "actions":
            return wire.json_answer(200, actions(payment))
        record = payment.capture(result.subject or "") or payment.refund(result.subject or "") or payment.void
        assert record is not None and record.id == result.subject
        answer = {"action_id": record.id, "_links": {"payment": {"href": f"{base}/payments/{payment.id}"}}}
        return wire.json_answer(202, answer | ({"reference": record.reference} if record.reference else {}))


# --- reading requests ----------------------------------------------------------------------------


def _card(source: wire.Fields, now: float) -> kit.CardInput:
    number = source.string("number", required=True)
    month, year = source.integer("expiry_month", required=True), source.integer("expiry_year", required=True)
    cvv, name = source.string("cvv"), source.string("name")
    assert number is not None and month is not None and year is not None
    if not wire.luhn_valid(number) or wire.card_brand(number) == "unknown":
        raise CheckoutError(422, "card_number_invalid")
    if not 1 <= month <= 12:
        raise CheckoutError(422, "card_expiry_month_invalid")
    if not 1000 <= year <= 9999:
        raise CheckoutError(422, "card_expiry_year_invalid")
    if cvv is not None and not re.fullmatch(r"\d{3,4}", cvv):
        raise CheckoutError(422, "cvv_invalid")
    extra = {"bin": number[:6], "billing_address": source.get("billing_address"), "phone": source.get("phone")}
    return kit.CardInput(number, month, year, cvv, name, extra=extra)


def _limited(body: wire.Fields, name: str, limit: int) -> str | None:
    value = body.string(name)
    if value is not None and len(value) > limit:
        raise CheckoutError(422, f"{name}_invalid")
    return value


def _url(body: wire.Fields, name: str) -> str | None:
    value = _limited(body, name, 255)
    if value is not None and not wire.safe_redirect_url(value):
        raise CheckoutError(422, f"{name}_invalid")
    return value


def _metadata(body: wire.Fields) -> dict[str, str]:
    metadata = body.object("metadata").data
    if any(isinstance(value, (dict, list)) for value in metadata.values()):  # "only allows one level of depth"
        raise CheckoutError(422, "metadata_invalid")
    return {key: str(value) for key, value in metadata.items()}


def _wire_error(exc: wire.WireError) -> CheckoutError:
    field = exc.field.removeprefix("source.")
    field = {"number": "card_number", "expiry_month": "card_expiry_month", "expiry_year": "card_expiry_year"}.get(
        field, field.replace(".", "_")
    )
    return CheckoutError(422, f"{field}_required" if exc.problem == "missing" else f"{field}_invalid")


# --- writing answers -----------------------------------------------------------------------------


def _error(exc: CheckoutError) -> kit.SandboxResponse:
    if exc.status in (401, 403, 404, 405):  # Checkout.com answers these with no body
        return kit.SandboxResponse(exc.status, b"", "text/plain")
    body: dict[str, Any] = {"request_id": wire.random_token(26, _BASE32)}
    if exc.error_codes:
        body |= {"error_type": "request_invalid", "error_codes": list(exc.error_codes)}
    return wire.json_answer(exc.status, body)


def _refusal(refusal: kit.Refusal) -> CheckoutError:
    match refusal.code:
        case kit.ErrorCode.IDEMPOTENCY_IN_PROGRESS:
            return CheckoutError(429)
        case kit.ErrorCode.NOT_FOUND:
            return CheckoutError(404)
        case kit.ErrorCode.INVALID_STATE:
            return CheckoutError(403)
    return CheckoutError(422, "amount_invalid")  # over what remains, or not in the currency's steps


def _back(payment: kit.PaymentRecord) -> kit.SandboxResponse:
    """Where the 3-D Secure page sends the browser: success_url or failure_url with the session id."""
    approved = payment.status is not kit.PaymentState.DECLINED
    url = payment.return_url if approved else payment.extra["failure_url"]
    return wire.return_to(url, {"cko-session-id": payment.attempts[-1].id}, f"Approved: {approved}.")


def response(payment: kit.PaymentRecord) -> tuple[str, str]:
    """The response code and summary of the payment's last authorization attempt."""
    decline = payment.attempts[-1].decline if payment.attempts else None
    code = _ENGINE_DECLINES.get(decline or "", decline) or "10000"
    return code, codes.summary(code)


def status_word(payment: kit.PaymentRecord) -> str:
    state = payment.status
    if state in (kit.PaymentState.AUTHORIZED, kit.PaymentState.CAPTURED) and payment.amount == 0:
        return "Card Verified"
    if state is kit.PaymentState.CAPTURED and payment.refunded:
        return "Refunded" if not payment.refundable else "Partially Refunded"
    words = {kit.PaymentState.DECLINED: "Declined", kit.PaymentState.AUTHORIZED: "Authorized"}
    words |= {kit.PaymentState.PARTIALLY_CAPTURED: "Partially Captured", kit.PaymentState.CAPTURED: "Captured"}
    return words.get(state) or ("Voided" if state is kit.PaymentState.VOIDED else "Pending")


def timestamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _links(payment: kit.PaymentRecord, base: str) -> dict[str, Any]:
    own = f"{base}/payments/{payment.id}"
    links = {"self": {"href": own}, "actions": {"href": f"{own}/actions"}}
    if payment.capturable:
        links |= {"capture": {"href": f"{own}/captures"}, "void": {"href": f"{own}/voids"}}
    if payment.refundable:
        links["refund"] = {"href": f"{own}/refunds"}
    if payment.status is kit.PaymentState.AUTHENTICATION_PENDING:
        links["redirect"] = {"href": wire.page_url(base, payment.id)}
    return links


def _source(card: kit.StoredCard) -> dict[str, Any]:
    source = {"type": "card", "id": card.id, "expiry_month": card.exp_month, "expiry_year": card.exp_year}
    source |= {"scheme": _SCHEMES.get(card.brand, "Unknown"), "last4": card.last4, "bin": card.extra["bin"]}
    source |= {"fingerprint": card.fingerprint, "card_type": "Credit", "cvv_check": "Y" if card.cvc_given else ""}
    extra = {k: card.extra[k] for k in ("billing_address", "phone") if card.extra.get(k)}
    return source | extra | ({"name": card.holder_name} if card.holder_name else {})


def _balances(payment: kit.PaymentRecord) -> dict[str, int]:
    names = "total_authorized total_voided available_to_void total_captured available_to_capture total_refunded"
    voided = payment.released if payment.void else 0
    values = (payment.authorized, voided, payment.capturable, payment.captured, payment.capturable, payment.refunded)
    return dict(zip(names.split(), values, strict=True)) | {"available_to_refund": payment.refundable}


def _common(payment: kit.PaymentRecord, base: str) -> dict[str, Any]:
    attempt, approved = payment.attempts[-1], payment.status is not kit.PaymentState.DECLINED
    body = {"id": payment.id, "amount": payment.amount, "currency": payment.currency, "approved": approved}
    body |= {"status": status_word(payment), "reference": payment.reference, "source": _source(attempt.card)}
    body |= {"balances": _balances(payment), "risk": {"flagged": False}, "_links": _links(payment, base)}
    if payment.extra.get("three_ds"):
        body["3ds"] = {"downgraded": False, "enrolled": "Y"}
    if attempt.network_transaction_id:
        body |= {"scheme_id": attempt.network_transaction_id, "auth_code": attempt.auth_code}
    if payment.metadata:
        body["metadata"] = dict(payment.metadata)
    if payment.extra.get("customer"):
        body["customer"] = {"id": "cus_" + payment.id[4:]} | payment.extra["customer"]
    return body


def _result(payment: kit.PaymentRecord, base: str) -> dict[str, Any]:
    code, summary = response(payment)
    attempt = payment.attempts[-1]
    answer = {"action_id": "act_" + attempt.id[4:], "response_code": code, "response_summary": summary}
    return _common(payment, base) | answer | {"processed_on": timestamp(attempt.created_at)}


def _pending(payment: kit.PaymentRecord, base: str) -> dict[str, Any]:
    links = _links(payment, base)
    body = {"id": payment.id, "status": "Pending", "reference": payment.reference, "3ds": {"enrolled": "Y"}}
    return body | {"_links": {"self": links["self"], "redirect": links["redirect"]}}


def _details(payment: kit.PaymentRecord, base: str, by_session: bool) -> dict[str, Any]:
    body = _common(payment, base) | {"requested_on": timestamp(payment.created_at), "payment_type": "Regular"}
    if payment.status is kit.PaymentState.AUTHENTICATION_PENDING:
        body["approved"] = False
    if payment.description:
        body["description"] = payment.description
    if by_session:  # "returned when a session ID is used to get the payment details"
        body["actions"] = [
            {k: a[k] for k in ("id", "type", "response_code", "response_summary")} for a in actions(payment)
        ]
    return body


def actions(payment: kit.PaymentRecord) -> list[dict[str, Any]]:
    """The payment's actions, latest first, as ``GET /payments/{id}/actions`` lists them."""
    found: list[tuple[float, dict[str, Any]]] = []
    attempt = payment.attempts[-1]
    if attempt.status is not kit.OperationState.PENDING:
        code, summary = response(payment)
        auth = {
            "id": "act_" + attempt.id[4:],
            "type": "Authorization",
            "amount": payment.amount,
            "auth_code": attempt.auth_code,
        }
        found.append(
            (
                attempt.created_at,
                auth | {"approved": code == "10000", "response_code": code, "response_summary": summary},
            )
        )
    parts: list[tuple[str, Any]] = [("Capture", c) for c in payment.captures] + [("Refund", r) for r in payment.refunds]
    parts += [("Void", payment.void)] if payment.void else []
    for kind, part in parts:
        action = {"id": part.id, "type": kind, "amount": getattr(part, "amount", payment.released)}
        if part.status is not kit.OperationState.PENDING:
            approved = part.status is kit.OperationState.SUCCEEDED
            code = "10000" if approved else "20005"
            action |= {"approved": approved, "response_code": code, "response_summary": codes.summary(code)}
        found.append((part.created_at, action | ({"reference": part.reference} if part.reference else {})))
    return [action | {"processed_on": timestamp(at)} for at, action in sorted(found, key=lambda f: -f[0])]
