"""Adyen's sandbox: Checkout API v71 card payments and their modifications as checkout-test.adyen.com
answers them, a codec over the shared sandbox engine (``connectors.kit.sandbox``).

Authentication
    ``X-API-Key: sandbox_api_key``, else 401 ``000`` ``security``; every ``merchantAccount`` must be
    ``SidecarSandboxECOM``, else 403 ``901 Invalid Merchant Account``.

Endpoints (``/v71``)
    ``POST /payments``, ``POST /payments/details`` (after a 3-D Secure redirect),
    ``POST /payments/{pspReference}/captures``, ``.../cancels``, ``.../refunds``. Checkout has no GET of
    a payment: any other path is 404, a known path with another method 405. Errors are Adyen's
    ``{"status", "errorCode", "message", "errorType", "pspReference"}`` (the reference on 403, 422, 500).

Request errors
    ==============================================================  ======  ======
    what                                                             status  code
    ==============================================================  ======  ======
    a body that is empty, not JSON or not an object; a field of the    400    702
    wrong type; a top-level field Adyen does not know
    ``amount`` missing                                                 422    100
    ``amount.value`` not a non-negative integer (positive on a         422    137
    modification), or a modification above what remains
    ``amount.currency`` not one Adyen takes (the connector's table),   422    138
    or on a modification not the payment's
    ``metadata`` over 20 pairs, a key over 20 characters, a value      422    177, 178, 000
    over 80
    ``billingAddress`` without street, houseNumberOrName, city,        422    000
    postalCode or country, ``shopperName`` without firstName or
    lastName (empty counts as absent); any other field missing
    ``reference`` missing; ``returnUrl`` missing or unsafe             422    130; 14_030
    ``paymentMethod.type`` other than ``scheme``                       500    905
    encrypted card fields (the sandbox has no key to decrypt them)     422    174
    card number not 12-19 digits with a valid Luhn check digit;        422    101; 102
    of no known network
    expiry month or year malformed; CVC not 3-4 digits                 422    129; 103
    unknown pspReference, or a payment not in a state for that         422    167
    modification
    ==============================================================  ======  ======
    Real Adyen acknowledges most modifications (``"status": "received"``) and reports a failure later
    by webhook; the sandbox sends none, so it refuses them at once.

Test rules: beside the shared cards (4242424242424242 and 4111111111111111 authorise, 4000000000000002
is refused, 4242000000000018 authorises after 3 seconds), any Luhn-valid number of a known network
authorises (5555444433331111 Mastercard, 370000000000002 Amex), unless, in this order: the expiry is in
the past (``Refused``, ``Expired Card``, 6); ``paymentMethod.holderName`` names a refusal, as in Adyen's
test environment (case-insensitive; resultCode ``Refused`` unless said):

    ==========================  ==========================  ====
    holderName                  refusalReason               code
    ==========================  ==========================  ====
    DECLINED                    Refused                     2
    ACQUIRER ERROR              Acquirer Error (``Error``)  4
    BLOCK CARD                  Blocked Card                5
    EXPIRED CARD, CARD EXPIRED  Expired Card                6
    ISSUER UNAVAILABLE          Issuer Unavailable          9
    NOT SUPPORTED               Not supported               10
    NOT ENOUGH BALANCE          Not enough balance          12
    FRAUD                       FRAUD                       20
    CVC DECLINED                CVC Declined                24
    RESTRICTED CARD             Restricted Card             25
    WITHDRAWAL AMOUNT EXCEEDED  Withdrawal amount exceeded  28
    ==========================  ==========================  ====

or ``amount.value`` is 12345 in Adyen's units (``Refused``, 2). ``authenticationData.attemptAuthentication:
"always"`` gives ``RedirectShopper`` with a redirect ``action`` to the shared page ``<sandbox>/3ds/<psp>``
(``?outcome=complete`` or ``fail`` answers without a browser), which sends the browser to ``returnUrl``
with ``redirectResult``; ``POST /payments/details`` with it gives the final result: the rules above, or
``Refused``, ``3D Not Authenticated``, 11.

Capture: ``additionalData.manualCapture: "true"`` or a ``captureDelayHours`` above 0 leaves the payment
authorised for ``/captures`` (partial, in several steps) and ``/cancels``; otherwise it is captured at
once. Refunds come out of what was captured and not yet refunded.

Idempotency (https://docs.adyen.com/development-resources/api-idempotency): a known ``Idempotency-Key``
(at most 64 characters) gets the first answer, whatever the path and body; while the first call runs (the
slow card) it gets 409 ``704``. Only answers to calls that ran are kept.

The card number and CVC are never kept: a payment has the brand, last four digits and expiry.
"""

