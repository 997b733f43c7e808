"""A local simulator of the Stripe API (PaymentMethods, PaymentIntents, Refunds), for the sandbox.

It answers like api.stripe.com on the wire for the subset the sidecar uses, keeps in-memory state
so that authorize -> capture -> refund -> sync flows work, and refuses what Stripe refuses, with
Stripe's error body (``{"error": {"type", "code", "param", "message", ...}}``) and HTTP status.

Authentication
    ``Authorization: Bearer sk_test_sandbox`` (or HTTP Basic with the key as the user name, as
    Stripe allows). Anything else is 401; the key sent is never echoed in full.

Endpoints
    ``POST /v1/payment_methods``, ``GET /v1/payment_methods/{id}``,
    ``POST /v1/payment_intents``, ``GET /v1/payment_intents/{id}``,
    ``POST /v1/payment_intents/{id}/confirm``, ``.../capture``, ``.../cancel``,
    ``POST /v1/refunds``, ``GET /v1/refunds/{id}``. Any other path is Stripe's 404
    "Unrecognized request URL". Bodies are form-encoded with bracket keys; a body of another
    content type (JSON) is ignored, as Stripe ignores it. Unknown parameters are 400
    ``parameter_unknown`` (the parameter lists are Stripe's own, from its OpenAPI spec; the ones the
    sandbox does not simulate are accepted and ignored).

Test cards (Stripe's documented numbers; any other Luhn-valid number approves)
    ====================  ================================================================
    4242424242424242      approved (Visa)
    5555555555554444      approved (Mastercard)
    4000000000000002      402 ``card_declined``, decline_code ``generic_decline``
    4000000000009995      402 ``card_declined``, decline_code ``insufficient_funds``
    4000000000009987      402 ``card_declined``, decline_code ``lost_card``
    4000000000009979      402 ``card_declined``, decline_code ``stolen_card``
    4000000000000069      402 ``expired_card``
    4000000000000127      402 ``incorrect_cvc``
    4000000000000119      402 ``processing_error``
    4000002760003184      3-D Secure required: ``requires_action`` with a ``redirect_to_url``
    4000000000003220      3-D Secure 2 required: same as above
    ====================  ================================================================

    Stripe's test PaymentMethods and tokens are understood too: ``pm_card_visa``,
    ``pm_card_mastercard``, ``pm_card_amex``, ``pm_card_chargeDeclined``,
    ``pm_card_chargeDeclinedInsufficientFunds``, ``pm_card_chargeDeclinedLostCard``,
    ``pm_card_chargeDeclinedStolenCard``, ``pm_card_chargeDeclinedExpiredCard``,
    ``pm_card_chargeDeclinedIncorrectCvc``, ``pm_card_chargeDeclinedProcessingError``,
    ``pm_card_authenticationRequired`` as ``payment_method``, and the same names with ``tok_``
    in ``card[token]``.

    Creating a PaymentMethod validates like Stripe: a number that is not 12-19 digits with a valid
    Luhn check digit is 402 ``incorrect_number``; an expiry in the past is 402
    ``invalid_expiry_year`` / ``invalid_expiry_month``; a CVC that is not 3-4 digits is 402
    ``invalid_cvc``. The card number is never stored: only the outcome its test-card rule gives,
    its brand, last four digits and a keyed fingerprint.

3-D Secure
    The 3DS cards above, or ``payment_method_options[card][request_three_d_secure]`` ``any`` or
    ``challenge``, leave the PaymentIntent in ``requires_action`` with ``next_action.type``
    ``redirect_to_url`` pointing at ``<sandbox>/3ds/<pi id>``. That page (no API key needed)
    offers "Complete" and "Fail"; ``GET <url>?outcome=complete`` or ``?outcome=fail`` does the
    same without a browser. Completing authorizes (``succeeded`` or ``requires_capture``); failing
    leaves ``requires_payment_method`` with ``payment_intent_authentication_failure``. Either way
    the browser is sent to ``return_url`` with ``payment_intent``,
    ``payment_intent_client_secret`` and ``redirect_status``, as Stripe does. Card declines are
    decided before authentication. With ``off_session=true`` a 3DS card is declined with
    ``authentication_required`` instead.

Currencies and amounts (https://docs.stripe.com/currencies)
    Only Stripe's currencies are taken (the table is the Stripe connector's, ``connectors.stripe``),
    else 400 ``Invalid currency``. Amounts are in Stripe's units for the currency: three-decimal
    currencies (BHD, JOD, KWD, OMR, TND) only in tens, else 400 ``invalid_charge_amount``; ISK and UGX
    only in hundreds, else 400 ``invalid_charge_amount_no_decimal_compatible``, as Stripe answers
    (https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds). This holds
    for PaymentIntents, captures and refunds.

Capture and cancel
    A partial capture releases the rest, which Stripe counts in the charge's ``amount_refunded`` ("any
    additional amount will be automatically refunded"); cancelling an uncaptured payment releases all
    of it the same way.

Refunds
    Refunds succeed, except that a refund of exactly ``1337`` minor units is created with status
    ``pending`` (to exercise pending refunds). Refunding more than remains is 400
    ``amount_too_large``; refunding a fully refunded charge is 400 ``charge_already_refunded``.

Customers
    None are simulated: a ``customer`` is 400 ``resource_missing``, as for an unknown one at Stripe.

Idempotency
    ``Idempotency-Key`` on a POST: the same key with the same path and parameters replays the first
    answer (status and body) with ``Idempotent-Replayed: true``; the same key with other
    parameters or another path is 400 ``idempotency_error``. As at Stripe, answers to requests
    that failed validation (400, 401, 404) are not saved; successes and card declines (402) are.
    While the first request with a key is still running, the same key gets 409
    ``idempotency_key_in_use``. A sandbox rule makes that testable: a PaymentIntent confirmed with the
    card 4242000000000018 (``SLOW_CARD``, it approves) is answered after 3 seconds, and its key counts
    as in flight until then.

Not simulated: customers, the Charges and Refunds list endpoints, webhooks, amount minimums,
currency support lists, automatic_async capture timing (it behaves like ``automatic``).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from connectors.stripe.connector import CURRENCIES

from .common import (
    DEFAULT_MAX_OBJECTS,
    NOTHING_PENDING_HTML,
    SLOW_CARD,
    SLOW_SECONDS,
    BoundedStore,
    SandboxResponse,
    add_headers,
    append_query,
    canonical_fingerprint,
    card_brand,
    card_fingerprint,
    html_response,
    json_response,
    lower_headers,
    luhn_valid,
    origin,
    random_digits,
    random_token,
    redirect_response,
    safe_redirect_url,
    three_ds_page_html,
)

__all__ = ["STRIPE_SANDBOX_KEY", "StripeSandbox"]

STRIPE_SANDBOX_KEY = "sk_test_sandbox"

# Sent back as Stripe-Version when the caller did not pin one.
DEFAULT_API_VERSION = "2024-06-20"

# Stripe's own top-level parameter lists for these endpoints (from its OpenAPI spec), so that a
# connector sending a real Stripe parameter the sandbox does not simulate is not refused.
_PAYMENT_METHOD_PARAMS = frozenset(
    "acss_debit affirm afterpay_clearpay alipay au_becs_debit bacs_debit bancontact "
    "billing_details blik boleto card cashapp customer customer_balance eps expand fpx giropay grabpay "
    "ideal interac_present klarna konbini link metadata oxxo p24 payment_method paynow pix promptpay "
    "radar_options sepa_debit sofort type us_bank_account wechat_pay".split()
)
_CREATE_INTENT_PARAMS = frozenset(
    "amount application_fee_amount automatic_payment_methods capture_method confirm confirmation_method "
    "currency customer description error_on_requires_action expand mandate mandate_data "
    "metadata off_session on_behalf_of payment_method payment_method_data "
    "payment_method_options payment_method_types radar_options receipt_email return_url setup_future_usage "
    "shipping statement_descriptor statement_descriptor_suffix transfer_data transfer_group "
    "use_stripe_sdk".split()
)
_CONFIRM_INTENT_PARAMS = frozenset(
    "capture_method client_secret error_on_requires_action expand mandate mandate_data "
    "off_session payment_method payment_method_data payment_method_options payment_method_types "
    "radar_options receipt_email return_url setup_future_usage shipping use_stripe_sdk".split()
)
_CAPTURE_PARAMS = frozenset(
    "amount_to_capture application_fee_amount expand metadata statement_descriptor "
    "statement_descriptor_suffix transfer_data".split()
)
_CANCEL_PARAMS = frozenset({"cancellation_reason", "expand"})
_REFUND_PARAMS = frozenset(
    "amount charge currency customer expand instructions_email metadata origin payment_intent reason "
    "refund_application_fee reverse_transfer".split()
)
_CARD_PARAMS = frozenset({"number", "exp_month", "exp_year", "cvc", "token"})
_BILLING_PARAMS = frozenset({"address", "email", "name", "phone"})
_ADDRESS_PARAMS = frozenset({"line1", "line2", "city", "state", "postal_code", "country"})

_CAPTURE_METHODS = ("automatic", "automatic_async", "manual")
_THREE_DS_REQUESTS = ("any", "automatic", "challenge")
_CANCELLATION_REASONS = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
_REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")
_CONFIRMABLE = ("requires_payment_method", "requires_confirmation")
_CANCELABLE = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action")
_MAX_AMOUNT = 99_999_999
_PENDING_REFUND_AMOUNT = 1337


@dataclass(frozen=True)
class _CardRule:
    """What a test card does at confirmation; the default approves."""

    decline_code: str | None = None
    error_code: str = "card_declined"
    message: str = "Your card was declined."
    param: str | None = None
    three_ds: bool = False
    cvc_check: str = "pass"
    slow: bool = False


_APPROVE = _CardRule()
_TEST_CARDS: dict[str, _CardRule] = {
    "4000000000000002": _CardRule(decline_code="generic_decline"),
    "4000000000009995": _CardRule(decline_code="insufficient_funds"),
    "4000000000009987": _CardRule(decline_code="lost_card"),
    "4000000000009979": _CardRule(decline_code="stolen_card"),
    "4000000000000069": _CardRule(
        decline_code="expired_card", error_code="expired_card", message="Your card has expired."
    ),
    "4000000000000127": _CardRule(
        decline_code="incorrect_cvc",
        error_code="incorrect_cvc",
        message="Your card's security code is incorrect.",
        param="cvc",
        cvc_check="fail",
    ),
    "4000000000000119": _CardRule(
        decline_code="processing_error",
        error_code="processing_error",
        message="An error occurred while processing your card. Try again in a little bit.",
    ),
    "4000002760003184": _CardRule(three_ds=True),
    "4000000000003220": _CardRule(three_ds=True),
    SLOW_CARD: _CardRule(slow=True),
}

# Stripe's named test PaymentMethods (pm_card_*) and tokens (tok_*), by the suffix they share.
_TEST_CARD_NAMES: dict[str, str] = {
    "visa": "4242424242424242",
    "mastercard": "5555555555554444",
    "amex": "378282246310005",
    "chargeDeclined": "4000000000000002",
    "chargeDeclinedInsufficientFunds": "4000000000009995",
    "chargeDeclinedLostCard": "4000000000009987",
    "chargeDeclinedStolenCard": "4000000000009979",
    "chargeDeclinedExpiredCard": "4000000000000069",
    "chargeDeclinedIncorrectCvc": "4000000000000127",
    "chargeDeclinedProcessingError": "4000000000000119",
    "authenticationRequired": "4000002760003184",
}


class StripeError(Exception):
    """A Stripe error answer: HTTP status and the ``error`` object."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error


