"""The sandbox's webhook sender, driven by engine events against a real local HTTP server: in order, one
at a time, each tried again like a gateway's queue until it is taken, then dropped and counted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from Adyen import util as adyen_util
from aiohttp import web
from webhook_parts import Clock, adyen_ids, engine

from connectors.kit.sandbox import Call, Capture, CaptureMode, CardInput, CreatePayment, Event, SandboxPolicy, Void
from connectors.kit.webhooks import WebhookMessage
from sidecar.config import Settings
from sidecar.sandbox.webhooks import ADYEN_SANDBOX_HMAC_KEY, WebhookSender, adyen_render, listener_url

MERCHANT = "SidecarSandboxECOM"
CARD = CardInput("4111111111111111", 3, 2031, cvc="737")


async def receiver(statuses: list[int]) -> tuple[str, list[dict[str, Any]], Callable[[], Awaitable[None]]]:
    """A local server answering each POST with the next status of `statuses` (then 200); what it got."""
    got: list[dict[str, Any]] = []

    async def take(request: web.Request) -> web.Response:
        got.append(json.loads(await request.read()))
        return web.Response(status=statuses.pop(0) if statuses else 200)

    app = web.Application()
    app.router.add_post("/v1/webhooks/adyen", take)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return f"http://127.0.0.1:{port}/v1/webhooks/adyen", got, runner.cleanup


def codes(got: list[dict[str, Any]]) -> list[str]:
    return [n["notificationItems"][0]["NotificationRequestItem"]["eventCode"] for n in got]


def flow(on_event: Callable[[Event], None]) -> None:
    """An authorization, a capture (settled at once), and a void of a second payment."""
    ledger = engine(adyen_ids(), on_event, Clock(), SandboxPolicy())
    first = ledger.execute(Call(MERCHANT, CreatePayment(1000, "EUR", CaptureMode.MANUAL, CARD)))
    ledger.execute(Call(MERCHANT, Capture(first.result.payment.id)))  # type: ignore[union-attr]
    second = ledger.execute(Call(MERCHANT, CreatePayment(500, "EUR", CaptureMode.MANUAL, CARD)))
    ledger.execute(Call(MERCHANT, Void(second.result.payment.id)))  # type: ignore[union-attr]


def test_events_go_out_in_order_signed_and_a_refused_one_is_sent_again_before_the_next() -> None:
    async def run() -> tuple[list[dict[str, Any]], WebhookSender]:
        url, got, stop = await receiver([500, 503])
        sender = await WebhookSender(url, adyen_render(MERCHANT), retry_delays=(0.01, 0.01)).start()
        try:
            flow(sender.on_event)
            await sender.idle()
        finally:
            await sender.aclose()
            await stop()
        return got, sender

    got, sender = asyncio.run(run())
    # The first notification three times (500, 503, then taken), each later one after it, in order.
    assert codes(got) == ["AUTHORISATION"] * 3 + ["CAPTURE", "AUTHORISATION", "CANCELLATION"]
    assert all(adyen_util.is_valid_hmac_notification(n, ADYEN_SANDBOX_HMAC_KEY) for n in got)
    assert (sender.sent, sender.dropped) == (4, 0)


def test_an_event_refused_every_time_is_dropped_and_the_rest_still_go() -> None:
    async def run() -> tuple[list[dict[str, Any]], WebhookSender]:
        url, got, stop = await receiver([500, 500])
        sender = await WebhookSender(url, adyen_render(MERCHANT), retry_delays=(0.01,)).start()
        try:
            flow(sender.on_event)
            await sender.idle()
        finally:
            await sender.aclose()
            await stop()
        return got, sender

    got, sender = asyncio.run(run())
    assert codes(got) == ["AUTHORISATION", "AUTHORISATION", "CAPTURE", "AUTHORISATION", "CANCELLATION"]
    assert (sender.sent, sender.dropped) == (3, 1)


def test_a_listener_that_is_down_drops_after_every_attempt_and_events_without_a_webhook_send_nothing() -> None:
    rendered: list[Event] = []

    def render(event: Event, now: float) -> WebhookMessage | None:
        rendered.append(event)
        return None if event.type.value != "payment.authorized" else WebhookMessage(b"{}")

    async def run() -> WebhookSender:
        url, _, stop = await receiver([])
        await stop()  # nothing listens there any more
        sender = await WebhookSender(url, render, retry_delays=(0.01, 0.01)).start()
        try:
            flow(sender.on_event)
            await sender.idle()
        finally:
            await sender.aclose()
        return sender

    sender = asyncio.run(run())
    assert (sender.sent, sender.dropped) == (0, 2)  # two authorizations, three attempts each
    assert len([e for e in rendered if e.type.value == "payment.authorized"]) == 6


def test_the_listener_url() -> None:
    hooks = {"deliver_to": "http://127.0.0.1:9/e", "signing_secret": "s"}
    assert listener_url(Settings(), "adyen") is None  # no webhooks section: nothing would take them
    assert listener_url(Settings(webhooks=hooks), "adyen") == "http://127.0.0.1:8090/v1/webhooks/adyen"
    on_v6 = Settings(webhooks={**hooks, "listen": {"host": "::", "port": 9443}})
    assert listener_url(on_v6, "stripe") == "http://[::1]:9443/v1/webhooks/stripe"
    canonical = Settings(webhooks={**hooks, "listen": None}, listen={"port": 8181})
    assert listener_url(canonical, "adyen") == "http://127.0.0.1:8181/v1/webhooks/adyen"
