"""Stripe's sandbox: PaymentMethods, PaymentIntents and Refunds as api.stripe.com answers them (the rest the SDKs
call: ``sandbox_objects.py``), a codec over the shared sandbox engine. Its account, wire, errors and test rules: the
README, "Sandbox test rules"."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.kit import sandbox as kit
from connectors.kit import sandbox_wire as wire
from connectors.stripe import connector as stripe
from connectors.stripe import sandbox_objects as objects

__all__ = ["STRIPE_SANDBOX_KEY", "StripeCodec"]

STRIPE_SANDBOX_KEY = "sk_test_sandbox"
DEFAULT_API_VERSION = "2024-06-20"  # sent back as Stripe-Version when the caller pins none

_DECLINING = {
    "4000000000009995": "insufficient_funds",
    "4000000000009987": "lost_card",
    "4000000000009979": "stolen_card",
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
    "4000000000000119": "processing_error",
}
# https://docs.stripe.com/testing#regulatory-cards and #three-ds-cards: authentication on every payment, or
# on every one-off payment; 3-D Secure 2 required; authenticated, then declined.
_THREE_DS = {
    "4000002760003184": kit.CardRule(three_ds=kit.ThreeDSRule()),
    "4000002500003155": kit.CardRule(three_ds=kit.ThreeDSRule()),
    "4000000000003220": kit.CardRule(three_ds=kit.THREE_DS_2),
    "4000008400001629": kit.CardRule(decline=kit.DeclineCode.GENERIC_DECLINE, three_ds=kit.THREE_DS_2),
    "4000008260003178": kit.CardRule(decline="insufficient_funds", three_ds=kit.ThreeDSRule()),
}
RULES = kit.SandboxRules(
    cards={number: kit.CardRule(decline=code) for number, code in _DECLINING.items()}
    | _THREE_DS
    | kit.THREE_DS_TEST_CARDS,
    refund_amounts={1337: kit.Settlement.STAYS_PENDING},
)
# Stripe's named test PaymentMethods (pm_card_*) and tokens (tok_*), by the name they share.
_TEST_CARD_NAMES = {
    "visa": "4242424242424242",
    "mastercard": "5555555555554444",
    "amex": "378282246310005",
    "chargeDeclined": "4000000000000002",
    "authenticationRequired": "4000002760003184",
}
# chargeDeclinedInsufficientFunds, chargeDeclinedLostCard...: each declining card by its decline code.
_TEST_CARD_NAMES |= {"chargeDeclined" + code.title().replace("_", ""): card for card, code in _DECLINING.items()}
# Declines with an error code of their own (the decline code) and its message; the rest are card_declined.
_CARD_ERRORS = {
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "authentication_required": "Your card was declined. This transaction requires authentication.",
}
_NOT_AUTHENTICATED = (kit.DeclineCode.AUTHENTICATION_FAILED, kit.DeclineCode.AUTHENTICATION_ABANDONED)

# Method, path, name (its parameters in _PARAMS, its parser StripeCodec._<name> for a POST) and the object
# it answers with (its expandable fields in _EXPANDABLE, the prefix of its ids in _OWN_IDS).
_ROUTES = [
    ("POST", r"/v1/payment_methods", "create_payment_method", "payment_method"),
    ("GET", r"/v1/payment_methods/([^/]+)", "get_payment_method", "payment_method"),
    ("POST", r"/v1/payment_intents", "create_intent", "payment_intent"),
    ("GET", r"/v1/payment_intents/([^/]+)", "get_intent", "payment_intent"),
    ("POST", r"/v1/payment_intents/([^/]+)/confirm", "confirm", "payment_intent"),
    ("POST", r"/v1/payment_intents/([^/]+)/capture", "capture", "payment_intent"),
    ("POST", r"/v1/payment_intents/([^/]+)/cancel", "cancel", "payment_intent"),
    ("POST", r"/v1/refunds", "create_refund", "refund"),
    ("GET", r"/v1/refunds/([^/]+)", "get_refund", "refund"),
]
_EXPANDABLE = {"payment_intent": ("latest_charge", "payment_method"), "refund": ("charge", "payment_intent")}
_OWN_IDS = {"payment_method": "", "payment_intent": "pi_", "refund": "re_", "charge": "ch_"}
# Stripe's own top-level parameters of each endpoint, from its OpenAPI spec.
_PARAM_NAMES = {
    "create_payment_method": "acss_debit affirm afterpay_clearpay alipay au_becs_debit bacs_debit bancontact "
    "billing_details blik boleto card cashapp customer customer_balance eps expand fpx giropay grabpay ideal "
    "interac_present klarna konbini link metadata oxxo p24 payment_method paynow pix promptpay radar_options "
    "sepa_debit sofort type us_bank_account wechat_pay",
    "get_payment_method": "expand",
    "create_intent": "amount application_fee_amount automatic_payment_methods capture_method confirm "
    "confirmation_method currency customer description error_on_requires_action expand mandate mandate_data "
    "metadata off_session on_behalf_of payment_method payment_method_data payment_method_options "
    "payment_method_types radar_options receipt_email return_url setup_future_usage shipping "
    "statement_descriptor statement_descriptor_suffix transfer_data transfer_group use_stripe_sdk",
    "get_intent": "client_secret expand",
    "confirm": "capture_method client_secret error_on_requires_action expand mandate mandate_data off_session "
    "payment_method payment_method_data payment_method_options payment_method_types radar_options "
    "receipt_email return_url setup_future_usage shipping use_stripe_sdk",
    "capture": "amount_to_capture application_fee_amount expand metadata statement_descriptor "
    "statement_descriptor_suffix transfer_data",
    "cancel": "cancellation_reason expand",
    "create_refund": "amount charge currency customer expand instructions_email metadata origin payment_intent "
    "reason refund_application_fee reverse_transfer",
    "get_refund": "expand",
}
_PARAMS = {name: frozenset(names.split()) for name, names in _PARAM_NAMES.items()}
_ADDRESS_PARAMS = ("city", "country", "line1", "line2", "postal_code", "state")
_CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
# The statuses a PaymentIntent must have for each action (the error lists them).
_ALLOWED = {
    "confirm": ("requires_payment_method", "requires_confirmation"),
    "capture": ("requires_capture",),
    "cancel": ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action"),
}
_STATUS = {
    kit.PaymentState.AUTHENTICATION_PENDING: "requires_action",
    kit.PaymentState.DECLINED: "requires_payment_method",
    kit.PaymentState.AUTHORIZED: "requires_capture",
    kit.PaymentState.CAPTURED: "succeeded",
    kit.PaymentState.VOIDED: "canceled",
}
_ID_PREFIXES = {kit.IdKind.PAYMENT: "pi_3", kit.IdKind.ATTEMPT: "ch_3", kit.IdKind.REFUND: "re_3"}
_ID_PREFIXES |= {kit.IdKind.CARD: "pm_1"}  # captures, voids and tokens: Stripe shows no id of theirs
_MAX_AMOUNT = 99_999_999


class StripeError(Exception):
    """A Stripe error answer: HTTP status and the ``error`` object."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.status, self.error = status, error