def _error(
    message: str,
    *,
    status: int = 400,
    code: str | None = None,
    param: str | None = None,
    kind: str = "invalid_request_error",
    **extra: Any,
) -> StripeError:
    error: dict[str, Any] = {}
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    error["message"] = message
    if param:
        error["param"] = param
    error["type"] = kind
    error.update(extra)
    return StripeError(status, error)


# --- form decoding -------------------------------------------------------------------------------

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT_RE = re.compile(r"\[([^\[\]]*)\]")


def parse_form(text: str) -> dict[str, Any]:
    """Decode Stripe's bracket form encoding into nested dicts and lists.

    ``a[b][c]=1`` gives ``{"a": {"b": {"c": "1"}}}``; ``a[]=x`` appends to a list; ``a[0]=x`` (as
    stripe-python sends arrays) gives a list too. Metadata keys are kept as written.
    """
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        match = _KEY_RE.match(key)
        segments = [match.group(1), *_SEGMENT_RE.findall(match.group(2))] if match else [key]
        _insert(root, segments, value)
    return {key: _listify(value, key) for key, value in root.items()}


def _insert(root: dict[str, Any], segments: list[str], value: str) -> None:
    node: dict[str, Any] = root
    for depth, segment in enumerate(segments):
        is_last = depth == len(segments) - 1
        name = segments[0] if depth == 0 else f"{segments[0]}[{']['.join(segments[1 : depth + 1])}]"
        if segment == "":
            # "[]" appends; Stripe only uses it for arrays of scalars at the end of a key.
            raise _error("Invalid array", param=name)
        if is_last:
            if isinstance(node.get(segment), dict):
                raise _error("Invalid hash", param=name)
            node[segment] = value
            return
        if segments[depth + 1] == "" and depth + 1 == len(segments) - 1:
            existing = node.setdefault(segment, [])
            if not isinstance(existing, list):
                raise _error("Invalid array", param=name)
            existing.append(value)
            return
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            raise _error("Invalid hash", param=name)
        node = child


def _listify(node: Any, parent: str) -> Any:
    """Turn dicts keyed 0..n into lists, except under metadata whose keys are free text."""
    if isinstance(node, list):
        return [_listify(item, parent) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _listify(value, key) for key, value in node.items()}
    if parent != "metadata" and converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


# --- parameter readers ---------------------------------------------------------------------------


def _check_known(params: Mapping[str, Any], allowed: frozenset[str], prefix: str = "") -> None:
    for name in params:
        if name not in allowed:
            full = f"{prefix}[{name}]" if prefix else name
            raise _error(f"Received unknown parameter: {full}", code="parameter_unknown", param=full)


