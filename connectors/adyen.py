"""Adyen Checkout API v71 (https://docs.adyen.com/api-explorer/Checkout/71/overview), JSON.

Follow-up calls (capture, cancel, refund) are asynchronous at Adyen: it answers `received` and
reports the result later by webhook, so they map to `*_initiated` / `pending`. Adyen's Checkout API
has no call that reads a payment's state, so sync is unsupported (501) rather than guessed.
Capture and refund need the amount: Adyen requires it and the sidecar keeps no payment state.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.base import CallContext, Connector, Exchange, GatewayRequest, GatewayResponse, PublicApi, segment
from connectors.contact import split_name
from connectors.metadata import MetadataLimits
from connectors.money import GatewayCurrencies
from sidecar.errors import ErrorType, SidecarError, gateway_status_error, invalid_request
from sidecar.masking import Sensitivity
from sidecar.models import (
    CaptureMethod,
    CaptureRequest,
    CardSummary,
    DeclineInfo,
    ErrorDetail,
    Money,
    Payment,
    PaymentRequest,
    PaymentStatus,
    Redirect,
    Refund,
    RefundRequest,
    RefundStatus,
    VoidRequest,
)

PAYMENT_STATUS = {
    "Authorised": PaymentStatus.AUTHORIZED,
    "PartiallyAuthorised": PaymentStatus.PARTIALLY_AUTHORIZED,
    "Refused": PaymentStatus.AUTHORIZATION_FAILED,
    "Cancelled": PaymentStatus.VOIDED,
    "Error": PaymentStatus.FAILURE,
    "RedirectShopper": PaymentStatus.AUTHENTICATION_PENDING,
    "IdentifyShopper": PaymentStatus.AUTHENTICATION_PENDING,
    "ChallengeShopper": PaymentStatus.AUTHENTICATION_PENDING,
    "PresentToShopper": PaymentStatus.AUTHENTICATION_PENDING,
    "Pending": PaymentStatus.PENDING,
    "Received": PaymentStatus.PENDING,
}

# Adyen refusalReasonCode -> canonical decline code
# (https://docs.adyen.com/development-resources/refusal-reasons).
DECLINE_CODE = {
    "2": "card_declined",
    "3": "card_declined",  # referral
    "4": "processing_error",  # acquirer error
    "5": "card_declined",  # blocked card
    "6": "expired_card",
    "7": "invalid_amount",
    "8": "incorrect_number",
    "9": "issuer_unavailable",
    "10": "card_declined",  # not supported
    "11": "authentication_required",  # 3D not authenticated
    "12": "insufficient_funds",
    "14": "fraudulent",
    "20": "fraudulent",
    "24": "incorrect_cvc",
    "27": "card_declined",  # do not honor
    "31": "fraudulent",
}

# Adyen's merchantRefundReason enum; any other reason is OTHER (a refund has no free-text field).
REFUND_REASONS = {
    "fraudulent": "FRAUD",
    "requested_by_customer": "CUSTOMER REQUEST",
    "duplicate": "DUPLICATE",
    "return": "RETURN",
}

# Adyen's minor units, https://docs.adyen.com/development-resources/currency-codes: two decimals unless
# listed. Where Adyen differs from ISO 4217 its page says so, and "the decimals in the table on this
# page are leading": CLP 2 and ISK 2 (ISO: 0), CVE 0 and IDR 0 (ISO: 2). The page's rows past ETB were
# read from Adyen's Android SDK, which mirrors it (CheckoutCurrency.kt). adyen-web's display helper
# counts ISK in whole units, against the page: the page wins.
_TWO_DECIMAL = (
    "AED ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BWP BYN BZD CAD CHF CLP CNY COP "
    "CRC CUP CZK DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF ILS INR ISK JMD "
    "KES KGS KHR KYD KZT LAK LBP LKR MAD MDL MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR "
    "NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SEK SGD SHP SLE SOS SRD STN SVC SZL THB TOP TRY "
    "TTD TWD TZS UAH USD UYU UZS WST XCD YER ZAR ZMW"
).split()
_ZERO_DECIMAL = "CVE DJF GNF IDR JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF".split()
_THREE_DECIMAL = "BHD IQD JOD KWD LYD OMR TND".split()
CURRENCIES = GatewayCurrencies(
    "adyen",
    exponents={**dict.fromkeys(_TWO_DECIMAL, 2), **dict.fromkeys(_ZERO_DECIMAL, 0), **dict.fromkeys(_THREE_DECIMAL, 3)},
)

# Checkout v71, PaymentRequest.metadata: "Maximum 20 key-value pairs per request", "Maximum 20 characters
# per key", "Maximum 80 characters per value".
METADATA_LIMITS = MetadataLimits("adyen", max_pairs=20, max_key_length=20, max_value_length=80)

# Checkout v71, PaymentRequest.shopperStatement: "Allowed characters: a-z, A-Z, 0-9, spaces, and special
# characters . , ' _ - ? + * /".
_SHOPPER_STATEMENT = re.compile(r"[A-Za-z0-9 .,'_?+*/-]+")
# Adyen's pspReference: 16 characters, digits in older ones, upper-case letters and digits now.
_PSP_REFERENCE = re.compile(r"[A-Za-z0-9]{16}")
# Adyen answers 422 with this code when a modification's currency is not the payment's.
_UNSUPPORTED_CURRENCY = "138"


class AdyenAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_key: SecretStr = Field(description="Checkout API key (X-API-Key).")
    merchant_account: str = Field(min_length=1, description="Adyen merchant account every call is made for.")
    return_url: str | None = Field(
        default=None, description="Used as Adyen's required returnUrl when the call gives none."
    )


class Adyen(Connector):
    name = "adyen"
    Credentials = AdyenAccount
    default_base_url = "https://checkout-test.adyen.com/v71"
    # Test: checkout-test.adyen.com/v71/...; live: {prefix}-checkout-live.adyenpayments.com/checkout/v71/...
    public_api = PublicApi(
        hosts=("checkout-test.adyen.com", "*-checkout-live.adyenpayments.com"), base_url_version=r"/v\d+"
    )
    sensitive_fields = {
        "number": Sensitivity.PAN,
        "cvc": Sensitivity.DROP,
        "encryptedCardNumber": Sensitivity.DROP,
        "encryptedSecurityCode": Sensitivity.DROP,
        "holderName": Sensitivity.PERSONAL,
        "shopperEmail": Sensitivity.PERSONAL,
        "telephoneNumber": Sensitivity.PERSONAL,
        "firstName": Sensitivity.PERSONAL,
        "lastName": Sensitivity.PERSONAL,
        "street": Sensitivity.PERSONAL,
        "houseNumberOrName": Sensitivity.PERSONAL,
        # Adyen's ids are 16 digits in live: a tenth of them pass Luhn. Kept in Adyen's answers.
        "pspReference": Sensitivity.GATEWAY_ID,
        "originalReference": Sensitivity.GATEWAY_ID,
        "networkTxReference": Sensitivity.GATEWAY_ID,
    }
    secret_headers = frozenset({"x-api-key"})
    currencies = CURRENCIES
    metadata_limits = METADATA_LIMITS
    id_patterns = {"payment": _PSP_REFERENCE, "refund": _PSP_REFERENCE, "capture": _PSP_REFERENCE}

    def auth_headers(self, credentials: AdyenAccount) -> dict[str, str]:
        return {"X-API-Key": credentials.api_key.get_secret_value()}

    # -- operations -------------------------------------------------------------------------------

    def authorize(self, req: PaymentRequest, ctx: CallContext) -> Exchange[Payment]:
        account: AdyenAccount = ctx.credentials
        return_url = req.return_url or account.return_url
        if not return_url:
            raise invalid_request(
                "adyen needs a return_url",
                path="return_url",
                detail="required by adyen; set it on the call or on the account",
                type="missing",
            )
        card = req.payment_method.card
        method: dict[str, Any] = {
            "type": "scheme",
            "number": card.number,
            "expiryMonth": f"{card.exp_month:02d}",
            "expiryYear": str(card.exp_year),
            "cvc": card.cvc,
        }
        customer = req.customer
        holder = card.holder_name or (customer.name if customer else None)
        if holder:
            method["holderName"] = holder
        body: dict[str, Any] = {
            "amount": self._amount(req.amount, "amount"),
            "reference": req.reference,
            "merchantAccount": account.merchant_account,
            "returnUrl": return_url,
            "paymentMethod": method,
            "shopperInteraction": "Ecommerce",
        }
        if req.capture is CaptureMethod.MANUAL:
            body["additionalData"] = {"manualCapture": "true"}
        else:
            body["captureDelayHours"] = 0
        if name := split_name((customer.name if customer else None) or card.holder_name or ""):
            body["shopperName"] = {"firstName": name[0], "lastName": name[1]}
        if customer and customer.email:
            body["shopperEmail"] = customer.email
        if phone := self.phone(req):
            body["telephoneNumber"] = phone
        if customer and customer.id:
            body["shopperReference"] = _shopper_reference(customer.id)
        if req.billing_address:
            body["billingAddress"] = _billing_address(req)
        if req.statement_descriptor:
            body["shopperStatement"] = _shopper_statement(req.statement_descriptor)
        if req.three_ds is not None:
            body["authenticationData"] = {"attemptAuthentication": "always" if req.three_ds else "never"}
        if req.metadata:
            body["metadata"] = self.metadata(req.metadata, {})
        resp = yield self._post(ctx, "/payments", body)
        return self._payment(resp, req)

    def capture(self, payment_id: str, req: CaptureRequest, ctx: CallContext) -> Exchange[Payment]:
        if req.amount is None:
            raise _amount_required("capture")
        body = {"merchantAccount": ctx.credentials.merchant_account, "amount": self._amount(req.amount, "amount")}
        if req.reference:
            body["reference"] = req.reference
        resp = yield self._post(ctx, f"/payments/{segment(payment_id)}/captures", body)
        data = self._modification(resp)
        return Payment(
            id=data.get("paymentPspReference") or payment_id,
            operation_id=data.get("pspReference"),
            connector=self.name,
            status=PaymentStatus.CAPTURE_INITIATED,
            amount=self._answered_amount(data, req.amount),
            connector_status=data.get("status", "received"),
        )

    def void(self, payment_id: str, req: VoidRequest, ctx: CallContext) -> Exchange[Payment]:
        # Adyen's cancel takes no reason at all: only the app's reference for it.
        body = {"merchantAccount": ctx.credentials.merchant_account}
        if req.reference:
            body["reference"] = req.reference
        resp = yield self._post(ctx, f"/payments/{segment(payment_id)}/cancels", body)
        data = self._modification(resp)
        return Payment(
            id=data.get("paymentPspReference") or payment_id,
            operation_id=data.get("pspReference"),
            connector=self.name,
            status=PaymentStatus.VOID_INITIATED,
            connector_status=data.get("status", "received"),
        )

    def refund(self, payment_id: str, req: RefundRequest, ctx: CallContext) -> Exchange[Refund]:
        if req.amount is None:
            raise _amount_required("refund")
        if req.capture_id is not None:
            # Accepted and not sent: Adyen refunds a card payment as a whole, whichever capture the money
            # came from; its capturePspReference "is only available for PayPal refunds" (Checkout v71).
            self.check_id("capture", req.capture_id, "capture_id")
        body: dict[str, Any] = {
            "merchantAccount": ctx.credentials.merchant_account,
            "amount": self._amount(req.amount, "amount"),
        }
        if req.reference:
            body["reference"] = req.reference
        if req.reason:
            body["merchantRefundReason"] = REFUND_REASONS.get(req.reason, "OTHER")
        resp = yield self._post(ctx, f"/payments/{segment(payment_id)}/refunds", body)
        data = self._modification(resp)
        refund_id = data.get("pspReference")
        if not isinstance(refund_id, str):
            raise self.unparseable(resp)
        return Refund(
            id=refund_id,
            payment_id=data.get("paymentPspReference") or payment_id,
            connector=self.name,
            status=RefundStatus.PENDING,
            amount=self._answered_amount(data, req.amount),
            connector_status=data.get("status", "received"),
        )

    def sync(self, payment_id: str, ctx: CallContext) -> Exchange[Payment]:
        raise self.unsupported("payment sync", "Adyen's Checkout API has no payment lookup; state arrives by webhook")

    def refund_sync(self, refund_id: str, ctx: CallContext) -> Exchange[Refund]:
        raise self.unsupported("refund sync", "Adyen's Checkout API has no refund lookup; state arrives by webhook")

    # -- requests ---------------------------------------------------------------------------------

    def _amount(self, money: Money, path: str) -> dict[str, Any]:
        return {"value": self.to_gateway(money, path), "currency": money.currency}

    def _post(self, ctx: CallContext, path: str, body: dict[str, Any]) -> GatewayRequest:
        headers = {
            **self.auth_headers(ctx.credentials),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if ctx.idempotency_key:
            headers["Idempotency-Key"] = ctx.idempotency_key
        return GatewayRequest("POST", ctx.base_url + path, headers, orjson.dumps(body))

    # -- answers ----------------------------------------------------------------------------------

    def _payment(self, resp: GatewayResponse, req: PaymentRequest) -> Payment:
        if resp.status != 200:
            raise self._error(resp)
        data = self.json_object(resp)
        result = data.get("resultCode")
        psp = data.get("pspReference")
        status = PAYMENT_STATUS.get(result, PaymentStatus.UNRESOLVED) if isinstance(result, str) else None
        # An answer asking for an action may come before Adyen made a transaction: no pspReference yet, and
        # the app's reference is the handle (API.md v1.1). Any other answer without one is not an answer.
        if status is None or not (isinstance(psp, str) or status is PaymentStatus.AUTHENTICATION_PENDING):
            raise SidecarError(
                ErrorType.GATEWAY_ERROR, "adyen answered without resultCode and pspReference", connector=self.name
            )
        if status is PaymentStatus.AUTHORIZED and req.capture is CaptureMethod.AUTOMATIC:
            status = PaymentStatus.CHARGED
        extra = data.get("additionalData") or {}
        amount = self._answered_amount(data, req.amount)
        error = None
        if status in (PaymentStatus.AUTHORIZATION_FAILED, PaymentStatus.FAILURE):
            reason_code = str(data.get("refusalReasonCode", ""))
            reason = data.get("refusalReason") or result
            error = DeclineInfo(
                code=DECLINE_CODE.get(reason_code, "card_declined"),
                message=reason,
                connector_code=reason_code or None,
                connector_message=reason,
            )
        return Payment(
            id=psp,
            connector=self.name,
            status=status,
            reference=data.get("merchantReference") or req.reference,
            amount=amount,
            captured=amount if status is PaymentStatus.CHARGED else None,
            card=_card(data, extra),
            redirect=_redirect(data.get("action")),
            network_transaction_id=extra.get("networkTxReference"),
            connector_status=result,
            error=error,
        )

    def _answered_amount(self, data: dict[str, Any], sent: Money) -> Money:
        """The amount in Adyen's answer, back in ISO minor units; the one sent where Adyen echoes none."""
        given = data.get("amount")
        return self.from_gateway(given.get("value"), given.get("currency")) if isinstance(given, dict) else sent

    def _modification(self, resp: GatewayResponse) -> dict[str, Any]:
        if resp.status == 422 and self.json_object(resp).get("errorCode") == _UNSUPPORTED_CURRENCY:
            # Every currency Adyen does not take was refused before sending: on a capture or refund this is
            # Adyen saying the amount is not in the payment's currency ("The `currency` must match the
            # currency used in authorisation", Checkout v71). It moved no money.
            raise invalid_request(
                "adyen: the amount is not in the payment's currency; no money was moved",
                path="amount.currency",
                detail="must be the payment's currency",
                type="currency_mismatch",
            )
        if resp.status not in (200, 201):
            raise self._error(resp)
        return self.json_object(resp)

    def _error(self, resp: GatewayResponse) -> SidecarError:
        data = self.json_object(resp)
        message = f"adyen: {data.get('message') or data.get('errorType') or 'error'}"
        details = None
        if data.get("errorCode"):
            details = [ErrorDetail(path="", message=data.get("message") or "", type=str(data["errorCode"]))]
        return gateway_status_error(resp.status, message, self.name, details)


