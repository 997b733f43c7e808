"""Checkout.com: the Payments API of current ("NAS") accounts, JSON, `Authorization: Bearer sk_...`
(`../shared/specs/checkout-com.openapi.json`; live https://api.checkout.com, sandbox https://api.sandbox.checkout.com).

A card payment is one call: `POST /payments` with the card as its `source` and `capture` false or true. Checkout.com
answers 201 with the result (approved or declined: both are answers) or 202 `Pending` with `_links.redirect` when the
shopper must authenticate (3-D Secure); once the shopper is back, the payment is read (`complete`). Captures, voids
and refunds are asynchronous: 202 with the action's id (`act_...`), the outcome later by webhook or in the payment
and its actions. They map to `capture_initiated`, `void_initiated` and refund `pending`, the action id as
`operation_id`. A refund is read back from its payment's actions, so its id carries both: `pay_...~act_...`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.checkout import codes
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
from connectors.kit.contact import calling_code
from connectors.kit.errors import STATUS_DECIDES, ErrorType, SidecarError, invalid_request
from connectors.kit.idempotency import gateway_key
from connectors.kit.masking import Sensitivity
from connectors.kit.metadata import MetadataLimits
from connectors.kit.models import (
    CaptureMethod,
    CaptureRequest,
    CardSummary,
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
from connectors.kit.money import ISO_EXPONENTS, GatewayCurrencies
from connectors.kit.webhooks import Secrets, WebhookRequest

# Checkout.com's currencies: the `Currency` enum of its official SDK (checkout-sdk 4.8.1, checkout_sdk/common/enums.py),
# those ISO 4217 still lists. Their units, https://www.checkout.com/docs/resources/calculating-the-amount ("Format the
# amount value", November 2025): these "the final amount, without any additional calculations"; these "divided by
# 1000" ("The last digit must always be a 0"); "for all other currencies, the amount you specify is divided by 100".
_SDK_CURRENCIES = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF "
    "CLF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL "
    "HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL "
    "MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON "
    "RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SOS SRD STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD "
    "UYU UZS VND VUV WST XAF XCD XOF XPF YER ZAR ZMW"
).split()
_FULL_AMOUNT = "BIF DJF GNF ISK JPY KMF KRW PYG RWF UGX VUV VND XAF XOF XPF".split()
_THOUSANDTHS = "BHD IQD JOD KWD LYD OMR TND".split()
# CLF is left out: the 2022 copies of that page count it in whole units, the 2025 one among "all other currencies".
# CLP is sent in hundredths like the other currencies: the page's note on it could not be read past "For CLP
# (Chilean Peso), t"; a whole peso is 100 of them, so whatever the note restricts further, nothing is rounded.
CURRENCIES = GatewayCurrencies(
    "checkout",
    exponents={
        **{c: 2 for c in _SDK_CURRENCIES if c in ISO_EXPONENTS and c != "CLF"},
        **dict.fromkeys(_FULL_AMOUNT, 0),
        **dict.fromkeys(_THOUSANDTHS, 3),
    },
    steps=dict.fromkeys(_THOUSANDTHS, 10),
)
# Same page: the amount must "not contain more than nine digits".
MAX_AMOUNT = 999_999_999

# The spec's PaymentRequest.metadata states no limits ("only allows one level of depth"): the canonical model's apply.
METADATA_LIMITS = MetadataLimits("checkout", max_pairs=50, max_key_length=40, max_value_length=500)

# Ids: PaymentId `^(pay)_(\w{26})$`, ActionId `^(act)_(\w{26})$`, a payment session `sid_` (GET /payments/{id}).
_ID = r"[A-Za-z0-9_]{26}"
PAYMENT_ID = re.compile(f"pay_{_ID}")
SESSION_ID = re.compile(f"sid_{_ID}")
ACTION_ID = re.compile(f"act_{_ID}")
REFUND_ID = re.compile(f"(pay_{_ID})~(act_{_ID})")
_CUSTOMER_ID = re.compile(f"cus_{_ID}")

# `Cko-Idempotency-Key` is declared on `POST /payments` only (components/parameters/ckoIdempotencyKey); its length is
# not stated: the kit's shortest mapping applies.
IDEMPOTENCY_HEADER = "Cko-Idempotency-Key"
IDEMPOTENCY_KEY_LIMIT = 64

# Checkout.com documents 403 on these as "Capture not allowed", "Void not allowed", "Refund not allowed": a business
# rule about the payment's state. API.md makes every 403 `gateway_authentication` whatever its body; the message
# says which of the two it may be.
_NOT_ALLOWED = {"capture", "void", "refund"}


class CheckoutAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")
    secret_key: SecretStr = Field(description="The secret API key (sk_... or sk_sbox_...), sent as a Bearer token.")
    processing_channel_id: str | None = Field(
        default=None, pattern=r"^pc_[A-Za-z0-9_]{26}$", description="The processing channel payments go through."
    )
    billing_descriptor_city: str | None = Field(
        default=None,
        min_length=1,
        max_length=13,
        description="The city Checkout.com's billing descriptor needs beside a statement_descriptor (at most 13).",
    )
    webhook_secret: Secrets = Field(
        default=(), description="The webhook's signature key (Cko-Signature), or a list of them while rotating."
    )


class Checkout(Connector):
    name = "checkout"
    Credentials = CheckoutAccount
    default_base_url = "https://api.checkout.com"
    # The shared hosts, and the merchant-specific ones ({prefix}.api[.sandbox].checkout.com) that checkout-sdk 4
    # sends to (checkout_sdk/environment_subdomain.py).
    public_api = PublicApi(
        hosts=("api.checkout.com", "api.sandbox.checkout.com", "*.api.checkout.com", "*.api.sandbox.checkout.com")
    )
    sensitive_fields = {
        "number": Sensitivity.PAN,
        "cvv": Sensitivity.DROP,
        "cryptogram": Sensitivity.DROP,  # a 3-D Secure or network token cryptogram
        "token": Sensitivity.SECRET,  # a card token (tok_...) stands for the card
        "name": Sensitivity.PERSONAL,
        "email": Sensitivity.PERSONAL,
        "address_line1": Sensitivity.PERSONAL,
        "address_line2": Sensitivity.PERSONAL,
        # The card networks' and acquirers' ids: digit runs that a card-number net could take for a card.
        "scheme_id": Sensitivity.GATEWAY_ID,
        "retrieval_reference_number": Sensitivity.GATEWAY_ID,
        "acquirer_reference_number": Sensitivity.GATEWAY_ID,
        "acquirer_transaction_id": Sensitivity.GATEWAY_ID,
    }
    secret_headers = frozenset({"authorization", "cko-signature"})
    currencies = CURRENCIES
    metadata_limits = METADATA_LIMITS
    id_patterns = {"payment": PAYMENT_ID, "capture": ACTION_ID, "refund": REFUND_ID}
    conformance = Conformance(
        spec=ApiSpec(
            "checkout-com.openapi.json",
            operations=frozenset(
                {
                    "requestAPaymentOrPayout",
                    "GET /payments/{id}",
                    "GET /payments/{id}/actions",
                    "POST /payments/{id}/captures",
                    "POST /payments/{id}/voids",
                    "POST /payments/{id}/refunds",
                }
            ),
            # POST /payments takes `oneOf [PaymentRequest, PayoutRequest]`: a card payment is the first.
            schemas={"requestAPaymentOrPayout": "PaymentRequest"},
        ),
    )

    def auth_headers(self, credentials: CheckoutAccount) -> dict[str, str]:
        return {"Authorization": f"Bearer {credentials.secret_key.get_secret_value()}"}

    # -- operations -------------------------------------------------------------------------------

    def authorize(self, req: PaymentRequest, ctx: CallContext) -> Exchange[Payment]:
        account: CheckoutAccount = ctx.credentials
        body: dict[str, Any] = {
            "source": self._source(req),
            "amount": self._amount(req.amount, "amount"),
            "currency": req.amount.currency,
            "capture": req.capture is CaptureMethod.AUTOMATIC,
            "reference": _fits(req.reference, 50, "reference"),
        }
        own: dict[str, str] = {}
        if req.customer:
            customer = {"email": req.customer.email, "name": req.customer.name}
            if req.customer.id and _CUSTOMER_ID.fullmatch(req.customer.id):
                customer["id"] = req.customer.id
            elif req.customer.id:
                own["sidecar_customer_id"] = req.customer.id  # only a Checkout.com customer's own id fits `id`
            if customer := {k: v for k, v in customer.items() if v}:
                body["customer"] = customer
        if req.description:
            body["description"] = _fits(req.description, 100, "description")
        if req.statement_descriptor:
            body["billing_descriptor"] = _descriptor(req.statement_descriptor, account)
        if req.three_ds is not None:
            body["3ds"] = {"enabled": req.three_ds}
        if req.return_url:
            # Where the shopper comes back after 3-D Secure, with `cko-session-id` added for `complete`.
            body["success_url"] = body["failure_url"] = _fits(req.return_url, 255, "return_url")
        if req.shopper_ip:
            body["payment_ip"] = str(req.shopper_ip)
        if account.processing_channel_id:
            body["processing_channel_id"] = account.processing_channel_id
        if req.metadata or own:
            body["metadata"] = self.metadata(req.metadata, own)
        resp = yield self._post(ctx, "/payments", body, idempotent=True)
        return self._payment(resp, ctx, sent=body, automatic=req.capture is CaptureMethod.AUTOMATIC)

    def sync(self, payment_id: str, ctx: CallContext) -> Exchange[Payment]:
        resp = yield self._get(ctx, f"/payments/{segment(payment_id)}")
        return self._payment(resp, ctx)

    def complete(self, req: CompleteRequest, ctx: CallContext) -> Exchange[Payment]:
        """The payment read after the shopper came back from 3-D Secure: by the `cko-session-id` Checkout.com adds to
        the success or failure URL, or by the payment's id."""
        unknown = sorted(set(req.details) - {"cko-session-id"})
        if unknown:
            raise invalid_request(
                "checkout.com completes a payment by its cko-session-id only",
                path=f"details.{unknown[0][:40]}",
                detail="details takes cko-session-id (the query parameter of the shopper's return)",
                type="extra_forbidden",
            )
        session = req.details.get("cko-session-id")
        if session is not None:
            if not SESSION_ID.fullmatch(session):
                raise invalid_request(
                    "cko-session-id is not a Checkout.com session id",
                    path="details.cko-session-id",
                    detail=f"Checkout.com session ids match {SESSION_ID.pattern}",
                )
            ref = session
        elif req.payment_id is not None:
            ref = self.check_id("payment", req.payment_id, "payment_id")
        else:
            raise invalid_request(
                "checkout.com needs the cko-session-id of the shopper's return, or the payment_id",
                path="details.cko-session-id",
                detail="required without payment_id",
                type="missing",
            )
        resp = yield self._get(ctx, f"/payments/{segment(ref)}", step="read payment after 3-D Secure")
        return self._payment(resp, ctx)

    def capture(self, payment_id: str, req: CaptureRequest, ctx: CallContext) -> Exchange[Payment]:
        body: dict[str, Any] = {}
        if req.amount is not None:
            body["amount"] = self._amount(req.amount, "amount")
            # A partial capture releases the rest of the authorization, as at Stripe: the app asked for this much.
            body["capture_type"] = "Final"
            yield from self._in_currency(payment_id, req.amount, ctx)
        if req.reference:
            body["reference"] = _fits(req.reference, 50, "reference")
        resp = yield self._post(ctx, f"/payments/{segment(payment_id)}/captures", body, step="capture")
        action_id = self._action_id(resp, "capture")
        return Payment(
            id=payment_id,
            operation_id=action_id,
            connector=self.name,
            status=PaymentStatus.CAPTURE_INITIATED,
            amount=req.amount,
            connector_status="Accepted",
        )

    def void(self, payment_id: str, req: VoidRequest, ctx: CallContext) -> Exchange[Payment]:
        body: dict[str, Any] = {}
        if req.reference:
            body["reference"] = _fits(req.reference, 50, "reference")
        if req.reason:
            body["metadata"] = self.metadata(None, {"sidecar_reason": req.reason})  # a void has no reason field
        resp = yield self._post(ctx, f"/payments/{segment(payment_id)}/voids", body, step="void")
        action_id = self._action_id(resp, "void")
        return Payment(
            id=payment_id,
            operation_id=action_id,
            connector=self.name,
            status=PaymentStatus.VOID_INITIATED,
            connector_status="Accepted",
        )

    def refund(self, payment_id: str, req: RefundRequest, ctx: CallContext) -> Exchange[Refund]:
        if req.capture_id is not None:
            # Accepted and not sent: Checkout.com refunds a card payment as a whole, whichever capture it came from.
            self.check_id("capture", req.capture_id, "capture_id")
        body: dict[str, Any] = {}
        if req.amount is not None:
            body["amount"] = self._amount(req.amount, "amount")
            yield from self._in_currency(payment_id, req.amount, ctx)
        if req.reference:
            body["reference"] = _fits(req.reference, 50, "reference")
        if req.reason:
            body["metadata"] = self.metadata(None, {"sidecar_reason": req.reason})  # a refund has no reason field
        resp = yield self._post(ctx, f"/payments/{segment(payment_id)}/refunds", body, step="refund")
        action_id = self._action_id(resp, "refund")
        return Refund(
            id=f"{payment_id}~{action_id}",
            operation_id=action_id,
            payment_id=payment_id,
            connector=self.name,
            status=codes.refund_status(None),
            amount=req.amount,
            connector_status="Accepted",
        )

    def refund_sync(self, refund_id: str, ctx: CallContext) -> Exchange[Refund]:
        match = REFUND_ID.fullmatch(self.check_id("refund", refund_id))
        assert match is not None  # check_id refused any other
        payment_id, action_id = match.groups()
        resp = yield self._get(ctx, f"/payments/{segment(payment_id)}/actions")
        if resp.status != 200:
            raise self._error(resp)
        try:
            actions = orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            raise self.unparseable(resp) from None
        if not isinstance(actions, list):
            raise self.unparseable(resp)
        action = next((a for a in actions if isinstance(a, dict) and a.get("id") == action_id), None)
        if action is None or action.get("type") != "Refund":
            raise SidecarError(
                ErrorType.NOT_FOUND,
                "checkout.com lists no such refund among the payment's actions",
                connector=self.name,
                outcome="not_processed",
            )
        status = codes.refund_status(action.get("approved"))
        code, summary = action.get("response_code"), action.get("response_summary")
        error = codes.response_decline(str(code), summary) if status is RefundStatus.FAILED and code else None
        currency = yield from self._payment_currency(payment_id, ctx)
        return Refund(
            id=refund_id,
            operation_id=action_id,
            payment_id=payment_id,
            connector=self.name,
            status=status,
            amount=self.from_gateway(action.get("amount"), currency),
            connector_status=summary if isinstance(summary, str) else status.value,
            error=error,
        )

    def webhook(self, req: WebhookRequest, ctx: CallContext) -> Exchange[list[WebhookEvent]]:
        from connectors.checkout import webhooks  # it builds on this module's tables

        yield from ()  # verified locally: no call to Checkout.com
        return webhooks.events(self, req, ctx.credentials.webhook_secret)

    def _in_currency(self, payment_id: str, amount: Money, ctx: CallContext) -> Exchange[None]:
        """Captures and refunds carry no currency: Checkout.com's record is read first, so that an amount in another
        currency is refused before any money moves (API.md v1.1)."""
        currency = yield from self._payment_currency(payment_id, ctx)
        self.same_currency(amount, currency, "amount")

    def _payment_currency(self, payment_id: str, ctx: CallContext) -> Exchange[str]:
        resp = yield self._get(ctx, f"/payments/{segment(payment_id)}", step="read payment currency")
        if resp.status != 200:
            raise self._error(resp)
        currency = self.json_object(resp).get("currency")
        if not isinstance(currency, str):
            raise self.unusable("the payment's currency")
        return currency.upper()

    # -- requests ---------------------------------------------------------------------------------

    def _amount(self, money: Money, path: str) -> int:
        value = self.to_gateway(money, path)
        if value > MAX_AMOUNT:
            raise invalid_request(
                f"checkout.com takes amounts of at most nine digits ({MAX_AMOUNT} in its units)",
                path=f"{path}.minor",
                detail="https://www.checkout.com/docs/resources/calculating-the-amount",
                type="not_representable",
            )
        return value

    def _source(self, req: PaymentRequest) -> dict[str, Any]:
        card = req.payment_method.card
        source: dict[str, Any] = {
            "type": "card",
            "number": card.number,
            "expiry_month": card.exp_month,
            "expiry_year": card.exp_year,
            "cvv": card.cvc,
        }
        if name := card.holder_name or (req.customer.name if req.customer else None):
            source["name"] = name
        if req.billing_address:
            source["billing_address"] = _address(req)
        if phone := self.phone(req):
            country_code, national = calling_code(phone)
            source["phone"] = {"country_code": country_code, "number": national}
        return source

    def _headers(self, ctx: CallContext) -> dict[str, str]:
        return {**self.auth_headers(ctx.credentials), "Accept": "application/json"}

    def _post(
        self, ctx: CallContext, path: str, body: dict[str, Any], *, idempotent: bool = False, step: str = ""
    ) -> GatewayRequest:
        headers = {**self._headers(ctx), "Content-Type": "application/json"}
        if idempotent and ctx.idempotency_key:
            headers[IDEMPOTENCY_HEADER] = gateway_key(ctx.idempotency_key, IDEMPOTENCY_KEY_LIMIT)
        return GatewayRequest("POST", ctx.base_url + path, headers, orjson.dumps(body), step)

    def _get(self, ctx: CallContext, path: str, step: str = "") -> GatewayRequest:
        return GatewayRequest("GET", ctx.base_url + path, self._headers(ctx), step=step)

    # -- answers ----------------------------------------------------------------------------------

    def _payment(
        self, resp: GatewayResponse, ctx: CallContext, *, sent: dict[str, Any] | None = None, automatic: bool = False
    ) -> Payment:
        """A payment from `POST /payments` (201 a result, 202 pending) or `GET /payments/{id}` (200)."""
        if resp.status not in (200, 201, 202):
            raise self._error(resp, keyed=sent is not None and bool(ctx.idempotency_key))
        data = self.json_object(resp)
        payment_id = data.get("id")
        if not isinstance(payment_id, str):
            raise self.unusable("a payment id")
        if sent is not None and ctx.idempotency_key:
            self._same_call(data, sent)
        word = data.get("status")
        status = codes.payment_status(word)
        links = data.get("_links") if isinstance(data.get("_links"), dict) else {}
        redirect = (links.get("redirect") or {}).get("href") if isinstance(links.get("redirect"), dict) else None
        action = None
        if status is PaymentStatus.PENDING and isinstance(redirect, str):
            status = PaymentStatus.AUTHENTICATION_PENDING
            action = NextAction(type="redirect", url=redirect, method="GET", data={"_links": links})
        amount = captured = refunded = None
        if "amount" in data or sent is None:
            currency = data.get("currency")
            amount = self.from_gateway(data.get("amount"), currency)
            balances = data.get("balances") if isinstance(data.get("balances"), dict) else {}
            captured = self.from_gateway(balances.get("total_captured", 0), currency)
            refunded = self.from_gateway(balances.get("total_refunded", 0), currency)
            if status is PaymentStatus.CHARGED and not balances:
                captured = amount  # a payment answered Captured before any balance was kept
        else:  # a 202 carries no amount: it is the one sent
            amount = self.from_gateway(sent["amount"], sent["currency"])
        if status is PaymentStatus.AUTHORIZED and automatic:
            # Checkout.com captures an approved `capture: true` payment on its own, shortly after: settled by the
            # payment_captured webhook, or seen in a sync.
            status = PaymentStatus.CAPTURE_INITIATED
        if status is PaymentStatus.CHARGED and captured and amount and captured.minor < amount.minor:
            status = PaymentStatus.PARTIALLY_CHARGED
        error = None
        if status is PaymentStatus.AUTHORIZATION_FAILED:
            error = codes.response_decline(*_response(data))
        return Payment(
            id=payment_id,
            connector=self.name,
            status=status,
            reference=_text(data.get("reference")),
            amount=amount,
            captured=captured if captured and captured.minor else None,
            refunded=refunded if refunded and refunded.minor else None,
            card=_card(data.get("source")),
            redirect=redirect_of(action),
            next_action=action,
            network_transaction_id=_text(data.get("scheme_id")),
            connector_status=word,
            error=error,
        )

    def _same_call(self, data: dict[str, Any], sent: dict[str, Any]) -> None:
        """Checkout.com answers a known `Cko-Idempotency-Key` with the first call's answer; its page documents no
        comparison of the bodies. Where the answer echoes what was sent and differs, it is another call's: 409
        idempotency_conflict, and this call did nothing."""
        differ = sorted(k for k in ("amount", "currency", "reference") if k in data and data[k] != sent.get(k))
        if differ:
            raise SidecarError(
                ErrorType.IDEMPOTENCY_CONFLICT,
                f"checkout.com answered with the result of another call made with this Idempotency-Key "
                f"({', '.join(differ)} differ); this call was not processed",
                connector=self.name,
                outcome="not_processed",
            )

    def _action_id(self, resp: GatewayResponse, action: str) -> str:
        if resp.status != 202:
            raise self._error(resp, action=action)
        action_id = self.json_object(resp).get("action_id")
        if not isinstance(action_id, str) or not ACTION_ID.fullmatch(action_id):
            raise self.unusable(f"the {action}'s action_id")
        return action_id

    def _error(self, resp: GatewayResponse, *, keyed: bool = False, action: str = "") -> SidecarError:
        """Checkout.com's error answers: 401 (no body), 403 on an action ("not allowed"), 404, 422 and 429 with
        `{"request_id", "error_type", "error_codes"}`, 5xx."""
        if resp.status == 429 and keyed:
            # Its idempotency page: "only one request will be processed and the other requests will return a 429
            # Too many requests response". With a key, the first call may still be running and may yet move money.
            return SidecarError(
                ErrorType.REQUEST_IN_PROGRESS,
                "checkout.com is still processing a request with this Idempotency-Key (HTTP 429)",
                connector=self.name,
                outcome="unknown",
            )
        if resp.status == 403 and action in _NOT_ALLOWED:
            return SidecarError(
                ErrorType.GATEWAY_AUTHENTICATION,
                f"checkout.com refused this {action} (HTTP 403): its payment's state does not allow it, or the key "
                "may not make it",
                connector=self.name,
                outcome="not_processed",
            )
        try:
            data = orjson.loads(resp.body) if resp.body.strip() else {}
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            return self.unparseable(resp)
        kind, error_codes = data.get("error_type"), data.get("error_codes")
        error_codes = [c for c in error_codes if isinstance(c, str)] if isinstance(error_codes, list) else []
        message = f"checkout.com: {kind or 'error'} (HTTP {resp.status})" + (
            f": {', '.join(error_codes)}" if error_codes else ""
        )
        details = [ErrorDetail(path=_field(c), message=c, type=str(kind or "error")) for c in error_codes] or None
        known = codes.ERROR_TYPES.get(kind) if isinstance(kind, str) else None
        if resp.status in STATUS_DECIDES or not 400 <= resp.status < 500 or known is None:
            return self.status_error(resp, message, details)
        unknown = known in (ErrorType.REQUEST_IN_PROGRESS, ErrorType.GATEWAY_ERROR)
        return SidecarError(
            known, message, connector=self.name, details=details, outcome="unknown" if unknown else "not_processed"
        )