def _error_body(
    message: str, *, code: str | None = None, param: str | None = None, kind: str = "invalid_request_error", **more: Any
) -> dict[str, Any]:
    error = {"code": code, "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"} if code else {}
    return error | {"message": message} | ({"param": param} if param else {}) | {"type": kind} | more


def _error(message: str, *, status: int = 400, **fields: Any) -> StripeError:
    return StripeError(status, _error_body(message, **fields))


def _card_error(code: str, message: str, param: str) -> StripeError:
    return _error(message, status=402, code=code, param=param, kind="card_error")


@dataclass(frozen=True)
class _Context:
    name: str  # the route
    kind: str  # the object answered: payment_method, payment_intent or refund
    ref: str  # the id the request names: in its path, or the refund's payment_intent or charge
    param: str  # the parameter that id is reported as
    expand: frozenset[str]


class StripeCodec:
    rules = RULES
    # Stripe captures once (what is left is released) and settles within the call.
    policy = kit.SandboxPolicy(
        voidable=frozenset(_STATUS) - {kit.PaymentState.CAPTURED, kit.PaymentState.VOIDED} | {kit.PaymentState.CREATED},
        amount_steps=stripe.CURRENCIES.steps,
    )

    def __init__(self, api_key: str = STRIPE_SANDBOX_KEY) -> None:
        self.api_key = api_key
        self._base_url = ""  # this sandbox's own, as its last request came: its 3-D Secure page is there

    def new_id(self, kind: kit.IdKind | str) -> str:
        return (_ID_PREFIXES.get(kind) or objects.ID_PREFIXES.get(kind, "sb_3")) + wire.random_token(23)

    # -- requests -------------------------------------------------------------------------------

    def route(self, request: kit.SandboxRequest) -> kit.Call | kit.SandboxResponse:
        self._base_url = request.base_url
        if request.path.startswith(wire.CHALLENGE_PATH):
            return wire.challenge_call(request, self.api_key, finish=None, back=_back)
        try:
            self._authenticate(request)
            name, kind, ref = _match(request.method, request.path)
            params = _params(request)
            params.only(_PARAMS.get(name) or objects.PARAMS[name])
            expand = frozenset(params.strings("expand"))
            if unknown := sorted(expand - set(objects.expandable(name, kind))):
                raise _error(f"This property cannot be expanded ({unknown[0][:100]}).", param="expand")
            param = "intent" if kind == "payment_intent" else kind
            if name == "create_refund":
                param = "payment_intent" if params.string("payment_intent") is not None else "charge"
                ref = params.string(param) or ""
            requires = (("customer", customer),) if (customer := params.string("customer")) else ()
            if name in objects.PARAMS:
                operation, requires = objects.operation(name, params, ref, request.now)
            elif request.method == "GET":
                operation = kit.GetCard(ref) if kind == "payment_method" else kit.GetPayment(ref)
            else:
                operation = getattr(self, f"_{name}")(params, ref, request.now)
            context = _Context(name, kind, ref, param, expand)
            if ref and not ref.startswith(_OWN_IDS.get(param if name == "create_refund" else kind, "")):
                raise _no_such(context)
            key = request.headers.get("idempotency-key") if request.method == "POST" else None
            if key is not None and len(key) > stripe.IDEMPOTENCY_KEY_LIMIT:
                raise _error(f"Idempotency-Key must be at most {stripe.IDEMPOTENCY_KEY_LIMIT} characters long.")
        except wire.WireError as exc:
            return _answer(request, _wire_error(exc))
        except StripeError as exc:
            return _answer(request, exc)
        idempotency = kit.IdempotencyKey(key, request.path, params.data) if key is not None else None
        return kit.Call(self.api_key, operation, idempotency, context, requires)

    def _authenticate(self, request: kit.SandboxRequest) -> None:
        key, _ = wire.authorization(request.headers.get("authorization", ""))
        if not key:
            raise _error(
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://stripe.com/docs/api#authentication for details, or we can help at "
                "https://support.stripe.com/.",
                status=401,
            )
        if key != self.api_key:
            raise _error(f"Invalid API Key provided: {_mask_key(key)}", status=401)

    def _create_payment_method(self, params: wire.Fields, _: str, now: float) -> kit.Operation:
        return kit.Tokenize(_card_input(params, now))

    def _create_intent(self, params: wire.Fields, _: str, now: float) -> kit.Operation:
        amount, currency = _money(params, required=True)
        assert amount is not None and currency is not None
        _check_descriptor_suffix(params)
        confirm = bool(params.boolean("confirm"))
        return_url = _return_url(params, confirm=confirm)
        capture = params.choice("capture_method", _CAPTURE_METHODS) or "automatic"
        three_ds_request, three_ds = _three_ds(params, creating=True)
        confirmation = params.choice("confirmation_method", ("automatic", "manual")) or "automatic"
        extra = {
            "capture_method": capture,
            "confirmation_method": confirmation,
            "customer": params.string("customer"),
            "use_stripe_sdk": bool(params.boolean("use_stripe_sdk")),
            "payment_method_types": params.strings("payment_method_types") or ["card"],
            "receipt_email": params.string("receipt_email"),
            "request_three_d_secure": three_ds_request,
            "secret": wire.random_token(25),
        }
        pay_with = _pay_with(params, now)
        if confirm and pay_with is None:
            raise _error(
                "You cannot confirm this PaymentIntent because it's missing a payment method. Specify a "
                "payment_method to confirm it.",
                code="parameter_missing",
                param="payment_method",
            )
        return kit.CreatePayment(
            amount,
            currency,
            _capture_mode(capture),
            pay_with,
            confirm,
            three_ds or kit.ThreeDSMode.AUTO,
            description=params.string("description"),
            return_url=return_url,
            metadata=_metadata(params),
            extra=extra,
            confirm_after_authentication=confirmation == "manual",
        )

    def _confirm(self, params: wire.Fields, ref: str, now: float) -> kit.Operation:
        capture = params.choice("capture_method", _CAPTURE_METHODS)
        three_ds_request, three_ds = _three_ds(params, creating=False)
        extra = {"capture_method": capture, "receipt_email": params.string("receipt_email")}
        extra |= {"request_three_d_secure": three_ds_request, "use_stripe_sdk": params.boolean("use_stripe_sdk")}
        extra = {k: v for k, v in extra.items() if v is not None}
        capture_mode = _capture_mode(capture) if capture else None
        return kit.Attempt(ref, _pay_with(params, now), three_ds, capture_mode, _return_url(params), extra)

    def _capture(self, params: wire.Fields, ref: str, _: float) -> kit.Operation:
        return kit.Capture(ref, params.integer("amount_to_capture", minimum=1), metadata=_metadata(params))

    def _cancel(self, params: wire.Fields, ref: str, _: float) -> kit.Operation:
        return kit.Void(ref, params.choice("cancellation_reason", sorted(stripe.CANCELLATION_REASONS)))

    def _create_refund(self, params: wire.Fields, ref: str, _: float) -> kit.Operation:
        if not ref:
            message = "One of the following params should be provided for this request: payment_intent or charge."
            raise _error(message, code="parameter_missing", param="payment_intent")
        amount, reason = params.integer("amount", minimum=1), params.choice("reason", sorted(stripe.REFUND_REASONS))
        return kit.Refund(ref, amount, reason=reason, metadata=_metadata(params))

    # -- answers --------------------------------------------------------------------------------

    def render(self, request: kit.SandboxRequest, call: kit.Call, reply: kit.Reply) -> kit.SandboxResponse:
        result = reply.result
        try:
            if isinstance(result, kit.Refusal):
                raise _refused(call, result, request.base_url)
            if call.context.name in objects.PARAMS:
                body = objects.render(request, call.context, result)
            else:
                body = _object(call, result, request.base_url)
            answer: kit.SandboxResponse | StripeError = wire.json_answer(200, body)
        except StripeError as exc:
            answer = exc
        key = call.idempotency.key if call.idempotency and isinstance(result, kit.Done) else None
        headers = {"Idempotency-Key": key} if key else {}
        headers |= {"Idempotent-Replayed": "true"} if reply.replayed else {}
        return _answer(request, answer, headers)

    # -- the objects its webhooks carry (connectors/stripe/webhooks.py, StripeObjects) ------------

    def payment_intent(self, payment: kit.PaymentRecord) -> dict[str, Any]:
        return _intent(payment, frozenset(), self._base_url)

    def charge(self, payment: kit.PaymentRecord) -> dict[str, Any]:
        attempt = _charge_attempt(payment)
        assert attempt is not None, "Stripe sends a charge's events only once it was charged"
        return _charge(attempt, payment)

    def refund(self, payment: kit.PaymentRecord, refund_id: str) -> dict[str, Any]:
        refund = payment.refund(refund_id)
        assert refund is not None, "a refund's event names the refund"
        return _refund(refund, payment, frozenset(), self._base_url)


