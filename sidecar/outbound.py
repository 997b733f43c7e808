"""The outbound leg: pooled HTTP clients, explicit timeouts, one attempt, faults mapped to API.md.

The counterpart of connector-service's `call_connector_api`. mitmproxy opens a new upstream
connection per client connection and has no connect/read/total timeout, so gateway calls do not go
through it: they go through client sessions cached per route (upstream proxy, client certificate,
CA bundle, pool limits) and shared by every app connection, so keep-alive connections to a gateway
are reused even when the app opens a new connection per call.

The client is aiohttp's, not httpx's as first designed: measured in bench/, httpx cost about 0.6 ms
of CPU per call, more than all the rest of the sidecar's own work, and aiohttp does the same job
(pools, proxies with CONNECT and auth, TLS contexts, connect/read/total timeouts) for a fraction.
httpx's API over the aiohttp transport (httpx-aiohttp, the benchmark's C (httpx-aiohttp) row) still
costs the whole call 16% more CPU than aiohttp alone: the leg stays on aiohttp.

No retries of a call that may have reached the gateway: it may have moved money. Each transport
fault maps to exactly one outcome, so the app knows whether to retry (`not_sent`) or sync
(`unknown`). (aiohttp re-sends an idempotent GET once if a kept-alive connection turns out closed;
a sync moves no money. POSTs are never re-sent.)

A route admits at most `pool.max_connections` calls at once; the next ones wait, in order, up to
`pool.wait_timeout` (then `gateway_unreachable`, not sent), so waiting for a busy pool has a bound
of its own and `timeouts.connect` bounds only opening a connection. Sessions keep no cookies: a
gateway's cookie set on one app's call must never ride along on another's.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import certifi

from connectors.kit.connector import GatewayRequest, GatewayResponse
from connectors.kit.errors import STATUS_DECIDES, ErrorType, SidecarError
from sidecar.config import ConnectorSettings, PoolSettings, Timeouts


@dataclass(frozen=True, slots=True)
class _Route:
    # A plain-http gateway through a proxy is sent in absolute form over a connection to the proxy,
    # and many proxies (tinyproxy among them) close it after each answer without saying so: reusing
    # it would turn a POST into an unknown outcome. Such routes get a fresh connection per call;
    # https gateways go through a CONNECT tunnel that is kept alive end to end.
    forward_via_proxy: bool
    proxy: str | None
    cert: Path | None
    key: Path | None
    ca_bundle: Path | None
    pool: PoolSettings


@dataclass(frozen=True, slots=True)
class _Pool:
    session: aiohttp.ClientSession
    slots: asyncio.Semaphore  # one per connection the route may open: calls beyond wait for one


class OutboundPool:
    def __init__(self) -> None:
        self._pools: dict[_Route, _Pool] = {}

    def _pool(self, route: _Route) -> _Pool:
        pool = self._pools.get(route)
        if pool is None:
            connector = aiohttp.TCPConnector(
                ssl=_ssl_context(route),
                limit=route.pool.max_connections,
                limit_per_host=0,
                keepalive_timeout=None if route.forward_via_proxy else route.pool.idle_timeout,
                force_close=route.forward_via_proxy,
            )
            # Egress is what the config says, never what the sidecar's own environment happens to hold.
            session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            pool = self._pools[route] = _Pool(session, asyncio.Semaphore(route.pool.max_connections))
        return pool

    def open_connections(self) -> int:
        # aiohttp keeps idle kept-alive connections per host key in `_conns`, busy ones in `_acquired`.
        return sum(
            len(p.session.connector._acquired) + sum(len(c) for c in p.session.connector._conns.values())  # type: ignore[union-attr]
            for p in self._pools.values()
        )

    def route(self, url: str, settings: ConnectorSettings) -> _Route:
        parts = urlsplit(url)
        proxy = settings.proxy.url_for(parts.scheme, parts.hostname or "") if settings.proxy else None
        cert = settings.client_cert
        return _Route(
            proxy is not None and parts.scheme == "http",
            proxy,
            cert.cert if cert else None,
            cert.key if cert else None,
            settings.ca_bundle,
            settings.pool,
        )

    async def send(self, req: GatewayRequest, settings: ConnectorSettings, connector: str) -> GatewayResponse:
        route = self.route(req.url, settings)
        pool = self._pool(route)
        await _admitted(pool.slots, route.pool, connector)
        t = settings.timeouts
        try:
            async with pool.session.request(
                req.method,
                req.url,
                headers=req.headers,
                data=req.body,
                proxy=route.proxy,
                timeout=_timeout(t),
                allow_redirects=False,
            ) as resp:
                try:
                    body = await resp.read()
                except aiohttp.ClientPayloadError:
                    if resp.status not in STATUS_DECIDES:
                        raise
                    # The status already says what happened and that the gateway did nothing; the body
                    # that broke off would only have said it again.
                    body = b""
        except (TimeoutError, aiohttp.ClientError) as e:
            raise _fault(e, connector, t.total, via_proxy=route.proxy is not None) from e
        finally:
            pool.slots.release()  # after the connection went back to aiohttp's pool: the next call reuses it
        if resp.status == 407 and route.proxy is not None:
            raise SidecarError(
                ErrorType.PROXY_ERROR,
                "the upstream proxy demands authentication (407)",
                outcome="not_sent",
                connector=connector,
            )
        return GatewayResponse(resp.status, resp.headers, body)

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        await asyncio.gather(*(p.session.close() for p in pools), return_exceptions=True)


async def _admitted(slots: asyncio.Semaphore, pool: PoolSettings, connector: str) -> None:
    """Takes one of the route's slots, waiting at most `pool.wait_timeout` when all are busy."""
    if not slots.locked():
        await slots.acquire()  # a free slot: taken at once, without the cost of a timer
        return
    try:
        async with asyncio.timeout(pool.wait_timeout):
            await slots.acquire()
    except TimeoutError:
        raise SidecarError(
            ErrorType.GATEWAY_UNREACHABLE,
            f"no free connection to {connector} within pool.wait_timeout ({pool.wait_timeout:g}s): all "
            f"{pool.max_connections} of pool.max_connections are busy",
            outcome="not_sent",
            connector=connector,
        ) from None