from __future__ import annotations

import re
from typing import Any

from connectors.adyen.connector import CURRENCIES
from connectors.kit.sandbox import (
    Call,
    Capture,
    CaptureMode,
    CaptureRecord,
    CardInput,
    CardRule,
    CreatePayment,
    DeclineCode,
    ErrorCode,
    FinishAuthentication,
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
    ThreeDSMode,
    Void,
)
from connectors.kit.sandbox_wire import (
    CHALLENGE_PATH,
    UPPER_ALNUM,
    Fields,
    WireError,
    card_brand,
    challenge_answer,
    challenge_call,
    json_answer,
    json_object,
    luhn_valid,
    random_token,
    redirect_answer,
    safe_redirect_url,
    with_query,
)

__all__ = ["ADYEN_SANDBOX_KEY", "ADYEN_SANDBOX_MERCHANT", "AdyenCodec"]

ADYEN_SANDBOX_KEY = "sandbox_api_key"
ADYEN_SANDBOX_MERCHANT = "SidecarSandboxECOM"
API_VERSION = "v71"

# Each request's fields as Adyen lists them (Checkout v71 OpenAPI spec): Adyen refuses unknown fields
# but takes all of these, even where the sandbox ignores them.
_FIELDS = {
    "payments": (
        "PaymentRequest",
        "accountInfo additionalAmount additionalData amount applicationInfo authenticationData bankAccount "
        "billingAddress browserInfo captureDelayHours channel checkoutAttemptId company conversionId countryCode "
        "dateOfBirth dccQuote deliverAt deliveryAddress deliveryDate deviceFingerprint enableOneClick "
        "enablePayOut enableRecurring enhancedSchemeData entityType fraudOffset fundOrigin fundRecipient "
        "industryUsage installments lineItems localizedShopperStatement mandate mcc merchantAccount "
        "merchantOrderReference merchantRiskIndicator metadata mpiData order orderReference origin "
        "paymentMethod paymentValidations platformChargebackLogic recurringExpiry recurringFrequency "
        "recurringProcessingModel redirectFromIssuerMethod redirectToIssuerMethod reference returnUrl riskData "
        "sessionValidity shopperConversionId shopperEmail shopperIP shopperInteraction shopperLocale "
        "shopperName shopperReference shopperStatement shopperTaxInfo socialSecurityNumber splits store "
        "storePaymentMethod subMerchants surcharge telephoneNumber threeDS2RequestData "
        "threeDSAuthenticationOnly trustedShopper",
    ),
    "details": ("PaymentDetailsRequest", "authenticationData details paymentData threeDSAuthenticationOnly"),
    "captures": (
        "PaymentCaptureRequest",
        "amount applicationInfo enhancedSchemeData lineItems merchantAccount platformChargebackLogic reference "
        "splits subMerchants",
    ),
    "cancels": ("PaymentCancelRequest", "applicationInfo enhancedSchemeData merchantAccount reference"),
    "refunds": (
        "PaymentRefundRequest",
        "amount applicationInfo capturePspReference enhancedSchemeData lineItems merchantAccount "
        "merchantRefundReason reference splits store",
    ),
}
_REFUND_REASONS = ("FRAUD", "CUSTOMER REQUEST", "RETURN", "DUPLICATE", "OTHER")
_ENCRYPTED = ("encryptedCardNumber", "encryptedExpiryMonth", "encryptedExpiryYear", "encryptedSecurityCode")
_VARIANTS = {"visa": "visa", "mastercard": "mc", "amex": "amex", "discover": "discover", "diners": "diners"}
_VARIANTS |= {"jcb": "jcb", "unionpay": "cup"}
_PARTS = {
    "billingAddress": ("street", "houseNumberOrName", "city", "postalCode", "country"),
    "shopperName": ("firstName", "lastName"),
}
_TOKEN = re.compile(r"[A-Za-z0-9]{48}")  # a redirectResult (IdKind.TOKEN)