def _string(params: Mapping[str, Any], name: str, *, required: bool = False, label: str | None = None) -> str | None:
    label = label or name
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise _error(f"Missing required param: {label}.", code="parameter_missing", param=label)
        return None
    if not isinstance(value, str):
        raise _error(f"Invalid string: {label}", param=label)
    return value


def _integer(
    params: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    minimum: int | None = None,
    label: str | None = None,
) -> int | None:
    label = label or name
    raw = _string(params, name, required=required, label=label)
    if raw is None:
        return None
    if not re.fullmatch(r"-?\d{1,18}", raw):
        raise _error(f"Invalid integer: {raw[:64]}", code="parameter_invalid_integer", param=label)
    value = int(raw)
    if minimum is not None and value < minimum:
        raise _error(
            f"This value must be greater than or equal to {minimum}.",
            code="parameter_invalid_integer",
            param=label,
        )
    return value


def _boolean(params: Mapping[str, Any], name: str) -> bool:
    raw = _string(params, name)
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise _error(f"Invalid boolean: {raw[:64]}", param=name)
    return raw == "true"


def _enum(params: Mapping[str, Any], name: str, choices: tuple[str, ...], *, label: str | None = None) -> str | None:
    label = label or name
    value = _string(params, name, label=label)
    if value is not None and value not in choices:
        listed = ", ".join(choices[:-1]) + f", or {choices[-1]}"
        raise _error(f"Invalid {label}: must be one of {listed}", param=label)
    return value


def _hash(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = params.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise _error("Invalid hash", param=name)
    return value


def _metadata(params: Mapping[str, Any]) -> dict[str, str]:
    raw = _hash(params, "metadata")
    if len(raw) > 50:
        raise _error("Invalid metadata: Metadata can have up to 50 keys.", param="metadata")
    metadata: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str):
            raise _error(f"Invalid string: metadata[{key}]", param=f"metadata[{key}]")
        if len(key) > 40 or len(value) > 500:
            raise _error(
                "Metadata keys can be up to 40 characters and values up to 500 characters.",
                param=f"metadata[{key}]",
            )
        # As at Stripe, an empty value means "no such key".
        if value != "":
            metadata[key] = value
    return metadata


def _array(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if value is None or value == "":
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _error("Invalid array", param=name)
    return value


def _expand(params: Mapping[str, Any], allowed: tuple[str, ...]) -> set[str]:
    wanted = _array(params, "expand")
    for item in wanted:
        if item not in allowed:
            raise _error(f"This property cannot be expanded ({item[:100]}).", param="expand")
    return set(wanted)


def _currency(params: Mapping[str, Any]) -> str:
    value = _string(params, "currency", required=True)
    assert value is not None
    if value.upper() not in CURRENCIES.exponents:
        raise _error(
            f"Invalid currency: {value[:16].lower()}. Stripe currently supports these currencies: "
            "usd, eur, gbp, ... (see https://stripe.com/docs/currencies).",
            param="currency",
        )
    return value.lower()


def _check_amount(amount: int, currency: str, param: str) -> None:
    """Stripe's wire rules for an amount in its units (https://docs.stripe.com/currencies)."""
    step = CURRENCIES.steps.get(currency.upper(), 1)
    if amount % step == 0:
        return
    if step == 10:
        raise _error(
            f"Invalid amount. Three-decimal currency {currency.upper()} amounts must end in 0 "
            "(round to the nearest ten). See https://stripe.com/docs/currencies#three-decimal.",
            code="invalid_charge_amount",
            param=param,
        )
    raise _error(
        f"Invalid amount. Currency {currency.upper()} has become effectively zero-decimal and charged amounts "
        "must be evenly divisible by 100. See https://stripe.com/docs/currencies#special-cases for more information.",
        code="invalid_charge_amount_no_decimal_compatible",
        param=param,
    )


def _statement_descriptor_suffix(params: Mapping[str, Any]) -> None:
    value = _string(params, "statement_descriptor_suffix")
    # https://docs.stripe.com/get-started/account/statement-descriptors
    if value is not None and (len(value) > 22 or not re.search(r"[A-Za-z]", value) or set(value) & set("<>\\'\"*")):
        raise _error(
            "Invalid statement_descriptor_suffix: at most 22 Latin characters with at least one letter and "
            "none of < > \\ ' \" *.",
            param="statement_descriptor_suffix",
        )


def _return_url(params: Mapping[str, Any]) -> str | None:
    value = _string(params, "return_url")
    if value is not None and not safe_redirect_url(value):
        raise _error("Not a valid URL", param="return_url")
    return value


def _three_ds_request(params: Mapping[str, Any]) -> str:
    options = _hash(params, "payment_method_options")
    card = options.get("card") or {}
    if not isinstance(card, dict):
        raise _error("Invalid hash", param="payment_method_options[card]")
    label = "payment_method_options[card][request_three_d_secure]"
    return _enum(card, "request_three_d_secure", _THREE_DS_REQUESTS, label=label) or "automatic"


# --- state ---------------------------------------------------------------------------------------


@dataclass
class _PaymentMethod:
    id: str
    created: int
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str
    rule: _CardRule
    billing_details: dict[str, Any]
    metadata: dict[str, str]


@dataclass
class _Charge:
    id: str
    created: int
    amount: int
    currency: str
    payment_intent: str
    payment_method: _PaymentMethod
    status: str
    network_transaction_id: str
    description: str | None
    metadata: dict[str, str]
    receipt_email: str | None
    captured: bool = False
    amount_captured: int = 0
    amount_refunded: int = 0
    failure_code: str | None = None
    failure_message: str | None = None
    decline_code: str | None = None


@dataclass
class _PaymentIntent:
    id: str
    created: int
    amount: int
    currency: str
    capture_method: str
    confirmation_method: str
    client_secret: str
    payment_method_types: list[str]
    description: str | None
    metadata: dict[str, str]
    receipt_email: str | None
    return_url: str | None
    three_ds_request: str
    status: str
    payment_method: str | None = None
    latest_charge: str | None = None
    amount_capturable: int = 0
    amount_received: int = 0
    last_payment_error: dict[str, Any] | None = None
    next_action: dict[str, Any] | None = None
    canceled_at: int | None = None
    cancellation_reason: str | None = None


@dataclass
class _Refund:
    id: str
    created: int
    amount: int
    currency: str
    charge: str
    payment_intent: str
    reason: str | None
    metadata: dict[str, str]
    status: str


@dataclass
class _SavedResponse:
    fingerprint: str
    path: str
    response: SandboxResponse
    ready_at: float  # until then (the slow card's answer not yet sent) the key is in flight


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]
    base_url: str


_Handler = Callable[["StripeSandbox", _Request, str], SandboxResponse]


