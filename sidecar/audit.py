"""Every gateway call written down once, masked: the "connector call" log line (like
connector-service's golden log line), its metrics, and a masked record for whoever else keeps
exchanges (the mitmweb view, the saved-flows file). Masking happens here, once per call, so the
safety-net metric counts each catch once. A webhook's delivery to the app is written down the same
way, as a "webhook delivery" line.

Written after the answer: a call counts its metrics at once, then queues the rest (masking, the log
lines, the masked copies) as a record, which the event loop's next turn writes, in the order queued,
once the app has its answer; the call's context (its request id, bound for log lines) goes with it.
No record is dropped: with `max_pending` records waiting, a call waits for room before it answers
(backpressure), and the drain writes whatever is left before the process stops (`flush`). Masking
runs at every log level: the safety-net metric counts what it catches."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

import structlog

from connectors.kit.connector import GatewayRequest, GatewayResponse
from connectors.kit.errors import SidecarError
from sidecar import logs, metrics
from sidecar.masking import Masker

log = structlog.get_logger("sidecar.gateway")

MAX_PENDING = 1024  # records waiting to be written; each holds one call's request and answer
_PER_TURN = 32  # records written per turn of the event loop, so that a backlog never holds calls up for long


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


def content_type(fields: Iterable[tuple[str, str]]) -> str | None:
    """The first Content-Type of a message's header fields. Header names are case-insensitive (and
    lower case on HTTP/2), whatever holds them."""
    return next((value for name, value in fields if name.lower() == "content-type"), None)


def outcome_of(response: GatewayResponse | None, error: SidecarError | None) -> str:
    if response is not None:
        return "success" if response.status < 400 else "client_error" if response.status < 500 else "server_error"
    return (error.outcome if error else None) or "unknown"


class Audit:
    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.sinks: list[Callable[[GatewayExchange], None]] = []
        self.max_pending = max_pending
        self._pending: deque[tuple[contextvars.Context, Callable[[], None]]] = deque()
        self._turn_scheduled = False
        self._room: asyncio.Event | None = None  # made on first need, inside the event loop
        metrics.AUDIT_PENDING.set_function(lambda: self.pending() + logs.waiting())

    def pending(self) -> int:
        return len(self._pending)

    async def gateway_call(
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
    ) -> None:
        metrics.labelled(metrics.GATEWAY_CALLS, connector, operation, outcome_of(response, error)).inc()
        metrics.labelled(metrics.GATEWAY_LATENCY, connector, operation).observe(latency)
        record = functools.partial(
            _record, masker, request_id, connector, account, operation, request, response, error, started, latency
        )
        if (wait := self.later_now(lambda: self._write("connector call", record()))) is not None:
            await wait

    async def delivery(
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
    ) -> None:
        """A webhook's event POSTed to the app (its metrics are the webhook service's)."""
        record = functools.partial(
            _record, masker, request_id, connector, account, "webhook", request, response, error, started, latency
        )
        if (
            wait := self.later_now(lambda: self._write("webhook delivery", replace(record(), kind="delivery call")))
        ) is not None:
            await wait

    async def info(self, message: str, **line: Any) -> None:
        """An info line about a call, written after its answer, in order with the call's records."""
        if logs.wants_info() and (wait := self.later_now(functools.partial(logs.info_line, message, line))):
            await wait

    async def later(self, work: Callable[[], None]) -> None:
        """Queues `work` to run once the current call has its answer; waits while the queue is full."""
        try:
            while len(self._pending) >= self.max_pending:
                if self._room is None:
                    self._room = asyncio.Event()
                self._room.clear()
                await self._room.wait()
        finally:  # even a call cancelled while it waited has its record written
            self._queue(work)

    def later_now(self, work: Callable[[], None]) -> Awaitable[None] | None:
        """`later`, without a coroutine where the queue has room: None once queued, else what to
        await (a hook that does not wait completes without a task: sidecar/shortcuts.py)."""
        if len(self._pending) < self.max_pending:
            self._queue(work)
            return None
        return self.later(work)

    def _queue(self, work: Callable[[], None]) -> None:
        self._pending.append((contextvars.copy_context(), work))
        if not self._turn_scheduled:
            self._turn_scheduled = True
            asyncio.get_running_loop().call_soon(self._turn)

    def flush(self) -> None:
        """Writes every waiting record now, and its lines out of the process: before it stops."""
        while self._pending:
            self._write_some(len(self._pending))
        logs.flush()

    def _turn(self) -> None:
        self._turn_scheduled = False
        self._write_some(_PER_TURN)
        if self._pending and not self._turn_scheduled:
            self._turn_scheduled = True
            asyncio.get_running_loop().call_soon(self._turn)

    def _write_some(self, count: int) -> None:
        for _ in range(min(count, len(self._pending))):
            context, work = self._pending.popleft()
            try:
                context.run(work)
            except Exception:  # one record that cannot be written must not stop the others
                log.exception("could not write a call's record")
        if self._room is not None and len(self._pending) < self.max_pending:
            self._room.set()

    def _write(self, message: str, exchange: GatewayExchange) -> None:
        try:
            logs.info_line(message, {name: value for name in _LOGGED if (value := getattr(exchange, name)) is not None})
        except Exception:  # a log line that cannot be written must never stop the others
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
        request_body=masker.body(content_type(request.headers.items()), request.body),
        request_bytes=len(request.body or b""),
        started=started,
        latency_ms=round(latency * 1000, 3),
        outcome=outcome_of(response, error),
        status_code=response.status if response is not None else None,
        response_headers=masker.headers(response.headers.items()) if response is not None else None,
        response_body=masker.body(content_type(response.headers.items()), response.body, gateway_ids=True)
        if response
        else None,
        response_bytes=len(response.body) if response is not None else None,
        error_type=error.type.value if error else None,
    )
