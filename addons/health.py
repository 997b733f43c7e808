"""The service endpoints on the canonical listener, answered at request headers so nothing else is
involved: `/healthz` (the process serves), `/readyz` (listeners up, not draining) and `/metrics`
(Prometheus text format, sidecar.metrics). The webhook listener, facing the ingress, has `/healthz` only."""

from __future__ import annotations

from mitmproxy import ctx, http

from addons.audit import INTERNAL
from addons.listeners import on_listener
from sidecar import metrics
from sidecar.outbound import OutboundPool

_JSON = {"Content-Type": "application/json"}


class Health:
    def __init__(self, pool: OutboundPool) -> None:
        self.ready = False
        self.draining = False
        metrics.POOL_CONNECTIONS.set_function(pool.open_connections)

    def running(self) -> None:
        # mitmproxy fires `running` once every listener is bound.
        self.ready = True

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.request.method != "GET":
            return
        path = flow.request.path.split("?", 1)[0]
        if path not in ("/healthz", "/readyz", "/metrics"):
            return
        on_webhooks = path == "/healthz" and on_listener(flow, ctx.options.webhook_mode)
        if not (on_webhooks or on_listener(flow, ctx.options.canonical_mode)):
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
