"""Serves the canonical payment API on the canonical listener: hands each request to
`sidecar.api.CanonicalApi` and sets its answer as the flow's response, so mitmproxy never opens an
upstream connection for it (the listener runs with connection_strategy=lazy). A body over the limit
never gets here: mitmproxy's `body_size_limit` refuses it while reading (addons/error_pages.py)."""

from __future__ import annotations

import structlog
from mitmproxy import ctx, http

from addons.listeners import checked_mode, on_listener
from connectors.kit.errors import ErrorType, SidecarError
from sidecar.api import ApiRequest, CanonicalApi, error_response

log = structlog.get_logger("sidecar.api")


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

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or not on_listener(flow, self.mode_spec):
            return
        req = flow.request
        # Apart by a newline, so that no field's broken UTF-8 is completed by the next one's bytes.
        raw_head = b"\n".join([req.data.path, *(part for field in req.headers.fields for part in field)])
        call = ApiRequest(req.method, req.path, _by_lower_name(req.headers.fields), req.raw_content or b"", raw_head)
        try:
            resp = await self.api.handle(call)
        except Exception:
            # Never leave the flow unanswered: mitmproxy would try the listener's unused upstream.
            log.exception("internal error in the canonical addon")
            resp = error_response(SidecarError(ErrorType.INTERNAL, "internal error; it has been logged"), "")
        flow.response = http.Response.make(resp.status, resp.body, resp.headers)
        flow.metadata["request_id"] = resp.headers["X-Request-Id"]
        if resp.labels is not None:
            flow.metadata.update(resp.labels._asdict())


def _by_lower_name(fields: tuple[tuple[bytes, bytes], ...]) -> dict[str, str]:
    """The headers as mitmproxy's `Headers.get` reads them (names compared in ASCII lower case, a
    repeated field's values joined with ", "), in a dict: a call looks up eight of them, and each
    `Headers.get` walks every field."""
    found: dict[str, str] = {}
    for name, value in fields:
        key = name.lower().decode("utf-8", "surrogateescape")
        text = value.decode("utf-8", "surrogateescape")
        found[key] = f"{found[key]}, {text}" if key in found else text
    return found