# A decline as Adyen reports it: resultCode, refusalReason, refusalReasonCode.
_REFUSED = ("Refused", "Refused", "2")
_REFUSALS = {
    DeclineCode.GENERIC_DECLINE: _REFUSED,
    DeclineCode.EXPIRED_CARD: ("Refused", "Expired Card", "6"),
    DeclineCode.INSUFFICIENT_FUNDS: ("Refused", "Not enough balance", "12"),
    DeclineCode.AUTHENTICATION_REQUIRED: ("Refused", "3D Not Authenticated", "11"),
    DeclineCode.AUTHENTICATION_FAILED: ("Refused", "3D Not Authenticated", "11"),
    DeclineCode.AUTHENTICATION_ABANDONED: ("Refused", "3D Not Authenticated", "11"),
    "acquirer_error": ("Error", "Acquirer Error", "4"),
    "blocked_card": ("Refused", "Blocked Card", "5"),
    "issuer_unavailable": ("Refused", "Issuer Unavailable", "9"),
    "not_supported": ("Refused", "Not supported", "10"),
    "fraud": ("Refused", "FRAUD", "20"),
    "incorrect_cvc": ("Refused", "CVC Declined", "24"),
    "restricted_card": ("Refused", "Restricted Card", "25"),
    "withdrawal_limit": ("Refused", "Withdrawal amount exceeded", "28"),
}
_HOLDER_NAMES = {
    "DECLINED": DeclineCode.GENERIC_DECLINE,
    "ACQUIRER ERROR": "acquirer_error",
    "BLOCK CARD": "blocked_card",
    "EXPIRED CARD": DeclineCode.EXPIRED_CARD,
    "CARD EXPIRED": DeclineCode.EXPIRED_CARD,
    "ISSUER UNAVAILABLE": "issuer_unavailable",
    "NOT SUPPORTED": "not_supported",
    "NOT ENOUGH BALANCE": DeclineCode.INSUFFICIENT_FUNDS,
    "FRAUD": "fraud",
    "CVC DECLINED": "incorrect_cvc",
    "RESTRICTED CARD": "restricted_card",
    "WITHDRAWAL AMOUNT EXCEEDED": "withdrawal_limit",
}
RULES = SandboxRules(
    holder_names={name: CardRule(decline=code) for name, code in _HOLDER_NAMES.items()},
    amounts={12345: CardRule(decline=DeclineCode.GENERIC_DECLINE)},
)
_INVALID_REFERENCE = "Original pspReference required for this operation"
_ROUTES = [
    (re.compile(rf"/{API_VERSION}/payments"), "payments"),
    (re.compile(rf"/{API_VERSION}/payments/details"), "details"),
    (re.compile(rf"/{API_VERSION}/payments/([^/]+)/(captures|cancels|refunds)"), ""),
]


class AdyenError(Exception):
    def __init__(self, status: int, code: str, message: str, kind: str = "validation") -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.kind = status, code, message, kind


def _invalid(message: str, code: str = "000") -> AdyenError:
    return AdyenError(422, code, message)


def _missing(name: str) -> AdyenError:
    return _invalid(f"Required field '{name}' is not provided.")


def _unexpected(name: str) -> AdyenError:
    return AdyenError(400, "702", f"Unexpected input: {name}")


