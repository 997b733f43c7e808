"""Masked mitmproxy flows: what mitmweb shows and what is saved to disk, never the live flows.

A live flow holds the real card number while its call is in flight, and mitmweb's raw view and
content endpoints serve a flow's real bytes whatever the content view shows; so the view and the
file get fresh flows built only from masked parts, on the live flow's connections (addresses,
timestamps, TLS details: nothing of a payment)."""

from __future__ import annotations

import functools
import time
from urllib.parse import urlsplit

from mitmproxy import connection, flow, http
from mitmproxy.net.http import status_codes
from mitmproxy.net.http import url as net_url

from sidecar.audit import GatewayExchange, content_type
from sidecar.masking import Masker

# A masked body is decoded text; these would make mitmweb try to decode or frame it again.
_FRAMING = ("content-encoding", "transfer-encoding", "content-length")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")  # as mitmproxy encodes what it decoded


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")  # as mitmproxy decodes header fields


def _fields(masked: dict[str, str], body: bytes) -> http.Headers:
    """The masked headers but the framing ones, and the masked body's own length."""
    kept = ((_bytes(k), _bytes(v)) for k, v in masked.items() if k.lower() not in _FRAMING)
    return http.Headers((*kept, (b"content-length", str(len(body)).encode())))


# Built from masked parts as `Request.make` and `Response.make` build them, without parsing a URL back
# into the parts it was made of or looking the framing headers up again.
def _request(
    scheme: str,
    host: str,
    port: int,
    method: str,
    path: str,
    body: str,
    headers: dict[str, str],
    start: float,
    end: float | None,
) -> http.Request:
    content = _bytes(body)
    return http.Request(
        host, port, _bytes(method), _bytes(scheme), b"", _bytes(path), b"HTTP/1.1",
        _fields(headers, content), content, None, start, end,
    )  # fmt: skip


def _response(status: int, body: str, headers: dict[str, str], start: float, end: float | None) -> http.Response:
    content = _bytes(body)
    reason = status_codes.RESPONSES.get(status, "").encode()
    return http.Response(b"HTTP/1.1", status, reason, _fields(headers, content), content, None, start, end)


def _masked_parts(message: http.Message, masker: Masker, gateway_ids: bool) -> tuple[str, dict[str, str]]:
    """A message's body and headers, masked. Its header fields are decoded once, as
    `Headers.items(multi=True)` decodes them, rather than walked again for each header looked up."""
    fields = [(_text(name), _text(value)) for name, value in message.headers.fields]
    # Decoded where the app compressed it: a gzip body would otherwise be withheld as unparsed.
    encoded = any(name.lower() == "content-encoding" for name, _ in fields)
    content = message.get_content(strict=False) if encoded else message.raw_content
    return masker.body(content_type(fields), content, gateway_ids=gateway_ids), masker.headers(fields)


def masked_app_flow(live: http.HTTPFlow, masker: Masker, kind: str = "app call") -> http.HTTPFlow:
    """A masked copy of an app's call: to the canonical API, or to a gateway through the forward proxy;
    or, as a "webhook call", of a gateway's webhook, whose body is the gateway's own (its ids kept)."""
    req = live.request
    host, port = req.host, req.port
    if live.client_conn.proxy_mode.type_name == "reverse":
        # Shown as the address the app called, not the reverse proxy's unused upstream.
        host, port = live.client_conn.sockname[:2]
    path, url = req.path, req.url
    if (masked_url := masker.url(url)) != url:
        path = _text(net_url.parse(masked_url)[3])
    body, headers = _masked_parts(req, masker, gateway_ids=kind == "webhook call")
    # Shared as mitmproxy shares them among a connection's flows.
    masked = http.HTTPFlow(live.client_conn, live.server_conn)
    masked.request = _request(
        req.scheme, host, port, req.method, path, body, headers, req.timestamp_start, req.timestamp_end
    )
    if live.response is not None:
        resp = live.response
        masked.response = _response(
            resp.status_code, *_masked_parts(resp, masker, gateway_ids=True), resp.timestamp_start, resp.timestamp_end
        )
    if live.error is not None:
        masked.error = flow.Error(masker.text(live.error.msg), live.error.timestamp)
    meta = live.metadata
    label(
        masked,
        kind,
        meta.get("request_id", ""),
        meta.get("connector", "-"),
        meta.get("operation", "-"),
        meta.get("outcome", "-"),
    )
    return masked


def gateway_flow(ex: GatewayExchange) -> http.HTTPFlow:
    """The gateway call a canonical call caused (or a webhook's delivery to the app), made from its
    already-masked record."""
    url = urlsplit(ex.url)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    f = http.HTTPFlow(*_placeholders(host, port))
    path = url.path + (f"?{url.query}" if url.query else "")
    f.request = _request(
        url.scheme, host, port, ex.method, path, ex.request_body, ex.request_headers, ex.started, ex.started
    )
    finished = ex.started + ex.latency_ms / 1000
    if ex.status_code is not None:
        f.response = _response(ex.status_code, ex.response_body or "", ex.response_headers or {}, finished, finished)
    else:
        f.error = flow.Error(f"{ex.error_type}: outcome {ex.outcome}", finished)
    label(f, ex.kind, ex.request_id, ex.connector, ex.operation, ex.outcome, ex.step)
    return f


@functools.lru_cache(maxsize=256)
def _placeholders(host: str, port: int) -> tuple[connection.Client, connection.Server]:
    """The connections a gateway flow shows: the sidecar's pooled ones are not flows' to show, so one
    pair per gateway, shared by its flows as mitmproxy shares a kept-alive connection's (making a
    `Server` sets its twenty-odd fields through a checking `__setattr__`: 9 us a flow)."""
    client = connection.Client(peername=("127.0.0.1", 0), sockname=("127.0.0.1", 0), timestamp_start=time.time())
    return client, connection.Server(address=(host, port))


def label(
    f: http.HTTPFlow, kind: str, request_id: str, connector: str, operation: str, outcome: str, step: str | None = None
) -> None:
    """What mitmweb's flow list shows of a call, in its comment column, as `key=value` words that
    its search box filters on (`~comment "connector=stripe"`): e.g. `connector=stripe
    operation=authorize outcome=success request=3fX... gateway call: create payment intent`. The
    same labels go into the metadata, for scripts that read the saved flows."""
    f.comment = f"connector={connector} operation={operation} outcome={outcome} request={request_id or '-'} {kind}" + (
        f": {step}" if step else ""
    )
    f.metadata.update(request_id=request_id, connector=connector, operation=operation, outcome=outcome)
