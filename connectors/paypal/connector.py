"""PayPal: Orders v2 and Payments v2 (https://developer.paypal.com/docs/api/orders/v2/ and /payments/v2/),
JSON, with OAuth 2.0 client-credentials tokens (connectors/kit/auth.py).

A card payment is one PayPal order. `POST /v2/checkout/orders` with the card as `payment_source` and
`intent` AUTHORIZE (manual capture) or CAPTURE (automatic) authorizes or captures at once (a "single-step"
order, for which PayPal-Request-Id is mandatory), unless 3-D Secure stops it at PAYER_ACTION_REQUIRED with
a `payer-action` link; `complete` then authorizes or captures the approved order. The canonical payment id
is the order id: a capture and a void go to the order's authorization, a refund to one of its captures,
each found by reading the order first (one more call). A capture's id is its operation_id; a refund names
one capture (`capture_id`) or goes to the one capture that can take it, never to several.
"""

from __future__ import annotations

import functools
import re
import secrets
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from connectors.kit.auth import basic_auth, client_credentials, read_token, with_token
from connectors.kit.conformance import ApiSpec, Conformance
from connectors.kit.connector import (
    CallContext,
    Connector,
    Exchange,
    GatewayRequest,
    GatewayResponse,
    PublicApi,
    TokenStep,
    redirect_of,
    segment,
)
from connectors.kit.declines import DeclineCode, decline
from connectors.kit.errors import ErrorType, SidecarError, invalid_request
from connectors.kit.idempotency import gateway_key
from connectors.kit.masking import Sensitivity
from connectors.kit.metadata import MetadataLimits
from connectors.kit.models import (
    Address,
    CaptureMethod,
    CaptureRequest,
    CardSummary,
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
from connectors.kit.money import ISO_EXPONENTS, GatewayCurrencies
from connectors.kit.webhooks import WebhookRequest
from connectors.paypal import codes

TOKEN_PATH = "/v1/oauth2/token"  # the specs' securitySchemes.Oauth2 clientCredentials tokenUrl
# PayPal-Request-Id: `maxLength: 108` (Orders v2 spec, components/parameters/paypal_request_id). Orders keep
# it 6 hours, Payments (captures, refunds) 45 days.
IDEMPOTENCY_KEY_LIMIT = 108

# https://developer.paypal.com/docs/api/reference/currency-codes/: the currencies of the REST API; "1 This
# currency does not support decimals. If you pass a decimal amount, an error occurs." for HUF, JPY and TWD
# (ISO 4217: HUF and TWD have two). The rest count ISO's minor units, as decimal strings (`money.value`).
_CURRENCIES = "AUD BRL CAD CNY CZK DKK EUR HKD HUF ILS JPY MYR MXN TWD NZD NOK PHP PLN GBP RUB SGD SEK CHF THB USD"
CURRENCIES = GatewayCurrencies(
    "paypal",
    exponents={**{c: ISO_EXPONENTS[c] for c in _CURRENCIES.split()}, "HUF": 0, "JPY": 0, "TWD": 0},
)
# An order keeps no metadata: the app's reference goes in the purchase unit's `custom_id`.
METADATA_LIMITS = MetadataLimits("paypal", max_pairs=0, max_key_length=0, max_value_length=0)
# Orders v2 `id` path parameter: `^[A-Z0-9]+$`, at most 36 (authorizations, captures, refunds alike).
_ID = re.compile(r"[A-Z0-9]{1,36}")
_CUSTOM_ID, _DESCRIPTION = 127, 127  # purchase_unit_request.custom_id and .description maxLength

# Orders v2 `purchase_unit_request` and `address_portable` field names for the canonical address.
_ADDRESS = {
    "line1": "address_line_1",
    "line2": "address_line_2",
    "city": "admin_area_2",
    "state": "admin_area_1",
    "postal_code": "postal_code",
    "country": "country_code",
}


class PayPalCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_id: str = Field(min_length=1, description="The REST app's client id.")
    client_secret: SecretStr = Field(description="The REST app's secret.")
    webhook_id: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9]+$",
        description="The id of the app's webhook (Developer Dashboard): verify-webhook-signature needs it.",
    )