class StripeSandbox:
    """The Stripe simulator. ``handle`` takes one HTTP request and returns the answer.

    ``base_url`` is where the sandbox is reachable (used in 3-D Secure redirect URLs); when it is
    not set, it is taken from the request's Host header.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str = STRIPE_SANDBOX_KEY,
        max_objects: int = DEFAULT_MAX_OBJECTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self._api_key = api_key
        self._clock = clock
        self._lock = threading.RLock()
        self._payment_methods: BoundedStore[str, _PaymentMethod] = BoundedStore(max_objects)
        self._intents: BoundedStore[str, _PaymentIntent] = BoundedStore(max_objects)
        self._charges: BoundedStore[str, _Charge] = BoundedStore(max_objects)
        self._refunds: BoundedStore[str, _Refund] = BoundedStore(max_objects)
        self._idempotency: BoundedStore[str, _SavedResponse] = BoundedStore(max_objects)

    # -- entry point ------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> SandboxResponse:
        method = method.upper()
        lowered = lower_headers(headers)
        with self._lock:
            if path.startswith("/3ds/"):
                return self._three_ds_page(method, path[len("/3ds/") :], query, body)
            response = self._handle_api(method, path, query, lowered, body)
        return self._with_common_headers(response, lowered)

    def _handle_api(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> SandboxResponse:
        try:
            self._authenticate(headers)
            route = _match_route(method, path)
            if route is None:
                raise _error(
                    f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
                    "or we can help at https://support.stripe.com/.",
                    status=404,
                )
            params = self._read_params(method, query, headers, body)
        except StripeError as exc:
            return json_response(exc.status, {"error": exc.error})
        handler, object_id = route
        request = _Request(method, path, headers, params, self._base_url(headers))
        if method != "POST" or "idempotency-key" not in headers:
            return self._run(handler, request, object_id)
        return self._run_idempotent(handler, request, object_id, headers["idempotency-key"])

    def _run(self, handler: _Handler, request: _Request, object_id: str) -> SandboxResponse:
        try:
            return handler(self, request, object_id)
        except StripeError as exc:
            return json_response(exc.status, {"error": exc.error})

    def _run_idempotent(self, handler: _Handler, request: _Request, object_id: str, key: str) -> SandboxResponse:
        if len(key) > 255:
            return json_response(
                400,
                {
                    "error": {
                        "message": "Idempotency-Key must be at most 255 characters long.",
                        "type": "invalid_request_error",
                    }
                },
            )
        fingerprint = canonical_fingerprint(request.method, request.path, request.params)
        saved = self._idempotency.get(key)
        if saved is not None and self._clock() < saved.ready_at:
            return _key_in_use(key)
        if saved is not None:
            return self._replay(saved, fingerprint, request.path, key)
        response = self._run(handler, request, object_id)
        # Stripe saves the outcome of requests that ran (including card declines), not of ones
        # refused before running, so a corrected retry with the same key can still go through.
        if response.status < 400 or response.status == 402:
            response = add_headers(response, {"Idempotency-Key": key})
            saved = _SavedResponse(
                fingerprint, request.path, replace(response, delay=0.0), self._clock() + response.delay
            )
            self._idempotency.put(key, saved)
        return response

    def _replay(self, saved: _SavedResponse, fingerprint: str, path: str, key: str) -> SandboxResponse:
        if saved.path != path:
            message = (
                "Keys for idempotent requests can only be used for the same endpoint they were first used "
                f"for ('{saved.path}' vs '{path}'). Try using a key other than '{key[:255]}' if you meant "
                "to execute a different request."
            )
        elif saved.fingerprint != fingerprint:
            message = (
                "Keys for idempotent requests can only be used with the same parameters they were first "
                f"used with. Try using a key other than '{key[:255]}' if you meant to execute a different "
                "request."
            )
        else:
            return add_headers(saved.response, {"Idempotent-Replayed": "true"})
        return json_response(400, {"error": {"message": message, "type": "idempotency_error"}})

    def _with_common_headers(self, response: SandboxResponse, headers: dict[str, str]) -> SandboxResponse:
        extra = {
            "Stripe-Version": headers.get("stripe-version", DEFAULT_API_VERSION)[:64],
            "Cache-Control": "no-cache, no-store",
        }
        if "Request-Id" not in response.headers:
            extra["Request-Id"] = "req_" + random_token(14)
        return add_headers(response, extra)

    # -- request plumbing -------------------------------------------------------------------------

    def _authenticate(self, headers: dict[str, str]) -> None:
        key = _api_key_from(headers.get("authorization", ""))
        if not key:
            raise _error(
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://stripe.com/docs/api#authentication for details, or we can help at "
                "https://support.stripe.com/.",
                status=401,
            )
        if key != self._api_key:
            raise _error(f"Invalid API Key provided: {_mask_key(key)}", status=401)

    def _read_params(self, method: str, query: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        params = parse_form(query) if query else {}
        content_type = headers.get("content-type", "application/x-www-form-urlencoded").split(";")[0]
        # Stripe reads only form bodies; a JSON body is simply not seen, so the call then lacks
        # its required parameters.
        if method == "POST" and body and content_type.strip().lower() == "application/x-www-form-urlencoded":
            params.update(parse_form(body.decode("utf-8", errors="replace")))
        return params

    def _base_url(self, headers: dict[str, str]) -> str:
        return origin(self.base_url, headers)

    def _now(self) -> int:
        return int(self._clock())

    # -- payment methods --------------------------------------------------------------------------

    def _create_payment_method(self, request: _Request, _: str) -> SandboxResponse:
        params = request.params
        _check_known(params, _PAYMENT_METHOD_PARAMS)
        kind = _string(params, "type", required=True)
        if kind != "card":
            raise _error(f"The sandbox only simulates card PaymentMethods, not '{kind}'.", param="type")
        card = params.get("card")
        if not isinstance(card, dict) or not card:
            raise _error("Missing required param: card.", code="parameter_missing", param="card")
        _check_known(card, _CARD_PARAMS, "card")
        billing = self._billing_details(params)
        metadata = _metadata(params)
        _expand(params, ())
        token = _string(card, "token", label="card[token]")
        if token is not None:
            payment_method = self._payment_method_from_token(token, billing, metadata)
        else:
            payment_method = self._payment_method_from_card(card, billing, metadata)
        self._payment_methods.put(payment_method.id, payment_method)
        return json_response(200, self._render_payment_method(payment_method))

    def _payment_method_from_card(
        self, card: dict[str, Any], billing: dict[str, Any], metadata: dict[str, str]
    ) -> _PaymentMethod:
        number = _string(card, "number", required=True, label="card[number]")
        exp_month = _integer(card, "exp_month", required=True, label="card[exp_month]")
        exp_year = _integer(card, "exp_year", required=True, label="card[exp_year]")
        cvc = _string(card, "cvc", label="card[cvc]")
        assert number is not None and exp_month is not None and exp_year is not None
        if not luhn_valid(number):
            raise _card_error("incorrect_number", "Your card number is incorrect.", "number")
        if exp_year < 100:
            exp_year += 2000
        self._check_expiry(exp_month, exp_year)
        if cvc is not None and not re.fullmatch(r"\d{3,4}", cvc):
            raise _card_error("invalid_cvc", "Your card's security code is invalid.", "cvc")
        return self._new_payment_method(number, exp_month, exp_year, billing, metadata)

    def _payment_method_from_token(
        self, token: str, billing: dict[str, Any], metadata: dict[str, str]
    ) -> _PaymentMethod:
        number = _named_test_card(token, "tok_")
        if number is None:
            raise _error(f"No such token: '{token[:100]}'", code="resource_missing", param="card[token]")
        return self._new_payment_method(number, 12, self._today().year + 1, billing, metadata)

    def _check_expiry(self, exp_month: int, exp_year: int) -> None:
        today = self._today()
        if not 1 <= exp_month <= 12:
            raise _card_error("invalid_expiry_month", "Your card's expiration month is invalid.", "exp_month")
        if exp_year < today.year or exp_year > today.year + 50:
            raise _card_error("invalid_expiry_year", "Your card's expiration year is invalid.", "exp_year")
        if exp_year == today.year and exp_month < today.month:
            raise _card_error("invalid_expiry_month", "Your card's expiration month is invalid.", "exp_month")

    def _today(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), tz=UTC)

    def _new_payment_method(
        self, number: str, exp_month: int, exp_year: int, billing: dict[str, Any], metadata: dict[str, str]
    ) -> _PaymentMethod:
        # Only what the rules and the answers need survives; the number itself is dropped here.
        return _PaymentMethod(
            id="pm_1" + random_token(23),
            created=self._now(),
            brand=card_brand(number),
            last4=number[-4:],
            exp_month=exp_month,
            exp_year=exp_year,
            fingerprint=card_fingerprint(number),
            rule=_TEST_CARDS.get(number, _APPROVE),
            billing_details=billing,
            metadata=metadata,
        )

    def _billing_details(self, params: Mapping[str, Any]) -> dict[str, Any]:
        raw = _hash(params, "billing_details")
        _check_known(raw, _BILLING_PARAMS, "billing_details")
        address = _hash(raw, "address") if raw.get("address") not in (None, "") else {}
        _check_known(address, _ADDRESS_PARAMS, "billing_details[address]")
        return {
            "address": {
                name: _string(address, name, label=f"billing_details[address][{name}]")
                for name in ("city", "country", "line1", "line2", "postal_code", "state")
            },
            "email": _string(raw, "email", label="billing_details[email]"),
            "name": _string(raw, "name", label="billing_details[name]"),
            "phone": _string(raw, "phone", label="billing_details[phone]"),
        }

    def _get_payment_method(self, request: _Request, pm_id: str) -> SandboxResponse:
        _check_known(request.params, frozenset({"expand"}))
        _expand(request.params, ())
        payment_method = self._payment_methods.get(pm_id)
        if payment_method is None:
            raise _error(
                f"No such PaymentMethod: '{pm_id}'",
                status=404,
                code="resource_missing",
                param="payment_method",
            )
        return json_response(200, self._render_payment_method(payment_method))

    def _resolve_payment_method(self, pm_id: str) -> _PaymentMethod:
        payment_method = self._payment_methods.get(pm_id)
        if payment_method is not None:
            return payment_method
        number = _named_test_card(pm_id, "pm_card_")
        if number is None:
            raise _error(f"No such PaymentMethod: '{pm_id}'", code="resource_missing", param="payment_method")
        payment_method = self._new_payment_method(number, 12, self._today().year + 1, _empty_billing(), {})
        self._payment_methods.put(payment_method.id, payment_method)
        return payment_method

    # -- payment intents --------------------------------------------------------------------------

    def _create_intent(self, request: _Request, _: str) -> SandboxResponse:
        params = request.params
        _check_known(params, _CREATE_INTENT_PARAMS)
        intent, confirm = self._new_intent(params)
        expand = _expand(params, ("latest_charge", "payment_method"))
        pm_id = _string(params, "payment_method")
        payment_method = self._resolve_payment_method(pm_id) if pm_id else None
        if payment_method is not None:
            intent.payment_method = payment_method.id
            intent.status = "requires_confirmation"
        if confirm and payment_method is None:
            raise _error(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "Specify a payment_method to confirm it.",
                code="parameter_missing",
                param="payment_method",
            )
        self._intents.put(intent.id, intent)
        if confirm and payment_method is not None:
            self._confirm(intent, payment_method, off_session=_off_session(params), base_url=request.base_url)
            return _answer_confirmed(self._render_intent(intent, expand), payment_method)
        return json_response(200, self._render_intent(intent, expand))

    def _new_intent(self, params: Mapping[str, Any]) -> tuple[_PaymentIntent, bool]:
        """A PaymentIntent from the create parameters (checked in Stripe's order), and ``confirm``."""
        amount = _integer(params, "amount", required=True, minimum=1)
        currency = _currency(params)
        assert amount is not None
        _check_amount(amount, currency, "amount")
        _statement_descriptor_suffix(params)
        if (customer := _string(params, "customer")) is not None:
            raise _error(f"No such customer: '{customer[:100]}'", code="resource_missing", param="customer")
        if amount > _MAX_AMOUNT:
            raise _error(
                f"Amount must be no more than {_MAX_AMOUNT} (in the smallest currency unit).",
                code="amount_too_large",
                param="amount",
            )
        confirm = _boolean(params, "confirm")
        return_url = _return_url(params)
        if return_url is not None and not confirm:
            raise _error("You may only specify `return_url` when `confirm=true`.", param="return_url")
        intent_id = "pi_3" + random_token(23)
        intent = _PaymentIntent(
            id=intent_id,
            created=self._now(),
            amount=amount,
            currency=currency,
            capture_method=_enum(params, "capture_method", _CAPTURE_METHODS) or "automatic",
            confirmation_method=_enum(params, "confirmation_method", ("automatic", "manual")) or "automatic",
            client_secret=f"{intent_id}_secret_" + random_token(25),
            payment_method_types=_array(params, "payment_method_types") or ["card"],
            description=_string(params, "description"),
            metadata=_metadata(params),
            receipt_email=_string(params, "receipt_email"),
            return_url=return_url,
            three_ds_request=_three_ds_request(params),
            status="requires_payment_method",
        )
        return intent, confirm

    def _confirm_intent(self, request: _Request, intent_id: str) -> SandboxResponse:
        params = request.params
        _check_known(params, _CONFIRM_INTENT_PARAMS)
        intent = self._intent_or_404(intent_id)
        expand = _expand(params, ("latest_charge", "payment_method"))
        if intent.status not in _CONFIRMABLE:
            raise self._unexpected_state(intent, "confirm", _CONFIRMABLE)
        pm_id = _string(params, "payment_method") or intent.payment_method
        if pm_id is None:
            raise _error(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="parameter_missing",
                param="payment_method",
            )
        payment_method = self._resolve_payment_method(pm_id)
        intent.return_url = _return_url(params) or intent.return_url
        intent.receipt_email = _string(params, "receipt_email") or intent.receipt_email
        intent.capture_method = _enum(params, "capture_method", _CAPTURE_METHODS) or intent.capture_method
        if params.get("payment_method_options"):
            intent.three_ds_request = _three_ds_request(params)
        self._confirm(intent, payment_method, off_session=_off_session(params), base_url=request.base_url)
        return _answer_confirmed(self._render_intent(intent, expand), payment_method)

    def _confirm(
        self, intent: _PaymentIntent, payment_method: _PaymentMethod, *, off_session: bool, base_url: str
    ) -> None:
        intent.payment_method = payment_method.id
        intent.last_payment_error = None
        rule = payment_method.rule
        if rule.decline_code is not None:
            self._decline(intent, payment_method, rule.error_code, rule.decline_code, rule.message, rule.param)
        needs_three_ds = rule.three_ds or intent.three_ds_request in ("any", "challenge")
        if needs_three_ds and off_session:
            self._decline(
                intent,
                payment_method,
                "authentication_required",
                "authentication_required",
                "Your card was declined. This transaction requires authentication.",
                None,
            )
        if needs_three_ds:
            intent.status = "requires_action"
            intent.next_action = {
                "redirect_to_url": {"return_url": intent.return_url, "url": f"{base_url}/3ds/{intent.id}"},
                "type": "redirect_to_url",
            }
            return
        self._authorize(intent, payment_method)

    def _decline(
        self,
        intent: _PaymentIntent,
        payment_method: _PaymentMethod,
        code: str,
        decline_code: str,
        message: str,
        param: str | None,
    ) -> None:
        """Record a failed charge on the intent and raise Stripe's 402 card error."""
        charge = self._new_charge(intent, payment_method, status="failed")
        charge.failure_code, charge.failure_message, charge.decline_code = code, message, decline_code
        self._charges.put(charge.id, charge)
        error = _error(
            message,
            status=402,
            code=code,
            param=param,
            kind="card_error",
            charge=charge.id,
            decline_code=decline_code,
            payment_method=self._render_payment_method(payment_method),
        )
        intent.latest_charge = charge.id
        intent.status = "requires_payment_method"
        intent.payment_method = None
        intent.next_action = None
        intent.last_payment_error = dict(error.error)
        error.error["payment_intent"] = self._render_intent(intent, set())
        raise error

    def _authorize(self, intent: _PaymentIntent, payment_method: _PaymentMethod) -> None:
        charge = self._new_charge(intent, payment_method, status="succeeded")
        intent.latest_charge = charge.id
        intent.next_action = None
        if intent.capture_method == "manual":
            intent.status = "requires_capture"
            intent.amount_capturable = intent.amount
        else:
            intent.status = "succeeded"
            intent.amount_received = intent.amount
            charge.captured, charge.amount_captured = True, intent.amount
        self._charges.put(charge.id, charge)

    def _new_charge(self, intent: _PaymentIntent, payment_method: _PaymentMethod, *, status: str) -> _Charge:
        return _Charge(
            id="ch_3" + random_token(23),
            created=self._now(),
            amount=intent.amount,
            currency=intent.currency,
            payment_intent=intent.id,
            payment_method=payment_method,
            status=status,
            network_transaction_id=random_digits(15),
            description=intent.description,
            metadata=dict(intent.metadata),
            receipt_email=intent.receipt_email,
        )

    def _get_intent(self, request: _Request, intent_id: str) -> SandboxResponse:
        _check_known(request.params, frozenset({"expand", "client_secret"}))
        expand = _expand(request.params, ("latest_charge", "payment_method"))
        return json_response(200, self._render_intent(self._intent_or_404(intent_id), expand))

    def _capture_intent(self, request: _Request, intent_id: str) -> SandboxResponse:
        params = request.params
        _check_known(params, _CAPTURE_PARAMS)
        intent = self._intent_or_404(intent_id)
        expand = _expand(params, ("latest_charge", "payment_method"))
        amount = _integer(params, "amount_to_capture", minimum=1)
        metadata = _metadata(params)
        if intent.status != "requires_capture":
            raise self._unexpected_state(intent, "capture", ("requires_capture",))
        amount = intent.amount_capturable if amount is None else amount
        _check_amount(amount, intent.currency, "amount_to_capture")
        if amount > intent.amount_capturable:
            raise _error(
                f"The amount_to_capture ({amount}) is greater than the amount_capturable "
                f"({intent.amount_capturable}) on this PaymentIntent.",
                code="amount_too_large",
                param="amount_to_capture",
            )
        charge = self._charges.get(intent.latest_charge or "")
        if charge is not None:
            # What is not captured is released, and Stripe counts it as refunded on the charge.
            charge.captured, charge.amount_captured = True, amount
            charge.amount_refunded = charge.amount - amount
        intent.metadata.update(metadata)
        intent.status = "succeeded"
        intent.amount_received = amount
        intent.amount_capturable = 0
        return json_response(200, self._render_intent(intent, expand))

    def _cancel_intent(self, request: _Request, intent_id: str) -> SandboxResponse:
        params = request.params
        _check_known(params, _CANCEL_PARAMS)
        intent = self._intent_or_404(intent_id)
        expand = _expand(params, ("latest_charge", "payment_method"))
        reason = _enum(params, "cancellation_reason", _CANCELLATION_REASONS)
        if intent.status not in _CANCELABLE:
            raise self._unexpected_state(intent, "cancel", _CANCELABLE)
        charge = self._charges.get(intent.latest_charge or "")
        if intent.status == "requires_capture" and charge is not None:
            # Releasing an uncaptured authorization shows on the charge as fully refunded.
            charge.amount_refunded = charge.amount
        intent.status = "canceled"
        intent.cancellation_reason = reason
        intent.canceled_at = self._now()
        intent.amount_capturable = 0
        intent.next_action = None
        return json_response(200, self._render_intent(intent, expand))

    def _unexpected_state(self, intent: _PaymentIntent, action: str, allowed: tuple[str, ...]) -> StripeError:
        verb = {"capture": "captured", "cancel": "canceled", "confirm": "confirmed"}[action]
        return _error(
            f"This PaymentIntent could not be {verb} because it has a status of {intent.status}. "
            f"Only a PaymentIntent with one of the following statuses may be {verb}: {', '.join(allowed)}.",
            code="payment_intent_unexpected_state",
            payment_intent=self._render_intent(intent, set()),
        )

    def _intent_or_404(self, intent_id: str) -> _PaymentIntent:
        intent = self._intents.get(intent_id)
        if intent is None:
            raise _error(f"No such payment_intent: '{intent_id}'", status=404, code="resource_missing", param="intent")
        return intent

    # -- refunds ----------------------------------------------------------------------------------

    def _create_refund(self, request: _Request, _: str) -> SandboxResponse:
        params = request.params
        _check_known(params, _REFUND_PARAMS)
        expand = _expand(params, ("charge", "payment_intent"))
        charge = self._refund_target(params)
        amount = _integer(params, "amount", minimum=1)
        reason = _enum(params, "reason", _REFUND_REASONS)
        metadata = _metadata(params)
        remaining = charge.amount_captured - _refunded_after_capture(charge)
        if remaining <= 0:
            raise _error(f"Charge {charge.id} has already been refunded.", code="charge_already_refunded")
        amount = remaining if amount is None else amount
        _check_amount(amount, charge.currency, "amount")
        if amount > remaining:
            raise _error(
                f"Refund amount ({amount} {charge.currency}) is greater than unrefunded amount on charge "
                f"({remaining} {charge.currency})",
                code="amount_too_large",
                param="amount",
            )
        refund = _Refund(
            id="re_3" + random_token(23),
            created=self._now(),
            amount=amount,
            currency=charge.currency,
            charge=charge.id,
            payment_intent=charge.payment_intent,
            reason=reason,
            metadata=metadata,
            status="pending" if amount == _PENDING_REFUND_AMOUNT else "succeeded",
        )
        # Stripe counts pending refunds in amount_refunded straight away.
        charge.amount_refunded += amount
        self._refunds.put(refund.id, refund)
        return json_response(200, self._render_refund(refund, expand))

    def _refund_target(self, params: Mapping[str, Any]) -> _Charge:
        """The captured charge a refund applies to, from ``payment_intent`` or ``charge``."""
        intent_id = _string(params, "payment_intent")
        charge_id = _string(params, "charge")
        if intent_id is None and charge_id is None:
            raise _error(
                "One of the following params should be provided for this request: payment_intent or charge.",
                code="parameter_missing",
                param="payment_intent",
            )
        if intent_id is not None:
            intent = self._intents.get(intent_id)
            if intent is None:
                raise _error(f"No such payment_intent: '{intent_id}'", code="resource_missing", param="payment_intent")
            charge = self._charges.get(intent.latest_charge or "") if intent.status == "succeeded" else None
            if charge is None:
                raise _error(
                    "This PaymentIntent does not have a successful charge to refund.",
                    code="payment_intent_unexpected_state",
                    param="payment_intent",
                )
            return charge
        assert charge_id is not None
        charge = self._charges.get(charge_id)
        if charge is None:
            raise _error(f"No such charge: '{charge_id}'", code="resource_missing", param="charge")
        if not charge.captured:
            raise _error(f"Charge {charge_id} has not been captured and cannot be refunded.", param="charge")
        return charge

    def _get_refund(self, request: _Request, refund_id: str) -> SandboxResponse:
        _check_known(request.params, frozenset({"expand"}))
        expand = _expand(request.params, ("charge", "payment_intent"))
        refund = self._refunds.get(refund_id)
        if refund is None:
            raise _error(f"No such refund: '{refund_id}'", status=404, code="resource_missing", param="refund")
        return json_response(200, self._render_refund(refund, expand))

    # -- 3-D Secure pages -------------------------------------------------------------------------

    def _three_ds_page(self, method: str, intent_id: str, query: str, body: bytes) -> SandboxResponse:
        intent = self._intents.get(intent_id)
        if intent is None or intent.status != "requires_action":
            return html_response(404, NOTHING_PENDING_HTML)
        fields = dict(parse_qsl(query))
        if method == "POST":
            fields.update(parse_qsl(body.decode("utf-8", errors="replace")))
        outcome = fields.get("outcome")
        if method not in ("GET", "POST") or outcome not in ("complete", "fail"):
            amount_text = f"{intent.amount} {intent.currency.upper()}"
            return html_response(200, three_ds_page_html(intent.id, amount_text))
        payment_method = self._payment_methods.get(intent.payment_method or "")
        if outcome == "complete" and payment_method is not None:
            self._authorize(intent, payment_method)
        else:
            self._fail_authentication(intent, payment_method)
        return self._three_ds_return(intent)

    def _fail_authentication(self, intent: _PaymentIntent, payment_method: _PaymentMethod | None) -> None:
        intent.status = "requires_payment_method"
        intent.next_action = None
        intent.payment_method = None
        intent.last_payment_error = {
            "code": "payment_intent_authentication_failure",
            "doc_url": "https://stripe.com/docs/error-codes/payment-intent-authentication-failure",
            "message": (
                "The provided PaymentMethod has failed authentication. You can provide payment_method_data "
                "or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
            ),
            "payment_method": self._render_payment_method(payment_method) if payment_method else None,
            "type": "invalid_request_error",
        }

    def _three_ds_return(self, intent: _PaymentIntent) -> SandboxResponse:
        redirect_status = "failed" if intent.status == "requires_payment_method" else "succeeded"
        if not intent.return_url:
            page = f"<!doctype html><title>3D Secure</title><p>Authentication {redirect_status}.</p>"
            return html_response(200, page)
        extra = {
            "payment_intent": intent.id,
            "payment_intent_client_secret": intent.client_secret,
            "redirect_status": redirect_status,
        }
        return redirect_response(append_query(intent.return_url, extra))

    # -- rendering --------------------------------------------------------------------------------

    def _render_payment_method(self, pm: _PaymentMethod) -> dict[str, Any]:
        return {
            "id": pm.id,
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": pm.billing_details,
            "card": {
                "brand": pm.brand,
                "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": None},
                "country": "US",
                "display_brand": pm.brand,
                "exp_month": pm.exp_month,
                "exp_year": pm.exp_year,
                "fingerprint": pm.fingerprint,
                "funding": "credit",
                "generated_from": None,
                "last4": pm.last4,
                "networks": {"available": [pm.brand], "preferred": None},
                "three_d_secure_usage": {"supported": True},
                "wallet": None,
            },
            "created": pm.created,
            "customer": None,
            "livemode": False,
            "metadata": pm.metadata,
            "type": "card",
        }

    def _render_intent(self, intent: _PaymentIntent, expand: set[str]) -> dict[str, Any]:
        latest_charge: Any = intent.latest_charge
        if "latest_charge" in expand and intent.latest_charge:
            charge = self._charges.get(intent.latest_charge)
            latest_charge = self._render_charge(charge) if charge else intent.latest_charge
        payment_method: Any = intent.payment_method
        if "payment_method" in expand and intent.payment_method:
            pm = self._payment_methods.get(intent.payment_method)
            payment_method = self._render_payment_method(pm) if pm else intent.payment_method
        return {
            "id": intent.id,
            "object": "payment_intent",
            "amount": intent.amount,
            "amount_capturable": intent.amount_capturable,
            "amount_details": {"tip": {}},
            "amount_received": intent.amount_received,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": None,
            "canceled_at": intent.canceled_at,
            "cancellation_reason": intent.cancellation_reason,
            "capture_method": intent.capture_method,
            "client_secret": intent.client_secret,
            "confirmation_method": intent.confirmation_method,
            "created": intent.created,
            "currency": intent.currency,
            "customer": None,
            "description": intent.description,
            "invoice": None,
            "last_payment_error": intent.last_payment_error,
            "latest_charge": latest_charge,
            "livemode": False,
            "metadata": intent.metadata,
            "next_action": intent.next_action,
            "on_behalf_of": None,
            "payment_method": payment_method,
            "payment_method_options": {
                "card": {
                    "installments": None,
                    "mandate_options": None,
                    "network": None,
                    "request_three_d_secure": intent.three_ds_request,
                }
            },
            "payment_method_types": intent.payment_method_types,
            "processing": None,
            "receipt_email": intent.receipt_email,
            "review": None,
            "setup_future_usage": None,
            "shipping": None,
            "source": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": intent.status,
            "transfer_data": None,
            "transfer_group": None,
        }

    def _render_charge(self, charge: _Charge) -> dict[str, Any]:
        pm = charge.payment_method
        succeeded = charge.status == "succeeded"
        return {
            "id": charge.id,
            "object": "charge",
            "amount": charge.amount,
            "amount_captured": charge.amount_captured,
            "amount_refunded": charge.amount_refunded,
            "application": None,
            "application_fee": None,
            "application_fee_amount": None,
            "balance_transaction": ("txn_3" + charge.id[4:]) if charge.captured else None,
            "billing_details": pm.billing_details,
            "calculated_statement_descriptor": "SIDECAR SANDBOX",
            "captured": charge.captured,
            "created": charge.created,
            "currency": charge.currency,
            "customer": None,
            "description": charge.description,
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": charge.failure_code,
            "failure_message": charge.failure_message,
            "fraud_details": {},
            "livemode": False,
            "metadata": charge.metadata,
            "on_behalf_of": None,
            "outcome": _outcome(charge),
            "paid": succeeded,
            "payment_intent": charge.payment_intent,
            "payment_method": pm.id,
            "payment_method_details": {
                "card": {
                    "amount_authorized": charge.amount if succeeded else None,
                    "brand": pm.brand,
                    "checks": {
                        "address_line1_check": None,
                        "address_postal_code_check": None,
                        "cvc_check": pm.rule.cvc_check,
                    },
                    "country": "US",
                    "exp_month": pm.exp_month,
                    "exp_year": pm.exp_year,
                    "fingerprint": pm.fingerprint,
                    "funding": "credit",
                    "installments": None,
                    "last4": pm.last4,
                    "mandate": None,
                    "network": pm.brand,
                    "network_transaction_id": charge.network_transaction_id,
                    "three_d_secure": None,
                    "wallet": None,
                },
                "type": "card",
            },
            "receipt_email": charge.receipt_email,
            "receipt_number": None,
            "receipt_url": None,
            "refunded": _fully_refunded(charge),
            "review": None,
            "shipping": None,
            "source_transfer": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": charge.status,
            "transfer_data": None,
            "transfer_group": None,
        }

    def _render_refund(self, refund: _Refund, expand: set[str]) -> dict[str, Any]:
        charge: Any = refund.charge
        if "charge" in expand and (stored := self._charges.get(refund.charge)) is not None:
            charge = self._render_charge(stored)
        intent: Any = refund.payment_intent
        stored_intent = self._intents.get(refund.payment_intent) if "payment_intent" in expand else None
        if stored_intent is not None:
            intent = self._render_intent(stored_intent, set())
        return {
            "id": refund.id,
            "object": "refund",
            "amount": refund.amount,
            "balance_transaction": None if refund.status == "pending" else "txn_3" + refund.id[4:],
            "charge": charge,
            "created": refund.created,
            "currency": refund.currency,
            "destination_details": {
                "card": {
                    "reference_status": "pending",
                    "reference_type": "acquirer_reference_number",
                    "type": "refund",
                },
                "type": "card",
            },
            "metadata": refund.metadata,
            "payment_intent": intent,
            "reason": refund.reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": refund.status,
            "transfer_reversal": None,
        }


