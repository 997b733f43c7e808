"""TinyPay, a made-up JSON gateway (its wire is in tests/tinypay_codec.py, its sandbox codec): a whole
connector outside the sidecar's own package, registered as the `tinypay` entry point of
`sidecar.connectors`. It speaks only the connector kit.

Amounts go in ISO 4217 minor units; one call per operation; declines are 200 answers with status
`declined`; 3-D Secure leaves a payment `authentication_pending` with a `next_action`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, SecretStr

from connectors.kit.conformance import Conformance
from connectors.kit.connector import CallContext, Connector, Exchange, GatewayRequest, GatewayResponse, PublicApi
from connectors.kit.declines import DeclineCode, decline
from connectors.kit.errors import invalid_request
from connectors.kit.idempotency import gateway_key
from connectors.kit.masking import Sensitivity
from connectors.kit.metadata import MetadataLimits
from connectors.kit.models import (
    CaptureMethod,
    CaptureRequest,
    CardSummary,
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
)
from connectors.kit.money import ISO_EXPONENTS, GatewayCurrencies

PAYMENT_STATUS = {
    "created": PaymentStatus.STARTED,
    "authentication_pending": PaymentStatus.AUTHENTICATION_PENDING,
    "declined": PaymentStatus.AUTHORIZATION_FAILED,
    "authorized": PaymentStatus.AUTHORIZED,
    "partially_captured": PaymentStatus.PARTIALLY_CHARGED,
    "captured": PaymentStatus.CHARGED,
    "voided": PaymentStatus.VOIDED,
}
REFUND_STATUS = {"pending": RefundStatus.PENDING, "succeeded": RefundStatus.SUCCEEDED, "failed": RefundStatus.FAILED}
DECLINES = {
    "generic_decline": DeclineCode.CARD_DECLINED,
    "insufficient_funds": DeclineCode.INSUFFICIENT_FUNDS,
    "expired_card": DeclineCode.EXPIRED_CARD,
    "authentication_required": DeclineCode.AUTHENTICATION_REQUIRED,
    "authentication_failed": DeclineCode.AUTHENTICATION_FAILED,
    "authentication_abandoned": DeclineCode.SHOPPER_CANCELLED,
}
_ID = {kind: re.compile(prefix + r"[0-9a-f]{16}") for kind, prefix in (("payment", "pay_"), ("refund", "ref_"))}


class TinyPayCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    api_key: SecretStr


class TinyPay(Connector):
    name = "tinypay"
    Credentials = TinyPayCredentials
    default_base_url = "https://api.tinypay.example"
    public_api = PublicApi(hosts=("api.tinypay.example",))
    sensitive_fields = {"number": Sensitivity.PAN, "cvc": Sensitivity.DROP, "holder": Sensitivity.PERSONAL}
    secret_headers = frozenset({"authorization"})
    currencies = GatewayCurrencies("tinypay", exponents=ISO_EXPONENTS)
    metadata_limits = MetadataLimits("tinypay", max_pairs=0, max_key_length=0, max_value_length=0)  # keeps none
    id_patterns = _ID
    conformance = Conformance(spec=None, three_ds_card="4000000000003220")

    def auth_headers(self, credentials: TinyPayCredentials) -> dict[str, str]:
        return {"Authorization": f"Bearer {credentials.api_key.get_secret_value()}"}

    # -- operations -------------------------------------------------------------------------------

    def authorize(self, req: PaymentRequest, ctx: CallContext) -> Exchange[Payment]:
        card = req.payment_method.card
        body: dict[str, Any] = {
            **self._amount(req.amount),
            "capture": "manual" if req.capture is CaptureMethod.MANUAL else "auto",
            "card": {"number": card.number, "exp_month": card.exp_month, "exp_year": card.exp_year, "cvc": card.cvc},
            "reference": req.reference,
            "three_ds": "required" if req.three_ds else "auto",
        }
        if card.holder_name:
            body["card"]["holder"] = card.holder_name
        self.metadata(req.metadata, {})  # TinyPay keeps none: any is 400 rather than dropped unsaid
        resp = yield self._call(ctx, "POST", "/v1/payments", body)
        return self._payment(resp)

    def sync(self, payment_id: str, ctx: CallContext) -> Exchange[Payment]:
        resp = yield self._call(ctx, "GET", f"/v1/payments/{self.check_id('payment', payment_id)}")
        return self._payment(resp)

    def capture(self, payment_id: str, req: CaptureRequest, ctx: CallContext) -> Exchange[Payment]:
        body = self._amount(req.amount) if req.amount else {}
        resp = yield self._call(ctx, "POST", f"/v1/payments/{self.check_id('payment', payment_id)}/captures", body)
        return self._payment(resp)

    def void(self, payment_id: str, req: VoidRequest, ctx: CallContext) -> Exchange[Payment]:
        body = {"reason": req.reason} if req.reason else {}
        resp = yield self._call(ctx, "POST", f"/v1/payments/{self.check_id('payment', payment_id)}/void", body)
        return self._payment(resp)

    def refund(self, payment_id: str, req: RefundRequest, ctx: CallContext) -> Exchange[Refund]:
        body = self._amount(req.amount) if req.amount else {}
        if req.capture_id:
            body["capture_id"] = req.capture_id
        resp = yield self._call(ctx, "POST", f"/v1/payments/{self.check_id('payment', payment_id)}/refunds", body)
        return self._refund(resp)

    def refund_sync(self, refund_id: str, ctx: CallContext) -> Exchange[Refund]:
        resp = yield self._call(ctx, "GET", f"/v1/refunds/{self.check_id('refund', refund_id)}")
        return self._refund(resp)

    # -- requests and answers ---------------------------------------------------------------------

    def _amount(self, money: Money) -> dict[str, Any]:
        return {"amount": self.to_gateway(money, "amount"), "currency": money.currency}

    def _call(self, ctx: CallContext, method: str, path: str, body: dict[str, Any] | None = None) -> GatewayRequest:
        headers = {**self.auth_headers(ctx.credentials), "Accept": "application/json"}
        if method == "POST":
            headers["Content-Type"] = "application/json"
            if ctx.idempotency_key:
                headers["Idempotency-Key"] = gateway_key(ctx.idempotency_key, 255)
        return GatewayRequest(method, ctx.base_url + path, headers, orjson.dumps(body) if method == "POST" else None)

    def _answer(self, resp: GatewayResponse) -> dict[str, Any]:
        data = self.json_object(resp)
        if resp.status in (200, 201):
            return data
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        code, message = str(error.get("code", "")), f"tinypay: {error.get('message') or 'error'}"
        if code == "currency_mismatch":
            raise invalid_request(message, path="amount.currency", detail="must be the payment's currency", type=code)
        raise self.status_error(
            resp, message, [ErrorDetail(path=str(error.get("field") or ""), message=message, type=code)]
        )

    def _payment(self, resp: GatewayResponse) -> Payment:
        p = self._answer(resp)
        try:
            status, amount = PAYMENT_STATUS[p["status"]], self.from_gateway(p["amount"], p["currency"])
        except (KeyError, TypeError):
            raise self.unusable("a payment with a known status") from None
        if any(c.get("status") == "pending" for c in p.get("captures") or ()):
            status = PaymentStatus.CAPTURE_INITIATED
        elif status is PaymentStatus.CHARGED and p.get("captured", 0) < p["amount"]:
            status = PaymentStatus.PARTIALLY_CHARGED  # a final partial capture released the rest
        elif status is PaymentStatus.VOIDED and (p.get("void") or {}).get("status") == "pending":
            status = PaymentStatus.VOID_INITIATED
        captured, refunded = p.get("captured") or 0, p.get("refunded") or 0
        card, action = p.get("card") or {}, p.get("next_action")
        return Payment(
            id=p.get("id"),
            connector=self.name,
            status=status,
            reference=p.get("reference"),
            amount=amount,
            captured=self.from_gateway(captured, p["currency"]) if captured else None,
            refunded=self.from_gateway(refunded, p["currency"]) if refunded else None,
            card=CardSummary(**{k: card.get(k) for k in ("brand", "last4", "exp_month", "exp_year")}) if card else None,
            next_action=_next_action(action) if status is PaymentStatus.AUTHENTICATION_PENDING else None,
            network_transaction_id=p.get("network_transaction_id"),
            connector_status=p["status"],
            error=_decline(p["decline"]) if p.get("decline") else None,
        )

    def _refund(self, resp: GatewayResponse) -> Refund:
        r = self._answer(resp)
        try:
            status, amount = REFUND_STATUS[r["status"]], self.from_gateway(r["amount"], r["currency"])
        except (KeyError, TypeError):
            raise self.unusable("a refund with a known status") from None
        return Refund(
            id=r.get("id"),
            payment_id=r.get("payment_id"),
            connector=self.name,
            status=status,
            amount=amount,
            connector_status=r["status"],
        )


def _decline(code: str) -> DeclineInfo:
    return decline(code, DECLINES.get(code), refusal=True, connector_message=None, connector_code=code)


def _next_action(action: Any) -> NextAction:
    if not isinstance(action, dict):
        return NextAction(type="sdk")
    kind = "threeds_fingerprint" if action.get("step") == "fingerprint" else "threeds_challenge"
    return NextAction(type=kind, url=action.get("url"), method="POST", data=action)


__all__ = ["TinyPay", "TinyPayCredentials"]
