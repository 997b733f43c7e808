"""Adyen Checkout API v71 (https://docs.adyen.com/api-explorer/Checkout/71/overview), JSON.

Follow-up calls (capture, cancel, refund) are asynchronous at Adyen: it answers `received` and
reports the result later by webhook, so they map to `*_initiated` / `pending`. Adyen's Checkout API
has no call that reads a payment's state, so sync is unsupported (501) rather than guessed.
Capture and refund need the amount: Adyen requires it and the sidecar keeps no payment state.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.base import CallContext, Connector, Exchange, GatewayRequest, GatewayResponse, PublicApi
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

REFUND_REASONS = {
    "fraudulent": "FRAUD",
    "requested_by_customer": "CUSTOMER REQUEST",
    "duplicate": "DUPLICATE",
    "return": "RETURN",
}


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
        holder = card.holder_name or (req.customer.name if req.customer else None)
        if holder:
            method["holderName"] = holder
        body: dict[str, Any] = {
            "amount": _amount(req.amount),
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
        if req.customer:
            if req.customer.email:
                body["shopperEmail"] = req.customer.email
            if req.customer.phone:
                body["telephoneNumber"] = req.customer.phone
            if req.customer.id and len(req.customer.id) >= 3:  # Adyen's minimum; it is only a risk signal
                body["shopperReference"] = req.customer.id
        if req.billing_address and req.billing_address.country:
            a = req.billing_address
            # Adyen requires every part of an address; an absent part is sent empty as it allows.
            body["billingAddress"] = {
                "street": a.line1 or "",
                "houseNumberOrName": a.line2 or "",
                "city": a.city or "",
                "postalCode": a.postal_code or "",
                "country": a.country,
                **({"stateOrProvince": a.state} if a.state else {}),
            }
        if req.three_ds is not None:
            body["authenticationData"] = {"attemptAuthentication": "always" if req.three_ds else "never"}
        if req.metadata:
            body["metadata"] = req.metadata
        resp = yield self._post(ctx, "/payments", body)
        return self._payment(resp, req)

    def capture(self, payment_id: str, req: CaptureRequest, ctx: CallContext) -> Exchange[Payment]:
        if req.amount is None:
            raise _amount_required("capture")
        body = {"merchantAccount": ctx.credentials.merchant_account, "amount": _amount(req.amount)}
        resp = yield self._post(ctx, f"/payments/{quote(payment_id)}/captures", body)
        data = self._modification(resp)
        return Payment(
            id=data.get("paymentPspReference") or payment_id,
            connector=self.name,
            status=PaymentStatus.CAPTURE_INITIATED,
            amount=req.amount,
            connector_status=data.get("status", "received"),
        )

    def void(self, payment_id: str, req: VoidRequest, ctx: CallContext) -> Exchange[Payment]:
        body = {"merchantAccount": ctx.credentials.merchant_account}
        resp = yield self._post(ctx, f"/payments/{quote(payment_id)}/cancels", body)
        data = self._modification(resp)
        return Payment(
            id=data.get("paymentPspReference") or payment_id,
            connector=self.name,
            status=PaymentStatus.VOID_INITIATED,
            connector_status=data.get("status", "received"),
        )

    def refund(self, payment_id: str, req: RefundRequest, ctx: CallContext) -> Exchange[Refund]:
        if req.amount is None:
            raise _amount_required("refund")
        body: dict[str, Any] = {"merchantAccount": ctx.credentials.merchant_account, "amount": _amount(req.amount)}
        if req.reference:
            body["reference"] = req.reference
        if req.reason in REFUND_REASONS:
            body["merchantRefundReason"] = REFUND_REASONS[req.reason]
        resp = yield self._post(ctx, f"/payments/{quote(payment_id)}/refunds", body)
        data = self._modification(resp)
        refund_id = data.get("pspReference")
        if not isinstance(refund_id, str):
            raise self.unparseable(resp)
        return Refund(
            id=refund_id,
            payment_id=data.get("paymentPspReference") or payment_id,
            connector=self.name,
            status=RefundStatus.PENDING,
            amount=req.amount,
            connector_status=data.get("status", "received"),
        )

    def sync(self, payment_id: str, ctx: CallContext) -> Exchange[Payment]:
        raise self.unsupported("payment sync", "Adyen's Checkout API has no payment lookup; state arrives by webhook")

    def refund_sync(self, refund_id: str, ctx: CallContext) -> Exchange[Refund]:
        raise self.unsupported("refund sync", "Adyen's Checkout API has no refund lookup; state arrives by webhook")

    # -- requests ---------------------------------------------------------------------------------

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
        if not isinstance(result, str) or not isinstance(psp, str):
            raise SidecarError(
                ErrorType.GATEWAY_ERROR, "adyen answered without resultCode and pspReference", connector=self.name
            )
        status = PAYMENT_STATUS.get(result, PaymentStatus.UNRESOLVED)
        if status is PaymentStatus.AUTHORIZED and req.capture is CaptureMethod.AUTOMATIC:
            status = PaymentStatus.CHARGED
        extra = data.get("additionalData") or {}
        amount = _money(data.get("amount")) or req.amount
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

    def _modification(self, resp: GatewayResponse) -> dict[str, Any]:
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


def _amount(money: Money) -> dict[str, Any]:
    return {"value": money.minor, "currency": money.currency}


def _money(value: Any) -> Money | None:
    if isinstance(value, dict) and isinstance(value.get("value"), int) and isinstance(value.get("currency"), str):
        return Money(minor=value["value"], currency=value["currency"].upper())
    return None


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