# --- helpers outside the class -------------------------------------------------------------------


def _answer_confirmed(intent: dict[str, Any], payment_method: _PaymentMethod) -> SandboxResponse:
    """A confirmed PaymentIntent's answer; the slow test card's comes SLOW_SECONDS later."""
    return replace(json_response(200, intent), delay=SLOW_SECONDS if payment_method.rule.slow else 0.0)


def _key_in_use(key: str) -> SandboxResponse:
    # Stripe's `idempotency_key_in_use` (https://docs.stripe.com/error-codes): HTTP 409 Conflict.
    message = (
        f"There is currently another in-progress request using this Idempotent Key: '{key[:255]}'. "
        "Please try again later."
    )
    error = _error(message, status=409, code="idempotency_key_in_use")
    return json_response(error.status, {"error": error.error})


def _api_key_from(authorization: str) -> str:
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[0]
    return ""


_KEY_PREFIXES = ("sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_")


def _mask_key(key: str) -> str:
    """Like Stripe: the key's kind, stars, and the last four characters only for long keys."""
    prefix = next((p for p in _KEY_PREFIXES if key.startswith(p)), "")
    tail = key[-4:] if len(key) >= 24 and key[-4:].isalnum() else ""
    return f"{prefix}{'*' * 20}{tail}"


