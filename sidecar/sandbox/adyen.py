"""A local simulator of Adyen's Checkout API v71 (card payments and their modifications), for the sandbox.

It answers like checkout-test.adyen.com/v71 on the wire for the subset the sidecar uses, keeps
in-memory state so authorise -> capture -> refund flows work, and refuses what Adyen refuses, in
Adyen's error shape ``{"status", "errorCode", "message", "errorType", "pspReference"}``.

Authentication
    ``X-API-Key: sandbox_api_key``, else 401 ``{"status": 401, "errorCode": "000", "message":
    "HTTP Status Response - Unauthorized", "errorType": "security"}``. The ``merchantAccount`` of
    every request must be ``SidecarSandboxECOM``, else 403 ``901 Invalid Merchant Account``.

Endpoints (under ``/v68`` to ``/v72``, what the SDKs call by default; the answers are v71's)
    ``POST /payments``, ``POST /payments/details`` (to finish a 3-D Secure redirect),
    ``POST /payments/{pspReference}/captures``, ``.../cancels``, ``.../refunds``. Checkout has no
    GET for a payment, so every other path is 404 (405 for a known path with another method).

Request errors
    ===========================================  ======  ========  ====================================
    what                                          status  code      message
    ===========================================  ======  ========  ====================================
    empty or malformed JSON, not an object        400     702       Unexpected input ... / Empty input ...
    a top-level field Adyen does not know         400     702       Structure of <Request> contains the
                                                                    following unknown fields: [...]
    ``amount`` missing                            422     100       Required object 'amount' is not provided.
    ``amount.value`` not a non-negative integer   422     137       Invalid amount specified
    ``amount.currency`` not one Adyen takes       422     138       Unsupported currency specified
    (its table is the Adyen connector's, from
    Adyen's currency page), or on a capture or
    refund not the payment's currency
    ``metadata`` over 20 pairs                    422     177       Metadata size exceeds limit
    a ``metadata`` key over 20 characters         422     178       Metadata key size exceeds limit
    a ``metadata`` value over 80 characters       422     000       Metadata value size exceeds limit
    ``billingAddress`` without one of street,     422     000       Required field 'billingAddress.<name>'
    houseNumberOrName, city, postalCode, country                    is not provided.
    (empty counts as absent), ``shopperName``
    without firstName or lastName
    ``reference`` missing                         422     130       Required field 'reference' is not
                                                                    provided.
    ``returnUrl`` missing                         422     14_030    Return URL is missing.
    other required field missing                  422     000       Required field '<name>' is not provided.
    ``paymentMethod.type`` other than ``scheme``  500     905       Payment details are not supported
    encrypted card fields (cannot be decrypted)   422     174       Unable to decrypt data
    card number not 12-19 digits / Luhn           422     101       Invalid card number
    card number of no known network               422     102       Unable to determine variant
    expiry month/year malformed                   422     129       Expiry Date Invalid
    CVC not 3-4 digits                            422     103       CVC is not the right length
    unknown pspReference, or a payment that is    422     167       Original pspReference required for
    not in a state for that modification                            this operation
    modification amount above what remains        422     137       Invalid amount specified
    ``Idempotency-Key`` of a call still running   409     704       request already processed or in progress
    ===========================================  ======  ========  ====================================

    Real Adyen acknowledges most modifications (``"status": "received"``) and reports their
    failure later in a webhook; the sandbox has no webhooks, so it refuses them at once with 422.

Test rules (Adyen's test-environment conventions)
    Any Luhn-valid number of a known network authorises (for example 4111111111111111 Visa,
    5555444433331111 Mastercard, 370000000000002 Amex), unless one of these applies, in this order:

    - the expiry date is in the past: ``Refused``, ``Expired Card``, code ``6``;
    - ``paymentMethod.holderName`` is a refusal reason (case-insensitive):

      ==========================  ===========  ==========================  ====
      holderName                  resultCode   refusalReason               code
      ==========================  ===========  ==========================  ====
      DECLINED                    Refused      Refused                     2
      ACQUIRER ERROR              Error        Acquirer Error              4
      BLOCK CARD                  Refused      Blocked Card                5
      EXPIRED CARD, CARD EXPIRED  Refused      Expired Card                6
      ISSUER UNAVAILABLE          Refused      Issuer Unavailable          9
      NOT SUPPORTED               Refused      Not supported               10
      NOT ENOUGH BALANCE          Refused      Not enough balance          12
      FRAUD                       Refused      FRAUD                       20
      CVC DECLINED                Refused      CVC Declined                24
      RESTRICTED CARD             Refused      Restricted Card             25
      WITHDRAWAL AMOUNT EXCEEDED  Refused      Withdrawal amount exceeded  28
      ==========================  ===========  ==========================  ====

    - ``amount.value`` is ``12345``: ``Refused``, ``Refused``, code ``2`` (a sandbox rule, so a
      decline can be had without a special name).

    ``authenticationData.attemptAuthentication: "always"`` gives ``RedirectShopper`` with an
    ``action`` ``{"type": "redirect", "method": "GET", "url": "<sandbox>/3ds/<pspReference>",
    "paymentMethodType": "scheme"}``. That page (no API key needed) offers "Complete" and "Fail";
    ``GET <url>?outcome=complete`` or ``?outcome=fail`` does the same without a browser. It sends
    the browser to ``returnUrl`` with ``redirectResult``; ``POST /v71/payments/details`` with
    ``{"details": {"redirectResult": ...}}`` then gives the final result: the rules above, or
    ``Refused`` ``3D Not Authenticated`` code ``11`` when authentication failed.

Capture
    ``additionalData.manualCapture: "true"`` (or a ``captureDelayHours`` above 0, since the sandbox
    runs no clock) leaves the payment authorised for ``/captures`` (partial captures allowed, in
    several steps) and ``/cancels``. Without it the payment counts as captured at once, so it can
    be refunded straight away. Refunds may not exceed what was captured minus what was refunded.

Idempotency
    ``Idempotency-Key``: a key seen before replays the first answer, whatever the path and body (Adyen
    documents no comparison: "the response to the first attempt will be returned",
    https://docs.adyen.com/development-resources/api-idempotency). While the first call with a key is
    still running, the key gets 409 ``704`` "request already processed or in progress" (reported with
    409 and with 422; the sandbox uses 409). Only successful answers are kept. A sandbox rule makes the
    in-flight case testable: a payment with the card 4242000000000018 (``SLOW_CARD``, it authorises) is
    answered after 3 seconds, and its key counts as in flight until then.

The card number and CVC are never stored; a payment keeps the brand, last four digits and expiry.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from connectors.adyen.connector import CURRENCIES

from .common import (
    DEFAULT_MAX_OBJECTS,
    NOTHING_PENDING_HTML,
    SLOW_CARD,
    SLOW_SECONDS,
    BoundedStore,
    SandboxResponse,
    append_query,
    card_brand,
    html_response,
    json_response,
    lower_headers,
    luhn_valid,
    origin,
    random_digits,
    random_token,
    random_upper_token,
    redirect_response,
    safe_redirect_url,
    three_ds_page_html,
)

__all__ = ["ADYEN_SANDBOX_KEY", "ADYEN_SANDBOX_MERCHANT", "AdyenSandbox"]

ADYEN_SANDBOX_KEY = "sandbox_api_key"
ADYEN_SANDBOX_MERCHANT = "SidecarSandboxECOM"
API_VERSION = r"v(?:6[89]|7[0-2])"  # the route pattern: Checkout v68-v72, which the SDKs call by default

# Adyen's own field lists for these requests (from the Checkout v71 OpenAPI spec): Adyen refuses
# unknown fields, but accepts every one of these even where the sandbox ignores it.
_PAYMENT_FIELDS = frozenset(
    "accountInfo additionalAmount additionalData amount applicationInfo authenticationData bankAccount "
    "billingAddress browserInfo captureDelayHours channel checkoutAttemptId company conversionId countryCode "
    "dateOfBirth dccQuote deliverAt deliveryAddress deliveryDate deviceFingerprint enableOneClick "
    "enablePayOut enableRecurring enhancedSchemeData entityType fraudOffset fundOrigin fundRecipient "
    "industryUsage installments lineItems localizedShopperStatement mandate mcc merchantAccount "
    "merchantOrderReference merchantRiskIndicator metadata mpiData order orderReference origin paymentMethod "
    "paymentValidations platformChargebackLogic recurringExpiry recurringFrequency recurringProcessingModel "
    "redirectFromIssuerMethod redirectToIssuerMethod reference returnUrl riskData sessionValidity "
    "shopperConversionId shopperEmail shopperIP shopperInteraction shopperLocale shopperName "
    "shopperReference shopperStatement shopperTaxInfo socialSecurityNumber splits store storePaymentMethod "
    "subMerchants surcharge telephoneNumber threeDS2RequestData threeDSAuthenticationOnly "
    "trustedShopper".split()
)
_CAPTURE_FIELDS = frozenset(
    "amount applicationInfo enhancedSchemeData lineItems merchantAccount platformChargebackLogic reference "
    "splits subMerchants".split()
)
_CANCEL_FIELDS = frozenset({"applicationInfo", "enhancedSchemeData", "merchantAccount", "reference"})
_REFUND_FIELDS = frozenset(
    "amount applicationInfo capturePspReference enhancedSchemeData lineItems merchantAccount "
    "merchantRefundReason reference splits store".split()
)
_DETAILS_FIELDS = frozenset({"authenticationData", "details", "paymentData", "threeDSAuthenticationOnly"})
_REFUND_REASONS = ("FRAUD", "CUSTOMER REQUEST", "RETURN", "DUPLICATE", "OTHER")
_ENCRYPTED_CARD_FIELDS = ("encryptedCardNumber", "encryptedExpiryMonth", "encryptedExpiryYear", "encryptedSecurityCode")

# Stripe-style brand names (from common.card_brand) to Adyen's payment method variants.
_ADYEN_BRANDS = {
    "visa": "visa",
    "mastercard": "mc",
    "amex": "amex",
    "discover": "discover",
    "diners": "diners",
    "jcb": "jcb",
    "unionpay": "cup",
}


@dataclass(frozen=True)
class _Outcome:
    result_code: str
    refusal_reason: str | None = None
    refusal_code: str | None = None

    @property
    def authorised(self) -> bool:
        return self.result_code == "Authorised"


_AUTHORISED = _Outcome("Authorised")
_REFUSED = _Outcome("Refused", "Refused", "2")
_EXPIRED = _Outcome("Refused", "Expired Card", "6")
_NOT_AUTHENTICATED = _Outcome("Refused", "3D Not Authenticated", "11")
_HOLDER_NAME_RULES: dict[str, _Outcome] = {
    "DECLINED": _REFUSED,
    "ACQUIRER ERROR": _Outcome("Error", "Acquirer Error", "4"),
    "BLOCK CARD": _Outcome("Refused", "Blocked Card", "5"),
    "EXPIRED CARD": _EXPIRED,
    "CARD EXPIRED": _EXPIRED,
    "ISSUER UNAVAILABLE": _Outcome("Refused", "Issuer Unavailable", "9"),
    "NOT SUPPORTED": _Outcome("Refused", "Not supported", "10"),
    "NOT ENOUGH BALANCE": _Outcome("Refused", "Not enough balance", "12"),
    "FRAUD": _Outcome("Refused", "FRAUD", "20"),
    "CVC DECLINED": _Outcome("Refused", "CVC Declined", "24"),
    "RESTRICTED CARD": _Outcome("Refused", "Restricted Card", "25"),
    "WITHDRAWAL AMOUNT EXCEEDED": _Outcome("Refused", "Withdrawal amount exceeded", "28"),
}
_REFUSED_AMOUNT = 12345


class AdyenError(Exception):
    """An Adyen error answer."""

    def __init__(self, status: int, error_code: str, message: str, error_type: str = "validation") -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.error_type = error_type

    def body(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "status": self.status,
            "errorCode": self.error_code,
            "message": self.message,
            "errorType": self.error_type,
        }
        # Adyen gives refused-by-validation requests a reference too; not so for 400/401/404.
        if self.status in (403, 422, 500):
            payload["pspReference"] = _new_psp()
        return payload


def _validation(message: str, code: str = "000") -> AdyenError:
    return AdyenError(422, code, message)


def _missing(name: str) -> AdyenError:
    return _validation(f"Required field '{name}' is not provided.")


_INVALID_REFERENCE = "Original pspReference required for this operation"


@dataclass
class _Payment:
    psp: str
    merchant_reference: str
    value: int
    currency: str
    brand: str
    last4: str
    expiry: str
    auto_capture: bool
    return_url: str
    result_code: str
    outcome: _Outcome
    cvc_given: bool
    network_tx_reference: str = field(default_factory=lambda: random_digits(15))
    auth_code: str = field(default_factory=lambda: random_digits(6))
    captured: int = 0
    refunded: int = 0
    cancelled: bool = False

    @property
    def authorised(self) -> bool:
        return self.result_code == "Authorised"


@dataclass
class _Saved:
    response: SandboxResponse
    ready_at: float  # until then (the slow card's answer not yet sent) the key is in flight


_Handler = Callable[["AdyenSandbox", dict[str, Any], str, str], SandboxResponse]


class AdyenSandbox:
    """The Adyen Checkout simulator. ``handle`` takes one HTTP request and returns the answer.

    ``base_url`` is where the sandbox is reachable (used in 3-D Secure redirect URLs); when it is
    not set, it is taken from the request's Host header.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str = ADYEN_SANDBOX_KEY,
        merchant_account: str = ADYEN_SANDBOX_MERCHANT,
        max_objects: int = DEFAULT_MAX_OBJECTS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self._api_key = api_key
        self._merchant_account = merchant_account
        self._clock = clock
        self._lock = threading.RLock()
        self._payments: BoundedStore[str, _Payment] = BoundedStore(max_objects)
        self._redirects: BoundedStore[str, tuple[str, bool]] = BoundedStore(max_objects)
        self._idempotency: BoundedStore[str, _Saved] = BoundedStore(max_objects)

    # -- entry point ------------------------------------------------------------------------------

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> SandboxResponse:
        method = method.upper()
        lowered = lower_headers(headers)
        with self._lock:
            if path.startswith("/3ds/"):
                return self._three_ds_page(method, path[len("/3ds/") :], query, body)
            try:
                return self._handle_api(method, path, lowered, body)
            except AdyenError as exc:
                return _error_response(exc)

    def _handle_api(self, method: str, path: str, headers: dict[str, str], body: bytes) -> SandboxResponse:
        if headers.get("x-api-key") != self._api_key:
            raise AdyenError(401, "000", "HTTP Status Response - Unauthorized", "security")
        handler, psp, known_path = _match_route(method, path)
        if handler is None:
            if known_path:
                raise AdyenError(405, "000", "HTTP Status Response - Method Not Allowed", "validation")
            raise AdyenError(404, "000", "HTTP Status Response - Not Found", "validation")
        request = _parse_json(body)
        key = headers.get("idempotency-key")
        if key is None:
            return handler(self, request, psp, self._base_url(headers))
        return self._run_idempotent(handler, request, psp, path, key, self._base_url(headers))

    def _run_idempotent(
        self, handler: _Handler, request: dict[str, Any], psp: str, path: str, key: str, base_url: str
    ) -> SandboxResponse:
        if len(key) > 64:
            raise _validation("Idempotency-Key exceeds the maximum length of 64 characters.")
        saved = self._idempotency.get(key)
        if saved is not None and self._clock() < saved.ready_at:
            raise AdyenError(409, "704", "request already processed or in progress")
        if saved is not None:
            # Adyen returns "the response to the first attempt"; its page documents no check of the body.
            return saved.response
        response = handler(self, request, psp, base_url)
        if response.status < 300:
            self._idempotency.put(key, _Saved(replace(response, delay=0.0), self._clock() + response.delay))
        return response

    def _base_url(self, headers: dict[str, str]) -> str:
        return origin(self.base_url, headers)

    def _check_merchant(self, request: dict[str, Any]) -> str:
        merchant = request.get("merchantAccount")
        if merchant is None or merchant == "":
            raise _missing("merchantAccount")
        if merchant != self._merchant_account:
            raise AdyenError(403, "901", "Invalid Merchant Account", "security")
        return merchant

    # -- /payments --------------------------------------------------------------------------------

    def _payments_endpoint(self, request: dict[str, Any], _: str, base_url: str) -> SandboxResponse:
        _check_fields(request, _PAYMENT_FIELDS, "PaymentRequest")
        self._check_merchant(request)
        value, currency = _read_amount(request, allow_zero=True)
        reference = _required_string(request, "reference", code="130")
        return_url = request.get("returnUrl")
        if not isinstance(return_url, str) or not return_url:
            raise _validation("Return URL is missing.", "14_030")
        if not safe_redirect_url(return_url):
            raise _validation("Invalid returnUrl.", "14_030")
        _check_metadata(request.get("metadata"))
        _check_parts(request, "billingAddress", ("street", "houseNumberOrName", "city", "postalCode", "country"))
        _check_parts(request, "shopperName", ("firstName", "lastName"))
        card = _read_card(request.get("paymentMethod"))
        outcome = self._decide(card, value)
        payment = _Payment(
            psp=_new_psp(),
            merchant_reference=reference,
            value=value,
            currency=currency,
            brand=card.brand,
            last4=card.last4,
            expiry=f"{card.exp_month}/{card.exp_year}",
            auto_capture=not _manual_capture(request),
            return_url=return_url,
            result_code=outcome.result_code,
            outcome=outcome,
            cvc_given=card.cvc_given,
        )
        if _wants_three_ds(request):
            payment.result_code = "RedirectShopper"
            self._payments.put(payment.psp, payment)
            return json_response(200, _redirect_body(payment, base_url), _psp_header(payment.psp))
        self._settle(payment, outcome)
        self._payments.put(payment.psp, payment)
        response = json_response(200, _payment_body(payment), _psp_header(payment.psp))
        return replace(response, delay=SLOW_SECONDS if card.slow else 0.0)

    def _decide(self, card: _Card, value: int) -> _Outcome:
        today = datetime.fromtimestamp(self._clock(), tz=UTC)
        if (card.exp_year, card.exp_month) < (today.year, today.month):
            return _EXPIRED
        rule = _HOLDER_NAME_RULES.get(card.holder_name.strip().upper())
        if rule is not None:
            return rule
        if value == _REFUSED_AMOUNT:
            return _REFUSED
        return _AUTHORISED

    def _settle(self, payment: _Payment, outcome: _Outcome) -> None:
        payment.outcome = outcome
        payment.result_code = outcome.result_code
        if outcome.authorised and payment.auto_capture:
            payment.captured = payment.value

    def _details_endpoint(self, request: dict[str, Any], _: str, __: str) -> SandboxResponse:
        _check_fields(request, _DETAILS_FIELDS, "PaymentDetailsRequest")
        details = request.get("details")
        if not isinstance(details, dict):
            raise _missing("details")
        token = details.get("redirectResult")
        if not isinstance(token, str) or not token:
            raise _missing("details.redirectResult")
        found = self._redirects.get(token)
        payment = self._payments.get(found[0]) if found else None
        if found is None or payment is None:
            raise _validation("Invalid redirectResult", "000")
        if payment.result_code == "RedirectShopper":
            self._settle(payment, payment.outcome if found[1] else _NOT_AUTHENTICATED)
        return json_response(200, _payment_body(payment), _psp_header(payment.psp))

    # -- modifications ----------------------------------------------------------------------------

    def _captures_endpoint(self, request: dict[str, Any], psp: str, _: str) -> SandboxResponse:
        _check_fields(request, _CAPTURE_FIELDS, "PaymentCaptureRequest")
        merchant = self._check_merchant(request)
        value, currency = _read_amount(request, allow_zero=False)
        reference = _optional_string(request, "reference")
        payment = self._payment_or_167(psp)
        if not payment.authorised or payment.cancelled or payment.auto_capture:
            raise _validation(_INVALID_REFERENCE, "167")
        _check_currency(payment, currency)
        if value > payment.value - payment.captured:
            raise _validation("Invalid amount specified", "137")
        payment.captured += value
        body = _modification_body(merchant, payment, reference, value=value)
        return json_response(201, body, _psp_header(body["pspReference"]))

    def _cancels_endpoint(self, request: dict[str, Any], psp: str, _: str) -> SandboxResponse:
        _check_fields(request, _CANCEL_FIELDS, "PaymentCancelRequest")
        merchant = self._check_merchant(request)
        reference = _optional_string(request, "reference")
        payment = self._payment_or_167(psp)
        # Only an open authorisation can be cancelled: not a refused, auto-captured, fully
        # captured or already cancelled payment.
        open_amount = payment.value - payment.captured
        if not payment.authorised or payment.cancelled or payment.auto_capture or open_amount <= 0:
            raise _validation(_INVALID_REFERENCE, "167")
        payment.cancelled = True
        body = _modification_body(merchant, payment, reference, value=None)
        return json_response(201, body, _psp_header(body["pspReference"]))

    def _refunds_endpoint(self, request: dict[str, Any], psp: str, _: str) -> SandboxResponse:
        _check_fields(request, _REFUND_FIELDS, "PaymentRefundRequest")
        merchant = self._check_merchant(request)
        value, currency = _read_amount(request, allow_zero=False)
        reference = _optional_string(request, "reference")
        reason = request.get("merchantRefundReason")
        if reason is not None and reason not in _REFUND_REASONS:
            raise AdyenError(400, "702", "Unexpected input: merchantRefundReason", "validation")
        payment = self._payment_or_167(psp)
        if not payment.authorised or payment.captured == 0:
            raise _validation(_INVALID_REFERENCE, "167")
        _check_currency(payment, currency)
        if value > payment.captured - payment.refunded:
            raise _validation("Invalid amount specified", "137")
        payment.refunded += value
        body = _modification_body(merchant, payment, reference, value=value)
        if reason is not None:
            body["merchantRefundReason"] = reason
        return json_response(201, body, _psp_header(body["pspReference"]))

    def _payment_or_167(self, psp: str) -> _Payment:
        payment = self._payments.get(psp)
        if payment is None:
            raise _validation(_INVALID_REFERENCE, "167")
        return payment

    # -- 3-D Secure pages -------------------------------------------------------------------------

    def _three_ds_page(self, method: str, psp: str, query: str, body: bytes) -> SandboxResponse:
        payment = self._payments.get(psp)
        if payment is None or payment.result_code != "RedirectShopper":
            return html_response(404, NOTHING_PENDING_HTML)
        fields = dict(parse_qsl(query))
        if method == "POST":
            fields.update(parse_qsl(body.decode("utf-8", errors="replace")))
        outcome = fields.get("outcome")
        if method not in ("GET", "POST") or outcome not in ("complete", "fail"):
            return html_response(200, three_ds_page_html(payment.psp, f"{payment.value} {payment.currency}"))
        token = random_token(48)
        self._redirects.put(token, (payment.psp, outcome == "complete"))
        return redirect_response(append_query(payment.return_url, {"redirectResult": token}))


