"""The forward-proxy listener (mitmproxy regular mode): refuses addresses that are not a configured
gateway's, closes tunnels that carry anything but TLS with HTTP inside, intercepts that TLS with the
sidecar's CA, and answers each request with the gateway's answer fetched by `sidecar.forward` (so
mitmproxy itself never connects upstream)."""

from __future__ import annotations

import structlog
from mitmproxy import ctx, http
from mitmproxy.addons.next_layer import stack_match
from mitmproxy.proxy import commands, events, layer
from mitmproxy.proxy.layers import ClientTLSLayer, HttpLayer, ServerTLSLayer, modes
from mitmproxy.proxy.layers.http import HttpStream

from addons.listeners import came_in_on, checked_mode, on_listener
from connectors.kit.errors import ErrorType, SidecarError
from sidecar import logs, metrics
from sidecar.api import error_response, request_id_of
from sidecar.forward import ForwardProxy

log = structlog.get_logger("sidecar.forward")

_TUNNEL = (modes.HttpProxy, HttpLayer, HttpStream)  # the layers a CONNECT tunnel runs under
# The only layer stacks a forward-proxy connection may have: HTTP to the proxy (a CONNECT, or a plain
# HTTP call), TLS in a CONNECT tunnel (intercepted: the sidecar holds both ends), and HTTP in that TLS.
# Raw TCP, plain HTTP in a tunnel, TLS to the proxy itself: nothing else gets a layer that relays.
_ALLOWED_STACKS = (
    (modes.HttpProxy, HttpLayer),
    (*_TUNNEL, ServerTLSLayer, ClientTLSLayer),
    (*_TUNNEL, ServerTLSLayer, ClientTLSLayer, HttpLayer),
)


class Forward:
    def __init__(self, proxy: ForwardProxy) -> None:
        self.proxy = proxy
        self.mode_spec = ""
        self.in_flight = 0

    def load(self, loader) -> None:
        loader.add_option("forward_mode", str, "", "The proxy mode spec (one of `mode`) of the forward-proxy listener.")

    def configure(self, updated: set[str]) -> None:
        if "forward_mode" in updated:
            self.mode_spec = checked_mode("forward_mode", ctx.options.forward_mode, "regular")

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        # Runs after mitmproxy's NextLayer addon has chosen; only its choice is judged here.
        context = nextlayer.context
        if nextlayer.layer is None or not came_in_on(context.client, self.mode_spec):
            return
        if any(stack_match(context, stack) for stack in _ALLOWED_STACKS):
            return
        reason = "not_http" if context.client.tls else "not_tls"
        host, port = context.server.address or ("", 0)
        log.warning("forward proxy closed a connection", reason=reason, host=host, port=port)
        metrics.FORWARD_REFUSED.labels(reason).inc()
        nextlayer.layer = _Close(context)

    def http_connect(self, flow: http.HTTPFlow) -> None:
        if not on_listener(flow, self.mode_spec):
            return
        if self.proxy.route("https", flow.request.host, flow.request.port) is None:
            self._refuse(flow, "https", request_id_of(None))

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or not on_listener(flow, self.mode_spec):
            return
        req = flow.request
        request_id = request_id_of(req.headers.get("x-request-id"))
        route = self.proxy.route(req.scheme, req.host, req.port)
        if route is None:
            self._refuse(flow, req.scheme, request_id)
            _label(flow, request_id, "-", ErrorType.FORBIDDEN.value)
            return
        outcome = "ok"
        self.in_flight += 1
        try:
            with logs.bound(request_id=request_id, connector=route.bound.connector.name, operation="forward"):
                answer = await self.proxy.forward(
                    route,
                    method=req.method,
                    scheme=req.scheme,
                    host=req.host,
                    port=req.port,
                    path=req.path,
                    headers=req.headers.items(multi=True),
                    body=req.raw_content or b"",
                    request_id=request_id,
                )
            headers = http.Headers([(k.encode(), v.encode()) for k, v in answer.headers])
            flow.response = http.Response.make(answer.status, answer.body, headers)
        except SidecarError as e:
            outcome = e.type.value
            self._error(flow, e, request_id)
        except Exception:
            outcome = ErrorType.INTERNAL.value
            log.exception("internal error in the forward proxy", request_id=request_id)
            self._error(flow, SidecarError(ErrorType.INTERNAL, "internal error; it has been logged"), request_id)
        finally:
            self.in_flight -= 1
        _label(flow, request_id, route.bound.connector.name, outcome)

    def _refuse(self, flow: http.HTTPFlow, scheme: str, request_id: str) -> None:
        """403: the sidecar is never an open proxy, not even to another port of a gateway's host."""
        req = flow.request
        address = f"{scheme}://{req.host}:{req.port}"
        log.warning("forward proxy refused", address=address, method=req.method, request_id=request_id)
        metrics.FORWARD_REFUSED.labels("destination").inc()
        error = SidecarError(ErrorType.FORBIDDEN, f"{address} is not an address of a configured gateway")
        self._error(flow, error, request_id)

    def _error(self, flow: http.HTTPFlow, error: SidecarError, request_id: str) -> None:
        resp = error_response(error, request_id)
        flow.response = http.Response.make(resp.status, resp.body, resp.headers)


class _Close(layer.Layer):
    """Closes the app's connection at once and ignores what follows: there is no protocol in common
    to answer in."""

    def _handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        self._handle_event = self._closed
        yield commands.CloseConnection(self.context.client)

    def _closed(self, event: events.Event) -> layer.CommandGenerator[None]:
        yield from ()


def _label(flow: http.HTTPFlow, request_id: str, connector: str, outcome: str) -> None:
    """The call's labels, as the canonical addon sets them, for its masked copy in mitmweb."""
    flow.metadata.update(request_id=request_id, connector=connector, operation="forward", outcome=outcome)