def _shopper_reference(customer_id: str) -> str:
    if len(customer_id) < 3:
        raise invalid_request(
            "adyen's shopperReference takes at least 3 characters",
            path="customer.id",
            detail="at least 3 characters for adyen",
        )
    return customer_id


# Checkout v71 BillingAddress: every one of these is required; Adyen gets all of them or no address,
# never a part sent empty. The canonical line2 is Adyen's house number or name.
_ADDRESS_PARTS = {
    "street": "line1",
    "houseNumberOrName": "line2",
    "city": "city",
    "postalCode": "postal_code",
    "country": "country",
}


def _billing_address(req: PaymentRequest) -> dict[str, str]:
    address = req.billing_address.model_dump(exclude_none=True) if req.billing_address else {}
    missing = [ours for ours in _ADDRESS_PARTS.values() if ours not in address]
    if missing:
        raise invalid_request(
            "adyen takes a billing address only whole: " + ", ".join(missing) + " missing",
            path="billing_address",
            detail="adyen requires line1 (street), line2 (house number or name), city, postal_code and country",
        )
    result = {theirs: address[ours] for theirs, ours in _ADDRESS_PARTS.items()}
    if "state" in address:
        result["stateOrProvince"] = address["state"]
    return result


def _shopper_statement(text: str) -> str:
    if not _SHOPPER_STATEMENT.fullmatch(text):
        raise invalid_request(
            "adyen statement descriptors take only a-z, A-Z, 0-9, spaces and . , ' _ - ? + * /",
            path="statement_descriptor",
            detail="Checkout v71 PaymentRequest.shopperStatement",
        )
    return text


def _amount_required(what: str) -> SidecarError:
    return invalid_request(
        f"adyen needs the amount to {what}",
        path="amount",
        type="missing",
        detail=f"required by adyen for a {what}; the sidecar keeps no payment state",
    )


def _card(data: dict[str, Any], extra: dict[str, Any]) -> CardSummary | None:
    brand = (data.get("paymentMethod") or {}).get("brand") or extra.get("paymentMethod")
    last4 = extra.get("cardSummary")
    exp_month = exp_year = None
    if isinstance(extra.get("expiryDate"), str) and "/" in extra["expiryDate"]:
        month, _, year = extra["expiryDate"].partition("/")
        if month.isdigit() and year.isdigit():
            exp_month, exp_year = int(month), int(year)
    if not (brand or last4):
        return None
    return CardSummary(brand=brand, last4=last4, exp_month=exp_month, exp_year=exp_year)


def _redirect(action: Any) -> Redirect | None:
    if not isinstance(action, dict) or not action.get("url"):
        return None
    method = "POST" if str(action.get("method", "GET")).upper() == "POST" else "GET"
    form = action.get("data") if isinstance(action.get("data"), dict) else None
    return Redirect(url=action["url"], method=method, form={k: str(v) for k, v in form.items()} if form else None)