class PayPal(Connector):
    name = "paypal"
    Credentials = PayPalCredentials
    default_base_url = "https://api-m.paypal.com"  # live; https://api-m.sandbox.paypal.com for PayPal's sandbox
    public_api = PublicApi(hosts=("api-m.paypal.com", "api-m.sandbox.paypal.com"))
    sensitive_fields = {
        "number": Sensitivity.PAN,
        "security_code": Sensitivity.DROP,
        "cryptogram": Sensitivity.DROP,
        "access_token": Sensitivity.SECRET,
        "transmission_sig": Sensitivity.SECRET,  # a webhook's signature, in the verification call
        "alias_key": Sensitivity.SECRET,  # BLIK one-click: with the consumer reference, it pays
        "name": Sensitivity.PERSONAL,
        "given_name": Sensitivity.PERSONAL,
        "surname": Sensitivity.PERSONAL,
        "full_name": Sensitivity.PERSONAL,
        "email_address": Sensitivity.PERSONAL,
        "national_number": Sensitivity.PERSONAL,
        "address_line_1": Sensitivity.PERSONAL,
        "address_line_2": Sensitivity.PERSONAL,
    }
    secret_headers = frozenset({"authorization", "paypal-transmission-sig", "paypal-auth-assertion"})
    currencies = CURRENCIES
    metadata_limits = METADATA_LIMITS
    id_patterns = {"payment": _ID, "refund": _ID, "capture": _ID}
    conformance = Conformance(
        spec=ApiSpec(
            "paypal-orders-v2.openapi.json",
            also=("paypal-payments-v2.openapi.json",),
            not_secret={"token_requestor_id": "a network token's TRID: the merchant's id at the card network"},
            operations=frozenset(
                {
                    "orders.create",
                    "orders.get",
                    "orders.authorize",
                    "orders.capture",
                    "authorizations.capture",
                    "authorizations.void",
                    "captures.refund",
                    "refunds.get",
                }
            ),
        ),
    )

    # -- auth ---------------------------------------------------------------------------------------

    def auth_headers(self, credentials: PayPalCredentials) -> dict[str, str]:
        """The token call's credentials; every other call carries the token they buy (`token_step`)."""
        return {"Authorization": basic_auth(credentials.client_id, credentials.client_secret.get_secret_value())}

    def token_step(self, ctx: CallContext) -> TokenStep:
        creds: PayPalCredentials = ctx.credentials
        request = client_credentials(ctx.base_url + TOKEN_PATH, creds.client_id, creds.client_secret.get_secret_value())
        return TokenStep(request, functools.partial(read_token, self))

    # -- operations ---------------------------------------------------------------------------------

    def authorize(self, req: PaymentRequest, ctx: CallContext) -> Exchange[Payment]:
        amount = self._amount(req.amount, "amount")
        self.metadata(req.metadata, {})  # PayPal keeps none: 400 rather than dropped
        unit: dict[str, Any] = {"custom_id": req.reference, "amount": amount}
        if req.description:
            unit["description"] = _within(req.description, _DESCRIPTION, "description")
        if req.statement_descriptor:
            unit["soft_descriptor"] = req.statement_descriptor
        intent = "AUTHORIZE" if req.capture is CaptureMethod.MANUAL else "CAPTURE"
        body = {"intent": intent, "purchase_units": [unit], "payment_source": {"card": self._card(req)}}
        resp = yield from self._call(ctx, "POST", "/v2/checkout/orders", body, key_step="", step="create order")
        if (refused := self._refusal(resp)) is not None:
            # Refused before PayPal made an order: a decline with no id, the app's reference its handle.
            return Payment(
                connector=self.name,
                status=PaymentStatus.AUTHORIZATION_FAILED,
                reference=req.reference,
                amount=req.amount,
                connector_status=refused.connector_code or "UNPROCESSABLE_ENTITY",
                error=refused,
            )
        order = self._answer(resp)
        self._same_call(ctx, _unit(order), req.amount, req.reference)
        return self._payment(order)

    def sync(self, payment_id: str, ctx: CallContext) -> Exchange[Payment]:
        return self._payment((yield from self._order(ctx, payment_id)))

    def capture(self, payment_id: str, req: CaptureRequest, ctx: CallContext) -> Exchange[Payment]:
        body: dict[str, Any] = {"final_capture": req.amount is None}  # a part leaves the rest capturable
        if req.amount is not None:
            body["amount"] = self._amount(req.amount, "amount")
        order = yield from self._order(ctx, payment_id)
        if req.amount is not None:
            self.same_currency(req.amount, _currency(order), "amount")
        authorization = self._authorization(order)
        path = f"/v2/payments/authorizations/{segment(authorization['id'])}/capture"
        resp = yield from self._call(ctx, "POST", path, body, key_step="capture", step="capture authorization")
        capture = self._answer(resp)
        self._same_call(ctx, capture, req.amount)
        captures = [c for c in _payments(order, "captures") if c.get("id") != capture.get("id")]
        return self._payment(_with(order, captures=[*captures, capture]), operation_id=capture.get("id"))

    def void(self, payment_id: str, req: VoidRequest, ctx: CallContext) -> Exchange[Payment]:
        # PayPal's void takes no reason, no reference and no PayPal-Request-Id (Payments v2 spec).
        order = yield from self._order(ctx, payment_id)
        authorization = self._authorization(order)
        path = f"/v2/payments/authorizations/{segment(authorization['id'])}/void"
        resp = yield from self._call(ctx, "POST", path, None, step="void authorization")
        if resp.status == 422 and codes.PREVIOUSLY_VOIDED in _issues(self._json(resp)):
            # A repeated void: the authorization's own state protects it. The payment as it now stands.
            order = yield from self._order(ctx, payment_id, step="read voided order")
            return self._payment(order, operation_id=authorization["id"])
        voided = self._answer(resp) if resp.status != 204 else {**authorization, "status": "VOIDED"}
        return self._payment(_with(order, authorizations=[voided]), operation_id=authorization["id"])

    def refund(self, payment_id: str, req: RefundRequest, ctx: CallContext) -> Exchange[Refund]:
        body: dict[str, Any] = {}
        if req.amount is not None:
            body["amount"] = self._amount(req.amount, "amount")
        if req.capture_id is not None:
            self.check_id("capture", req.capture_id, "capture_id")
        order = yield from self._order(ctx, payment_id)
        if req.amount is not None:
            self.same_currency(req.amount, _currency(order), "amount")
        capture_id = self._capture_to_refund(order, req)
        # The refund's custom_id: the app's reference for it, else the payment's. The reason is not sent:
        # PayPal's only text field on a refund is `note_to_payer`, shown to the payer.
        custom_id = req.reference or _unit(order).get("custom_id")
        if custom_id:
            body["custom_id"] = custom_id
        path = f"/v2/payments/captures/{segment(capture_id)}/refund"
        resp = yield from self._call(ctx, "POST", path, body, key_step="refund", step="refund capture")
        refund = self._answer(resp)
        self._same_call(ctx, refund, req.amount)
        return self._refund(refund, payment_id)

    def refund_sync(self, refund_id: str, ctx: CallContext) -> Exchange[Refund]:
        # A refund names its capture, not its order: payment_id stays empty rather than cost another call.
        resp = yield from self._call(ctx, "GET", f"/v2/payments/refunds/{segment(refund_id)}", None)
        return self._refund(self._answer(resp), None)

    def complete(self, req: CompleteRequest, ctx: CallContext) -> Exchange[Payment]:
        """After the payer's 3-D Secure (the `payer-action` link): authorize or capture the order, as its intent
        says, once PayPal shows it APPROVED and the authentication did not fail. The order id is `payment_id`,
        or the `token` PayPal adds to the return URL."""
        order_id = req.payment_id or req.details.get("token")
        if not order_id:
            raise invalid_request(
                "paypal needs the order id to complete a payment",
                path="payment_id",
                detail="the payment's id, or details.token as PayPal adds it to the return URL",
                type="missing",
            )
        self.check_id("payment", order_id, "payment_id")
        order = yield from self._order(ctx, order_id)
        if order.get("status") != "APPROVED":  # still waiting for the payer, or already done: as it stands
            return self._payment(order)
        status = _authentication(order).get("authentication_status")
        if status in codes.AUTHENTICATION_REFUSED:
            error = decline(
                "", DeclineCode.AUTHENTICATION_FAILED, refusal=True, connector_message=f"3-D Secure status {status}"
            )
            refused = self._payment(order)
            return refused.model_copy(update={"status": PaymentStatus.AUTHORIZATION_FAILED, "error": error})
        action = "authorize" if order.get("intent") == "AUTHORIZE" else "capture"
        path = f"/v2/checkout/orders/{segment(order_id)}/{action}"
        resp = yield from self._call(ctx, "POST", path, {}, key_step="complete", step=f"{action} order")
        if (refused_by := self._refusal(resp)) is not None:
            return self._payment(order).model_copy(
                update={"status": PaymentStatus.AUTHORIZATION_FAILED, "error": refused_by, "next_action": None}
            )
        return self._payment(self._answer(resp))

    def webhook(self, req: WebhookRequest, ctx: CallContext) -> Exchange[list[WebhookEvent]]:
        from connectors.paypal import webhooks  # it builds on this module

        return (yield from webhooks.events(self, req, ctx))

    # -- requests -----------------------------------------------------------------------------------

    def send(
        self, ctx: CallContext, method: str, path: str, body: bytes | None, *, key_step: str | None, step: str = ""
    ) -> Exchange[GatewayResponse]:
        """One call with the account's token (kit/auth.py: one new token and one repeat on a 401). With
        `key_step` it carries a PayPal-Request-Id: the app's Idempotency-Key mapped into PayPal's limit, else
        a fresh one, so that a call without a key is never taken for another's."""
        headers = {"Accept": "application/json", "Prefer": "return=representation"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if key_step is not None:
            key = ctx.idempotency_key
            headers["PayPal-Request-Id"] = (
                gateway_key(key, IDEMPOTENCY_KEY_LIMIT, key_step) if key else f"sidecar-{secrets.token_hex(16)}"
            )
        request = GatewayRequest(method, ctx.base_url + path, headers, body, step)
        return (yield from with_token(self.token_step(ctx), request))

    def _call(
        self,
        ctx: CallContext,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        key_step: str | None = None,
        step: str = "",
    ) -> Exchange[GatewayResponse]:
        data = orjson.dumps(body) if body is not None else None
        return (yield from self.send(ctx, method, path, data, key_step=key_step, step=step))

    def _order(self, ctx: CallContext, order_id: str, step: str = "read order") -> Exchange[dict[str, Any]]:
        resp = yield from self._call(ctx, "GET", f"/v2/checkout/orders/{segment(order_id)}", None, step=step)
        return self._answer(resp)

    def _amount(self, money: Money, path: str) -> dict[str, str]:
        return {"currency_code": money.currency, "value": self.to_gateway_decimal(money, path)}

    def _card(self, req: PaymentRequest) -> dict[str, Any]:
        card = req.payment_method.card
        source: dict[str, Any] = {
            "number": card.number,
            "expiry": f"{card.exp_year:04d}-{card.exp_month:02d}",
            "security_code": card.cvc,
        }
        if name := card.holder_name or (req.customer.name if req.customer else None):
            source["name"] = name
        if req.billing_address:
            source["billing_address"] = _address(req.billing_address)
        attributes: dict[str, Any] = {}
        if req.customer and req.customer.email:
            attributes["customer"] = {"email_address": req.customer.email}
        if req.three_ds:
            # paypal-server-sdk `OrdersCardVerificationMethod`: SCA_ALWAYS "will attempt to force a strong
            # customer authentication"; the default, SCA_WHEN_REQUIRED, only where regulation requires it.
            attributes["verification"] = {"method": "SCA_ALWAYS"}
        if attributes:
            source["attributes"] = attributes
        if req.return_url:  # where the payer comes back to after 3-D Secure, completed or cancelled
            source["experience_context"] = {"return_url": req.return_url, "cancel_url": req.return_url}
        return source

    # -- answers ------------------------------------------------------------------------------------

    def _payment(self, order: dict[str, Any], *, operation_id: str | None = None) -> Payment:
        order_id, unit = order.get("id"), _unit(order)
        if not isinstance(order_id, str) or not isinstance(unit.get("amount"), dict):
            raise self.unusable("a usable order")
        amount = self._money(unit["amount"])
        captures = _payments(order, "captures")
        captured = sum(self._money(c.get("amount")).minor for c in captures if c.get("status") in codes.CAPTURED)
        refunded = sum(
            self._money(r.get("amount")).minor for r in _payments(order, "refunds") if r.get("status") in codes.REFUNDED
        )
        status, deciding = self._status(order, amount.minor, captured)
        action = _payer_action(order) if status is PaymentStatus.AUTHENTICATION_PENDING else None
        card = (order.get("payment_source") or {}).get("card") or {}
        refusal = None
        if status in (PaymentStatus.AUTHORIZATION_FAILED, PaymentStatus.CAPTURE_FAILED, PaymentStatus.FAILURE):
            refusal = _processor_decline(deciding)
        network = deciding.get("network_transaction_reference") or {}
        return Payment(
            id=order_id,
            operation_id=operation_id,
            connector=self.name,
            status=status,
            reference=unit.get("custom_id"),
            amount=amount,
            captured=Money(minor=captured, currency=amount.currency) if captured else None,
            refunded=Money(minor=refunded, currency=amount.currency) if refunded else None,
            card=_card_summary(card) if card else None,
            redirect=redirect_of(action),
            next_action=action,
            network_transaction_id=network.get("id") if isinstance(network, dict) else None,
            connector_status=deciding.get("status") or order.get("status") or "",
            error=refusal,
        )

    def _status(self, order: dict[str, Any], amount: int, captured: int) -> tuple[PaymentStatus, dict[str, Any]]:
        """The canonical status and the PayPal object that decides it: the order until it is COMPLETED, then
        its authorization (intent AUTHORIZE) with its captures, or its capture (intent CAPTURE)."""
        state = order.get("status")
        if state != "COMPLETED":
            return _ORDER_STATUS.get(state, PaymentStatus.UNRESOLVED), order
        captures = _payments(order, "captures")
        last_capture = captures[-1] if captures else {}
        if order.get("intent") == "CAPTURE":
            return _CAPTURE_STATUS.get(last_capture.get("status"), PaymentStatus.UNRESOLVED), last_capture
        authorizations = _payments(order, "authorizations")
        authorization = authorizations[-1] if authorizations else {}
        match authorization.get("status"):
            case "DENIED":
                return PaymentStatus.AUTHORIZATION_FAILED, authorization
            case "PENDING":
                return PaymentStatus.PENDING, authorization
            case "VOIDED":
                return (PaymentStatus.PARTIALLY_CHARGED if captured else PaymentStatus.VOIDED), authorization
            case "CREATED" | "PARTIALLY_CAPTURED" | "CAPTURED":
                pass
            case _:
                return PaymentStatus.UNRESOLVED, authorization
        if last_capture.get("status") == "PENDING":
            return PaymentStatus.CAPTURE_INITIATED, last_capture
        if last_capture.get("status") in ("DECLINED", "FAILED") and not captured:
            return PaymentStatus.CAPTURE_FAILED, last_capture
        if not captured:
            return PaymentStatus.AUTHORIZED, authorization
        full = PaymentStatus.CHARGED if captured >= amount else PaymentStatus.PARTIALLY_CHARGED
        return full, last_capture or authorization

    def _refund(self, refund: dict[str, Any], payment_id: str | None) -> Refund:
        refund_id, status = refund.get("id"), refund.get("status")
        if not isinstance(refund_id, str) or not isinstance(status, str):
            raise self.unusable("a usable refund")
        canonical = codes.REFUND_STATUS.get(status, RefundStatus.MANUAL_REVIEW)
        error = None
        if canonical is RefundStatus.FAILED:
            reason = (refund.get("status_details") or {}).get("reason") or status
            error = DeclineInfo(code="refund_failed", message=f"refund {status.lower()}", connector_code=reason)
        return Refund(
            id=refund_id,
            payment_id=payment_id,
            connector=self.name,
            status=canonical,
            amount=self._money(refund.get("amount")),
            connector_status=status,
            error=error,
        )

    def _money(self, money: Any) -> Money:
        if not isinstance(money, dict):
            raise self.unusable("an amount")
        return self.from_gateway_decimal(money.get("value"), money.get("currency_code"))

    def _authorization(self, order: dict[str, Any]) -> dict[str, Any]:
        authorizations = _payments(order, "authorizations")
        if not authorizations or not isinstance(authorizations[-1].get("id"), str):
            raise SidecarError(
                ErrorType.GATEWAY_REJECTED,
                "paypal: the order has no authorization (it was captured when it was made, or never authorized)",
                connector=self.name,
                outcome="not_processed",
            )
        return authorizations[-1]

    def _capture_to_refund(self, order: dict[str, Any], req: RefundRequest) -> str:
        """The one capture a refund goes to: the app's `capture_id`, else the payment's only capture, else the
        first that has the amount left to refund. A refund is never split over captures (API.md v1.1)."""
        captures = [c for c in _payments(order, "captures") if isinstance(c.get("id"), str)]
        if req.capture_id is not None:
            if req.capture_id not in {c["id"] for c in captures}:
                raise invalid_request(
                    "capture_id is not a capture of this payment",
                    path="capture_id",
                    detail="the operation_id of one of this payment's captures",
                )
            return req.capture_id
        refundable = [c for c in captures if c.get("status") in ("COMPLETED", "PARTIALLY_REFUNDED")]
        if len(refundable) == 1:
            return refundable[0]["id"]
        if not refundable:
            raise SidecarError(
                ErrorType.GATEWAY_REJECTED,
                "paypal: the payment has no completed capture to refund",
                connector=self.name,
                outcome="not_processed",
            )
        left = {c["id"]: self._money(c.get("amount")).minor for c in refundable}
        for refund in _payments(order, "refunds"):
            if (up := _capture_of(refund)) in left and refund.get("status") in codes.REFUNDED:
                left[up] -= self._money(refund.get("amount")).minor
        fitting = [c for c, rest in left.items() if req.amount is not None and rest >= req.amount.minor]
        if not fitting:
            raise invalid_request(
                "the payment has several captures and no one of them can take this refund whole: name one in "
                "capture_id (a refund is never split)",
                path="capture_id",
                detail="required when the payment has several captures and no single one can be refunded this amount",
                type="missing",
            )
        return fitting[0]

    def _same_call(
        self, ctx: CallContext, answered: dict[str, Any], amount: Money | None, reference: str | None = None
    ) -> None:
        """PayPal answers a known PayPal-Request-Id with "the latest status of the previous request", whatever
        this call's body (https://developer.paypal.com/api/rest/reference/idempotency). Where the answer echoes
        what was sent and differs, it is another call's: 409 idempotency_conflict, and this call did nothing."""
        if not ctx.idempotency_key:
            return
        differ = []
        echoed = answered.get("amount")
        if amount is not None and isinstance(echoed, dict) and self._money(echoed) != amount:
            differ.append("amount")
        if reference is not None and answered.get("custom_id") not in (None, reference):
            differ.append("reference")
        if differ:
            raise SidecarError(
                ErrorType.IDEMPOTENCY_CONFLICT,
                f"paypal answered with the result of another call made with this Idempotency-Key "
                f"({', '.join(differ)} differ); this call was not processed",
                connector=self.name,
                outcome="not_processed",
            )

    def _refusal(self, resp: GatewayResponse) -> DeclineInfo | None:
        """A 422 whose issue refuses the card or the payer (codes.DECLINE_ISSUES): a decline, not an error."""
        if resp.status != 422:
            return None
        data = self._json(resp)
        issue = next((i for i in _issues(data) if i in codes.DECLINE_ISSUES), None)
        if issue is None:
            return None
        detail = next(d for d in data["details"] if isinstance(d, dict) and d.get("issue") == issue)
        text = detail.get("description") if isinstance(detail.get("description"), str) else None
        return decline(issue, codes.DECLINE_ISSUES[issue], refusal=True, connector_message=text, connector_code=issue)

    def _answer(self, resp: GatewayResponse) -> dict[str, Any]:
        if resp.status in (200, 201):
            return self.json_object(resp)
        raise self._error(resp)

    def _json(self, resp: GatewayResponse) -> dict[str, Any]:
        try:
            return self.json_object(resp)
        except SidecarError:
            return {}

    def _error(self, resp: GatewayResponse) -> SidecarError:
        """PayPal's error answers (https://developer.paypal.com/api/rest/responses/): `name`, `message`, and
        `details[]` with `issue`, `field`, `description`; by HTTP status, with what the issues add."""
        try:
            data = self.json_object(resp)
        except SidecarError as e:
            return e
        name = data.get("name") or data.get("error") or "error"
        text = data.get("message") or data.get("error_description") or ""
        issues = _issues(data)
        message = f"paypal: {name}" + (f": {text}" if text else "") + (f" ({', '.join(issues)})" if issues else "")
        details = [
            ErrorDetail(path=str(d.get("field") or ""), message=str(d.get("description") or ""), type=str(d["issue"]))
            for d in data.get("details") or []
            if isinstance(d, dict) and isinstance(d.get("issue"), str)
        ] or None
        if resp.status == 409 or codes.IN_PROGRESS_ISSUE in issues:
            return SidecarError(
                ErrorType.REQUEST_IN_PROGRESS, message, connector=self.name, details=details, outcome="unknown"
            )
        if resp.status == 422 and codes.CURRENCY_ISSUES & set(issues):
            return invalid_request(
                "paypal: the amount is not in the payment's currency; no money was moved",
                path="amount.currency",
                detail="must be the payment's currency",
                type="currency_mismatch",
            )
        return self.status_error(resp, message, details)


_ORDER_STATUS = {
    "CREATED": PaymentStatus.STARTED,
    "SAVED": PaymentStatus.STARTED,
    "APPROVED": PaymentStatus.STARTED,  # the payer is done (3-D Secure): `complete` authorizes or captures
    "PAYER_ACTION_REQUIRED": PaymentStatus.AUTHENTICATION_PENDING,
    "VOIDED": PaymentStatus.VOIDED,
}
# The capture of an order made with intent CAPTURE; refunds do not change the payment's status.
_CAPTURE_STATUS = {
    "COMPLETED": PaymentStatus.CHARGED,
    "PARTIALLY_REFUNDED": PaymentStatus.CHARGED,
    "REFUNDED": PaymentStatus.CHARGED,
    "PENDING": PaymentStatus.PENDING,
    "DECLINED": PaymentStatus.AUTHORIZATION_FAILED,
    "FAILED": PaymentStatus.FAILURE,
}


def _unit(order: dict[str, Any]) -> dict[str, Any]:
    units = order.get("purchase_units")
    return units[0] if isinstance(units, list) and units and isinstance(units[0], dict) else {}


def _payments(order: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    items = (_unit(order).get("payments") or {}).get(kind)
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _with(order: dict[str, Any], **payments: list[dict[str, Any]]) -> dict[str, Any]:
    """The order with some of its payments replaced by what a later call answered."""
    unit = _unit(order)
    merged = {**(unit.get("payments") or {}), **payments}
    return {**order, "purchase_units": [{**unit, "payments": merged}]}


def _currency(order: dict[str, Any]) -> str:
    return str((_unit(order).get("amount") or {}).get("currency_code") or "")


def _issues(data: dict[str, Any]) -> list[str]:
    details = data.get("details")
    if not isinstance(details, list):
        return []
    return [d["issue"] for d in details if isinstance(d, dict) and isinstance(d.get("issue"), str)]


def _capture_of(refund: dict[str, Any]) -> str | None:
    """The capture a refund belongs to: the last segment of its `up` link."""
    for link in refund.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "up" and isinstance(link.get("href"), str):
            return link["href"].rstrip("/").rsplit("/", 1)[-1]
    return None


def _authentication(order: dict[str, Any]) -> dict[str, Any]:
    card = (order.get("payment_source") or {}).get("card") or {}
    result = card.get("authentication_result") or {}
    three_ds = result.get("three_d_secure") if isinstance(result, dict) else None
    return three_ds if isinstance(three_ds, dict) else {}


def _payer_action(order: dict[str, Any]) -> NextAction:
    """The `payer-action` link of a PAYER_ACTION_REQUIRED order: where the payer authenticates."""
    for link in order.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "payer-action" and isinstance(link.get("href"), str):
            return NextAction(type="redirect", url=link["href"], method="GET", data=link)
    return NextAction(type="sdk")


def _processor_decline(payment: dict[str, Any]) -> DeclineInfo:
    response = payment.get("processor_response") or {}
    code = response.get("response_code") if isinstance(response, dict) else None
    code = code if isinstance(code, str) else ""
    status = payment.get("status") or ""
    return decline(
        code,
        codes.PROCESSOR_RESPONSE_CODES.get(code),
        refusal=status in ("DENIED", "DECLINED"),
        connector_message=f"{status} {code}".strip() or None,
        connector_code=code or None,
    )


def _card_summary(card: dict[str, Any]) -> CardSummary:
    expiry = card.get("expiry") if isinstance(card.get("expiry"), str) else ""
    year, _, month = expiry.partition("-")
    brand = card.get("brand")
    return CardSummary(
        brand=brand.lower() if isinstance(brand, str) else None,
        last4=card.get("last_digits"),
        exp_month=int(month) if month.isdigit() else None,
        exp_year=int(year) if year.isdigit() else None,
    )


def _address(address: Address) -> dict[str, str]:
    given = address.model_dump(exclude_none=True)
    if "country" not in given:
        raise invalid_request(
            "paypal takes a billing address only with its country",
            path="billing_address.country",
            detail="required by paypal (address_portable.country_code)",
            type="missing",
        )
    return {_ADDRESS[k]: v for k, v in given.items()}


def _within(text: str, limit: int, path: str) -> str:
    if len(text) > limit:
        raise invalid_request(
            f"paypal takes at most {limit} characters in {path}", path=path, detail=f"at most {limit} for paypal"
        )
    return text
