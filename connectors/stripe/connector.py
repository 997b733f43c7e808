"""Stripe: PaymentIntents and Refunds (https://docs.stripe.com/api), form-encoded, pinned version.

A card authorization is two calls, because Stripe's PaymentIntent takes raw card details only
through a PaymentMethod: create the PaymentMethod, then create and confirm the PaymentIntent with it.
Declines come back as HTTP 402 `card_error` carrying the PaymentIntent; they are answers, not faults.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, SecretStr

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
from connectors.kit.declines import decline
from connectors.kit.errors import STATUS_DECIDES, ErrorType, SidecarError, invalid_request
from connectors.kit.idempotency import gateway_key
from connectors.kit.masking import Sensitivity
from connectors.kit.metadata import MetadataLimits
from connectors.kit.models import (
    CaptureRequest,
    CardSummary,
    Channel,
    CompleteRequest,
    DeclineInfo,
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
from connectors.kit.webhooks import Secrets, WebhookRequest
from connectors.stripe.codes import CARD_ERROR_CODES, DECLINE_CODES

API_VERSION = "2025-09-30.clover"

PAYMENT_STATUS = {
    "requires_payment_method": PaymentStatus.STARTED,
    "requires_confirmation": PaymentStatus.STARTED,
    "requires_action": PaymentStatus.AUTHENTICATION_PENDING,
    "processing": PaymentStatus.AUTHORIZING,
    "requires_capture": PaymentStatus.AUTHORIZED,
    "canceled": PaymentStatus.VOIDED,
    "succeeded": PaymentStatus.CHARGED,
}

REFUND_STATUS = {
    "pending": RefundStatus.PENDING,
    "requires_action": RefundStatus.PENDING,
    "succeeded": RefundStatus.SUCCEEDED,
    "failed": RefundStatus.FAILED,
    "canceled": RefundStatus.FAILED,
}

# "Idempotency keys are up to 255 characters long" (https://docs.stripe.com/idempotency).
IDEMPOTENCY_KEY_LIMIT = 255

CANCELLATION_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer", "abandoned"})
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})

# Stripe's currencies, from https://docs.stripe.com/currencies. Amounts go in the currency's smallest
# unit ("to charge 10 USD, provide an amount value of 1000"), two decimals unless listed below.
_PRESENTMENT = (
    "USD AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BIF BMD BND BOB BRL BSD BWP BYN BZD CAD CDF "
    "CHF CLP CNY COP CRC CVE CZK DJF DKK DOP DZD EGP ETB EUR FJD FKP GBP GEL GIP GMD GNF GTQ GYD HKD HNL HTG "
    "HUF IDR ILS INR ISK JMD JPY KES KGS KHR KMF KRW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP "
    "MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD "
    "SCR SEK SGD SHP SLE SOS SRD STD SZL THB TJS TOP TRY TTD TWD TZS UAH UGX UYU UZS VND VUV WST XAF XCD XOF "
    "XPF YER ZAR ZMW"
).split()
# #zero-decimal: "provide amounts as an integer but without multiplying by 100" (MGA too, though ISO
# gives it two decimals: an MGA amount must then be whole ariary). UGX is on that list as well, but
# #special-cases, the more specific rule, says to send it with two decimals: it is below.
_ZERO_DECIMAL = "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF".split()
# #three-decimal: "these API calls require the least-significant (last) digit to be 0".
_THREE_DECIMAL = "BHD JOD KWD OMR TND".split()
# #special-cases: ISK and UGX are in effect zero-decimal, still sent with two decimals, and "the amount
# value must be evenly divisible by 100" (ISK since 2023-04-14, also for refunds:
# https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds). HUF and TWD
# are charged with two decimals; their whole-unit rule is for payouts, which the sidecar does not make.
CURRENCIES = GatewayCurrencies(
    "stripe",
    exponents={**dict.fromkeys(_PRESENTMENT, 2), **dict.fromkeys(_ZERO_DECIMAL, 0), **dict.fromkeys(_THREE_DECIMAL, 3)},
    steps={**dict.fromkeys(_THREE_DECIMAL, 10), "ISK": 100, "UGX": 100},
)

# https://docs.stripe.com/api/metadata: "up to 50 keys, with key names up to 40 characters long and values
# up to 500 characters long"; "you can't use square brackets ([ and ]) in keys".
METADATA_LIMITS = MetadataLimits(
    "stripe", max_pairs=50, max_key_length=40, max_value_length=500, forbidden_key_chars="[]"
)

# Only a Stripe Customer's own id can go in `customer`; any other customer id is kept in metadata.
_CUSTOMER_ID = re.compile(r"cus_[A-Za-z0-9]{1,250}")
# https://docs.stripe.com/get-started/account/statement-descriptors: Latin characters, at least one
# letter, none of < > \ ' " *; the 22-character limit is the canonical model's.
_STATEMENT_DESCRIPTOR = re.compile(r"(?=.*[A-Za-z])[\x20-\x7e]+")
_DESCRIPTOR_FORBIDDEN = set("<>\\'\"*")


class StripeCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_key: SecretStr = Field(description="Secret (sk_...) or restricted (rk_...) key.")
    webhook_secret: Secrets = Field(
        default=(), description="The webhook endpoint's signing secret (whsec_...), or a list of them while rotating."
    )


class Stripe(Connector):
    name = "stripe"
    Credentials = StripeCredentials
    default_base_url = "https://api.stripe.com"
    public_api = PublicApi(hosts=("api.stripe.com",))  # base URLs carry no version: paths start /v1/
    sensitive_fields = {
        "number": Sensitivity.PAN,
        "cvc": Sensitivity.DROP,
        "client_secret": Sensitivity.SECRET,
        "email": Sensitivity.PERSONAL,
        "receipt_email": Sensitivity.PERSONAL,
        "phone": Sensitivity.PERSONAL,
        "name": Sensitivity.PERSONAL,
        "line1": Sensitivity.PERSONAL,
        "line2": Sensitivity.PERSONAL,
        "network_transaction_id": Sensitivity.GATEWAY_ID,  # card networks' ids: 15 digits for Visa
        # Tokens that stand for a card, a Link wallet, an account or a person; an encrypted PIN block.
        "token": Sensitivity.SECRET,
        "persistent_token": Sensitivity.SECRET,
        "account_token": Sensitivity.SECRET,
        "person_token": Sensitivity.SECRET,
        "encrypted_number": Sensitivity.DROP,
    }
    secret_headers = frozenset({"authorization"})
    currencies = CURRENCIES
    metadata_limits = METADATA_LIMITS
    id_patterns = {"payment": re.compile(r"pi_[A-Za-z0-9]{1,250}"), "refund": re.compile(r"re_[A-Za-z0-9]{1,250}")}
    conformance = Conformance(
        spec=ApiSpec(
            "stripe.openapi.json",
            operations=frozenset(
                {
                    "PostPaymentMethods",
                    "PostPaymentIntents",
                    "GetPaymentIntentsIntent",
                    "PostPaymentIntentsIntentConfirm",
                    "PostPaymentIntentsIntentCapture",
                    "PostPaymentIntentsIntentCancel",
                    "PostRefunds",
                    "GetRefundsRefund",
                }
            ),
            closed_objects=True,
            not_secret={
                "key": "a Checkout custom field's key: the merchant's own name for the field",
                "lookup_key": "a Price's lookup key: the merchant's own label for the price",
            },
        ),
        three_ds_card="4000000000003220",  # https://docs.stripe.com/testing#regulatory-cards: 3DS2 required
    )

    # -- operations -------------------------------------------------------------------------------

    def authorize(self, req: PaymentRequest, ctx: CallContext) -> Exchange[Payment]:
        amount = self.to_gateway(req.amount, "amount")
        own = {"sidecar_reference": req.reference}
        customer = req.customer.id if req.customer and req.customer.id else None
        if customer and not _CUSTOMER_ID.fullmatch(customer):
            own["sidecar_customer_id"], customer = customer, None
        intent: dict[str, Any] = {
            "amount": amount,
            "currency": req.amount.currency.lower(),
            "payment_method_types": ["card"],
            "confirm": True,
            "capture_method": req.capture.value,
            "metadata": self.metadata(req.metadata, own),
            "expand": ["latest_charge"],
        }
        if customer:
            intent["customer"] = customer
        if req.description:
            intent["description"] = req.description
        if req.statement_descriptor:
            # For card payments Stripe takes only a suffix to the account's own descriptor.
            intent["statement_descriptor_suffix"] = _statement_descriptor(req.statement_descriptor)
        if req.return_url:
            intent["return_url"] = req.return_url
        if req.three_ds:
            intent["payment_method_options"] = {"card": {"request_three_d_secure": "any"}}
        if req.channel in (Channel.IOS, Channel.ANDROID):
            # The app's Stripe SDK handles the action, then the server confirms (complete): use_stripe_sdk is
            # "only when using manual confirmation and the iOS or Android SDKs to handle additional
            # authentication steps" (https://docs.stripe.com/api/payment_intents/create).
            intent |= {"use_stripe_sdk": True, "confirmation_method": "manual"}
        # browser, shopper_ip and origin have no field here: Stripe collects the device's data for 3-D Secure 2
        # itself, on its page or in its SDKs (https://support.stripe.com/questions/3d-secure-2-device-information).
        # mandate_data[customer_acceptance][online] takes an IP address and user agent only for "the Mandate to
        # create", and a one-off card payment creates none.
        card = req.payment_method.card
        method = {
            "type": "card",
            "card": {
                "number": card.number,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "cvc": card.cvc,
            },
            "billing_details": self._billing_details(req),
        }
        resp = yield self._post(
            ctx, "/v1/payment_methods", method, key_step="payment_method", step="create payment method"
        )
        if resp.status == 402 and (error := self._error_object(resp)).get("type") == "card_error":
            # Stripe refused the card (number, expiry, CVC) before any payment existed: a decline with no
            # id, the app's reference its handle (API.md v1.1).
            return Payment(
                connector=self.name,
                status=PaymentStatus.AUTHORIZATION_FAILED,
                reference=req.reference,
                amount=req.amount,
                connector_status=error["type"],
                error=_decline(error),
            )
        if resp.status != 200:
            raise self._error(resp)
        pm_id = self.json_object(resp).get("id")
        if not isinstance(pm_id, str):
            raise self.unusable("a PaymentMethod id")
        intent["payment_method"] = pm_id
        resp = yield self._post(ctx, "/v1/payment_intents", intent, step="create payment intent")
        return self._payment(resp)

    def sync(self, payment_id: str, ctx: CallContext) -> Exchange[Payment]:
        resp = yield self._get(ctx, f"/v1/payment_intents/{segment(payment_id)}", {"expand": ["latest_charge"]})
        return self._payment(resp)

    def capture(self, payment_id: str, req: CaptureRequest, ctx: CallContext) -> Exchange[Payment]:
        params: dict[str, Any] = {"expand": ["latest_charge"]}
        if req.amount is not None:
            params["amount_to_capture"] = self.to_gateway(req.amount, "amount")
            yield from self._payment_in_currency(payment_id, req.amount, ctx)
        resp = yield self._post(ctx, f"/v1/payment_intents/{segment(payment_id)}/capture", params)
        return self._payment(resp)

    def void(self, payment_id: str, req: VoidRequest, ctx: CallContext) -> Exchange[Payment]:
        params: dict[str, Any] = {"expand": ["latest_charge"]}
        # Stripe's cancel takes one of its own reasons and nothing else: free text has nowhere to go.
        if req.reason in CANCELLATION_REASONS:
            params["cancellation_reason"] = req.reason
        resp = yield self._post(ctx, f"/v1/payment_intents/{segment(payment_id)}/cancel", params)
        return self._payment(resp)

    def refund(self, payment_id: str, req: RefundRequest, ctx: CallContext) -> Exchange[Refund]:
        if req.capture_id is not None:
            # Stripe captures have no id of their own (no operation_id is ever returned): a payment has one
            # capture and refunds come out of it, so any capture_id names something Stripe does not have.
            raise invalid_request(
                "stripe refunds a payment, not a capture: leave capture_id out",
                path="capture_id",
                detail="stripe captures have no id of their own",
            )
        params: dict[str, Any] = {"payment_intent": payment_id}
        reference = req.reference
        if req.amount is not None:
            params["amount"] = self.to_gateway(req.amount, "amount")
            intent = yield from self._payment_in_currency(payment_id, req.amount, ctx)
            reference = reference or _reference(intent)
        own: dict[str, str] = {}
        if reference:
            own["sidecar_reference"] = reference
        if req.reason in REFUND_REASONS:
            params["reason"] = req.reason
        elif req.reason:
            own["sidecar_reason"] = req.reason  # free text: Stripe's refund has no field for it but metadata
        if own:
            params["metadata"] = self.metadata(None, own)
        resp = yield self._post(ctx, "/v1/refunds", params)
        return self._refund(resp)

    def refund_sync(self, refund_id: str, ctx: CallContext) -> Exchange[Refund]:
        resp = yield self._get(ctx, f"/v1/refunds/{segment(refund_id)}", {})
        return self._refund(resp)

    def complete(self, req: CompleteRequest, ctx: CallContext) -> Exchange[Payment]:
        """Reads the PaymentIntent the shopper came back for, and confirms it where Stripe waits for that
        (manual confirmation, after the app's SDK handled the action). The return's `redirect_status` is never
        trusted: the PaymentIntent's own status decides."""
        path = f"/v1/payment_intents/{segment(_completed_intent(self, req))}"
        resp = yield self._get(ctx, path, {"expand": ["latest_charge"]}, step="read payment intent")
        if resp.status == 200 and self.json_object(resp).get("status") == "requires_confirmation":
            params = {"expand": ["latest_charge"]}
            resp = yield self._post(ctx, path + "/confirm", params, key_step="confirm", step="confirm payment intent")
        return self._payment(resp)

    def webhook(self, req: WebhookRequest, ctx: CallContext) -> Exchange[list[WebhookEvent]]:
        from connectors.stripe import webhooks  # it builds on this module's tables

        yield from ()  # verified locally: no call to Stripe
        return webhooks.events(self, req, ctx.credentials.webhook_secret)

    def _payment_in_currency(self, payment_id: str, amount: Money, ctx: CallContext) -> Exchange[dict[str, Any]]:
        """Stripe's captures and refunds carry no currency: its record of the payment is read first, so that
        an amount in another currency is refused before any money moves (API.md v1.1)."""
        resp = yield self._get(ctx, f"/v1/payment_intents/{segment(payment_id)}", {}, step="read payment currency")
        if resp.status != 200:
            raise self._error(resp)
        intent = self.json_object(resp)
        currency = intent.get("currency")
        if not isinstance(currency, str):
            raise self.unusable("the payment's currency")
        self.same_currency(amount, currency.upper(), "amount")
        return intent

    # -- requests ---------------------------------------------------------------------------------

    def auth_headers(self, credentials: StripeCredentials) -> dict[str, str]:
        return {"Authorization": f"Bearer {credentials.api_key.get_secret_value()}"}

    def _headers(self, ctx: CallContext) -> dict[str, str]:
        return {**self.auth_headers(ctx.credentials), "Stripe-Version": API_VERSION, "Accept": "application/json"}

    def _post(
        self, ctx: CallContext, path: str, params: dict[str, Any], *, key_step: str = "", step: str = ""
    ) -> GatewayRequest:
        headers = self._headers(ctx)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        if ctx.idempotency_key:
            # Each call of a multi-call operation needs its own key, stable across the app's retries.
            key = gateway_key(ctx.idempotency_key, IDEMPOTENCY_KEY_LIMIT, key_step)
            headers["Idempotency-Key"] = key
        body = form_encode(params).encode()
        return GatewayRequest("POST", ctx.base_url + path, headers, body, step)

    def _get(self, ctx: CallContext, path: str, params: dict[str, Any], step: str = "") -> GatewayRequest:
        query = form_encode(params)
        return GatewayRequest(
            "GET", ctx.base_url + path + ("?" + query if query else ""), self._headers(ctx), step=step
        )

    def _billing_details(self, req: PaymentRequest) -> dict[str, Any]:
        details: dict[str, Any] = {}
        name = req.payment_method.card.holder_name or (req.customer.name if req.customer else None)
        if name:
            details["name"] = name
        if req.customer and req.customer.email:
            details["email"] = req.customer.email
        if phone := self.phone(req):
            details["phone"] = phone
        if req.billing_address:
            details["address"] = req.billing_address.model_dump(exclude_none=True)
        return details

    # -- answers ----------------------------------------------------------------------------------

    def _payment(self, resp: GatewayResponse) -> Payment:
        if resp.status == 200:
            return self._payment_from_intent(self.json_object(resp))
        if resp.status == 402:
            error = self._error_object(resp)
            intent = error.get("payment_intent")
            if isinstance(intent, dict) and intent.get("id"):
                return self._payment_from_intent(intent, decline=_decline(error))
        raise self._error(resp)

    def _payment_from_intent(self, pi: dict[str, Any], decline: DeclineInfo | None = None) -> Payment:
        try:
            connector_status = pi["status"]
            payment_id = pi["id"]
            currency = pi["currency"]
        except (KeyError, TypeError, AttributeError):
            raise self.unusable("a usable PaymentIntent") from None
        amount = self.from_gateway(pi.get("amount"), currency)
        received = self.from_gateway(pi.get("amount_received") or 0, currency)
        status = PAYMENT_STATUS.get(connector_status, PaymentStatus.UNRESOLVED)
        if decline is None and pi.get("last_payment_error") and connector_status == "requires_payment_method":
            decline = _decline(pi["last_payment_error"])
        if decline is not None and connector_status == "requires_payment_method":
            status = PaymentStatus.AUTHORIZATION_FAILED
        if status is PaymentStatus.CHARGED and received.minor < amount.minor:
            status = PaymentStatus.PARTIALLY_CHARGED

        charge = pi.get("latest_charge") if isinstance(pi.get("latest_charge"), dict) else {}
        card = ((charge.get("payment_method_details") or {}).get("card")) or {}
        refunded = self.from_gateway(_refunded(charge), currency)
        action = _next_action(pi.get("next_action")) if status is PaymentStatus.AUTHENTICATION_PENDING else None
        if action is not None and action.type == "sdk" and isinstance(pi.get("client_secret"), str):
            # Stripe's client SDKs handle the action by the PaymentIntent's client secret, made to be handed over.
            action = action.model_copy(update={"data": {**(action.data or {}), "client_secret": pi["client_secret"]}})
        return Payment(
            id=payment_id,
            connector=self.name,
            status=status,
            reference=_reference(pi),
            amount=amount,
            captured=received if received.minor else None,
            refunded=refunded if refunded.minor else None,
            card=CardSummary(
                brand=card.get("brand"),
                last4=card.get("last4"),
                exp_month=card.get("exp_month"),
                exp_year=card.get("exp_year"),
            )
            if card
            else None,
            redirect=redirect_of(action),
            next_action=action,
            network_transaction_id=card.get("network_transaction_id"),
            connector_status=connector_status,
            error=decline,
        )

    def _refund(self, resp: GatewayResponse) -> Refund:
        if resp.status != 200:
            raise self._error(resp)
        re = self.json_object(resp)
        try:
            connector_status = re["status"]
            refund_id = re["id"]
        except (KeyError, TypeError, AttributeError):
            raise self.unusable("a usable Refund") from None
        money = self.from_gateway(re.get("amount"), re.get("currency"))
        status = REFUND_STATUS.get(connector_status, RefundStatus.MANUAL_REVIEW)
        error = None
        if status is RefundStatus.FAILED and re.get("failure_reason"):
            error = DeclineInfo(
                code="refund_failed",
                message=f"refund failed: {re['failure_reason']}",
                connector_code=re["failure_reason"],
            )
        return Refund(
            id=refund_id,
            payment_id=re.get("payment_intent"),
            connector=self.name,
            status=status,
            amount=money,
            connector_status=connector_status,
            error=error,
        )

    def _error_object(self, resp: GatewayResponse) -> dict[str, Any]:
        error = self.json_object(resp).get("error")
        if not isinstance(error, dict):
            raise self.unparseable(resp)
        return error

    def _error(self, resp: GatewayResponse) -> SidecarError:
        """Stripe's error answers (https://docs.stripe.com/api/errors), each with what it says of the call."""
        try:
            error = self._error_object(resp)
        except SidecarError as e:
            return e
        message = f"stripe: {error.get('message') or error.get('type') or 'error'}"
        details = _error_details(error)
        if resp.status in STATUS_DECIDES:
            return self.status_error(resp, message, details)
        if resp.status == 409:
            # "The request conflicts with another request (perhaps due to using the same idempotent key)":
            # `idempotency_key_in_use`, the first call with this key is still running. It may yet succeed.
            return SidecarError(
                ErrorType.REQUEST_IN_PROGRESS, message, connector=self.name, details=details, outcome="unknown"
            )
        client_error = 400 <= resp.status < 500  # a 5xx says nothing certain, whatever its body
        if client_error and error.get("type") == "idempotency_error":
            # The key was used with another endpoint or other parameters; Stripe did nothing with this call.
            return SidecarError(
                ErrorType.IDEMPOTENCY_CONFLICT, message, connector=self.name, details=details, outcome="not_processed"
            )
        if client_error and (resp.status == 402 or error.get("type") == "card_error"):
            # The card was refused before any payment existed: the request could not be processed.
            return SidecarError(
                ErrorType.GATEWAY_REJECTED, message, connector=self.name, details=details, outcome="not_processed"
            )
        if resp.status == 400 and error.get("code") == "resource_missing":
            return SidecarError(ErrorType.NOT_FOUND, message, connector=self.name, outcome="not_processed")
        return self.status_error(resp, message, details)


# What Stripe adds to the return_url when it sends the shopper back (its accept-a-payment guide, "payment_intent,
# payment_intent_client_secret, redirect_status"): an app may pass the return's query on as it came.
_RETURN_PARAMETERS = frozenset({"payment_intent", "payment_intent_client_secret", "redirect_status"})


def _completed_intent(stripe: Stripe, req: CompleteRequest) -> str:
    """The PaymentIntent a completion names: `payment_id`, or the return's `payment_intent`."""
    unknown = sorted(set(req.details) - _RETURN_PARAMETERS)
    if unknown:
        raise invalid_request(
            "stripe completes by payment_id; details takes only Stripe's return parameters",
            path=f"details.{unknown[0]}",
            detail="one of " + ", ".join(sorted(_RETURN_PARAMETERS)),
        )
    named = req.details.get("payment_intent")
    payment_id = req.payment_id or named
    if payment_id is None:
        raise invalid_request("stripe needs the PaymentIntent's id", path="payment_id", type="missing", detail="pi_...")
    if named is not None and named != payment_id:
        raise invalid_request(
            "details.payment_intent names another PaymentIntent than payment_id",
            path="details.payment_intent",
            detail="must be payment_id",
        )
    return stripe.check_id("payment", payment_id, "payment_id")


def _decline(error: dict[str, Any]) -> DeclineInfo:
    """A card error (or a PaymentIntent's last_payment_error) as a decline: the issuer's `decline_code`
    where Stripe gives one, else the error's own `code`. Only a card error is a refusal: any other error
    (3-D Secure failed, a processing error) keeps its own code in `connector_code`, never `card_declined`."""
    decline_code, code = error.get("decline_code"), error.get("code")
    message = error.get("message")
    refusal = error.get("type") == "card_error"
    if isinstance(decline_code, str) and decline_code:
        return decline(
            decline_code,
            DECLINE_CODES.get(decline_code),
            refusal=refusal,
            connector_message=message,
            connector_code=code,
            decline_code=decline_code,
        )
    code = code if isinstance(code, str) else ""
    kind = error.get("type") if isinstance(error.get("type"), str) else None
    return decline(
        code, CARD_ERROR_CODES.get(code), refusal=refusal, connector_message=message, connector_code=code or kind
    )


def _reference(intent: dict[str, Any]) -> str | None:
    # Payments made before the sidecar namespaced its keys carry the reference as `reference`.
    metadata = intent.get("metadata") or {}
    return metadata.get("sidecar_reference") or metadata.get("reference")


def _refunded(charge: dict[str, Any]) -> int:
    """What was refunded after capture, in Stripe's units. Stripe counts an uncaptured amount it released
    in `amount_refunded` too: all of it when the payment was voided, the rest after a partial capture
    ("any additional amount will be automatically refunded", https://docs.stripe.com/api/payment_intents/capture)."""
    if not charge.get("captured"):
        return 0
    released = (charge.get("amount") or 0) - (charge.get("amount_captured") or 0)
    return max((charge.get("amount_refunded") or 0) - released, 0)


def _statement_descriptor(text: str) -> str:
    if not _STATEMENT_DESCRIPTOR.fullmatch(text) or _DESCRIPTOR_FORBIDDEN & set(text):
        raise invalid_request(
            "stripe statement descriptors are Latin characters with at least one letter and none of < > \\ ' \" *",
            path="statement_descriptor",
            detail="https://docs.stripe.com/get-started/account/statement-descriptors",
        )
    return text


# Stripe's next_action types (payment_intent_next_action in its OpenAPI spec) by what the app must do:
# redirect the shopper, show them something (`*_display_*`, `verify_with_microdeposits`), or hand the
# object to Stripe's client SDK (`use_stripe_sdk`, app redirects, and any type Stripe adds later).
_REDIRECT_ACTIONS = frozenset({"redirect_to_url", "alipay_handle_redirect"})
# Where a display action's own page is, for apps that send the shopper there rather than render it.
_HOSTED_PAGE = ("hosted_instructions_url", "hosted_voucher_url", "hosted_verification_url")


def _next_action(next_action: Any) -> NextAction:
    """Stripe's `next_action` in API.md's form; `data` keeps Stripe's own object for Stripe's client SDKs."""
    if not isinstance(next_action, dict) or not isinstance(next_action.get("type"), str):
        return NextAction(type="sdk", data=next_action if isinstance(next_action, dict) else None)
    kind = next_action["type"]
    details = next_action.get(kind) if isinstance(next_action.get(kind), dict) else {}
    if kind in _REDIRECT_ACTIONS and isinstance(details.get("url"), str):
        return NextAction(type="redirect", url=details["url"], method="GET", data=next_action)
    if "display" in kind or kind == "verify_with_microdeposits":
        url = next((details[k] for k in _HOSTED_PAGE if isinstance(details.get(k), str)), None)
        return NextAction(type="present_to_shopper", url=url, method="GET" if url else None, data=next_action)
    return NextAction(type="sdk", data=next_action)


def _error_details(error: dict[str, Any]) -> list[ErrorDetail] | None:
    if not error.get("param") and not error.get("code"):
        return None
    return [
        ErrorDetail(
            path=error.get("param") or "",
            message=error.get("message") or "",
            type=error.get("code") or error.get("type") or "error",
        )
    ]


def form_encode(params: dict[str, Any]) -> str:
    """Stripe's form encoding: nested objects as `a[b][c]=v`, lists as `a[]=v`, empty objects left out."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}[{k}]" if prefix else k, v)
        elif isinstance(value, list):
            for v in value:
                walk(f"{prefix}[]", v)
        elif isinstance(value, bool):
            pairs.append((prefix, "true" if value else "false"))
        elif value is not None:
            pairs.append((prefix, str(value)))

    walk("", params)
    return urlencode(pairs)