def _named_test_card(name: str, prefix: str) -> str | None:
    """The number behind one of Stripe's named test cards (``pm_card_visa``, ``tok_visa``...)."""
    return _TEST_CARD_NAMES.get(name.removeprefix(prefix)) if name.startswith(prefix) else None


def _card_error(code: str, message: str, param: str) -> StripeError:
    return _error(message, status=402, code=code, param=param, kind="card_error")


def _refunded_after_capture(charge: _Charge) -> int:
    """Refunds of captured money: `amount_refunded` less what a partial capture released."""
    return charge.amount_refunded - (charge.amount - charge.amount_captured)


def _fully_refunded(charge: _Charge) -> bool:
    # Released and refunded together make the whole charge once nothing of it is left.
    return charge.amount_refunded > 0 and charge.amount_refunded >= charge.amount


def _off_session(params: Mapping[str, Any]) -> bool:
    value = params.get("off_session")
    # Stripe takes true/false or the kinds "one_off" / "recurring" (which mean true).
    return isinstance(value, str) and value in ("true", "one_off", "recurring")


def _empty_billing() -> dict[str, Any]:
    return {
        "address": {name: None for name in ("city", "country", "line1", "line2", "postal_code", "state")},
        "email": None,
        "name": None,
        "phone": None,
    }


