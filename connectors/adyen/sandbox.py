"""Adyen's sandbox: Checkout v71 card payments and their modifications as checkout-test.adyen.com answers them,
a codec over the shared sandbox engine. Its account, wire, errors and test rules: the README, "Sandbox test rules"."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import Any

from connectors.adyen import codes
from connectors.adyen import connector as adyen
from connectors.kit import sandbox as kit
from connectors.kit import sandbox_wire as wire

__all__ = ["ADYEN_SANDBOX_KEY", "ADYEN_SANDBOX_MERCHANT", "AdyenCodec"]

ADYEN_SANDBOX_KEY = "sandbox_api_key"
ADYEN_SANDBOX_MERCHANT = "SidecarSandboxECOM"
# Checkout v68-v72 share these endpoints and fields: an SDK at its own default version works too.
API_VERSION = r"v(?:6[89]|7[0-2])"

# Method, path, name (its reader AdyenCodec._<name>) and the request's structure, as Adyen's spec names it.
_ROUTES = [
    ("POST", rf"/{API_VERSION}/paymentMethods", "paymentMethods", "PaymentMethodsRequest"),
    ("POST", rf"/{API_VERSION}/payments", "payments", "PaymentRequest"),
    ("POST", rf"/{API_VERSION}/payments/details", "details", "PaymentDetailsRequest"),
    ("POST", rf"/{API_VERSION}/payments/([^/]+)/captures", "captures", "PaymentCaptureRequest"),
    ("POST", rf"/{API_VERSION}/payments/([^/]+)/cancels", "cancels", "PaymentCancelRequest"),
    ("POST", rf"/{API_VERSION}/payments/([^/]+)/refunds", "refunds", "PaymentRefundRequest"),
]
# Each request's fields as Adyen lists them (Checkout v71 OpenAPI spec).
_FIELDS = {
    "payments": "accountInfo additionalAmount additionalData amount applicationInfo authenticationData bankAccount "
    "billingAddress browserInfo captureDelayHours channel checkoutAttemptId company conversionId countryCode "
    "dateOfBirth dccQuote deliverAt deliveryAddress deliveryDate deviceFingerprint enableOneClick enablePayOut "
    "enableRecurring enhancedSchemeData entityType fraudOffset fundOrigin fundRecipient industryUsage installments "
    "lineItems localizedShopperStatement mandate mcc merchantAccount merchantOrderReference merchantRiskIndicator "
    "metadata mpiData order orderReference origin paymentMethod paymentValidations platformChargebackLogic "
    "recurringExpiry recurringFrequency recurringProcessingModel redirectFromIssuerMethod redirectToIssuerMethod "
    "reference returnUrl riskData sessionValidity shopperConversionId shopperEmail shopperIP shopperInteraction "
    "shopperLocale shopperName shopperReference shopperStatement shopperTaxInfo socialSecurityNumber splits store "
    "storePaymentMethod subMerchants surcharge telephoneNumber threeDS2RequestData threeDSAuthenticationOnly "
    "trustedShopper",
    "details": "authenticationData details paymentData threeDSAuthenticationOnly",
    "captures": "amount applicationInfo enhancedSchemeData lineItems merchantAccount platformChargebackLogic "
    "reference splits subMerchants",
    "cancels": "applicationInfo enhancedSchemeData merchantAccount reference",
    "paymentMethods": "additionalData allowedPaymentMethods amount blockedPaymentMethods browserInfo channel "
    "countryCode merchantAccount order shopperConversionId shopperEmail shopperIP shopperLocale shopperReference "
    "splitCardFundingSources store storeFiltrationMode telephoneNumber",
    "refunds": "amount applicationInfo capturePspReference enhancedSchemeData lineItems merchantAccount "
    "merchantRefundReason reference splits store",
}
_REFUND_REASONS = {*adyen.REFUND_REASONS.values(), "OTHER"}
_ENCRYPTED = ("encryptedCardNumber", "encryptedExpiryMonth", "encryptedExpiryYear", "encryptedSecurityCode")
_VARIANTS = {"visa": "visa", "mastercard": "mc", "amex": "amex", "discover": "discover", "diners": "diners"}
_VARIANTS |= {"jcb": "jcb", "unionpay": "cup"}
# Objects Adyen takes with every part or not at all.
_WHOLE = {"billingAddress": tuple(adyen.ADDRESS_PARTS), "shopperName": ("firstName", "lastName")}
_TOKEN = re.compile(r"[A-Za-z0-9]{48}")  # a redirectResult (IdKind.TOKEN)

# Adyen's refusal codes by their reason (the connector's table, from Adyen's page): the sandbox declines with the
# reason itself, and the engine's own declines are given theirs.
_REFUSAL_CODES = {name: code for code, name in codes.REFUSAL_NAMES.items()}
_REASONS = {kit.DeclineCode.GENERIC_DECLINE: "Refused", kit.DeclineCode.EXPIRED_CARD: "Expired Card"}
_REASONS |= dict.fromkeys(("authentication_required", "authentication_failed"), "3D Not Authenticated")
_REASONS[kit.DeclineCode.AUTHENTICATION_ABANDONED] = "Shopper Cancelled"
# Adyen's test holder names (any case) and the refusal code each gives: most are the reason in upper case.
_HOLDER_CODES = {"DECLINED": "2", "BLOCK CARD": "5", "CARD EXPIRED": "6"}
_HOLDER_CODES |= {codes.REFUSAL_NAMES[code].upper(): code for code in "4 6 9 10 12 20 24 25 28".split()}
# https://docs.adyen.com/development-resources/testing/3d-secure-2-authentication: cards enrolled in 3-D Secure 2;
# the redirect (3-D Secure 1) card of Checkout v71's example "post-payments-card-3d-secure-redirect".
_THREE_DS = dict.fromkeys(("5454545454545454", "371449635398431"), kit.CardRule(three_ds=kit.THREE_DS_2))
_THREE_DS["4212345678901237"] = kit.CardRule(three_ds=kit.ThreeDSRule((kit.CHALLENGE,)))
RULES = kit.SandboxRules(
    cards=_THREE_DS | kit.THREE_DS_TEST_CARDS,
    holder_names={name: kit.CardRule(decline=codes.REFUSAL_NAMES[code]) for name, code in _HOLDER_CODES.items()},
    amounts={12345: kit.CardRule(decline=kit.DeclineCode.GENERIC_DECLINE)},
)
# Checkout v71 BrowserInfo: every field required.
_BROWSER_INFO = "acceptHeader colorDepth javaEnabled language screenHeight screenWidth timeZoneOffset userAgent"
# What a refused /payments/details names as invalid, by the detail it was given.
_DETAILS = {"details": "redirectResult", "threeDSResult": "threeDSResult"}


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
    # Adyen authenticates the shopper first and refuses after (the refusal comes from /payments/details).
    policy = kit.SandboxPolicy(decline_before_authentication=False)

    def __init__(self, api_key: str = ADYEN_SANDBOX_KEY, merchant_account: str = ADYEN_SANDBOX_MERCHANT) -> None:
        self.api_key, self.merchant = api_key, merchant_account

    def new_id(self, kind: kit.IdKind) -> str:
        return wire.random_token(48) if kind is kit.IdKind.TOKEN else wire.random_token(16, wire.UPPER_ALNUM)

    # -- requests -------------------------------------------------------------------------------

    def route(self, request: kit.SandboxRequest) -> kit.Call | kit.SandboxResponse:
        if request.path.startswith(wire.CHALLENGE_PATH):
            return wire.challenge_call(request, self.merchant, finish=False, back=_back)
        structure = ""
        try:
            if request.headers.get("x-api-key") != self.api_key:
                raise AdyenError(401, "000", "HTTP Status Response - Unauthorized", "security")
            (_, _, name, structure), psp = _match(request.method, request.path)
            body = wire.Fields(wire.json_object(request.body))
            body.only(_FIELDS[name].split())
            if name != "details" and body.get("merchantAccount") in (None, ""):
                raise _missing("merchantAccount")
            if name != "details" and body.data["merchantAccount"] != self.merchant:
                raise AdyenError(403, "901", "Invalid Merchant Account", "security")
            if name == "paymentMethods":  # nothing to keep: answered without the ledger
                return _payment_methods(body)
            operation = getattr(self, f"_{name}")(body, psp)
            key = request.headers.get("idempotency-key")
            if key is not None and len(key) > (limit := adyen.IDEMPOTENCY_KEY_LIMIT):
                raise _invalid(f"Idempotency-Key exceeds the maximum length of {limit} characters.")
        except wire.WireError as exc:
            return _error(_wire_error(exc, structure))
        except AdyenError as exc:
            return _error(exc)
        if name == "details" and body.object("details").get("threeDSResult") is not None:
            name = "threeDSResult"
        # Adyen replays the first answer to a key whatever comes with it: one scope, no body to compare.
        return kit.Call(self.merchant, operation, kit.IdempotencyKey(key, "", None) if key else None, name)

    def _payments(self, body: wire.Fields, _: str) -> kit.Operation:
        value, currency = _amount(body, minimum=0)
        reference, return_url = body.get("reference"), body.get("returnUrl")
        if not isinstance(reference, str) or not reference:
            raise _invalid("Required field 'reference' is not provided.", "130")
        if not isinstance(return_url, str) or not return_url:
            raise _invalid("Return URL is missing.", "14_030")
        if not wire.safe_redirect_url(return_url):
            raise _invalid("Invalid returnUrl.", "14_030")
        _check_metadata(body.object("metadata").data)
        for name, parts in _WHOLE.items():
            given = body.object(name)
            for part in parts if body.get(name) is not None else ():
                if not isinstance(given.get(part), str) or not given.get(part):
                    raise _missing(f"{name}.{part}")
        card = _card(body.get("paymentMethod"))
        for name in _BROWSER_INFO.split() if body.get("browserInfo") is not None else ():
            body.object("browserInfo").get(name, required=True)
        channel, origin = body.choice("channel", ("iOS", "Android", "Web")), body.string("origin")
        native = body.object("authenticationData").object("threeDSRequestData").get("nativeThreeDS")
        always = body.object("authenticationData").get("attemptAuthentication") == "always"
        additional, delay = body.get("additionalData"), body.get("captureDelayHours")
        manual = isinstance(additional, dict) and additional.get("manualCapture") in ("true", True)
        manual = manual or (type(delay) is int and delay > 0)
        return kit.CreatePayment(
            value,
            currency,
            kit.CaptureMode.MANUAL if manual else kit.CaptureMode.AUTOMATIC,
            card,
            three_ds=kit.ThreeDSMode.REQUIRED if always else kit.ThreeDSMode.AUTO,
            reference=reference,
            return_url=return_url,
            # The native flow where the app runs Adyen's component (an origin for the web, or an app).
            extra={"native": native == "preferred" and (origin is not None or channel in ("iOS", "Android"))}
            | {"origin": origin},
        )

    def _details(self, body: wire.Fields, _: str) -> kit.Operation:
        details = body.get("details")
        if not isinstance(details, dict):
            raise _missing("details")
        if isinstance(details.get("threeDSResult"), str):
            return _three_ds_result(details["threeDSResult"], body.string("paymentData"))
        token = details.get("redirectResult")
        if not isinstance(token, str) or not token:
            raise _missing("details.redirectResult")
        return kit.FinishAuthentication(token if _TOKEN.fullmatch(token) else "")

    def _captures(self, body: wire.Fields, psp: str) -> kit.Operation:
        value, currency = _amount(body, minimum=1)
        return kit.Capture(psp, value, currency, final=False, reference=body.string("reference"))

    def _cancels(self, body: wire.Fields, psp: str) -> kit.Operation:
        return kit.Void(psp, reference=body.string("reference"))

    def _refunds(self, body: wire.Fields, psp: str) -> kit.Operation:
        value, currency = _amount(body, minimum=1)
        reference, reason = body.string("reference"), body.choice("merchantRefundReason", _REFUND_REASONS)
        return kit.Refund(psp, value, currency, reason=reason, reference=reference)

    # -- answers --------------------------------------------------------------------------------

    def render(self, request: kit.SandboxRequest, call: kit.Call, reply: kit.Reply) -> kit.SandboxResponse:
        result, details = reply.result, call.context in _DETAILS
        if isinstance(result, kit.Refusal) and not (details and result.code is kit.ErrorCode.INVALID_STATE):
            return _error(_refusal_error(call.context, result))
        payment = result.payment
        assert payment is not None
        if call.context == "payments" or details:  # a refusal here: the result was given before
            if payment.status is not kit.PaymentState.AUTHENTICATION_PENDING:
                return wire.json_answer(200, _payment_body(payment), {"pspReference": payment.id})
            if _native(payment):  # before any pspReference, as Adyen answers its native actions
                return wire.json_answer(200, _native_body(payment, request.base_url))
            return wire.json_answer(200, _redirect_body(payment, request.base_url), {"pspReference": payment.id})
        assert isinstance(result, kit.Done) and result.subject is not None
        record = payment.capture(result.subject) or payment.refund(result.subject) or payment.void
        assert record is not None and record.id == result.subject
        body = {"merchantAccount": self.merchant, "paymentPspReference": payment.id, "pspReference": record.id}
        body |= {"status": "received"} | ({"reference": record.reference} if record.reference is not None else {})
        if isinstance(record, (kit.CaptureRecord, kit.RefundRecord)):
            body["amount"] = {"currency": payment.currency, "value": record.amount}
        if isinstance(record, kit.RefundRecord) and record.reason is not None:
            body["merchantRefundReason"] = record.reason
        return wire.json_answer(201, body, {"pspReference": record.id})


# --- reading requests ----------------------------------------------------------------------------


def _match(method: str, path: str) -> tuple[tuple[str, str, str, str], str]:
    if (found := wire.match_route(_ROUTES, "POST", path)) is None:
        raise AdyenError(
            404,
            "000",
            f"HTTP Status Response - Not Found: the sidecar's Adyen sandbox does not simulate {method} {path[:200]}. "
            "It simulates Checkout v68-v72 /paymentMethods, /payments, /payments/details and a payment's /captures, "
            "/cancels and /refunds.",
        )
    if method != "POST":
        raise AdyenError(405, "000", "HTTP Status Response - Method Not Allowed")
    return found


def _payment_methods(body: wire.Fields) -> kit.SandboxResponse:
    """Cards (every brand the sandbox knows) unless the request leaves them out; nothing stored, as it keeps none."""
    if body.get("amount") is not None:
        _amount(body, minimum=0)
    allowed, blocked = body.strings("allowedPaymentMethods"), body.strings("blockedPaymentMethods")
    cards = {"brands": [*_VARIANTS.values(), "maestro"], "name": "Cards", "type": "scheme"}
    offered = (not allowed or "scheme" in allowed) and "scheme" not in blocked
    return wire.json_answer(200, {"paymentMethods": [cards] if offered else []})


def _wire_error(exc: wire.WireError, structure: str) -> AdyenError:
    if exc.problem == "unknown":
        names = ", ".join(name[:64] for name in sorted(exc.expected)[:20])
        return AdyenError(400, "702", f"Structure of {structure} contains the following unknown fields: [{names}]")
    if exc.field == "body" and exc.problem == "missing":
        return AdyenError(400, "702", "Empty input which would have resulted in a null result.")
    if exc.field == "body":  # only where it broke: the body may hold a card number
        where = exc.expected if exc.problem == "syntax" else ": expected a JSON object"
        return AdyenError(400, "702", f"Unexpected input{where}")
    return _missing(exc.field) if exc.problem == "missing" else _unexpected(exc.field)


def _amount(body: wire.Fields, *, minimum: int) -> tuple[int, str]:
    if body.get("amount") is None:
        raise _invalid("Required object 'amount' is not provided.", "100")
    amount = body.object("amount")
    value, currency = amount.get("value"), amount.get("currency")
    if type(value) is not int or value < minimum:  # bool is an int in Python, not to Adyen
        raise _invalid("Invalid amount specified", "137")
    if not isinstance(currency, str) or currency not in adyen.CURRENCIES.exponents:
        raise _invalid("Unsupported currency specified", "138")
    return value, currency


def _check_metadata(metadata: Mapping[str, Any]) -> None:
    limits = adyen.METADATA_LIMITS
    if not all(isinstance(value, str) for value in metadata.values()):
        raise _unexpected("metadata")
    if len(metadata) > limits.max_pairs:
        raise _invalid("Metadata size exceeds limit", "177")
    if any(len(key) > limits.max_key_length for key in metadata):
        raise _invalid("Metadata key size exceeds limit", "178")
    if any(len(value) > limits.max_value_length for value in metadata.values()):
        raise _invalid("Metadata value size exceeds limit")


def _card(method: Any) -> kit.CardInput:
    if not isinstance(method, dict):
        raise _missing("paymentMethod")
    if method.get("type") in (None, ""):
        raise _missing("paymentMethod.type")
    if method["type"] != "scheme":
        raise AdyenError(500, "905", "Payment details are not supported", "configuration")
    number = method.get("number")
    if number is None and any(name in method for name in _ENCRYPTED):
        raise _invalid("Unable to decrypt data", "174")  # client-side encryption needs Adyen's private key
    if not isinstance(number, str) or not wire.luhn_valid(number):
        raise _invalid("Invalid card number", "101")
    maestro = number[:2] in ("50", "56", "57", "58") or number.startswith("6")  # ranges card_brand leaves out
    variant = _VARIANTS.get(wire.card_brand(number)) or ("maestro" if maestro else None)
    if variant is None:
        raise _invalid("Unable to determine variant", "102")
    # Adyen documents strings ("03", "2030"); its JSON reader also takes plain numbers.
    month, year = (str(v) if type(v) is int else v for v in (method.get("expiryMonth"), method.get("expiryYear")))
    month_valid = isinstance(month, str) and re.fullmatch(r"\d{1,2}", month) and 1 <= int(month) <= 12
    if not (month_valid and isinstance(year, str) and re.fullmatch(r"[1-9]\d{3}", year)):
        raise _invalid("Expiry Date Invalid", "129")
    cvc, holder = method.get("cvc"), method.get("holderName")
    if cvc is not None and not (isinstance(cvc, str) and re.fullmatch(r"\d{3,4}", cvc)):
        raise _invalid("CVC is not the right length", "103")
    holder = holder if isinstance(holder, str) else None
    return kit.CardInput(number, int(month), int(year), cvc, holder, extra={"variant": variant})


# --- writing answers -----------------------------------------------------------------------------


def _error(exc: AdyenError) -> kit.SandboxResponse:
    body = {"status": exc.status, "errorCode": exc.code, "message": exc.message, "errorType": exc.kind}
    # Adyen gives requests refused by validation a reference too; not so 400, 401, 404.
    psp = {"pspReference": wire.random_token(16, wire.UPPER_ALNUM)} if exc.status in (403, 422, 500) else {}
    return wire.json_answer(exc.status, body | psp, psp)


def _refusal_error(context: str, refusal: kit.Refusal) -> AdyenError:
    payment, code = refusal.payment, refusal.code
    if code is kit.ErrorCode.IDEMPOTENCY_IN_PROGRESS:
        return AdyenError(409, "704", "request already processed or in progress")
    if code is kit.ErrorCode.CURRENCY_MISMATCH:
        return _invalid("Unsupported currency specified", "138")
    if context in _DETAILS:
        return _invalid(f"Invalid {_DETAILS[context]}")
    # A capture of a payment captured in full by earlier captures asks for more than remains.
    captured = payment is not None and payment.void is None and payment.captures and not payment.captures[0].automatic
    if code is kit.ErrorCode.AMOUNT_EXCEEDS or (context == "captures" and captured):
        return _invalid("Invalid amount specified", "137")
    return _invalid("Original pspReference required for this operation", "167")


def _back(payment: kit.PaymentRecord) -> kit.SandboxResponse:
    """Where the 3-D Secure page sends the browser: returnUrl with the token for /payments/details; in the
    native flow the challenge's result to the merchant's page that frames it, for its threeDSResult."""
    state = payment.three_ds
    assert state is not None and state.token and state.result and payment.return_url
    if _native(payment):
        return wire.challenge_result(state.result, payment.extra["origin"] or "")
    return wire.redirect_answer(wire.with_query(payment.return_url, {"redirectResult": state.token}))


def _native(payment: kit.PaymentRecord) -> bool:
    """Native 3-D Secure 2 for this payment: asked for, and the issuer fingerprints (else Adyen redirects)."""
    steps = payment.three_ds.steps if payment.three_ds else ()
    return bool(payment.extra.get("native")) and steps[:1] == (kit.FINGERPRINT,)


def _three_ds_result(value: str, payment_data: str | None) -> kit.Operation:
    """adyen-web's threeDSResult: base64 of ``{"threeDSCompInd"}`` after the fingerprint (the payment named by
    paymentData) or ``{"transStatus", "authorisationToken"}`` after the challenge, whose page's record decides."""
    try:
        result = wire.json_object(base64.b64decode(value, validate=True))
    except (ValueError, wire.WireError):  # not base64 (binascii.Error is a ValueError), or no JSON object
        raise _invalid("Invalid threeDSResult") from None
    ref = result.get("authorisationToken") or payment_data or ""
    if not (isinstance(ref, str) and _TOKEN.fullmatch(ref)):
        raise _invalid("Invalid threeDSResult")
    if "threeDSCompInd" in result:
        return kit.Authenticate(ref, kit.AuthenticationResult.SUCCEEDED, kit.FINGERPRINT, finish=True)
    return kit.FinishAuthentication(ref)


