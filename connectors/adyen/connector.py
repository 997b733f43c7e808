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
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.adyen.codes import refusal_code
from connectors.kit.conformance import ApiSpec, Conformance
from connectors.kit.connector import (
    CallContext,
    Connector,
    Exchange,
    GatewayRequest,
    GatewayResponse,
    PublicApi,
    redirect_of,
    segment,
)
from connectors.kit.contact import split_name
from connectors.kit.declines import decline
from connectors.kit.errors import STATUS_DECIDES, ErrorType, SidecarError, invalid_request
from connectors.kit.idempotency import gateway_key
from connectors.kit.masking import Sensitivity
from connectors.kit.metadata import MetadataLimits
from connectors.kit.models import (
    ActionType,
    CaptureMethod,
    CaptureRequest,
    CardSummary,
    Channel,
    CompleteRequest,
    ErrorDetail,
    Money,
    NextAction,
    Payment,
    PaymentRequest,
    PaymentStatus,
    Refund,
    RefundRequest,
    RefundStatus,
    VoidRequest,
    WebhookEvent,
)
from connectors.kit.money import GatewayCurrencies
from connectors.kit.webhooks import Acknowledgement, Secrets, WebhookRequest

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

# "a maximum of 64 characters" (https://docs.adyen.com/development-resources/api-idempotency).
IDEMPOTENCY_KEY_LIMIT = 64

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
    hmac_key: Secrets = Field(
        default=(), description="The webhook endpoint's HMAC key (hex), or a list of them while rotating."
    )
    webhook_username: str | None = Field(default=None, description="The webhook endpoint's basic auth, if set.")
    webhook_password: SecretStr | None = None

    @field_validator("hmac_key")
    @classmethod
    def _hex_keys(cls, keys: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for key in keys:
            try:
                if not bytes.fromhex(key.get_secret_value()):
                    raise ValueError
            except ValueError:
                raise ValueError("an hmac_key is the hex string Adyen's Customer Area shows") from None
        return keys

    @model_validator(mode="after")
    def _basic_auth_whole(self) -> AdyenAccount:
        if (self.webhook_username is None) != (self.webhook_password is None):
            raise ValueError("webhook_username and webhook_password go together")
        return self


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
        # Card data encrypted by Adyen's client SDKs: useless without Adyen's key, kept out of logs anyway.
        "encryptedCardNumber": Sensitivity.DROP,
        "encryptedSecurityCode": Sensitivity.DROP,
        "encryptedExpiryMonth": Sensitivity.DROP,
        "encryptedExpiryYear": Sensitivity.DROP,
        "encryptedCard": Sensitivity.DROP,
        "encryptedPassword": Sensitivity.DROP,
        "encryptedBankAccountNumber": Sensitivity.DROP,
        "encryptedBankLocationId": Sensitivity.DROP,
        "tokenAuthenticationVerificationValue": Sensitivity.DROP,  # a network token's cryptogram
        "oneTimePasscode": Sensitivity.DROP,
        # Wallet and network tokens, and the tokens of /payments/details: each stands for a payment method.
        "amazonPayToken": Sensitivity.SECRET,
        "applePayToken": Sensitivity.SECRET,
        "googlePayToken": Sensitivity.SECRET,
        "samsungPayToken": Sensitivity.SECRET,
        "klarnaNetworkSessionToken": Sensitivity.SECRET,
        "srcTokenReference": Sensitivity.SECRET,
        "donationToken": Sensitivity.SECRET,
        "authorization_token": Sensitivity.SECRET,
        "billingToken": Sensitivity.SECRET,
        "facilitatorAccessToken": Sensitivity.SECRET,
        "vaultToken": Sensitivity.SECRET,
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
        "hmacSignature": Sensitivity.SECRET,  # a webhook item's signature
    }
    secret_headers = frozenset({"x-api-key"})
    currencies = CURRENCIES
    metadata_limits = METADATA_LIMITS
    id_patterns = {"payment": _PSP_REFERENCE, "refund": _PSP_REFERENCE, "capture": _PSP_REFERENCE}
    conformance = Conformance(
        spec=ApiSpec(
            "adyen-checkout-v71.openapi.json",
            operations=frozenset(
                {
                    "post-payments",
                    "post-payments-details",
                    "post-payments-paymentPspReference-captures",
                    "post-payments-paymentPspReference-cancels",
                    "post-payments-paymentPspReference-refunds",
                }
            ),
        ),
        lookups=False,  # see sync(): Checkout has no lookup
    )
    # https://docs.adyen.com/development-resources/webhooks/troubleshoot: HTTP 200 with `[accepted]` (Adyen's
    # 2024 rule is any 2xx; this satisfies both).
    webhook_accepted = Acknowledgement(200, b"[accepted]", "text/plain")

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
        body |= _device(req)
        authentication: dict[str, Any] = {}
        if req.three_ds is not None:
            authentication["attemptAuthentication"] = "always" if req.three_ds else "never"
        if req.channel in (Channel.IOS, Channel.ANDROID) or (req.channel is Channel.WEB and req.origin):
            # The app says where it runs Adyen's 3-D Secure 2 component (Checkout v71: `origin` "Required for
            # browser-based (channel Web) 3D Secure 2 transactions"): the native flow, fingerprint then challenge,
            # instead of a redirect (https://docs.adyen.com/online-payments/3d-secure/native-3ds2).
            authentication["threeDSRequestData"] = {"nativeThreeDS": "preferred"}
        if authentication:
            body["authenticationData"] = authentication
        if req.metadata:
            body["metadata"] = self.metadata(req.metadata, {})
        resp = yield self._post(ctx, "/payments", body)
        return self._payment(resp, ctx, req.reference, req.amount, req.capture)

    def capture(self, payment_id: str, req: CaptureRequest, ctx: CallContext) -> Exchange[Payment]:
        if req.amount is None:
            raise _amount_required("capture")
        body = {"merchantAccount": ctx.credentials.merchant_account, "amount": self._amount(req.amount, "amount")}
        if req.reference:
            body["reference"] = req.reference
        resp = yield self._post(ctx, f"/payments/{segment(payment_id)}/captures", body, key_step="capture")
        data = self._modification(resp, ctx, payment_id, body)
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
        resp = yield self._post(ctx, f"/payments/{segment(payment_id)}/cancels", body, key_step="cancel")
        data = self._modification(resp, ctx, payment_id, body)
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
        resp = yield self._post(ctx, f"/payments/{segment(payment_id)}/refunds", body, key_step="refund")
        data = self._modification(resp, ctx, payment_id, body)
        return Refund(
            id=data["pspReference"],
            payment_id=data.get("paymentPspReference") or payment_id,
            connector=self.name,
            status=RefundStatus.PENDING,
            amount=self._answered_amount(data, req.amount),
            connector_status=data.get("status", "received"),
        )

    def complete(self, req: CompleteRequest, ctx: CallContext) -> Exchange[Payment]:
        """/payments/details with what the shopper's return or Adyen's component produced (`redirectResult`,
        `threeDSResult`, ...; the component's `paymentData` goes beside them, where Adyen takes it). Adyen's
        answer says neither the amount nor how the payment captures: an `Authorised` payment is `authorized`,
        its capture reported by webhook. `payment_id`, when given, is checked as an Adyen id and not sent."""
        if req.payment_id is not None:
            self.check_id("payment", req.payment_id, "payment_id")
        details = dict(req.details)
        payment_data = details.pop("paymentData", None)
        if not details:
            raise invalid_request(
                "adyen needs what the shopper's return or the component gave",
                path="details",
                type="missing",
                detail="redirectResult, threeDSResult or another of Adyen's details",
            )
        body: dict[str, Any] = {"details": details}
        if payment_data is not None:
            body["paymentData"] = payment_data
        resp = yield self._post(ctx, "/payments/details", body, key_step="details")
        return self._payment(resp, ctx, None, None, None)

    def sync(self, payment_id: str, ctx: CallContext) -> Exchange[Payment]:
        raise self.unsupported("payment sync", "Adyen's Checkout API has no payment lookup; state arrives by webhook")

    def refund_sync(self, refund_id: str, ctx: CallContext) -> Exchange[Refund]:
        raise self.unsupported("refund sync", "Adyen's Checkout API has no refund lookup; state arrives by webhook")

    def webhook(self, req: WebhookRequest, ctx: CallContext) -> Exchange[list[WebhookEvent]]:
        from connectors.adyen import webhooks  # it builds on this module's tables

        yield from ()  # verified locally: no call to Adyen
        return webhooks.events(req, ctx.credentials)

    # -- requests ---------------------------------------------------------------------------------

    def _amount(self, money: Money, path: str) -> dict[str, Any]:
        return {"value": self.to_gateway(money, path), "currency": money.currency}

    def _post(self, ctx: CallContext, path: str, body: dict[str, Any], *, key_step: str = "") -> GatewayRequest:
        headers = {
            **self.auth_headers(ctx.credentials),
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        if ctx.idempotency_key:
            # Adyen answers a known key with the first call's answer, whichever endpoint it was (its page
            # documents no check of endpoint or body): each modification gets a key of its own so that a
            # capture can never be answered with a refund's result.
            headers["Idempotency-Key"] = gateway_key(ctx.idempotency_key, IDEMPOTENCY_KEY_LIMIT, key_step)
        return GatewayRequest("POST", ctx.base_url + path, headers, orjson.dumps(body))

    # -- answers ----------------------------------------------------------------------------------

    def _payment(
        self,
        resp: GatewayResponse,
        ctx: CallContext,
        reference: str | None,
        sent: Money | None,
        capture: CaptureMethod | None,
    ) -> Payment:
        """A /payments or /payments/details answer; `reference`, `sent` and `capture` are the authorization's
        (a completion knows none of them)."""
        if resp.status != 200:
            raise self._error(resp)
        data = self.json_object(resp)
        result = data.get("resultCode")
        psp = data.get("pspReference")
        status = PAYMENT_STATUS.get(result, PaymentStatus.UNRESOLVED) if isinstance(result, str) else None
        # An answer asking for an action may come before Adyen made a transaction: no pspReference yet, and
        # the app's reference is the handle (API.md v1.1). Any other answer without one is not an answer.
        if status is None:
            raise self.unusable("a resultCode")
        if not (isinstance(psp, str) or status is PaymentStatus.AUTHENTICATION_PENDING):
            raise self.unusable("a pspReference")
        self._same_call(ctx, data, {"merchantReference": reference} if reference else {})
        if status is PaymentStatus.AUTHORIZED and capture is CaptureMethod.AUTOMATIC:
            status = PaymentStatus.CHARGED
        extra = data.get("additionalData") or {}
        amount = self._answered_amount(data, sent)
        error = None
        if status in (PaymentStatus.AUTHORIZATION_FAILED, PaymentStatus.FAILURE):
            code = str(data.get("refusalReasonCode") or "")
            reason = data.get("refusalReason") if isinstance(data.get("refusalReason"), str) else None
            error = decline(
                code,
                refusal_code(code, reason),
                refusal=result == "Refused",
                connector_message=reason or result,
                connector_code=code or None,
            )
        action = _next_action(result, data.get("action")) if status is PaymentStatus.AUTHENTICATION_PENDING else None
        return Payment(
            id=psp,
            connector=self.name,
            status=status,
            reference=data.get("merchantReference") or reference,
            amount=amount,
            captured=amount if status is PaymentStatus.CHARGED else None,
            card=_card(data, extra),
            redirect=redirect_of(action),
            next_action=action,
            network_transaction_id=extra.get("networkTxReference"),
            connector_status=result,
            error=error,
        )

    def _answered_amount(self, data: dict[str, Any], sent: Money | None) -> Money | None:
        """The amount in Adyen's answer, back in ISO minor units; the one sent where Adyen echoes none."""
        given = data.get("amount")
        return self.from_gateway(given.get("value"), given.get("currency")) if isinstance(given, dict) else sent

    def _modification(
        self, resp: GatewayResponse, ctx: CallContext, payment_id: str, sent: dict[str, Any]
    ) -> dict[str, Any]:
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
        data = self.json_object(resp)
        if not isinstance(data.get("pspReference"), str) or not isinstance(data.get("status"), str):
            raise self.unusable("the modification's pspReference and status")
        echoes = {"paymentPspReference": payment_id, **{k: sent[k] for k in ("amount", "reference") if k in sent}}
        self._same_call(ctx, data, echoes)
        return data

    def _same_call(self, ctx: CallContext, data: dict[str, Any], echoes: dict[str, Any]) -> None:
        """Adyen answers a key it knows with the first call's answer, whatever this call's body (its page
        documents no comparison). Where the answer echoes what was sent and differs, it is another call's:
        409 idempotency_conflict, and this call did nothing. Fields Adyen does not echo cannot be checked."""
        if not ctx.idempotency_key:
            return
        differ = sorted(k for k, sent in echoes.items() if k in data and data[k] != sent)
        if differ:
            raise SidecarError(
                ErrorType.IDEMPOTENCY_CONFLICT,
                f"adyen answered with the result of another call made with this Idempotency-Key "
                f"({', '.join(differ)} differ); this call was not processed",
                connector=self.name,
                outcome="not_processed",
            )

    def _error(self, resp: GatewayResponse) -> SidecarError:
        """Adyen's error answers (https://docs.adyen.com/development-resources/response-handling)."""
        try:
            data = self.json_object(resp)
        except SidecarError as e:
            return e
        if not _ERROR_FIELDS & data.keys():
            return self.unparseable(resp)
        # ServiceError (`message`), or the newer RFC 7807 shape (`detail`, `title`) of https://docs.adyen.com/errors.
        text = next(
            (data[k] for k in ("message", "detail", "title", "errorType") if isinstance(data.get(k), str)), None
        )
        message = f"adyen: {text or 'error'}"
        code = str(data.get("errorCode") or "")
        details = [ErrorDetail(path="", message=text or "", type=code)] if code else None
        if code == "704" and resp.status not in STATUS_DECIDES:
            # "request already processed or in progress": the same key while the first call runs (or a
            # duplicate Adyen itself detects). Adyen does not tell the two apart, so the first call's
            # result is unknown here. Seen with HTTP 409 and with 422 (Adyen's page could not be read on
            # which), so the code alone decides.
            return SidecarError(
                ErrorType.REQUEST_IN_PROGRESS, message, connector=self.name, details=details, outcome="unknown"
            )
        return self.status_error(resp, message, details)


# An error answer carries at least one of these: ServiceError's, or RFC 7807's (https://docs.adyen.com/errors).
_ERROR_FIELDS = frozenset({"errorCode", "errorType", "message", "title", "detail"})


_CHANNELS = {Channel.WEB: "Web", Channel.IOS: "iOS", Channel.ANDROID: "Android"}
# Checkout v71 PaymentRequest.origin: "maxLength": 80.
_ORIGIN_LIMIT = 80


def _device(req: PaymentRequest) -> dict[str, Any]:
    """What 3-D Secure 2 needs of the shopper's device, in Checkout v71's fields."""
    body: dict[str, Any] = {}
    if browser := req.browser:
        body["browserInfo"] = {
            "userAgent": browser.user_agent,
            "acceptHeader": browser.accept_header,
            "language": browser.language,
            "colorDepth": browser.color_depth,
            "screenHeight": browser.screen_height,
            "screenWidth": browser.screen_width,
            "timeZoneOffset": browser.time_zone_offset,  # getTimezoneOffset(), as adyen-web sends it
            "javaEnabled": browser.java_enabled,
        }
    if req.shopper_ip is not None:
        body["shopperIP"] = str(req.shopper_ip)
    if req.origin is not None:
        if len(req.origin) > _ORIGIN_LIMIT:
            raise invalid_request(
                f"adyen takes an origin of at most {_ORIGIN_LIMIT} characters",
                path="origin",
                detail="Checkout v71 PaymentRequest.origin",
            )
        body["origin"] = req.origin
    if req.channel is not None:
        body["channel"] = _CHANNELS[req.channel]
    return body


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
ADDRESS_PARTS = {
    "street": "line1",
    "houseNumberOrName": "line2",
    "city": "city",
    "postalCode": "postal_code",
    "country": "country",
}


def _billing_address(req: PaymentRequest) -> dict[str, str]:
    address = req.billing_address.model_dump(exclude_none=True) if req.billing_address else {}
    missing = [ours for ours in ADDRESS_PARTS.values() if ours not in address]
    if missing:
        raise invalid_request(
            "adyen takes a billing address only whole: " + ", ".join(missing) + " missing",
            path="billing_address",
            detail="adyen requires line1 (street), line2 (house number or name), city, postal_code and country",
        )
    result = {theirs: address[ours] for theirs, ours in ADDRESS_PARTS.items()}
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


# Adyen's action types (the Checkout*Action schemas of the v71 spec) by what the app must do.
_PRESENT_ACTIONS = frozenset({"voucher", "qrCode", "bankTransfer"})
_REDIRECT_ACTIONS = frozenset({"redirect", "nativeRedirect"})
_FALLBACK_ACTION: dict[str, ActionType] = {
    "RedirectShopper": "redirect",
    "IdentifyShopper": "threeds_fingerprint",
    "ChallengeShopper": "threeds_challenge",
    "PresentToShopper": "present_to_shopper",
}
_THREE_DS_ACTION: dict[str, ActionType] = {"fingerprint": "threeds_fingerprint", "challenge": "threeds_challenge"}
_URL_FIELDS = ("url", "downloadUrl", "instructionsUrl")


def _next_action(result: str, action: Any) -> NextAction:
    """Adyen's `action` in API.md's form; `data` keeps Adyen's own action object for its client SDKs."""
    if not isinstance(action, dict):
        return NextAction(type=_FALLBACK_ACTION.get(result, "sdk"))
    kind = action.get("type")
    url = next((action[k] for k in _URL_FIELDS if isinstance(action.get(k), str)), None)
    if kind in _REDIRECT_ACTIONS and url:
        method = "POST" if str(action.get("method", "GET")).upper() == "POST" else "GET"
        form = action.get("data") if isinstance(action.get("data"), dict) else None
        return NextAction(
            type="redirect",
            url=url,
            method=method,
            form={k: str(v) for k, v in form.items()} if form else None,
            data=action,
        )
    if kind == "threeDS2":
        three_ds = _THREE_DS_ACTION.get(str(action.get("subtype"))) or _FALLBACK_ACTION.get(result, "sdk")
        return NextAction(type=three_ds, data=action)
    if kind in _PRESENT_ACTIONS:
        return NextAction(type="present_to_shopper", url=url, method="GET" if url else None, data=action)
    return NextAction(type="sdk", data=action)  # await, sdk, wechatpaySDK, delegatedAuthentication, new types
