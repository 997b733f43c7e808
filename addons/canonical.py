"""Serves the canonical payment API on the canonical listener: hands each request to
`sidecar.api.CanonicalApi` and sets its answer as the flow's response, so mitmproxy never opens an
upstream connection for it (the listener runs with connection_strategy=lazy)."""

from __future__ import annotations

from mitmproxy import ctx, http

from addons.listeners import checked_mode, on_listener
from sidecar.api import ApiRequest, CanonicalApi, error_response
from sidecar.errors import ErrorType, SidecarError


class Canonical:
    def __init__(self, api: CanonicalApi) -> None:
        self.api = api
        self.mode_spec = ""

    def load(self, loader) -> None:
        loader.add_option(
            "canonical_mode",
            str,
            "",
            "The proxy mode spec (one of `mode`) of the listener that serves the canonical payment API.",
        )

    def configure(self, updated: set[str]) -> None:
        if "canonical_mode" in updated:
            self.mode_spec = checked_mode("canonical_mode", ctx.options.canonical_mode, "reverse")

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or not on_listener(flow, self.mode_spec):
            return
        # Refuse an oversized body before mitmproxy reads it into memory.
        length = flow.request.headers.get("content-length", "")
        if length.isdigit() and int(length) > self.api.max_body:
            self._error(flow, SidecarError(ErrorType.PAYLOAD_TOO_LARGE, f"body over {self.api.max_body} bytes"))

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or not on_listener(flow, self.mode_spec):
            return
        if flow.request.headers.get("content-encoding", "identity").lower() != "identity":
            self._error(flow, SidecarError(ErrorType.INVALID_REQUEST, "compressed request bodies are not accepted"))
            return
        req = flow.request
        resp = await self.api.handle(ApiRequest(req.method, req.path, req.headers, req.raw_content or b""))
        flow.response = http.Response.make(resp.status, resp.body, resp.headers)
        flow.metadata["request_id"] = resp.headers.get("X-Request-Id", "")
        if resp.labels is not None:
            flow.metadata.update(resp.labels._asdict())

    def _error(self, flow: http.HTTPFlow, error: SidecarError) -> None:
        resp = error_response(error, flow.request.headers.get("x-request-id", ""))
        flow.response = http.Response.make(resp.status, resp.body, resp.headers)
        flow.metadata.update(request_id=resp.headers["X-Request-Id"], outcome=error.type.value)
