"""PayPal's OAuth2 tokens through the runtime's real parts: the dispatcher, the pooled outbound client and the
PayPal sandbox served over HTTP, each with a clock of the test's own. One token call serves many calls (and
many concurrent ones); a token near its end is replaced before it is sent; a token the gateway refuses (401)
is replaced once and the call repeated once, with the same PayPal-Request-Id; the token call is written
down masked."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from connectors.kit.connector import CallContext
from connectors.kit.errors import ErrorType, SidecarError
from connectors.kit.models import CaptureMethod, Card, CardPaymentMethod, Money, PaymentRequest
from connectors.paypal import PayPal
from connectors.paypal.sandbox import PAYPAL_SANDBOX_CLIENT_ID, PAYPAL_SANDBOX_SECRET, TOKEN_LIFETIME, PayPalCodec
from sidecar.audit import Audit, GatewayExchange
from sidecar.config import Settings
from sidecar.dispatch import Dispatcher
from sidecar.outbound import OutboundPool
from sidecar.sandbox import SimulatedGateway
from sidecar.sandbox.server import serve
from sidecar.tokens import MARGIN_SECONDS


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Harness:
    """The PayPal sandbox over HTTP (its own clock) and a dispatcher bound to it (another clock)."""

    def __init__(self, secret: str = PAYPAL_SANDBOX_SECRET) -> None:
        self.secret = secret
        self.gateway_clock, self.sidecar_clock = Clock(), Clock()
        self.seen: list[tuple[str, str, dict[str, str], int]] = []  # method, path, headers, answer status
        self.written: list[GatewayExchange] = []  # what the audit wrote down

    async def __aenter__(self) -> Harness:
        gateway = SimulatedGateway(PayPalCodec(), clock=self.gateway_clock)
        handle = gateway.handle

        def recording(method: str, path: str, query: str, headers: Any, body: bytes) -> Any:
            answer = handle(method, path, query, headers, body)
            self.seen.append((method, path, {k.lower(): v for k, v in headers.items()}, answer.status))
            return answer

        gateway.handle = recording  # type: ignore[method-assign]
        self.runner, url = await serve(gateway, "127.0.0.1", 0, None)
        settings = Settings.model_validate(
            {
                "connectors": {
                    "paypal": {
                        "base_url": url,
                        "accounts": {"default": {"client_id": PAYPAL_SANDBOX_CLIENT_ID, "client_secret": self.secret}},
                    }
                }
            }
        )
        self.pool, audit = OutboundPool(), Audit()
        audit.sinks.append(self.written.append)
        self.dispatcher = Dispatcher(settings, self.pool, audit, {}, clock=self.sidecar_clock)
        self.bound = self.dispatcher.bind("paypal")
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.pool.aclose()
        await self.runner.cleanup()

    def context(self, key: str | None = None) -> CallContext:
        creds = self.bound.accounts["default"]
        return CallContext(self.bound.base_url, creds, "req-tokens", idempotency_key=key)

    async def authorize(self, key: str | None = None) -> Any:
        ctx = self.context(key)
        return await self.dispatcher.run(self.bound, ctx, PayPal().authorize(_payment(), ctx), "authorize")

    def token_calls(self) -> int:
        return sum(1 for _, path, _, _ in self.seen if path == "/v1/oauth2/token")


def _payment() -> PaymentRequest:
    card = Card(number="4111111111111111", exp_month=12, exp_year=2035, cvc="123")
    return PaymentRequest(
        reference="tokens",
        amount=Money(minor=1000, currency="USD"),
        capture=CaptureMethod.MANUAL,
        payment_method=CardPaymentMethod(type="card", card=card),
    )


def test_one_token_call_serves_many_calls_even_concurrent_ones() -> None:
    async def scenario() -> None:
        async with Harness() as h:
            payments = await asyncio.gather(*(h.authorize() for _ in range(8)))
            assert {p.status for p in payments} == {"authorized"}
            assert h.token_calls() == 1  # single flight: eight calls waited for one token
            await h.authorize()
            assert h.token_calls() == 1

    asyncio.run(scenario())


def test_a_token_near_its_end_is_replaced_before_it_is_sent() -> None:
    async def scenario() -> None:
        async with Harness() as h:
            await h.authorize()
            h.sidecar_clock.now += TOKEN_LIFETIME - MARGIN_SECONDS + 1
            h.gateway_clock.now += TOKEN_LIFETIME - MARGIN_SECONDS + 1  # the old token would still pass
            await h.authorize()
            assert h.token_calls() == 2
            assert [status for _, _, _, status in h.seen] == [200, 201, 200, 201]  # no call met a 401

    asyncio.run(scenario())


def test_a_refused_token_is_replaced_once_and_the_call_repeated_with_the_same_request_id() -> None:
    async def scenario() -> None:
        async with Harness() as h:
            await h.authorize()
            h.gateway_clock.now += TOKEN_LIFETIME + 1  # PayPal expired it; the sidecar's clock says it is fresh
            payment = await h.authorize("order-7")
            assert payment.status == "authorized"
            assert h.token_calls() == 2
            creates = [(headers, status) for method, path, headers, status in h.seen if path == "/v2/checkout/orders"]
            (refused, first_status), (repeated, _) = creates[-2:]
            assert first_status == 401
            assert refused["paypal-request-id"] == repeated["paypal-request-id"] == "order-7"
            assert refused["authorization"] != repeated["authorization"]

    asyncio.run(scenario())


def test_refused_client_credentials_are_gateway_authentication_and_nothing_else_is_sent() -> None:
    async def scenario() -> None:
        async with Harness(secret="not-the-account-secret") as h:
            with pytest.raises(SidecarError) as refused:
                await h.authorize()
            assert refused.value.type is ErrorType.GATEWAY_AUTHENTICATION
            assert refused.value.outcome == "not_processed"
            assert h.token_calls() == 1
            assert [path for _, path, _, _ in h.seen] == ["/v1/oauth2/token"]  # nothing else was sent

    asyncio.run(scenario())


def test_the_token_call_is_written_down_masked_like_any_gateway_call() -> None:
    async def scenario() -> list[GatewayExchange]:
        async with Harness() as h:
            await h.authorize()
            return h.written

    written = asyncio.run(scenario())
    assert [(w.step, w.method, w.status_code) for w in written] == [
        ("access token", "POST", 200),
        ("create order", "POST", 201),
    ]
    text = repr(written)
    basic = base64.b64encode(f"{PAYPAL_SANDBOX_CLIENT_ID}:{PAYPAL_SANDBOX_SECRET}".encode()).decode()
    assert PAYPAL_SANDBOX_SECRET not in text and basic not in text and "A21AA" not in text  # no token, no secret
    assert "4111111111111111" not in text and '"123"' not in text
    assert all(w.request_headers["Authorization"] == "***" for w in written)