class AdyenCodec:
    rules = RULES
    # Adyen authenticates the shopper first and refuses after (the refusal is in /payments/details).
    policy = SandboxPolicy(decline_before_authentication=False)

    def __init__(self, api_key: str = ADYEN_SANDBOX_KEY, merchant_account: str = ADYEN_SANDBOX_MERCHANT) -> None:
        self.api_key, self.merchant = api_key, merchant_account

    def new_id(self, kind: IdKind) -> str:
        return random_token(48) if kind is IdKind.TOKEN else random_token(16, UPPER_ALNUM)

    # -- requests -------------------------------------------------------------------------------

    def route(self, request: SandboxRequest) -> Call | SandboxResponse:
        if request.path.startswith(CHALLENGE_PATH):
            return challenge_call(request, self.merchant, finish=False)
        name, structure = "", ""
        try:
            if request.headers.get("x-api-key") != self.api_key:
                raise AdyenError(401, "000", "HTTP Status Response - Unauthorized", "security")
            name, psp = _match(request.method, request.path)
            body = Fields(json_object(request.body))
            structure, allowed = _FIELDS[name]
            body.only(allowed.split())
            if name != "details" and body.get("merchantAccount") in (None, ""):
                raise _missing("merchantAccount")
            if name != "details" and body.data["merchantAccount"] != self.merchant:
                raise AdyenError(403, "901", "Invalid Merchant Account", "security")
            operation = getattr(self, f"_{name}")(body, psp)
            key = request.headers.get("idempotency-key")
            if key is not None and len(key) > 64:
                raise _invalid("Idempotency-Key exceeds the maximum length of 64 characters.")
        except WireError as exc:
            return _error(_wire_error(exc, structure))
        except AdyenError as exc:
            return _error(exc)
        # Adyen replays the first answer to a key whatever comes with it: one scope, no body to compare.
        return Call(self.merchant, operation, IdempotencyKey(key, "", None) if key else None, name)

    def _payments(self, body: Fields, _: str) -> Operation:
        value, currency = _amount(body, minimum=0)
        reference = body.get("reference")
        if not isinstance(reference, str) or not reference:
            raise _invalid("Required field 'reference' is not provided.", "130")
        return_url = body.get("returnUrl")
        if not isinstance(return_url, str) or not return_url:
            raise _invalid("Return URL is missing.", "14_030")
        if not safe_redirect_url(return_url):
            raise _invalid("Invalid returnUrl.", "14_030")
        _check_metadata(body.get("metadata"))
        for name, parts in _PARTS.items():  # objects Adyen takes only whole
            given = body.object(name)
            for part in parts if body.get(name) is not None else ():
                if not isinstance(given.get(part), str) or not given.get(part):
                    raise _missing(f"{name}.{part}")
        card = _card(body.get("paymentMethod"))
        additional, authentication = body.get("additionalData"), body.get("authenticationData")
        delay = body.get("captureDelayHours")
        manual = isinstance(additional, dict) and additional.get("manualCapture") in ("true", True)
        manual = manual or (type(delay) is int and delay > 0)
        always = isinstance(authentication, dict) and authentication.get("attemptAuthentication") == "always"
        return CreatePayment(
            value,
            currency,
            CaptureMode.MANUAL if manual else CaptureMode.AUTOMATIC,
            card,
            three_ds=ThreeDSMode.REQUIRED if always else ThreeDSMode.AUTO,
            reference=reference,
            return_url=return_url,
        )

    def _details(self, body: Fields, _: str) -> Operation:
        details = body.get("details")
        if not isinstance(details, dict):
            raise _missing("details")
        token = details.get("redirectResult")
        if not isinstance(token, str) or not token:
            raise _missing("details.redirectResult")
        return FinishAuthentication(token if _TOKEN.fullmatch(token) else "")

    def _captures(self, body: Fields, psp: str) -> Operation:
        value, currency = _amount(body, minimum=1)
        return Capture(psp, value, currency, final=False, reference=body.string("reference"))

    def _cancels(self, body: Fields, psp: str) -> Operation:
        return Void(psp, reference=body.string("reference"))

    def _refunds(self, body: Fields, psp: str) -> Operation:
        value, currency = _amount(body, minimum=1)
        reference, reason = body.string("reference"), body.get("merchantRefundReason")
        if reason is not None and reason not in _REFUND_REASONS:
            raise _unexpected("merchantRefundReason")
        return Refund(psp, value, currency, reason=reason, reference=reference)

    # -- answers --------------------------------------------------------------------------------

    def render(self, request: SandboxRequest, call: Call, reply: Reply) -> SandboxResponse:
        if call.context == CHALLENGE_PATH:
            return challenge_answer(call, reply, _back)
        result = reply.result
        payment = result.payment
        if isinstance(result, Refusal) and not (call.context == "details" and result.code is ErrorCode.INVALID_STATE):
            return _error(_refusal_error(call.context, result))
        assert payment is not None
        if call.context in ("payments", "details"):
            psp = {"pspReference": payment.id}
            if payment.status is PaymentState.AUTHENTICATION_PENDING:
                return json_answer(200, _redirect_body(payment, request.base_url), psp)
            return json_answer(200, _payment_body(payment), psp)
        subject = result.subject or ""
        record = payment.capture(subject) or payment.refund(subject) or payment.void
        assert record is not None and record.id == subject
        body: dict[str, Any] = {
            "merchantAccount": self.merchant,
            "paymentPspReference": payment.id,
            "pspReference": subject,
            "status": "received",
        }
        body |= {"reference": record.reference} if record.reference is not None else {}
        if isinstance(record, (CaptureRecord, RefundRecord)):
            body["amount"] = {"currency": payment.currency, "value": record.amount}
        if isinstance(record, RefundRecord) and record.reason is not None:
            body["merchantRefundReason"] = record.reason
        return json_answer(201, body, {"pspReference": subject})