# --- reading requests ----------------------------------------------------------------------------


def _match(method: str, path: str) -> tuple[str, str, str]:
    if (found := wire.match_route((*_ROUTES, *objects.ROUTES), method, path)) is None:
        raise _error(
            f"Unrecognized request URL ({method}: {path}): the sidecar's Stripe sandbox does not simulate this "
            "request. It simulates PaymentMethods, PaymentIntents, Refunds, Customers and SetupIntents (see the "
            "sidecar's README, Sandbox test rules).",
            status=404,
        )
    (_, _, name, kind), ref = found
    return name, kind, ref


def _params(request: kit.SandboxRequest) -> wire.Fields:
    params = wire.form_fields(request.query)
    content_type = request.headers.get("content-type", "application/x-www-form-urlencoded").split(";")[0]
    # Stripe reads only form bodies: a JSON body is not seen, so the call lacks its parameters.
    if request.method == "POST" and content_type.strip().lower() == "application/x-www-form-urlencoded":
        params.update(wire.form_fields(request.body.decode("utf-8", errors="replace")))
    return wire.Fields(params, form=True)


def _wire_error(exc: wire.WireError) -> StripeError:
    field, shown = exc.field, str(exc.value)[:64]
    if exc.problem == "missing":
        return _error(f"Missing required param: {field}.", code="parameter_missing", param=field)
    if exc.problem == "unknown":
        return _error(f"Received unknown parameter: {field}", code="parameter_unknown", param=field)
    if exc.problem in ("minimum", "maximum"):
        than = "greater" if exc.problem == "minimum" else "less"
        message = f"This value must be {than} than or equal to {exc.expected}."
        return _error(message, code="parameter_invalid_integer", param=field)
    if exc.problem == "choice":
        listed = ", ".join(exc.expected[:-1]) + f", or {exc.expected[-1]}"
        return _error(f"Invalid {field}: must be one of {listed}", param=field)
    if exc.expected == "integer":
        return _error(f"Invalid integer: {shown}", code="parameter_invalid_integer", param=field)
    messages = {"string": f"Invalid string: {field}", "boolean": f"Invalid boolean: {shown}", "object": "Invalid hash"}
    return _error(messages.get(exc.expected, "Invalid array"), param=field)


