"""Serve the sandbox gateways over HTTP with aiohttp.

:func:`start_sandbox` starts every simulator of ``GATEWAYS`` inside the caller's running event loop (no
signal handlers, no access log) and returns a :class:`Sandbox` with their base URLs; ``await
sandbox.close()`` stops them. Each app has a single catch-all route that hands the request to the
simulator's ``handle``; all behaviour lives in the gateways' codecs and the engine.

Standalone::

    python -m sidecar.sandbox.server --host 127.0.0.1 --stripe-port 12111 --adyen-port 12112 \
        --checkout-port 12113 --paypal-port 12114

prints ``{"stripe_url": "...", "adyen_url": "...", "checkout_url": "...", "paypal_url": "..."}`` as one JSON
line once all listen, and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import ssl
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from connectors.adyen.sandbox import ADYEN_SANDBOX_MERCHANT, AdyenCodec
from connectors.checkout.sandbox import CheckoutCodec
from connectors.kit.sandbox import SandboxCodec, SandboxResponse
from connectors.paypal.sandbox import PayPalCodec
from connectors.stripe.sandbox import StripeCodec

from .gateway import SimulatedGateway
from .webhooks import Render, WebhookSender, adyen_render, checkout_render, paypal_render, stripe_render

__all__ = ["Sandbox", "main", "serve", "start_sandbox"]

# Gateways cap request bodies well below this; it only stops a runaway client.
_MAX_BODY = 1024 * 1024
# How long close() waits for open connections before cutting them.
_SHUTDOWN_TIMEOUT = 2.0


class _Simulator(Protocol):
    base_url: str | None

    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> SandboxResponse: ...


@dataclass(frozen=True)
class Gateway:
    """A sandbox gateway: its codec, where its connector's API sits under its URL, and its webhooks."""

    codec: Callable[[], SandboxCodec]
    render: Callable[[SandboxCodec], Render]  # the codec's events as the gateway's webhooks
    api_path: str = ""  # Adyen: /v71


# Every connector with a sandbox, by its name.
GATEWAYS: dict[str, Gateway] = {
    "stripe": Gateway(StripeCodec, lambda codec: stripe_render(codec)),  # the codec renders its own objects
    "adyen": Gateway(AdyenCodec, lambda _codec: adyen_render(ADYEN_SANDBOX_MERCHANT), "/v71"),
    "checkout": Gateway(CheckoutCodec, lambda _codec: checkout_render()),
    "paypal": Gateway(PayPalCodec, lambda _codec: paypal_render()),
}


@dataclass
class Sandbox:
    """The running sandbox: where each gateway listens, and the simulators behind them."""

    urls: dict[str, str]
    gateways: dict[str, SimulatedGateway]
    _runners: list[web.AppRunner] = field(default_factory=list, repr=False)
    _senders: list[WebhookSender] = field(default_factory=list, repr=False)

    @property
    def stripe_url(self) -> str:
        return self.urls["stripe"]

    @property
    def adyen_url(self) -> str:
        return self.urls["adyen"]

    @property
    def stripe(self) -> SimulatedGateway:
        return self.gateways["stripe"]

    @property
    def adyen(self) -> SimulatedGateway:
        return self.gateways["adyen"]

    @property
    def base_urls(self) -> dict[str, str]:
        """Each connector's API base on the sandbox (Adyen's includes its version path)."""
        return {name: url + GATEWAYS[name].api_path for name, url in self.urls.items()}

    async def close(self) -> None:
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()
        for gateway in self.gateways.values():
            gateway.close()
        senders, self._senders = self._senders, []
        for sender in senders:
            await sender.aclose()

    async def __aenter__(self) -> Sandbox:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


def _make_app(simulator: _Simulator) -> web.Application:
    async def dispatch(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name: value for name, value in request.headers.items()}
        answer = simulator.handle(request.method, request.path, request.query_string, headers, body)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return web.Response(
            status=answer.status,
            body=answer.body,
            headers={**answer.headers, "Content-Type": answer.content_type},
        )

    app = web.Application(client_max_size=_MAX_BODY)
    app.router.add_route("*", "/{tail:.*}", dispatch)
    return app


async def serve(
    simulator: _Simulator, host: str, port: int, ssl_context: ssl.SSLContext | None
) -> tuple[web.AppRunner, str]:
    """Serve one simulator in the running loop; the runner (to clean up) and the URL it listens on."""
    runner = web.AppRunner(
        _make_app(simulator), handle_signals=False, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_port = runner.addresses[0][1]
    scheme = "https" if ssl_context is not None else "http"
    shown_host = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{shown_host}:{bound_port}"
    # Redirect URLs (3-D Secure pages) must name the address the sandbox really listens on.
    simulator.base_url = url
    return runner, url


async def start_sandbox(
    host: str = "127.0.0.1",
    stripe_port: int = 0,
    adyen_port: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    webhooks: Mapping[str, str] | None = None,
    ports: Mapping[str, int] | None = None,
) -> Sandbox:
    """Start every gateway of GATEWAYS in the running loop, each on its port of `ports` (port 0, or none,
    picks a free one). `webhooks`: where each gateway sends its webhooks (connector -> URL of the sidecar's
    webhook path), if anywhere."""
    loop = asyncio.get_running_loop()  # for the settlements the gateways defer
    ports = {"stripe": stripe_port, "adyen": adyen_port, **(ports or {})}
    codecs = {name: gateway.codec() for name, gateway in GATEWAYS.items()}
    senders = {
        name: await WebhookSender(url, GATEWAYS[name].render(codecs[name])).start()
        for name, url in (webhooks or {}).items()
    }
    gateways = {
        name: SimulatedGateway(codec, loop=loop, on_event=senders[name].on_event if name in senders else None)
        for name, codec in codecs.items()
    }
    runners: list[web.AppRunner] = []
    try:
        for name, gateway in gateways.items():
            runners.append((await serve(gateway, host, ports.get(name, 0), ssl_context))[0])
    except BaseException:
        for runner in runners:
            await runner.cleanup()
        for sender in senders.values():
            await sender.aclose()
        raise
    urls = {name: gateway.base_url or "" for name, gateway in gateways.items()}
    return Sandbox(urls, gateways, runners, list(senders.values()))


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sidecar.sandbox.server", description="Run the sandbox gateways.")
    parser.add_argument("--host", default="127.0.0.1")
    for port, name in enumerate(GATEWAYS, start=12111):
        parser.add_argument(f"--{name}-port", type=int, default=port)
    parser.add_argument("--certfile", help="serve HTTPS with this certificate chain (PEM)")
    parser.add_argument("--keyfile", help="private key for --certfile (PEM)")
    args = parser.parse_args(argv)
    if args.keyfile and not args.certfile:
        parser.error("--keyfile needs --certfile")
    return args


def _ssl_context(certfile: str | None, keyfile: str | None) -> ssl.SSLContext | None:
    if not certfile:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


async def _run_until_signalled(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    ports = {name: getattr(args, f"{name}_port") for name in GATEWAYS}
    sandbox = await start_sandbox(args.host, ssl_context=_ssl_context(args.certfile, args.keyfile), ports=ports)
    try:
        print(json.dumps({f"{name}_url": url for name, url in sandbox.urls.items()}), flush=True)
        await stop.wait()
    finally:
        await sandbox.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        asyncio.run(_run_until_signalled(args))
    except OSError as exc:
        print(f"sandbox: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
