"""The service endpoints, answered at request headers so nothing else is involved: `/healthz` (the
process serves), `/readyz` (listeners up, not draining) and `/metrics` (Prometheus text format,
sidecar.metrics). On the canonical listener beside the API; on the ops listener (`ops_mode`), which
faces the pod network for kubelet probes and Prometheus, alone: anything else there is 404. The webhook
listener, facing the ingress, has `/healthz` only."""

from __future__ import annotations

from mitmproxy import ctx, http

from addons.audit import INTERNAL
from addons.listeners import checked_mode, on_listener
from connectors.kit.errors import ErrorType, SidecarError
from sidecar import metrics
from sidecar.api import error_response
from sidecar.outbound import OutboundPool

_JSON = {"Content-Type": "application/json"}
_PATHS = ("/healthz", "/readyz", "/metrics")
_NOT_SERVED = SidecarError(ErrorType.NOT_FOUND, "the ops listener serves only GET /healthz, /readyz and /metrics")


class Health:
    def __init__(self, pool: OutboundPool) -> None:
        self.ready = False
        self.draining = False
        self.ops_mode = ""
        metrics.POOL_CONNECTIONS.set_function(pool.open_connections)

    def load(self, loader) -> None:
        loader.add_option(
            "ops_mode",
            str,
            "",
            "The proxy mode spec (one of `mode`) of the ops listener: health and metrics only, nothing else.",
        )

    def configure(self, updated: set[str]) -> None:
        if "ops_mode" in updated:
            self.ops_mode = checked_mode("ops_mode", ctx.options.ops_mode, "reverse")

    def running(self) -> None:
        # mitmproxy fires `running` once every listener is bound.
        self.ready = True

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        ops = on_listener(flow, self.ops_mode)
        path = flow.request.path.split("?", 1)[0]
        if not ops and path not in _PATHS:  # every call of the API: none of this listener's business
            return
        webhooks = path == "/healthz" and on_listener(flow, ctx.options.webhook_mode)
        if not (ops or webhooks or on_listener(flow, ctx.options.canonical_mode)):
            return
        if flow.request.method != "GET" or path not in _PATHS:
            if ops:  # every request there is answered here: the listener has no upstream to go to
                flow.metadata[INTERNAL] = True
                resp = error_response(_NOT_SERVED, "")
                flow.response = http.Response.make(resp.status, resp.body, resp.headers)
            return
        flow.metadata[INTERNAL] = True
        if path == "/metrics":
            flow.response = http.Response.make(200, metrics.render(), {"Content-Type": metrics.CONTENT_TYPE})
        elif path == "/healthz":
            flow.response = http.Response.make(200, b'{"status":"ok"}', _JSON)
        elif self.draining:
            flow.response = http.Response.make(503, b'{"status":"draining"}', _JSON)
        elif self.ready:
            flow.response = http.Response.make(200, b'{"status":"ok"}', _JSON)
        else:
            flow.response = http.Response.make(503, b'{"status":"starting"}', _JSON)