def _card(card: wire.Fields, now: float, extra: dict[str, Any]) -> kit.CardInput:
    number = card.string("number", required=True)
    month = card.integer("exp_month", required=True)
    year = card.integer("exp_year", required=True)
    cvc = card.string("cvc")
    assert number is not None and month is not None and year is not None
    if not wire.luhn_valid(number):
        raise _card_error("incorrect_number", "Your card number is incorrect.", "number")
    year += 2000 if year < 100 else 0
    today = datetime.fromtimestamp(now, tz=UTC)
    if not 1 <= month <= 12:
        raise _card_error("invalid_expiry_month", "Your card's expiration month is invalid.", "exp_month")
    if not today.year <= year <= today.year + 50:
        raise _card_error("invalid_expiry_year", "Your card's expiration year is invalid.", "exp_year")
    if (year, month) < (today.year, today.month):
        raise _card_error("invalid_expiry_month", "Your card's expiration month is invalid.", "exp_month")
    if cvc is not None and not re.fullmatch(r"\d{3,4}", cvc):
        raise _card_error("invalid_cvc", "Your card's security code is invalid.", "cvc")
    return kit.CardInput(number, month, year, cvc, extra=extra)


def _test_card(name: str, prefix: str, now: float, extra: dict[str, Any]) -> kit.CardInput | None:
    """One of Stripe's named test cards (``pm_card_visa``, ``tok_visa``...), valid until next year."""
    number = _TEST_CARD_NAMES.get(name.removeprefix(prefix)) if name.startswith(prefix) else None
    return kit.CardInput(number, 12, datetime.fromtimestamp(now, tz=UTC).year + 1, extra=extra) if number else None


def _pay_with(params: wire.Fields, now: float) -> kit.CardInput | str | None:
    """A ``payment_method``: a named test card, else a PaymentMethod id for the engine to find; or a card in
    ``payment_method_data``, as ``POST /v1/payment_methods`` takes it."""
    pm = params.string("payment_method")
    if pm is None and params.get("payment_method_data") is not None:
        return _card_input(params.object("payment_method_data"), now)
    return pm and (_test_card(pm, "pm_card_", now, {"billing_details": _NO_BILLING, "metadata": {}}) or pm)