# --- request reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Card:
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder_name: str
    cvc_given: bool
    slow: bool


def _parse_json(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise AdyenError(400, "702", "Empty input which would have resulted in a null result.", "validation")
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        # Only the position is reported: the body may hold a card number.
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise AdyenError(400, "702", f"Unexpected input{where}", "validation") from None
    if not isinstance(parsed, dict):
        raise AdyenError(400, "702", "Unexpected input: expected a JSON object", "validation")
    return parsed


def _check_fields(request: Mapping[str, Any], allowed: frozenset[str], structure: str) -> None:
    unknown = sorted(name for name in request if name not in allowed)
    if unknown:
        names = ", ".join(name[:64] for name in unknown[:20])
        message = f"Structure of {structure} contains the following unknown fields: [{names}]"
        raise AdyenError(400, "702", message, "validation")


def _required_string(request: Mapping[str, Any], name: str, *, code: str = "000") -> str:
    value = request.get(name)
    if not isinstance(value, str) or not value:
        raise _validation(f"Required field '{name}' is not provided.", code)
    return value


def _optional_string(request: Mapping[str, Any], name: str) -> str | None:
    value = request.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise AdyenError(400, "702", f"Unexpected input: {name}", "validation")
    return value


def _read_amount(request: Mapping[str, Any], *, allow_zero: bool) -> tuple[int, str]:
    amount = request.get("amount")
    if amount is None:
        raise _validation("Required object 'amount' is not provided.", "100")
    if not isinstance(amount, dict):
        raise AdyenError(400, "702", "Unexpected input: amount", "validation")
    value = amount.get("value")
    # bool is an int in Python, but not to Adyen.
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if allow_zero else 1):
        raise _validation("Invalid amount specified", "137")
    currency = amount.get("currency")
    if not isinstance(currency, str) or currency not in CURRENCIES.exponents:
        raise _validation("Unsupported currency specified", "138")
    return value, currency


