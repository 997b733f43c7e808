"""Every gateway call written down once, masked: the "connector call" log line (like
connector-service's golden log line), its metrics, and a masked record for whoever else keeps
exchanges (the mitmweb view, the saved-flows file). Masking happens here, once per call, so the
safety-net metric counts each catch once. A webhook's delivery to the app is written down the same
way, as a "webhook delivery" line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace

import structlog

from connectors.kit.connector import GatewayRequest, GatewayResponse
from connectors.kit.errors import SidecarError
from sidecar import metrics
from sidecar.masking import Masker

log = structlog.get_logger("sidecar.gateway")


@dataclass(frozen=True, slots=True)
class GatewayExchange:
    """One gateway call as it may be shown: every header and body already masked."""

    request_id: str
    connector: str
    account: str
    operation: str
    step: str | None
    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    request_bytes: int
    started: float  # wall clock, seconds since the epoch
    latency_ms: float
    outcome: str  # success, client_error, server_error, not_sent, unknown
    status_code: int | None = None
    response_headers: dict[str, str] | None = None
    response_body: str | None = None
    response_bytes: int | None = None
    error_type: str | None = None
    kind: str = "gateway call"  # or "delivery call": a webhook's event POSTed to the app


# Every field but the wall-clock start (the log line has its own timestamp) and the kind (the line's message).
_LOGGED = tuple(f.name for f in fields(GatewayExchange) if f.name not in ("started", "kind"))


def content_type(headers: Mapping[str, str]) -> str | None:
    """Header names are case-insensitive (and lower case on HTTP/2), whatever mapping holds them."""
    return next((value for name, value in headers.items() if name.lower() == "content-type"), None)


def outcome_of(response: GatewayResponse | None, error: SidecarError | None) -> str:
    if response is not None:
        return "success" if response.status < 400 else "client_error" if response.status < 500 else "server_error"
    return (error.outcome if error else None) or "unknown"


class Audit:
    def __init__(self) -> None:
        self.sinks: list[Callable[[GatewayExchange], None]] = []

    def gateway_call(
        self,
        masker: Masker,
        *,
        request_id: str,
        connector: str,
        account: str,
        operation: str,
        request: GatewayRequest,
        response: GatewayResponse | None,
        error: SidecarError | None,
        started: float,
        latency: float,
    ) -> GatewayExchange:
        exchange = _record(
            masker, request_id, connector, account, operation, request, response, error, started, latency
        )
        self._write("connector call", exchange)
        metrics.GATEWAY_CALLS.labels(connector, operation, exchange.outcome).inc()
        metrics.GATEWAY_LATENCY.labels(connector, operation).observe(latency)
        return exchange

    def delivery(
        self,
        masker: Masker,
        *,
        request_id: str,
        connector: str,
        account: str,
        request: GatewayRequest,
        response: GatewayResponse | None,
        error: SidecarError | None,
        started: float,
        latency: float,
    ) -> GatewayExchange:
        """A webhook's event POSTed to the app (its metrics are the webhook service's)."""
        exchange = replace(
            _record(masker, request_id, connector, account, "webhook", request, response, error, started, latency),
            kind="delivery call",
        )
        self._write("webhook delivery", exchange)
        return exchange

    def _write(self, message: str, exchange: GatewayExchange) -> None:
        try:
            line = {name: getattr(exchange, name) for name in _LOGGED}
            log.info(message, **{k: v for k, v in line.items() if v is not None})
        except Exception:  # a log line that cannot be written must never fail a payment call
            log.error("could not write a call's line", connector=exchange.connector, operation=exchange.operation)
        for sink in self.sinks:
            sink(exchange)


def _record(
    masker: Masker,
    request_id: str,
    connector: str,
    account: str,
    operation: str,
    request: GatewayRequest,
    response: GatewayResponse | None,
    error: SidecarError | None,
    started: float,
    latency: float,
) -> GatewayExchange:
    return GatewayExchange(
        request_id=request_id,
        connector=connector,
        account=account,
        operation=operation,
        step=request.step or None,
        method=request.method,
        url=masker.url(request.url),
        request_headers=masker.headers(request.headers.items()),
        request_body=masker.body(content_type(request.headers), request.body),
        request_bytes=len(request.body or b""),
        started=started,
        latency_ms=round(latency * 1000, 3),
        outcome=outcome_of(response, error),
        status_code=response.status if response is not None else None,
        response_headers=masker.headers(response.headers.items()) if response is not None else None,
        response_body=masker.body(content_type(response.headers), response.body, gateway_ids=True)
        if response
        else None,
        response_bytes=len(response.body) if response is not None else None,
        error_type=error.type.value if error else None,
    )