def _card_input(params: wire.Fields, now: float) -> kit.CardInput:
    """A card PaymentMethod's parameters: a card, or a test token in ``card[token]``."""
    if (kind := params.string("type", required=True)) != "card":
        raise _error(f"The sandbox only simulates card PaymentMethods, not '{kind}'.", param=params.name("type"))
    card = params.object("card", required=True)
    card.only(("number", "exp_month", "exp_year", "cvc", "token"))
    extra = {"billing_details": _billing_details(params), "metadata": _metadata(params)}
    if (token := card.string("token")) is None:
        return _card(card, now, extra)
    if (named := _test_card(token, "tok_", now, extra)) is None:
        raise _error(f"No such token: '{token[:100]}'", code="resource_missing", param=card.name("token"))
    return named


def _money(params: wire.Fields, *, required: bool) -> tuple[int | None, str | None]:
    """``amount`` and ``currency`` (upper case) within Stripe's rules."""
    amount = params.integer("amount", required=required, minimum=1)
    currency = params.string("currency", required=required)
    if currency is not None and currency.upper() not in stripe.CURRENCIES.exponents:
        raise _error(
            f"Invalid currency: {currency[:16].lower()}. Stripe currently supports these currencies: usd, "
            "eur, gbp, ... (see https://stripe.com/docs/currencies).",
            param="currency",
        )
    if amount is not None and amount > _MAX_AMOUNT:
        message = f"Amount must be no more than {_MAX_AMOUNT} (in the smallest currency unit)."
        raise _error(message, code="amount_too_large", param="amount")
    return amount, currency and currency.upper()


def _billing_details(params: wire.Fields) -> dict[str, Any]:
    details = params.object("billing_details")
    details.only(("address", "email", "name", "phone"))
    address = details.object("address")
    address.only(_ADDRESS_PARAMS)
    named = {name: details.string(name) for name in ("email", "name", "phone")}
    return {"address": {name: address.string(name) for name in _ADDRESS_PARAMS}} | named


_NO_BILLING = _billing_details(wire.Fields({}))


def _metadata(params: wire.Fields) -> dict[str, str]:
    metadata = params.object("metadata")
    limits = stripe.METADATA_LIMITS
    if len(metadata.data) > limits.max_pairs:
        raise _error(f"Invalid metadata: Metadata can have up to {limits.max_pairs} keys.", param="metadata")
    values = {key: metadata.string(key) or "" for key in metadata.data}
    for key, value in values.items():
        if len(key) > limits.max_key_length or len(value) > limits.max_value_length:
            message = f"Metadata keys can be up to {limits.max_key_length} characters and values up to "
            raise _error(message + f"{limits.max_value_length} characters.", param=f"metadata[{key}]")
    return {key: value for key, value in values.items() if value}  # as at Stripe, empty means no such key


def _check_descriptor_suffix(params: wire.Fields) -> None:
    value = params.string("statement_descriptor_suffix")
    # https://docs.stripe.com/get-started/account/statement-descriptors
    if value is not None and (len(value) > 22 or not re.search(r"[A-Za-z]", value) or set(value) & set("<>\\'\"*")):
        raise _error(
            "Invalid statement_descriptor_suffix: at most 22 Latin characters with at least one letter and none "
            "of < > \\ ' \" *.",
            param="statement_descriptor_suffix",
        )


def _return_url(params: wire.Fields, *, confirm: bool = True) -> str | None:
    """``return_url``, which Stripe takes only where the request also confirms."""
    value = params.string("return_url")
    if value is not None and not wire.safe_redirect_url(value):
        raise _error("Not a valid URL", param="return_url")
    if value is not None and not confirm:
        raise _error("You may only specify `return_url` when `confirm=true`.", param="return_url")
    return value


def _capture_mode(capture_method: str) -> kit.CaptureMode:
    return kit.CaptureMode.MANUAL if capture_method == "manual" else kit.CaptureMode.AUTOMATIC


def _three_ds(params: wire.Fields, *, creating: bool) -> tuple[str | None, kit.ThreeDSMode | None]:
    """``request_three_d_secure`` and what it asks of the engine (None: as the payment already has it)."""
    options = params.object("payment_method_options")
    request = options.object("card").choice("request_three_d_secure", ("any", "automatic", "challenge"))
    if request is None and (creating or options.data):
        request = "automatic"
    # Stripe takes true/false or the kinds "one_off" / "recurring" (which mean true).
    if params.string("off_session") in ("true", "one_off", "recurring"):
        return request, kit.ThreeDSMode.UNAVAILABLE
    if request is None:
        return None, None
    return request, kit.ThreeDSMode.REQUIRED if request in ("any", "challenge") else kit.ThreeDSMode.AUTO


# --- writing answers -----------------------------------------------------------------------------


def _answer(
    request: kit.SandboxRequest, answer: kit.SandboxResponse | StripeError, headers: dict[str, str] | None = None
) -> kit.SandboxResponse:
    if isinstance(answer, StripeError):
        answer = wire.json_answer(answer.status, {"error": answer.error})
    version = request.headers.get("stripe-version", DEFAULT_API_VERSION)[:64]
    headers = (headers or {}) | {"Stripe-Version": version, "Cache-Control": "no-cache, no-store"}
    headers["Request-Id"] = "req_" + wire.random_token(14)
    return kit.SandboxResponse(answer.status, answer.body, headers=headers)


