"""`sidecar run`: mitmproxy embedded in our process with only the addons the sidecar needs, the
sandbox gateways when a connector has no credentials, and a graceful drain on SIGTERM or SIGINT
(sidecar.drain: mitmproxy has none)."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog
from mitmproxy import exceptions, options
from mitmproxy.addons import core, next_layer, proxyserver
from mitmproxy.master import Master

from addons.audit import AuditFlows
from addons.canonical import Canonical
from addons.connections import ClientConnections
from addons.error_pages import ErrorPages
from addons.forward import Forward
from addons.health import Health
from addons.startup import StartupErrors
from addons.tls import TlsConfig
from addons.webhooks import Webhooks
from connectors.kit.masking import Sensitivity
from sidecar import ca, collector, fdlimit, hooktable, metrics, openapi, shortcuts
from sidecar.api import CanonicalApi
from sidecar.audit import Audit
from sidecar.config import ConfigError, Settings
from sidecar.delivery import AppDelivery
from sidecar.dispatch import Dispatcher
from sidecar.drain import Drain
from sidecar.forward import ForwardProxy
from sidecar.masking import Masker
from sidecar.outbound import OutboundPool
from sidecar.registry import REGISTRY
from sidecar.sandbox import start_sandbox
from sidecar.sandbox.tls import make_sandbox_tls
from sidecar.sandbox.webhooks import listener_url
from sidecar.web import MaskedView, SidecarWebMaster
from sidecar.webhooks import WebhookService

log = structlog.get_logger("sidecar")

# Nothing listens here: the canonical and health addons answer every request before mitmproxy would connect.
_NOWHERE = "http://127.0.0.1:9"


# The comment column carries each flow's connector, operation, outcome and request id (sidecar/flows.py).
WEB_COLUMNS = ["icon", "method", "path", "status", "comment", "size", "time"]


def answered_mode(host: str, port: int) -> str:
    """The mode spec of a listener whose addons answer every request themselves (canonical, ops)."""
    return f"reverse:{_NOWHERE}@{host}:{port}"


async def serve(settings: Settings) -> int:
    """Serves until stopped by a signal; returns the exit status (sidecar.drain). Raises ConfigError
    when it cannot start (the CA, a listener)."""
    needed = fdlimit.needed(settings)
    if (fd_limit := fdlimit.raise_soft_limit(needed)) < needed:
        log.warning(
            "the open-file limit is below what the connection cap and pools need", limit=fd_limit, needed=needed
        )
    # Unwound in reverse on the way out, however it goes: the pool, the sandbox, temporary files.
    async with contextlib.AsyncExitStack() as cleanup:
        status = await _run(settings, cleanup, fd_limit)
    log.info("stopped", exit_status=status)
    return status


async def _run(settings: Settings, cleanup: contextlib.AsyncExitStack, fd_limit: int) -> int:
    # The CA is mitmproxy's confdir from the start: set later, TlsConfig would first make and load a
    # second CA in ~/.mitmproxy.
    confdir = cleanup.enter_context(ca.confdir(settings.forward_proxy.ca))
    sandbox, sandbox_tls = None, None
    if any(c.uses_sandbox for c in settings.connectors.values()):
        sandbox_tls = make_sandbox_tls()
        cleanup.callback(sandbox_tls.remove)
        s = settings.sandbox
        # The sandbox gateways send their webhooks to this sidecar, as the real ones would.
        senders = {
            name: url
            for name, conf in settings.connectors.items()
            if conf.uses_sandbox and (url := listener_url(settings, name)) is not None
        }
        ports = {"checkout": s.checkout_port, "paypal": s.paypal_port}
        sandbox = await start_sandbox(s.host, s.stripe_port, s.adyen_port, sandbox_tls.server_context, senders, ports)
        cleanup.push_async_callback(sandbox.close)
    pool = OutboundPool()
    cleanup.push_async_callback(pool.aclose)
    audit = Audit()
    dispatcher = Dispatcher(
        settings, pool, audit, sandbox.base_urls if sandbox else {}, sandbox_tls.ca_file if sandbox_tls else None
    )
    api = CanonicalApi(dispatcher, openapi.document)
    delivery = AppDelivery(settings.webhooks) if settings.webhooks else None
    if delivery is not None:
        cleanup.push_async_callback(delivery.aclose)
    webhooks = WebhookService(dispatcher, audit, settings.webhooks, delivery)
    health = Health(pool)
    forward = Forward(ForwardProxy(dispatcher))
    connections = ClientConnections()
    # App-side flows (canonical and forwarded) can carry any connector's fields: mask by all of them.
    # The canonical answers' ids are the gateways' own.
    app_masker = Masker(
        {k: v for c in REGISTRY.values() for k, v in c.sensitive_fields.items()}
        | {name: Sensitivity.GATEWAY_ID for name in ("id", "payment_id", "operation_id", "network_transaction_id")},
        {h for c in REGISTRY.values() for h in c.secret_headers},
        settings.masking.allow_personal,
        metrics.catch_counter("app"),
    )

    opts = options.Options(confdir=str(confdir))
    view = MaskedView(settings.web.max_flows) if settings.web.enabled else None
    addons = [
        core.Core(),
        proxyserver.Proxyserver(),
        next_layer.NextLayer(),
        TlsConfig(),
        StartupErrors(),
        ErrorPages(),
        connections,
        health,
        Webhooks(webhooks),  # before Canonical: it also answers the webhook paths of the canonical listener
        Canonical(api),
        forward,
        AuditFlows(audit, app_masker, view),
    ]
    shortcuts.install()
    master: Master
    if view is not None:
        master = SidecarWebMaster(opts, view, settings.web.allowed_host_names)
        master.add_sidecar_addons(*addons)
    else:
        master = Master(opts)
        hooktable.install(master)
        master.addons.add(*addons)
    canonical = answered_mode(settings.listen.host, settings.listen.port)
    fp = settings.forward_proxy
    forward_spec = f"regular@{fp.host}:{fp.port}" if fp.enabled else ""
    ops = settings.ops
    ops_spec = answered_mode(ops.host, ops.port) if ops.enabled else ""
    hooks = settings.webhooks.listen if settings.webhooks else None
    webhook_spec = answered_mode(hooks.host, hooks.port) if hooks else ""
    cc = settings.client_connections
    try:
        opts.update(
            mode=[spec for spec in (canonical, forward_spec, ops_spec, webhook_spec) if spec],
            canonical_mode=canonical,
            forward_mode=forward_spec,
            ops_mode=ops_spec,
            webhook_mode=webhook_spec,
            # The addons answer every request themselves; mitmproxy must never open an upstream connection.
            connection_strategy="lazy",
            keep_host_header=True,  # masked copies show the Host the app sent
            body_size_limit=str(settings.max_body_bytes),
            save_masked_flows=str(settings.save_flows or ""),
            client_header_timeout=cc.header_timeout,
            client_idle_timeout=cc.idle_timeout,
            max_client_connections=cc.max_open,
            max_ops_connections=ops.max_open,
        )
    except exceptions.OptionsError as e:
        raise ConfigError([str(e)]) from None
    if view is not None:
        web = settings.web
        assert web.password is not None  # the config refuses web without one
        opts.update(
            web_host=web.host,
            web_port=web.port,
            web_password=web.password.get_secret_value(),
            web_open_browser=False,
            web_columns=WEB_COLUMNS,
        )

    def in_flight() -> int:
        # Requests on open connections, and calls whose app has gone but whose gateway call is still out.
        return max(connections.calls_in_progress, api.in_flight + forward.in_flight + webhooks.in_flight)

    drain = Drain(master, connections, health, pool, audit, in_flight, settings.drain_seconds)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, drain.on_signal, sig)
    log.info(
        "starting",
        listen=f"{settings.listen.host}:{settings.listen.port}",
        forward_proxy=f"{fp.host}:{fp.port}" if fp.enabled else None,
        ops=f"{ops.host}:{ops.port}" if ops.enabled else None,
        webhooks=f"{hooks.host}:{hooks.port}" if hooks else None,
        web=f"http://{settings.web.host}:{settings.web.port}/" if view is not None else None,
        connectors={
            name: ("sandbox " + b.base_url) if settings.connectors[name].uses_sandbox else b.base_url
            for name, b in dispatcher.connectors.items()
        },
        open_files_limit=fd_limit,
    )
    collector.settle()
    try:
        await master.run()
    finally:
        audit.flush()  # whatever the way out: what was queued while mitmproxy stopped is written too
    return drain.exit_status