@functools.cache
def _timeout(t: Timeouts) -> aiohttp.ClientTimeout:
    # `connect` bounds opening a connection (the route's slots mean aiohttp's own pool never makes a
    # call wait); `sock_read` each read.
    return aiohttp.ClientTimeout(total=t.total, connect=t.connect, sock_read=t.read)


def _ssl_context(route: _Route) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=certifi.where())
    if route.ca_bundle is not None:
        ctx.load_verify_locations(cafile=route.ca_bundle)
    if route.cert is not None:
        ctx.load_cert_chain(route.cert, route.key)
    return ctx


def _fault(e: BaseException, connector: str, total: float, *, via_proxy: bool) -> SidecarError:
    """One API.md outcome per transport fault. Before the request left: not_sent; after: unknown."""
    if isinstance(e, aiohttp.ClientHttpProxyError):
        return SidecarError(
            ErrorType.PROXY_ERROR,
            f"the upstream proxy refused the tunnel ({e.status} {e.message})",
            outcome="not_sent",
            connector=connector,
        )
    if isinstance(e, aiohttp.ClientProxyConnectionError):
        return SidecarError(
            ErrorType.PROXY_ERROR, "cannot connect to the upstream proxy", outcome="not_sent", connector=connector
        )
    if isinstance(e, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        # Through a proxy, the connection opened is to the proxy: failing it means the proxy is down.
        if via_proxy:
            return SidecarError(
                ErrorType.PROXY_ERROR, "cannot connect to the upstream proxy", outcome="not_sent", connector=connector
            )
        if isinstance(e, aiohttp.ConnectionTimeoutError):
            what = f"no connection to {connector} within the connect timeout"
        elif isinstance(e, aiohttp.ClientSSLError):
            what = f"the TLS handshake with {connector} failed"
        else:
            what = f"cannot connect to {connector}"
        return SidecarError(ErrorType.GATEWAY_UNREACHABLE, what, outcome="not_sent", connector=connector)
    if isinstance(e, asyncio.TimeoutError):  # a read timeout, or the total timeout
        return SidecarError(
            ErrorType.GATEWAY_TIMEOUT,
            f"{connector} did not answer in time (total limit {total:g}s); the call may have been processed",
            outcome="unknown",
            connector=connector,
        )
    return SidecarError(
        ErrorType.GATEWAY_ERROR,
        f"the connection to {connector} failed after the request was sent ({type(e).__name__})",
        outcome="unknown",
        connector=connector,
    )