# --- reading requests ----------------------------------------------------------------------------


def _match(method: str, path: str) -> tuple[str, str]:
    for pattern, name in _ROUTES:
        if match := pattern.fullmatch(path):
            if method != "POST":
                raise AdyenError(405, "000", "HTTP Status Response - Method Not Allowed")
            return (name, "") if name else (match.group(2), match.group(1))
    raise AdyenError(404, "000", "HTTP Status Response - Not Found")


def _wire_error(exc: WireError, structure: str) -> AdyenError:
    if exc.problem == "unknown":
        names = ", ".join(name[:64] for name in sorted(exc.expected)[:20])
        return AdyenError(400, "702", f"Structure of {structure} contains the following unknown fields: [{names}]")
    if exc.field == "body" and exc.problem == "missing":
        return AdyenError(400, "702", "Empty input which would have resulted in a null result.")
    if exc.field == "body":
        return AdyenError(400, "702", f"Unexpected input{exc.expected if exc.problem == 'syntax' else ''}")
    return _missing(exc.field) if exc.problem == "missing" else _unexpected(exc.field)


def _amount(body: Fields, *, minimum: int) -> tuple[int, str]:
    if body.get("amount") is None:
        raise _invalid("Required object 'amount' is not provided.", "100")
    amount = body.object("amount")
    value, currency = amount.get("value"), amount.get("currency")
    if type(value) is not int or value < minimum:  # bool is an int in Python, not to Adyen
        raise _invalid("Invalid amount specified", "137")
    if not isinstance(currency, str) or currency not in CURRENCIES.exponents:
        raise _invalid("Unsupported currency specified", "138")
    return value, currency


def _check_metadata(metadata: Any) -> None:
    # Checkout v71, PaymentRequest.metadata: 20 pairs (177), 20-character keys (178), 80-character values.
    if metadata is None:
        return
    if not isinstance(metadata, dict) or not all(isinstance(value, str) for value in metadata.values()):
        raise _unexpected("metadata")
    if len(metadata) > 20:
        raise _invalid("Metadata size exceeds limit", "177")
    if any(len(key) > 20 for key in metadata):
        raise _invalid("Metadata key size exceeds limit", "178")
    if any(len(value) > 80 for value in metadata.values()):
        raise _invalid("Metadata value size exceeds limit")


def _card(method: Any) -> CardInput:
    if not isinstance(method, dict):
        raise _missing("paymentMethod")
    if method.get("type") in (None, ""):
        raise _missing("paymentMethod.type")
    if method["type"] != "scheme":
        raise AdyenError(500, "905", "Payment details are not supported", "configuration")
    number = method.get("number")
    if number is None and any(name in method for name in _ENCRYPTED):
        raise _invalid("Unable to decrypt data", "174")  # client-side encryption needs Adyen's private key
    if not isinstance(number, str) or not luhn_valid(number):
        raise _invalid("Invalid card number", "101")
    variant = _variant(number)
    if variant is None:
        raise _invalid("Unable to determine variant", "102")
    # Adyen documents strings ("03", "2030"); its JSON reader also takes plain numbers.
    month, year = (str(v) if type(v) is int else v for v in (method.get("expiryMonth"), method.get("expiryYear")))
    if not (isinstance(month, str) and re.fullmatch(r"\d{1,2}", month) and 1 <= int(month) <= 12):
        raise _invalid("Expiry Date Invalid", "129")
    if not (isinstance(year, str) and re.fullmatch(r"\d{4}", year)):
        raise _invalid("Expiry Date Invalid", "129")
    cvc, holder = method.get("cvc"), method.get("holderName")
    if cvc is not None and not (isinstance(cvc, str) and re.fullmatch(r"\d{3,4}", cvc)):
        raise _invalid("CVC is not the right length", "103")
    holder = holder if isinstance(holder, str) else None
    return CardInput(number, int(month), int(year), cvc, holder, extra={"variant": variant})


