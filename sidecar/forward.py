"""The forward proxy for legacy apps that call a gateway's own API (API.md, "The forward proxy").

It opens nothing but gateway HTTPS. An address (scheme, host, port) passes only where a configured
connector sends: its base URL, its gateway's public API (`Connector.public_api`: HTTPS on port 443),
and its `forward.extra_hosts`. So the sidecar is never an open proxy, not even to another port of an
allowed host, and a call reaches the connector its address belongs to, with that connector's
credentials. A call goes out the same way as a canonical call: the connector's pooled client,
upstream proxy and timeouts, one attempt, written down masked. A sandbox connector's calls go to the
sandbox, so an app using a gateway's SDK with its default API host works with no account and no
network. Credentials can be injected so the app holds none."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import structlog

from connectors.kit.auth import placeholder_answer, with_token
from connectors.kit.connector import CallContext, GatewayRequest, GatewayResponse
from sidecar.dispatch import BoundConnector, Dispatcher

log = structlog.get_logger("sidecar.forward")

type Address = tuple[str, str, int]  # scheme, host, port

_DEFAULT_PORT = {"http": 80, "https": 443}

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
    origin: str | None  # scheme://host[:port] to send to, or None: the address the app called
    mount: str = ""  # put in front of a path that lacks it (Adyen live: /checkout)

    def url(self, scheme: str, host: str, port: int, path: str) -> str:
        if self.origin is None:
            return _origin(scheme, host, port) + path
        # A path already under the mount (a call to the base URL's own host) gets nothing added twice.
        mounted = not self.mount or path == self.mount or path.startswith((self.mount + "/", self.mount + "?"))
        return self.origin + (path if mounted else self.mount + path)


@dataclass(frozen=True, slots=True)
class Forwarded:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class ForwardProxy:
    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self._exact: dict[Address, Route | None] = {}  # None: two connectors claim it, so neither gets it
        self._wildcards: list[tuple[str, re.Pattern[str], int, Route]] = []
        for bound in dispatcher.connectors.values():
            base = urlsplit(bound.base_url)
            public = bound.connector.public_api
            # Calls to the gateway's public API go where the connector sends (its base URL, or the sandbox).
            to_base = Route(bound, f"{base.scheme}://{base.netloc}", public.mount(base.path))
            self._add((base.scheme, base.hostname or "", base.port or _DEFAULT_PORT[base.scheme]), to_base)
            for host in public.hosts:
                self._add(("https", host, public.port), to_base)
            for host, port in bound.settings.forward.extra_addresses:
                self._add(("https", host, port), Route(bound, None))

    def _add(self, address: Address, route: Route) -> None:
        scheme, host, port = address
        if host.startswith("*"):
            self._wildcards.append((scheme, re.compile("[^.]+" + re.escape(host[1:])), port, route))
            return
        claimed = self._exact.setdefault(address, route)
        if claimed is not None and claimed.bound is not route.bound:
            log.warning(
                "forward proxy refuses an address two connectors send to",
                address=_origin(*address),
                connectors=[claimed.bound.connector.name, route.bound.connector.name],
            )
            self._exact[address] = None

    def route(self, scheme: str, host: str, port: int) -> Route | None:
        """The route of a call to this address, or None: the sidecar opens nothing else."""
        host = host.lower().rstrip(".")
        if (scheme, host, port) in self._exact:
            return self._exact[(scheme, host, port)]
        return next(
            (r for s, pattern, p, r in self._wildcards if (s, p) == (scheme, port) and pattern.fullmatch(host)), None
        )

    async def forward(
        self,
        route: Route,
        *,
        method: str,
        scheme: str,
        host: str,
        port: int,
        path: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        request_id: str,
    ) -> Forwarded:
        bound = route.bound
        conf = bound.settings.forward
        inject = conf.inject_credentials if conf.inject_credentials is not None else bound.settings.uses_sandbox
        out = {k: v for k, v in headers if k.lower() not in _REQUEST_DROP}
        credentials = self.dispatcher.credentials(bound, conf.account, None) if inject else None
        account = conf.account if inject else "app"  # whose credentials went out
        ctx = CallContext(
            base_url=route.origin or _origin(scheme, host, port),
            credentials=credentials,
            request_id=request_id,
            account=account,
        )
        request = GatewayRequest(method, route.url(scheme, host, port, path), out, body or None)
        token = bound.connector.token_step(replace(ctx, base_url=bound.base_url)) if inject else None
        if token is not None:
            # A gateway that takes access tokens: the app's own token call gets a token worth nothing, and each
            # of its API calls the account's real one (one new token and one repeat on a 401).
            if method == "POST" and urlsplit(request.url).path == urlsplit(token.request.url).path:
                return Forwarded(200, [("Content-Type", "application/json")], placeholder_answer())
            return _forwarded(await self.dispatcher.run(bound, ctx, with_token(token, request), "forward"))
        if inject:
            injected = bound.connector.auth_headers(credentials)
            names = {h.lower() for h in injected}
            app_sent_some = any(k.lower() in names for k in out)
            if conf.app_credentials == "replace" or not app_sent_some:
                request = replace(request, headers={k: v for k, v in out.items() if k.lower() not in names} | injected)
        return _forwarded(await self.dispatcher.send(bound, ctx, request, "forward"))


def _forwarded(response: GatewayResponse) -> Forwarded:
    # The client's headers are a multidict: items() yields repeated headers (Set-Cookie) each time.
    headers = [(str(k), v) for k, v in response.headers.items() if k.lower() not in _RESPONSE_DROP]
    return Forwarded(response.status, headers, response.body)


def _origin(scheme: str, host: str, port: int) -> str:
    netloc = f"[{host}]" if ":" in host else host
    return f"{scheme}://{netloc}" + ("" if port == _DEFAULT_PORT.get(scheme) else f":{port}")