def _common(payment: kit.PaymentRecord) -> dict[str, Any]:
    return {
        "amount": {"currency": payment.currency, "value": payment.amount},
        "merchantReference": payment.reference,
        "paymentMethod": {"brand": payment.attempts[-1].card.extra["variant"], "type": "scheme"},
        "pspReference": payment.id,
    }


def _payment_body(payment: kit.PaymentRecord) -> dict[str, Any]:
    attempt = payment.attempts[-1]
    card, variant = attempt.card, attempt.card.extra["variant"]
    reason = _REASONS.get(payment.decline or "", payment.decline)
    code = _REFUSAL_CODES.get(reason or "", "2")
    additional = {
        "cardSummary": card.last4,
        "expiryDate": f"{card.exp_month}/{card.exp_year}",
        "fundingSource": "CREDIT",
        "merchantReference": payment.reference,
        "paymentMethod": variant,
        "paymentMethodVariant": variant,
        "refusalReasonRaw": f"DECLINED {code}" if reason else "AUTHORISED",
    } | ({"cvcResult": "1 Matches"} if card.cvc_given else {})
    if reason is None:
        additional |= {
            "authCode": attempt.auth_code,
            "authorisedAmountCurrency": payment.currency,
            "authorisedAmountValue": str(payment.amount),
            "networkTxReference": attempt.network_transaction_id,
        }
        return {"additionalData": additional, **_common(payment), "resultCode": "Authorised"}
    result = "Error" if reason == "Acquirer Error" else "Refused"
    refusal = {"resultCode": result, "refusalReason": reason, "refusalReasonCode": code}
    return {"additionalData": additional, **_common(payment), **refusal}