def _variant(number: str) -> str | None:
    """Adyen's name for the card's network; Maestro ranges are not in card_brand."""
    maestro = number[:2] in ("50", "56", "57", "58") or number.startswith("6")
    return _VARIANTS.get(card_brand(number)) or ("maestro" if maestro else None)


# --- writing answers -----------------------------------------------------------------------------


def _error(exc: AdyenError) -> SandboxResponse:
    body: dict[str, Any] = {"status": exc.status, "errorCode": exc.code, "message": exc.message, "errorType": exc.kind}
    # Adyen gives requests refused by validation a reference too; not so 400, 401, 404.
    psp = {"pspReference": random_token(16, UPPER_ALNUM)} if exc.status in (403, 422, 500) else {}
    return json_answer(exc.status, body | psp, psp)


def _refusal_error(context: str, refusal: Refusal) -> AdyenError:
    payment = refusal.payment
    if refusal.code is ErrorCode.IDEMPOTENCY_IN_PROGRESS:
        return AdyenError(409, "704", "request already processed or in progress")
    if refusal.code is ErrorCode.CURRENCY_MISMATCH:
        return _invalid("Unsupported currency specified", "138")
    if context == "details":
        return _invalid("Invalid redirectResult")
    if refusal.code is ErrorCode.INVALID_ARGUMENT:  # the codec checked the card; only a year before 1000 is left
        return _invalid("Expiry Date Invalid", "129")
    fully_captured = payment is not None and payment.void is None and payment.captures and payment.captured
    manually = fully_captured and not payment.captures[0].automatic
    if refusal.code is ErrorCode.AMOUNT_EXCEEDS or (context == "captures" and manually):
        return _invalid("Invalid amount specified", "137")
    return _invalid(_INVALID_REFERENCE, "167")


def _back(payment: PaymentRecord) -> SandboxResponse:
    """Where the browser goes from the 3-D Secure page: returnUrl with the token for /payments/details."""
    assert payment.three_ds is not None and payment.three_ds.token is not None and payment.return_url is not None
    return redirect_answer(with_query(payment.return_url, {"redirectResult": payment.three_ds.token}))


def _common(payment: PaymentRecord) -> dict[str, Any]:
    card = payment.attempts[-1].card
    return {
        "amount": {"currency": payment.currency, "value": payment.amount},
        "merchantReference": payment.reference,
        "paymentMethod": {"brand": card.extra["variant"], "type": "scheme"},
        "pspReference": payment.id,
    }


def _payment_body(payment: PaymentRecord) -> dict[str, Any]:
    attempt = payment.attempts[-1]
    card, variant = attempt.card, attempt.card.extra["variant"]
    refusal = _REFUSALS.get(payment.decline or "", _REFUSED) if payment.decline else None
    additional: dict[str, str] = {
        "cardSummary": card.last4,
        "expiryDate": f"{card.exp_month}/{card.exp_year}",
        "fundingSource": "CREDIT",
        "merchantReference": payment.reference or "",
        "paymentMethod": variant,
        "paymentMethodVariant": variant,
        "refusalReasonRaw": f"DECLINED {refusal[2]}" if refusal else "AUTHORISED",
    }
    if card.cvc_given:
        additional["cvcResult"] = "1 Matches"
    if refusal is None:
        additional |= {
            "authCode": attempt.auth_code or "",
            "authorisedAmountCurrency": payment.currency,
            "authorisedAmountValue": str(payment.amount),
            "networkTxReference": attempt.network_transaction_id or "",
        }
    body = {"additionalData": additional, **_common(payment), "resultCode": refusal[0] if refusal else "Authorised"}
    return body | ({"refusalReason": refusal[1], "refusalReasonCode": refusal[2]} if refusal else {})


def _redirect_body(payment: PaymentRecord, base_url: str) -> dict[str, Any]:
    card = payment.attempts[-1].card
    url = f"{base_url}{CHALLENGE_PATH}{payment.id}"
    return {
        "action": {"method": "GET", "paymentMethodType": "scheme", "type": "redirect", "url": url},
        "additionalData": {"cardSummary": card.last4, "paymentMethod": card.extra["variant"]},
        **_common(payment),
        "resultCode": "RedirectShopper",
    }
