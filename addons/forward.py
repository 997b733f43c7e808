"""The forward-proxy listener (mitmproxy regular mode): refuses hosts that are not a configured
gateway's, intercepts TLS with the sidecar's CA, and answers each request with the gateway's answer
fetched by `sidecar.forward` (so mitmproxy itself never connects upstream)."""

from __future__ import annotations

import structlog
from mitmproxy import ctx, http

from addons.listeners import checked_mode, on_listener
from sidecar.api import error_response, new_request_id
from sidecar.errors import ErrorType, SidecarError
from sidecar.forward import ForwardProxy

log = structlog.get_logger("sidecar.forward")


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

    def http_connect(self, flow: http.HTTPFlow) -> None:
        if not on_listener(flow, self.mode_spec):
            return
        if self.proxy.route(flow.request.host) is None:
            # Refusing the CONNECT: the sidecar is never an open proxy.
            log.warning("forward proxy refused", host=flow.request.host, method="CONNECT")
            self._refuse(flow)

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or not on_listener(flow, self.mode_spec):
            return
        req = flow.request
        request_id = req.headers.get("x-request-id") or new_request_id()
        route = self.proxy.route(req.host)
        if route is None:
            log.warning("forward proxy refused", host=req.host, method=req.method, request_id=request_id)
            self._refuse(flow, request_id)
            _label(flow, request_id, "-", ErrorType.FORBIDDEN.value)
            return
        outcome = "ok"
        self.in_flight += 1
        try:
            with structlog.contextvars.bound_contextvars(
                request_id=request_id, connector=route.bound.connector.name, operation="forward"
            ):
                answer = await self.proxy.forward(
                    route,
                    method=req.method,
                    scheme=req.scheme,
                    authority=f"{req.host}:{req.port}",
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

    def _refuse(self, flow: http.HTTPFlow, request_id: str = "") -> None:
        error = SidecarError(ErrorType.FORBIDDEN, f"{flow.request.host} is not a configured gateway's host")
        self._error(flow, error, request_id)

    def _error(self, flow: http.HTTPFlow, error: SidecarError, request_id: str) -> None:
        resp = error_response(error, request_id)
        flow.response = http.Response.make(resp.status, resp.body, resp.headers)


def _label(flow: http.HTTPFlow, request_id: str, connector: str, outcome: str) -> None:
    """The call's labels, as the canonical addon sets them, for its masked copy in mitmweb."""
    flow.metadata.update(request_id=request_id, connector=connector, operation="forward", outcome=outcome)