def _object(call: kit.Call, done: kit.Done, base_url: str) -> dict[str, Any]:
    context: _Context = call.context
    if context.kind == "payment_method":
        assert done.card is not None
        return _payment_method(done.card)
    payment = done.payment
    assert payment is not None
    if context.kind == "refund":
        if (refund := payment.refund(done.subject or "")) is None:  # the id of another part of the payment
            raise _no_such(context)
        return _refund(refund, payment, context.expand, base_url)
    if payment.status is kit.PaymentState.DECLINED and context.name in ("create_intent", "confirm"):
        error = _last_payment_error(payment) | {"payment_intent": _intent(payment, frozenset(), base_url)}
        raise StripeError(402, error)
    return _intent(payment, context.expand, base_url)


def _refused(call: kit.Call, refusal: kit.Refusal, base_url: str) -> StripeError:
    context: _Context = call.context
    op, payment, code, key = call.operation, refusal.payment, refusal.code, call.idempotency
    if code is kit.ErrorCode.IDEMPOTENCY_IN_PROGRESS and key:
        message = f"There is currently another in-progress request using this Idempotent Key: '{key.key}'."
        return _error(message + " Please try again later.", status=409, code="idempotency_key_in_use")
    if code is kit.ErrorCode.IDEMPOTENCY_CONFLICT and key:
        if refusal.first_scope != key.scope:
            usage = f"for the same endpoint they were first used for ('{refusal.first_scope}' vs '{key.scope}')"
        else:
            usage = "with the same parameters they were first used with"
        message = f"Keys for idempotent requests can only be used {usage}. Try using a key other than '{key.key}' "
        return _error(message + "if you meant to execute a different request.", kind="idempotency_error")
    if (error := objects.refused(call, refusal, base_url)) is not None:
        return error
    if code is kit.ErrorCode.NOT_FOUND and refusal.field == "pay_with":  # a SetupIntent's card is its ``card``
        pm = getattr(op, "pay_with", getattr(op, "card", None))
        return _error(f"No such PaymentMethod: '{pm}'", code="resource_missing", param="payment_method")
    if code is kit.ErrorCode.NOT_FOUND:
        return _no_such(context)
    if code is kit.ErrorCode.INVALID_ARGUMENT and refusal.field == "amount":
        currency = payment.currency if payment else getattr(op, "currency", "")
        return _step_error(currency, "amount_to_capture" if context.name == "capture" else "amount")
    if code is kit.ErrorCode.INVALID_ARGUMENT:  # an attempt without a card
        message = "You cannot confirm this PaymentIntent because it's missing a payment method."
        return _error(message, code="parameter_missing", param="payment_method")
    assert payment is not None
    if code is kit.ErrorCode.INVALID_STATE and context.param == "charge":
        return _error(f"Charge {context.ref} has not been captured and cannot be refunded.", param="charge")
    if code is kit.ErrorCode.INVALID_STATE and context.name == "create_refund":
        message = "This PaymentIntent does not have a successful charge to refund."
        return _error(message, code="payment_intent_unexpected_state", param="payment_intent")
    if code is kit.ErrorCode.INVALID_STATE:
        verb = {"capture": "captured", "cancel": "canceled", "confirm": "confirmed"}[context.name]
        message = (
            f"This PaymentIntent could not be {verb} because it has a status of {_status(payment)}. Only a "
            f"PaymentIntent with one of the following statuses may be {verb}: {', '.join(_ALLOWED[context.name])}."
        )
        intent = _intent(payment, frozenset(), base_url)
        return _error(message, code="payment_intent_unexpected_state", payment_intent=intent)
    available, amount, currency = refusal.available, getattr(op, "amount", None), payment.currency.lower()
    if context.name == "capture":
        message = f"The amount_to_capture ({amount}) is greater than the amount_capturable ({available})"
        return _error(message + " on this PaymentIntent.", code="amount_too_large", param="amount_to_capture")
    if not available:
        charge = _charge_attempt(payment)
        return _error(f"Charge {charge and charge.id} has already been refunded.", code="charge_already_refunded")
    message = (
        f"Refund amount ({amount} {currency}) is greater than unrefunded amount on charge ({available} {currency})"
    )
    return _error(message, code="amount_too_large", param="amount")


def _no_such(context: _Context) -> StripeError:
    noun = {"intent": "payment_intent", "payment_method": "PaymentMethod"}.get(context.param, context.param)
    status = 400 if context.name == "create_refund" else 404
    return _error(f"No such {noun}: '{context.ref}'", status=status, code="resource_missing", param=context.param)


def _step_error(currency: str, param: str) -> StripeError:
    if stripe.CURRENCIES.steps.get(currency) == 10:
        message = (
            f"Invalid amount. Three-decimal currency {currency} amounts must end in 0 (round to the nearest ten). "
            "See https://stripe.com/docs/currencies#three-decimal."
        )
        return _error(message, code="invalid_charge_amount", param=param)
    message = (
        f"Invalid amount. Currency {currency} has become effectively zero-decimal and charged amounts must be "
        "evenly divisible by 100. See https://stripe.com/docs/currencies#special-cases for more information."
    )
    return _error(message, code="invalid_charge_amount_no_decimal_compatible", param=param)


