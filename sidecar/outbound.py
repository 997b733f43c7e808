"""The outbound leg: pooled httpx clients, explicit timeouts, one attempt, faults mapped to API.md.

The counterpart of connector-service's `call_connector_api`. mitmproxy opens a new upstream
connection per client connection and has no connect/read/total timeout, so gateway calls do not go
through it: they go through `httpx.AsyncClient`s cached per route (upstream proxy, client certificate,
CA bundle, pool limits) and shared by every app connection, so keep-alive connections to a gateway
are reused even when the app opens a new connection per call.

No retries, ever: a call that may have reached the gateway may have moved money. Each transport
fault maps to exactly one outcome, so the app knows whether to retry (`not_sent`) or sync (`unknown`).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path

import certifi
import httpx

from connectors.base import GatewayRequest, GatewayResponse
from sidecar.config import ConnectorSettings, PoolSettings
from sidecar.errors import ErrorType, SidecarError


@dataclass(frozen=True, slots=True)
class _Route:
    proxy: str | None
    cert: Path | None
    key: Path | None
    ca_bundle: Path | None
    pool: PoolSettings


class OutboundPool:
    def __init__(self) -> None:
        self._clients: dict[_Route, httpx.AsyncClient] = {}
        self._transports: list[httpx.AsyncHTTPTransport] = []

    def _client(self, route: _Route) -> httpx.AsyncClient:
        client = self._clients.get(route)
        if client is None:
            transport = httpx.AsyncHTTPTransport(
                proxy=route.proxy,
                verify=_ssl_context(route),
                limits=httpx.Limits(
                    max_connections=route.pool.max_connections,
                    max_keepalive_connections=route.pool.max_keepalive,
                    keepalive_expiry=route.pool.idle_timeout,
                ),
                trust_env=False,
            )
            # Egress is what the config says, never what the sidecar's own environment happens to hold.
            client = httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False)
            self._clients[route] = client
            self._transports.append(transport)
        return client

    def open_connections(self) -> int:
        # httpx does not expose its pool; httpcore's pool (behind the transport) lists its connections.
        return sum(len(t._pool.connections) for t in self._transports)

    def route(self, url: httpx.URL, settings: ConnectorSettings) -> _Route:
        proxy = settings.proxy.url_for(url.scheme, url.host) if settings.proxy else None
        cert = settings.client_cert
        return _Route(proxy, cert.cert if cert else None, cert.key if cert else None, settings.ca_bundle, settings.pool)

    async def send(self, req: GatewayRequest, settings: ConnectorSettings, connector: str) -> GatewayResponse:
        url = httpx.URL(req.url)
        route = self.route(url, settings)
        t = settings.timeouts
        timeout = httpx.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.connect)
        try:
            async with asyncio.timeout(t.total):
                resp = await self._client(route).request(
                    req.method, url, headers=req.headers, content=req.body, timeout=timeout
                )
        except httpx.HTTPError as e:
            raise _fault(e, connector, via_proxy=route.proxy is not None) from e
        except TimeoutError:
            raise SidecarError(
                ErrorType.GATEWAY_TIMEOUT,
                f"{connector} did not answer within {t.total:g}s; the call may have been processed",
                outcome="unknown",
                connector=connector,
            ) from None
        if resp.status_code == 407 and route.proxy is not None:
            raise SidecarError(
                ErrorType.PROXY_ERROR,
                "the upstream proxy demands authentication (407)",
                outcome="not_sent",
                connector=connector,
            )
        return GatewayResponse(resp.status_code, resp.headers, resp.content)

    async def aclose(self) -> None:
        clients, self._clients, self._transports = list(self._clients.values()), {}, []
        await asyncio.gather(*(c.aclose() for c in clients), return_exceptions=True)


def _ssl_context(route: _Route) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=certifi.where())
    if route.ca_bundle is not None:
        ctx.load_verify_locations(cafile=route.ca_bundle)
    if route.cert is not None:
        ctx.load_cert_chain(route.cert, route.key)
    return ctx


def _fault(e: httpx.HTTPError, connector: str, *, via_proxy: bool) -> SidecarError:
    """One API.md outcome per transport fault. Before the request left: not_sent; after: unknown."""
    if isinstance(e, httpx.ProxyError):
        return SidecarError(
            ErrorType.PROXY_ERROR,
            f"the upstream proxy refused the tunnel: {e}",
            outcome="not_sent",
            connector=connector,
        )
    if isinstance(e, (httpx.ConnectError, httpx.ConnectTimeout)):
        # Through a proxy, the connection httpx opens is to the proxy: failing it means the proxy is down.
        if via_proxy:
            return SidecarError(
                ErrorType.PROXY_ERROR, "cannot connect to the upstream proxy", outcome="not_sent", connector=connector
            )
        what = "timed out connecting to" if isinstance(e, httpx.ConnectTimeout) else "cannot connect to"
        return SidecarError(
            ErrorType.GATEWAY_UNREACHABLE, f"{what} {connector}", outcome="not_sent", connector=connector
        )
    if isinstance(e, httpx.PoolTimeout):
        return SidecarError(
            ErrorType.GATEWAY_UNREACHABLE,
            f"no pooled connection to {connector} came free in time (pool exhausted)",
            outcome="not_sent",
            connector=connector,
        )
    if isinstance(e, (httpx.ReadTimeout, httpx.WriteTimeout)):
        return SidecarError(
            ErrorType.GATEWAY_TIMEOUT,
            f"{connector} did not answer in time; the call may have been processed",
            outcome="unknown",
            connector=connector,
        )
    return SidecarError(
        ErrorType.GATEWAY_ERROR,
        f"the connection to {connector} failed after the request was sent ({type(e).__name__})",
        outcome="unknown",
        connector=connector,
    )