def _check_metadata(metadata: Any) -> None:
    # Checkout v71, PaymentRequest.metadata: 20 pairs ("177"), 20-character keys ("178"), 80-character values.
    if metadata is None:
        return
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise AdyenError(400, "702", "Unexpected input: metadata", "validation")
    if len(metadata) > 20:
        raise _validation("Metadata size exceeds limit", "177")
    if any(len(key) > 20 for key in metadata):
        raise _validation("Metadata key size exceeds limit", "178")
    if any(len(value) > 80 for value in metadata.values()):
        raise _validation("Metadata value size exceeds limit")


def _check_parts(request: Mapping[str, Any], name: str, required: tuple[str, ...]) -> None:
    """An object Adyen takes only whole: each required part a string that is not empty."""
    value = request.get(name)
    if value is None:
        return
    if not isinstance(value, dict):
        raise AdyenError(400, "702", f"Unexpected input: {name}", "validation")
    for part in required:
        if not isinstance(value.get(part), str) or not value[part]:
            raise _missing(f"{name}.{part}")


def _read_card(method: Any) -> _Card:
    if not isinstance(method, dict):
        raise _missing("paymentMethod")
    kind = method.get("type")
    if kind is None or kind == "":
        raise _missing("paymentMethod.type")
    if kind != "scheme":
        raise AdyenError(500, "905", "Payment details are not supported", "configuration")
    number = method.get("number")
    if number is None and any(name in method for name in _ENCRYPTED_CARD_FIELDS):
        # Client-side encrypted card data needs Adyen's private key; the sandbox has none.
        raise _validation("Unable to decrypt data", "174")
    if not isinstance(number, str) or not luhn_valid(number):
        raise _validation("Invalid card number", "101")
    brand = _ADYEN_BRANDS.get(card_brand(number)) or _maestro(number)
    if brand is None:
        raise _validation("Unable to determine variant", "102")
    exp_month, exp_year = _read_expiry(method)
    cvc = method.get("cvc")
    if cvc is not None and not (isinstance(cvc, str) and re.fullmatch(r"\d{3,4}", cvc)):
        raise _validation("CVC is not the right length", "103")
    holder = method.get("holderName")
    return _Card(
        brand=brand,
        last4=number[-4:],
        exp_month=exp_month,
        exp_year=exp_year,
        holder_name=holder if isinstance(holder, str) else "",
        cvc_given=cvc is not None,
        slow=number == SLOW_CARD,
    )


