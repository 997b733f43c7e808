"""The sandbox gateways send webhooks, as their gateways do: every engine event that the gateway reports
(``on_event``) is rendered by the gateway's connector (``connectors/<gateway>/webhooks.py``, with the
codec's objects where the event carries one), signed with the sandbox account's secret, and POSTed to
the sidecar's webhook listener, so asynchronous flows (an Adyen capture settled by its CAPTURE
webhook) run end to end with no network.

One :class:`WebhookSender` per gateway: events go out in order, one at a time, each rendered and signed
afresh for every attempt and tried again after each delay of ``retry_delays`` until the listener
answers 2xx, as a gateway's queue does; after the last attempt it is dropped and logged. The queue is
bounded: a sidecar that stays down does not make the sandbox grow without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import aiohttp
import structlog

from connectors.adyen import webhooks as adyen_webhooks
from connectors.checkout import webhooks as checkout_webhooks
from connectors.kit.sandbox import Event
from connectors.kit.webhooks import WebhookMessage
from connectors.paypal import webhooks as paypal_webhooks
from connectors.stripe import webhooks as stripe_webhooks
from sidecar.config import Settings
from sidecar.sandbox import (
    ADYEN_SANDBOX_HMAC_KEY,
    CHECKOUT_SANDBOX_WEBHOOK_SECRET,
    PAYPAL_SANDBOX_WEBHOOK_ID,
    STRIPE_SANDBOX_WEBHOOK_SECRET,
)

log = structlog.get_logger("sidecar.sandbox")

Render = Callable[[Event, float], WebhookMessage | None]  # (event, now) -> the webhook, or None if none is sent

MAX_QUEUED = 10_000
DEFAULT_RETRY_DELAYS = (1.0, 5.0, 15.0, 60.0)


def listener_url(settings: Settings, connector: str) -> str | None:
    """Where the sandbox sends a connector's webhooks: the sidecar's webhook listener, else its canonical
    listener (which serves the same paths); None without a `webhooks` section (nothing to deliver to)."""
    if settings.webhooks is None:
        return None
    listen = settings.webhooks.listen or settings.listen
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(listen.host, listen.host)
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{listen.port}/v1/webhooks/{connector}"


def adyen_render(merchant_account: str) -> Render:
    return lambda event, _now: adyen_webhooks.sandbox_notification(event, merchant_account, ADYEN_SANDBOX_HMAC_KEY)


def checkout_render() -> Render:
    return lambda event, _now: checkout_webhooks.sandbox_webhook(event, CHECKOUT_SANDBOX_WEBHOOK_SECRET)


def paypal_render() -> Render:
    # The events' links name PayPal's sandbox host, as PayPal's own do: nothing fetches them.
    base = "https://api-m.sandbox.paypal.com"
    return lambda event, now: paypal_webhooks.sandbox_webhook(event, PAYPAL_SANDBOX_WEBHOOK_ID, base, now)


def stripe_render(objects: stripe_webhooks.StripeObjects) -> Render:
    return lambda event, now: stripe_webhooks.sandbox_webhook(event, objects, STRIPE_SANDBOX_WEBHOOK_SECRET, now)


class WebhookSender:
    def __init__(
        self,
        url: str,
        render: Render,
        *,
        clock: Callable[[], float] = time.time,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.render = render
        self.clock = clock
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self.sent = 0
        self.dropped = 0
        self._queue: asyncio.Queue[Event] = asyncio.Queue(MAX_QUEUED)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None

    async def start(self) -> WebhookSender:
        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(trust_env=False, timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._worker = self._loop.create_task(self._work())
        return self

    def on_event(self, event: Event) -> None:
        """The engine's hook. Never blocks the gateway's answer: the event is queued for the worker (from
        any thread: a gateway's settlement timer runs in the loop, a test's engine may not)."""
        if self._loop is None:
            raise RuntimeError("the webhook sender is not started")
        if _running_loop() is self._loop:
            self._enqueue(event)
        else:
            self._loop.call_soon_threadsafe(self._enqueue, event)

    async def idle(self) -> None:
        """Waits until every event queued so far was sent or dropped."""
        await self._queue.join()

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._session is not None:
            await self._session.close()
        self._worker = self._session = None

    def _enqueue(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("sandbox webhook dropped: the queue is full", url=self.url, event_type=event.type.value)

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._send(event)
            except Exception:  # a rendering bug must not stop every later webhook
                self.dropped += 1
                log.exception("sandbox webhook failed", event_type=event.type.value)
            finally:
                self._queue.task_done()

    async def _send(self, event: Event) -> None:
        assert self._session is not None
        status: int | str = "-"
        for delay in (0.0, *self.retry_delays):
            await asyncio.sleep(delay)
            message = self.render(event, self.clock())
            if message is None:  # the gateway reports no webhook for this event
                return
            try:
                async with self._session.post(self.url, data=message.body, headers=message.headers) as resp:
                    await resp.read()
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError) as e:
                status = type(e).__name__
                continue
            if 200 <= resp.status < 300:
                self.sent += 1
                return
        self.dropped += 1
        log.warning(
            "sandbox webhook dropped after every attempt", url=self.url, event_type=event.type.value, last=status
        )


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