def _outcome(charge: _Charge) -> dict[str, Any]:
    if charge.status == "succeeded":
        return {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 32,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    blocked = charge.decline_code in ("processing_error",)
    return {
        "network_status": "not_sent_to_network" if blocked else "declined_by_network",
        "reason": charge.decline_code,
        "risk_level": "normal",
        "risk_score": 32,
        "seller_message": "The bank did not return any further details with this decline.",
        "type": "issuer_declined",
    }


# Routes: (method, compiled path, handler). Ids are any single path segment.
_ROUTES: list[tuple[str, re.Pattern[str], _Handler]] = [
    ("POST", re.compile(r"/v1/payment_methods"), StripeSandbox._create_payment_method),
    ("GET", re.compile(r"/v1/payment_methods/([^/]+)"), StripeSandbox._get_payment_method),
    ("POST", re.compile(r"/v1/payment_intents"), StripeSandbox._create_intent),
    ("GET", re.compile(r"/v1/payment_intents/([^/]+)"), StripeSandbox._get_intent),
    ("POST", re.compile(r"/v1/payment_intents/([^/]+)/confirm"), StripeSandbox._confirm_intent),
    ("POST", re.compile(r"/v1/payment_intents/([^/]+)/capture"), StripeSandbox._capture_intent),
    ("POST", re.compile(r"/v1/payment_intents/([^/]+)/cancel"), StripeSandbox._cancel_intent),
    ("POST", re.compile(r"/v1/refunds"), StripeSandbox._create_refund),
    ("GET", re.compile(r"/v1/refunds/([^/]+)"), StripeSandbox._get_refund),
]


def _match_route(method: str, path: str) -> tuple[_Handler, str] | None:
    for route_method, pattern, handler in _ROUTES:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return handler, (match.group(1) if match.groups() else "")
    return None