def _maestro(number: str) -> str | None:
    # Maestro ranges that card_brand leaves as unknown.
    return "maestro" if number[:2] in ("50", "56", "57", "58") or number.startswith("6") else None


def _read_expiry(method: Mapping[str, Any]) -> tuple[int, int]:
    month, year = method.get("expiryMonth"), method.get("expiryYear")
    # Adyen documents strings ("03", "2030"); its JSON reader also takes plain numbers.
    month = str(month) if isinstance(month, int) and not isinstance(month, bool) else month
    year = str(year) if isinstance(year, int) and not isinstance(year, bool) else year
    if not (isinstance(month, str) and re.fullmatch(r"\d{1,2}", month) and 1 <= int(month) <= 12):
        raise _validation("Expiry Date Invalid", "129")
    if not (isinstance(year, str) and re.fullmatch(r"\d{4}", year)):
        raise _validation("Expiry Date Invalid", "129")
    return int(month), int(year)


def _manual_capture(request: Mapping[str, Any]) -> bool:
    additional = request.get("additionalData")
    flag = additional.get("manualCapture") if isinstance(additional, dict) else None
    delay = request.get("captureDelayHours")
    delayed = isinstance(delay, int) and not isinstance(delay, bool) and delay > 0
    return flag in ("true", True) or delayed