def _fits(text: str, limit: int, path: str) -> str:
    if len(text) > limit:
        raise invalid_request(
            f"checkout.com takes a {path} of at most {limit} characters",
            path=path,
            detail=f"at most {limit} characters for checkout.com",
            type="string_too_long",
        )
    return text


def _descriptor(text: str, account: CheckoutAccount) -> dict[str, str]:
    # BillingDescriptor: `name` (at most 25) and `city` (at most 13), both required.
    if not account.billing_descriptor_city:
        raise invalid_request(
            "checkout.com's billing descriptor needs the merchant's city beside the name",
            path="statement_descriptor",
            detail="set billing_descriptor_city on the checkout account to send a statement_descriptor",
        )
    return {"name": text, "city": account.billing_descriptor_city}


# The canonical address's parts, Checkout.com's `Address` names and its limits (None: none stated).
_ADDRESS = {
    "line1": ("address_line1", 200),
    "line2": ("address_line2", 200),
    "city": ("city", 50),
    "state": ("state", None),
    "postal_code": ("zip", 50),
    "country": ("country", None),
}


def _address(req: PaymentRequest) -> dict[str, str]:
    given = req.billing_address.model_dump(exclude_none=True) if req.billing_address else {}
    result = {}
    for ours, value in given.items():
        theirs, limit = _ADDRESS[ours]
        result[theirs] = _fits(value, limit, f"billing_address.{ours}") if limit else value
    return result


def _card(source: Any) -> CardSummary | None:
    if not isinstance(source, dict) or source.get("type") != "card":
        return None
    scheme = source.get("scheme")
    return CardSummary(
        brand=scheme.lower() if isinstance(scheme, str) else None,
        last4=_text(source.get("last4")),
        exp_month=source.get("expiry_month") if isinstance(source.get("expiry_month"), int) else None,
        exp_year=source.get("expiry_year") if isinstance(source.get("expiry_year"), int) else None,
    )


def _response(data: dict[str, Any]) -> tuple[str, str | None]:
    """The response code and summary of a payment's authorization: in the answer to `POST /payments`, or in the
    summary of actions a payment read by its session id carries (latest first); ("", None) where neither has it."""
    actions = data.get("actions") if isinstance(data.get("actions"), list) else []
    summaries = [a for a in actions if isinstance(a, dict) and a.get("type") in ("Authorization", "Card Verification")]
    found = data if "response_code" in data else (summaries[0] if summaries else {})
    return str(found.get("response_code") or ""), _text(found.get("response_summary"))


def _field(error_code: str) -> str:
    """The field an error code names, by the spec's own pattern (`some_field_required`, `some_field_invalid`)."""
    return re.sub(r"_(required|invalid)$", "", error_code)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
