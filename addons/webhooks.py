"""Serves gateways' webhooks: everything on the webhook listener (which faces the ingress, so any other
path is 404; `/healthz` is the health addon's), and the same paths on the canonical listener for local
use. Hands each request to `sidecar.webhooks.WebhookService` and sets its answer as the flow's
response, so mitmproxy never opens an upstream connection for it."""

from __future__ import annotations

import structlog
from mitmproxy import ctx, http

from addons.listeners import checked_mode, on_listener
from connectors.kit.errors import ErrorType, SidecarError
from sidecar.api import ApiRequest, error_response
from sidecar.webhooks import OPERATION, PREFIX, WebhookService

log = structlog.get_logger("sidecar.webhooks")


class Webhooks:
    def __init__(self, service: WebhookService) -> None:
        self.service = service
        self.mode_spec = ""

    def load(self, loader) -> None:
        loader.add_option(
            "webhook_mode",
            str,
            "",
            "The proxy mode spec (one of `mode`) of the listener that serves only gateways' webhooks; empty for none.",
        )

    def configure(self, updated: set[str]) -> None:
        if "webhook_mode" in updated:
            self.mode_spec = checked_mode("webhook_mode", ctx.options.webhook_mode, "reverse")

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response:
            return
        req = flow.request
        local = req.path.startswith(PREFIX) and on_listener(flow, ctx.options.canonical_mode)
        if not (local or on_listener(flow, self.mode_spec)):
            return
        try:
            resp = await self.service.handle(ApiRequest(req.method, req.path, req.headers, req.raw_content or b""))
        except Exception:
            # Never leave the flow unanswered: mitmproxy would try the listener's unused upstream.
            log.exception("internal error in the webhook addon")
            resp = error_response(SidecarError(ErrorType.INTERNAL, "internal error; it has been logged"), "")
        flow.response = http.Response.make(resp.status, resp.body, resp.headers)
        flow.metadata["request_id"] = resp.headers["X-Request-Id"]
        flow.metadata.update(resp.labels._asdict() if resp.labels else {"operation": OPERATION})
