"""The forward proxy for legacy apps that call a gateway's own API (API.md, "The forward proxy").

Only the hosts of configured connectors pass (plus each connector's extra hosts), so the sidecar is
never an open proxy. A call to a connector's host goes out the same way as a canonical call: the
connector's pooled client, upstream proxy and timeouts, one attempt, written down masked. A sandbox
connector's calls go to the sandbox, so an app using a gateway's SDK with its default API host works
with no account and no network. Credentials can be injected so the app holds none."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from connectors import CallContext, GatewayRequest, GatewayResponse
from sidecar.dispatch import BoundConnector, Dispatcher

# Hop-by-hop headers (RFC 9110 7.6.1) and those the outbound client sets itself.
_REQUEST_DROP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
# The client hands over the decoded body: its framing and encoding headers no longer apply.
_RESPONSE_DROP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"})


@dataclass(frozen=True, slots=True)
class Route:
    bound: BoundConnector
    target: str | None  # scheme://host[:port] to send to, or None: the host itself (https)


@dataclass(frozen=True, slots=True)
class Forwarded:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class ForwardProxy:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._exact: dict[str, Route] = {}
        self._suffixes: list[tuple[str, Route]] = []
        for bound in dispatcher.connectors.values():
            base = urlsplit(bound.base_url)
            origin = f"{base.scheme}://{base.netloc}"
            # Calls to the gateway's public hosts go where the connector sends (its base URL, or the sandbox).
            self._add(bound.connector.hosts, Route(bound, origin))
            self._add([base.hostname or ""], Route(bound, origin))
            self._add(bound.settings.forward.extra_hosts, Route(bound, None))

    def _add(self, hosts: Iterable[str], route: Route) -> None:
        for host in hosts:
            host = host.lower()
            if host.startswith("."):
                self._suffixes.append((host, route))
            elif host:
                self._exact.setdefault(host, route)

    def route(self, host: str) -> Route | None:
        host = host.lower().rstrip(".")
        if host in self._exact:
            return self._exact[host]
        return next((route for suffix, route in self._suffixes if host.endswith(suffix)), None)

    async def forward(
        self,
        route: Route,
        *,
        method: str,
        scheme: str,
        authority: str,
        path: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        request_id: str,
    ) -> Forwarded:
        bound = route.bound
        conf = bound.settings.forward
        inject = conf.inject_credentials if conf.inject_credentials is not None else bound.settings.uses_sandbox
        out = {k: v for k, v in headers if k.lower() not in _REQUEST_DROP}
        if inject:
            injected = bound.connector.auth_headers(self.dispatcher.credentials(bound, conf.account, None))
            names = {h.lower() for h in injected}
            app_sent_some = any(k.lower() in names for k in out)
            if conf.app_credentials == "replace" or not app_sent_some:
                out = {k: v for k, v in out.items() if k.lower() not in names} | injected
        target = route.target or f"{scheme}://{authority}"
        request = GatewayRequest(method, target + path, out, body or None)
        account = conf.account if inject else "app"  # whose credentials went out
        ctx = CallContext(base_url=target, credentials=None, request_id=request_id, account=account)
        response = await self.dispatcher.send(bound, ctx, request, "forward")
        return _forwarded(response)


def _forwarded(response: GatewayResponse) -> Forwarded:
    # The client's headers are a multidict: items() yields repeated headers (Set-Cookie) each time.
    headers = [(str(k), v) for k, v in response.headers.items() if k.lower() not in _RESPONSE_DROP]
    return Forwarded(response.status, headers, response.body)
