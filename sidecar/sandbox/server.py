"""Serve the sandbox gateways over HTTP with aiohttp.

:func:`start_sandbox` starts both simulators inside the caller's running event loop (no signal
handlers, no access log) and returns a :class:`Sandbox` with their base URLs; ``await
sandbox.close()`` stops them. Each app has a single catch-all route that hands the request to the
simulator's ``handle``; all behaviour lives in the gateways' codecs and the engine.

Standalone::

    python -m sidecar.sandbox.server --host 127.0.0.1 --stripe-port 12111 --adyen-port 12112

prints ``{"stripe_url": "...", "adyen_url": "..."}`` as one JSON line once both listen, and runs
until SIGINT or SIGTERM.
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
from connectors.kit.sandbox import Event, SandboxResponse
from connectors.stripe.sandbox import StripeCodec

from .gateway import SimulatedGateway
from .webhooks import WebhookSender, adyen_render, stripe_render

__all__ = ["Sandbox", "main", "serve", "start_sandbox"]

# Gateways cap request bodies well below this; it only stops a runaway client.
_MAX_BODY = 1024 * 1024
# How long close() waits for open connections before cutting them.
_SHUTDOWN_TIMEOUT = 2.0


class _Simulator(Protocol):
    base_url: str | None

    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> SandboxResponse: ...


@dataclass
class Sandbox:
    """The running sandbox: where each gateway listens, and the simulators behind them."""

    stripe_url: str
    adyen_url: str
    stripe: SimulatedGateway
    adyen: SimulatedGateway
    _runners: list[web.AppRunner] = field(default_factory=list, repr=False)
    _senders: list[WebhookSender] = field(default_factory=list, repr=False)

    @property
    def base_urls(self) -> dict[str, str]:
        """Each connector's API base on the sandbox (Adyen's includes its version path)."""
        return {"stripe": self.stripe_url, "adyen": self.adyen_url + "/v71"}

    async def close(self) -> None:
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()
        self.stripe.close()
        self.adyen.close()
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
) -> Sandbox:
    """Start the Stripe and Adyen simulators in the running loop; port 0 picks a free port. `webhooks`:
    where each gateway sends its webhooks (connector -> URL of the sidecar's webhook path), if anywhere."""
    loop = asyncio.get_running_loop()  # for the settlements the gateways defer
    stripe_codec = StripeCodec()
    renders = {"stripe": stripe_render(stripe_codec), "adyen": adyen_render(ADYEN_SANDBOX_MERCHANT)}
    senders = {name: await WebhookSender(url, renders[name]).start() for name, url in (webhooks or {}).items()}

    def on_event(name: str) -> Callable[[Event], None] | None:
        return senders[name].on_event if name in senders else None

    stripe = SimulatedGateway(stripe_codec, loop=loop, on_event=on_event("stripe"))
    adyen = SimulatedGateway(AdyenCodec(), loop=loop, on_event=on_event("adyen"))
    runners: list[web.AppRunner] = []
    try:
        for gateway, port in ((stripe, stripe_port), (adyen, adyen_port)):
            runners.append((await serve(gateway, host, port, ssl_context))[0])
    except BaseException:
        for runner in runners:
            await runner.cleanup()
        for sender in senders.values():
            await sender.aclose()
        raise
    assert stripe.base_url is not None and adyen.base_url is not None
    return Sandbox(stripe.base_url, adyen.base_url, stripe, adyen, runners, list(senders.values()))


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m sidecar.sandbox.server", description="Run the Stripe and Adyen sandbox gateways."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--stripe-port", type=int, default=12111)
    parser.add_argument("--adyen-port", type=int, default=12112)
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
    sandbox = await start_sandbox(
        args.host, args.stripe_port, args.adyen_port, _ssl_context(args.certfile, args.keyfile)
    )
    try:
        print(json.dumps({"stripe_url": sandbox.stripe_url, "adyen_url": sandbox.adyen_url}), flush=True)
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
