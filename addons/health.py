"""`/healthz` (the process serves) and `/readyz` (config loaded, listeners up, not draining) on the
canonical listener, answered at request headers so nothing else is involved."""

from __future__ import annotations

from mitmproxy import ctx, http

from addons.audit import INTERNAL
from addons.listeners import on_listener

_JSON = {"Content-Type": "application/json"}


class Health:
    def __init__(self) -> None:
        self.ready = False
        self.draining = False

    def running(self) -> None:
        # mitmproxy fires `running` once every listener is bound.
        self.ready = True

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.request.method != "GET" or not on_listener(flow, ctx.options.canonical_mode):
            return
        path = flow.request.path.split("?", 1)[0]
        if path in ("/healthz", "/readyz"):
            flow.metadata[INTERNAL] = True
        if path == "/healthz":
            flow.response = http.Response.make(200, b'{"status":"ok"}', _JSON)
        elif path == "/readyz":
            if self.draining:
                flow.response = http.Response.make(503, b'{"status":"draining"}', _JSON)
            elif self.ready:
                flow.response = http.Response.make(200, b'{"status":"ok"}', _JSON)
            else:
                flow.response = http.Response.make(503, b'{"status":"starting"}', _JSON)