def _wants_three_ds(request: Mapping[str, Any]) -> bool:
    auth = request.get("authenticationData")
    return isinstance(auth, dict) and auth.get("attemptAuthentication") == "always"


def _check_currency(payment: _Payment, currency: str) -> None:
    if currency != payment.currency:
        raise _validation("Unsupported currency specified", "138")


# --- answers -------------------------------------------------------------------------------------


def _new_psp() -> str:
    return random_upper_token(16)


def _psp_header(psp: str) -> dict[str, str]:
    return {"pspReference": psp}


def _error_response(exc: AdyenError) -> SandboxResponse:
    body = exc.body()
    headers = _psp_header(body["pspReference"]) if "pspReference" in body else {}
    return json_response(exc.status, body, headers)


def _payment_body(payment: _Payment) -> dict[str, Any]:
    outcome = payment.outcome
    additional: dict[str, str] = {
        "cardSummary": payment.last4,
        "expiryDate": payment.expiry,
        "fundingSource": "CREDIT",
        "merchantReference": payment.merchant_reference,
        "paymentMethod": payment.brand,
        "paymentMethodVariant": payment.brand,
        "refusalReasonRaw": "AUTHORISED" if outcome.authorised else f"DECLINED {outcome.refusal_code}",
    }
    if payment.cvc_given:
        additional["cvcResult"] = "1 Matches"
    if outcome.authorised:
        additional.update(
            authCode=payment.auth_code,
            authorisedAmountCurrency=payment.currency,
            authorisedAmountValue=str(payment.value),
            networkTxReference=payment.network_tx_reference,
        )
    body: dict[str, Any] = {
        "additionalData": additional,
        "amount": {"currency": payment.currency, "value": payment.value},
        "merchantReference": payment.merchant_reference,
        "paymentMethod": {"brand": payment.brand, "type": "scheme"},
        "pspReference": payment.psp,
        "resultCode": outcome.result_code,
    }
    if not outcome.authorised:
        body["refusalReason"] = outcome.refusal_reason
        body["refusalReasonCode"] = outcome.refusal_code
    return body