def _back(payment: kit.PaymentRecord) -> kit.SandboxResponse:
    """Where the 3-D Secure page sends the browser: the intent's return_url, as Stripe does."""
    waiting = payment.three_ds.result if payment.three_ds else None  # manual confirmation: not concluded yet
    failed = payment.status is kit.PaymentState.DECLINED or waiting not in (None, kit.AuthenticationResult.SUCCEEDED)
    status = "failed" if failed else "succeeded"
    back = {"payment_intent": payment.id, "payment_intent_client_secret": _client_secret(payment)}
    return wire.return_to(payment.return_url, back | {"redirect_status": status}, f"Authentication {status}.")


def _sorted(fields: dict[str, Any], nulls: str) -> dict[str, Any]:
    """An object as Stripe writes it: keys in order, the fields the sandbox never fills null."""
    return dict(sorted((fields | dict.fromkeys(nulls.split())).items()))


def _expanded(name: str, expand: frozenset[str], target: Any, render: Callable[[], dict[str, Any]]) -> Any:
    """A related object: its id, or the whole object where the request expands it."""
    return None if target is None else render() if name in expand else target.id


def _status(payment: kit.PaymentRecord) -> str:
    if payment.status is kit.PaymentState.DECLINED and payment.card:  # given another card by an update
        return "requires_confirmation"
    if payment.three_ds and payment.three_ds.token and payment.status is kit.PaymentState.AUTHENTICATION_PENDING:
        return "requires_confirmation"  # authenticated; manual confirmation concludes it
    return _STATUS.get(payment.status) or ("requires_confirmation" if payment.card else "requires_payment_method")


def _client_secret(payment: kit.PaymentRecord) -> str:
    return f"{payment.id}_secret_{payment.extra['secret']}"


def _charge_attempt(payment: kit.PaymentRecord) -> kit.AttemptRecord | None:
    """The attempt Stripe shows as the latest charge: the last that reached the card network."""
    attempts = (a for a in reversed(payment.attempts) if a.status is not kit.OperationState.PENDING)
    return next((a for a in attempts if a.decline not in _NOT_AUTHENTICATED), None)


def _decline_error(decline: str) -> tuple[str, str, str | None]:
    """A decline's error code, message and parameter."""
    code = decline if decline in _CARD_ERRORS else "card_declined"
    return code, _CARD_ERRORS.get(decline, "Your card was declined."), "cvc" if code == "incorrect_cvc" else None


def _last_payment_error(payment: kit.PaymentRecord) -> dict[str, Any] | None:
    attempt = payment.latest_attempt
    if payment.status is not kit.PaymentState.DECLINED or attempt is None or attempt.decline is None:
        return None
    method = _payment_method(attempt.card)
    if attempt.decline in _NOT_AUTHENTICATED:
        message = (
            "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new "
            "PaymentMethod to attempt to fulfill this PaymentIntent again."
        )
        return _error_body(message, code="payment_intent_authentication_failure", payment_method=method)
    code, message, param = _decline_error(attempt.decline)
    decline = {"charge": attempt.id, "decline_code": attempt.decline, "payment_method": method}
    return _error_body(message, code=code, param=param, kind="card_error", **decline)


def _intent(payment: kit.PaymentRecord, expand: frozenset[str], base_url: str) -> dict[str, Any]:
    extra, void, card, charge = payment.extra, payment.void, payment.card, _charge_attempt(payment)
    action = None
    if _status(payment) == "requires_action":
        url = wire.page_url(base_url, payment.id)
        action = {"redirect_to_url": {"return_url": payment.return_url, "url": url}, "type": "redirect_to_url"}
        if extra.get("use_stripe_sdk"):  # Stripe's mobile SDKs open the page themselves
            sdk = {"source": "src_" + payment.id[3:], "stripe_js": url, "type": "three_d_secure_redirect"}
            action = {"type": "use_stripe_sdk", "use_stripe_sdk": sdk}
    card_options = dict.fromkeys(("installments", "mandate_options", "network"))
    card_options["request_three_d_secure"] = extra["request_three_d_secure"]
    return _sorted(
        {
            "id": payment.id,
            "object": "payment_intent",
            "amount": payment.amount,
            "amount_capturable": payment.capturable,
            "amount_details": {"tip": {}},
            "amount_received": payment.captured,
            "canceled_at": int(void.created_at) if void else None,
            "cancellation_reason": void.reason if void else None,
            "capture_method": extra["capture_method"],
            "client_secret": _client_secret(payment),
            "confirmation_method": extra["confirmation_method"],
            "created": int(payment.created_at),
            "currency": payment.currency.lower(),
            "customer": extra.get("customer"),
            "description": payment.description,
            "last_payment_error": _last_payment_error(payment),
            "latest_charge": _expanded("latest_charge", expand, charge, lambda: _charge(charge, payment)),
            "livemode": False,
            "metadata": dict(payment.metadata),
            "next_action": action,
            "payment_method": _expanded("payment_method", expand, card, lambda: _payment_method(card)),
            "payment_method_options": {"card": card_options},
            "payment_method_types": extra["payment_method_types"],
            "receipt_email": extra["receipt_email"],
            "status": _status(payment),
        },
        "application application_fee_amount automatic_payment_methods invoice on_behalf_of processing "
        "review setup_future_usage shipping source statement_descriptor statement_descriptor_suffix "
        "transfer_data transfer_group",
    )


