"""`GET /metrics` on the canonical listener: Prometheus text format (sidecar.metrics)."""

from __future__ import annotations

from mitmproxy import ctx, http

from addons.audit import INTERNAL
from addons.listeners import on_listener
from sidecar import metrics
from sidecar.outbound import OutboundPool


class Metrics:
    def __init__(self, pool: OutboundPool) -> None:
        metrics.POOL_CONNECTIONS.set_function(pool.open_connections)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.request.method != "GET" or flow.request.path.split("?", 1)[0] != "/metrics":
            return
        if not on_listener(flow, ctx.options.canonical_mode):
            return
        flow.metadata[INTERNAL] = True
        flow.response = http.Response.make(200, metrics.render(), {"Content-Type": metrics.CONTENT_TYPE})