def _redirect_body(payment: _Payment, base_url: str) -> dict[str, Any]:
    return {
        "action": {
            "method": "GET",
            "paymentMethodType": "scheme",
            "type": "redirect",
            "url": f"{base_url}/3ds/{payment.psp}",
        },
        "additionalData": {"cardSummary": payment.last4, "paymentMethod": payment.brand},
        "amount": {"currency": payment.currency, "value": payment.value},
        "merchantReference": payment.merchant_reference,
        "paymentMethod": {"brand": payment.brand, "type": "scheme"},
        "pspReference": payment.psp,
        "resultCode": "RedirectShopper",
    }


def _modification_body(merchant: str, payment: _Payment, reference: str | None, *, value: int | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "merchantAccount": merchant,
        "paymentPspReference": payment.psp,
        "pspReference": _new_psp(),
        "status": "received",
    }
    if reference is not None:
        body["reference"] = reference
    if value is not None:
        body["amount"] = {"currency": payment.currency, "value": value}
    return body


# Routes under /v71. Each: (method, compiled path, handler).
_ROUTES: list[tuple[str, re.Pattern[str], _Handler]] = [
    ("POST", re.compile(rf"/{API_VERSION}/payments"), AdyenSandbox._payments_endpoint),
    ("POST", re.compile(rf"/{API_VERSION}/payments/details"), AdyenSandbox._details_endpoint),
    ("POST", re.compile(rf"/{API_VERSION}/payments/([^/]+)/captures"), AdyenSandbox._captures_endpoint),
    ("POST", re.compile(rf"/{API_VERSION}/payments/([^/]+)/cancels"), AdyenSandbox._cancels_endpoint),
    ("POST", re.compile(rf"/{API_VERSION}/payments/([^/]+)/refunds"), AdyenSandbox._refunds_endpoint),
]


def _match_route(method: str, path: str) -> tuple[_Handler | None, str, bool]:
    """The handler and path id for a request; the flag says whether the path exists at all."""
    known = False
    for route_method, pattern, handler in _ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        known = True
        if route_method == method:
            return handler, (match.group(1) if match.groups() else ""), True
    return None, "", known