def _native_body(payment: kit.PaymentRecord, base_url: str) -> dict[str, Any]:
    """IdentifyShopper or ChallengeShopper with a threeDS2 action, its token as adyen-web decodes it."""
    state = payment.three_ds
    assert state is not None and state.action is not None
    if state.current == kit.FINGERPRINT:
        method = wire.page_url(base_url, state.action, payment.extra["origin"], method=True)
        token = {"threeDSMethodNotificationURL": method, "threeDSMethodUrl": method}
        result = "IdentifyShopper"
    else:
        page = wire.page_url(base_url, state.action)
        token = {"acsTransID": state.action, "acsURL": page, "messageVersion": "2.2.0", "threeDSNotificationURL": page}
        result = "ChallengeShopper"
    token["threeDSServerTransID"] = state.action
    action = {"authorisationToken": state.action, "paymentData": state.action, "paymentMethodType": "scheme"}
    action |= {"subtype": state.current, "token": base64.b64encode(json.dumps(token).encode()).decode()}
    common = {key: value for key, value in _common(payment).items() if key != "pspReference"}
    return {"action": action | {"type": "threeDS2"}, **common, "resultCode": result}


def _redirect_body(payment: kit.PaymentRecord, base_url: str) -> dict[str, Any]:
    card, url = payment.attempts[-1].card, wire.page_url(base_url, payment.id)
    return {
        "action": {"method": "GET", "paymentMethodType": "scheme", "type": "redirect", "url": url},
        "additionalData": {"cardSummary": card.last4, "paymentMethod": card.extra["variant"]},
        **_common(payment),
        "resultCode": "RedirectShopper",
    }