def _charge(attempt: kit.AttemptRecord, payment: kit.PaymentRecord) -> dict[str, Any]:
    card, succeeded = attempt.card, attempt.status is kit.OperationState.SUCCEEDED
    # Stripe counts what a partial capture or a cancel released as refunded.
    captured, refunded = (payment.captured, payment.released + payment.refunded) if succeeded else (0, 0)
    code, message, _ = _decline_error(attempt.decline) if attempt.decline else (None, None, None)
    details = _card_details(card, "fail" if card.rule.decline == "incorrect_cvc" else "pass")
    details |= {"amount_authorized": payment.amount if succeeded else None, "network": card.brand}
    details["network_transaction_id"] = attempt.network_transaction_id
    return _sorted(
        {
            "id": attempt.id,
            "object": "charge",
            "amount": payment.amount,
            "amount_captured": captured,
            "amount_refunded": refunded,
            "balance_transaction": "txn_3" + attempt.id[4:] if captured else None,
            "billing_details": card.extra["billing_details"],
            "calculated_statement_descriptor": "SIDECAR SANDBOX",
            "captured": captured > 0,
            "created": int(attempt.created_at),
            "currency": payment.currency.lower(),
            "description": payment.description,
            "disputed": False,
            "failure_code": code,
            "failure_message": message,
            "fraud_details": {},
            "livemode": False,
            "metadata": dict(payment.metadata),
            "outcome": _outcome(attempt),
            "paid": succeeded,
            "payment_intent": payment.id,
            "payment_method": card.id,
            "payment_method_details": {
                "card": _sorted(details, "installments mandate three_d_secure wallet"),
                "type": "card",
            },
            "receipt_email": payment.extra["receipt_email"],
            "refunded": refunded > 0 and refunded >= payment.amount,
            "status": "succeeded" if succeeded else "failed",
        },
        "application application_fee application_fee_amount customer on_behalf_of receipt_number receipt_url "
        "review shipping source_transfer statement_descriptor statement_descriptor_suffix transfer_data "
        "transfer_group",
    )


def _outcome(attempt: kit.AttemptRecord) -> dict[str, Any]:
    risk = {"risk_level": "normal", "risk_score": 32}
    if attempt.status is kit.OperationState.SUCCEEDED:
        approved = {"network_status": "approved_by_network", "reason": None, "seller_message": "Payment complete."}
        return approved | risk | {"type": "authorized"}
    network = "not_sent_to_network" if attempt.decline == "processing_error" else "declined_by_network"
    declined = {"network_status": network, "reason": attempt.decline, "type": "issuer_declined"}
    return declined | risk | {"seller_message": "The bank did not return any further details with this decline."}


def _refund(
    refund: kit.RefundRecord, payment: kit.PaymentRecord, expand: frozenset[str], base_url: str
) -> dict[str, Any]:
    charge = _charge_attempt(payment)
    destination = {"reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund"}
    return _sorted(
        {
            "id": refund.id,
            "object": "refund",
            "amount": refund.amount,
            "balance_transaction": None if refund.status is kit.OperationState.PENDING else "txn_3" + refund.id[4:],
            "charge": _expanded("charge", expand, charge, lambda: _charge(charge, payment)),
            "created": int(refund.created_at),
            "currency": payment.currency.lower(),
            "destination_details": {"card": destination, "type": "card"},
            "metadata": dict(refund.metadata),
            "payment_intent": _expanded(
                "payment_intent", expand, payment, lambda: _intent(payment, frozenset(), base_url)
            ),
            "reason": refund.reason,
            "status": refund.status,
        },
        "receipt_number source_transfer_reversal transfer_reversal",
    )


def _card_details(card: kit.StoredCard, cvc_check: str | None) -> dict[str, Any]:
    """What a PaymentMethod and a charge both show of their card."""
    checks = dict.fromkeys(("address_line1_check", "address_postal_code_check")) | {"cvc_check": cvc_check}
    return {
        "brand": card.brand,
        "checks": checks,
        "country": "US",
        "exp_month": card.exp_month,
        "exp_year": card.exp_year,
        "fingerprint": card.fingerprint,
        "funding": "credit",
        "last4": card.last4,
    }


def _payment_method(card: kit.StoredCard) -> dict[str, Any]:
    details = _card_details(card, None) | {"display_brand": card.brand, "three_d_secure_usage": {"supported": True}}
    details["networks"] = {"available": [card.brand], "preferred": None}
    return _sorted(
        {
            "id": card.id,
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": card.extra["billing_details"],
            "card": _sorted(details, "generated_from wallet"),
            "created": int(card.created_at),
            "customer": card.extra.get("customer"),
            "livemode": False,
            "metadata": card.extra["metadata"],
            "type": "card",
        },
        "",
    )


_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_")


def _mask_key(key: str) -> str:
    """Like Stripe: the key's kind, stars, and the last four characters only for long keys."""
    prefix = next((p for p in _KEY_PREFIXES if key.startswith(p)), "")
    return prefix + "*" * 20 + (key[-4:] if len(key) >= 24 and key[-4:].isalnum() else "")
