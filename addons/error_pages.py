"""mitmproxy's own error pages, made safe. Some requests never reach an addon with a chance to answer:
a malformed request line or header, a body over `body_size_limit`, a request with no host. mitmproxy
answers those itself with an HTML page that quotes the offending input (a header line with a card
number in it, say), and no addon hook can change that page.

So the adaptation is at the narrowest point there is: the functions that format those pages.
HTTP/1 (every listener's plain HTTP, the whole canonical API) gets the API's JSON error body; HTTP/2
and HTTP/3, whose layers set `content-type: text/html` themselves, get a bare page with the status
only. Neither quotes the request. Each such answer is logged and counted, with the request id that
its body carries. Installed while the addon is loaded, removed when it is done."""

from __future__ import annotations

import structlog
from mitmproxy import http, version
from mitmproxy.net.http import http1, status_codes
from mitmproxy.proxy.layers.http import _http1, _http2, _http3

from connectors.kit.errors import ErrorType
from connectors.kit.models import ErrorBody, ErrorInfo
from sidecar import metrics
from sidecar.api import new_request_id

log = structlog.get_logger("sidecar.http")

# What each status mitmproxy answers with means to an app; a status not listed is our own fault.
_MEANING: dict[int, tuple[ErrorType, str]] = {
    400: (ErrorType.INVALID_REQUEST, "malformed HTTP request"),
    413: (ErrorType.PAYLOAD_TOO_LARGE, "body over the configured limit"),
    431: (ErrorType.INVALID_REQUEST, "request headers too large"),
}
_FALLBACK = (ErrorType.INTERNAL, "the request could not be answered; it has been logged")


def _answered(status: int) -> tuple[ErrorType, str, str]:
    kind, message = _MEANING.get(status, _FALLBACK)
    request_id = new_request_id()
    log.warning("answered by the HTTP layer", status_code=status, error_type=kind.value, request_id=request_id)
    metrics.ERRORS.labels(kind.value, "-").inc()
    return kind, message, request_id


def json_error_response(status_code: int, message: str = "") -> bytes:
    """Replaces `_http1.make_error_response`: `message` (which may quote the request) is not used."""
    kind, text, request_id = _answered(status_code)
    body = ErrorBody(error=ErrorInfo(type=kind.value, message=text, request_id=request_id))
    resp = http.Response.make(
        status_code,
        body.model_dump_json(exclude_none=True).encode(),
        http.Headers(
            Server=version.MITMPROXY, Connection="close", Content_Type="application/json", X_Request_Id=request_id
        ),
    )
    return http1.assemble_response(resp)


def bare_error_page(status_code: int, message: str = "") -> bytes:
    """Replaces `format_error` for HTTP/2 and HTTP/3: the status only, never `message`."""
    _answered(status_code)
    reason = status_codes.RESPONSES.get(status_code, "Error")
    return f"<html><body><h1>{status_code} {reason}</h1></body></html>".encode()


class ErrorPages:
    def __init__(self) -> None:
        self._originals = (_http1.make_error_response, _http2.format_error, _http3.format_error)

    def load(self, loader) -> None:
        _http1.make_error_response = json_error_response
        _http2.format_error = _http3.format_error = bare_error_page

    def done(self) -> None:
        _http1.make_error_response, _http2.format_error, _http3.format_error = self._originals
