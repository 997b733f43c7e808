"""Hygiene for the connections to every listener the sidecar runs (canonical API, forward proxy,
ops). mitmproxy 12 has only an inactivity timeout, which a client that sends a byte now and then
never trips, and no limit on open connections.

- A new connection must send a whole request head within `client_header_timeout`; through the
  forward proxy, the CONNECT head, then the tunnel's TLS handshake and first request head.
- A kept-alive connection with no call in progress is closed when no whole request head has come
  `client_idle_timeout` after its last answer. (Addons see request heads, not bytes, so on a reused
  connection this one timeout covers both the wait and the head.)
- A connection beyond `max_client_connections` open ones is closed at once, logged and counted. The
  ops listener (`ops_mode`, health and metrics for the pod network) has a cap of its own,
  `max_ops_connections`, and does not count towards the apps': whoever can reach that port from the
  pod network cannot take the apps' connections.
- Draining (`drain`), connections idle after an answer are closed and answers carry
  `Connection: close`; `close_all` ends the rest.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import structlog
from mitmproxy import connection, ctx, exceptions, http

from addons.listeners import came_in_on
from sidecar import metrics

log = structlog.get_logger("sidecar.connections")

HEADER, IDLE = "header", "idle"
_OPTIONS = ("client_header_timeout", "client_idle_timeout", "max_client_connections", "max_ops_connections")


@dataclass(slots=True)
class _Client:
    calls: set[str] = field(default_factory=set)  # ids of the flows whose head came and answer has not gone
    timer: asyncio.TimerHandle | None = None
    waiting: str = HEADER  # for what the timer runs: a first request head, or the next after an answer
    ops: bool = False  # on the ops listener, under its own cap


class ClientConnections:
    def __init__(self) -> None:
        self._clients: dict[str, _Client] = {}
        self._timeouts = {HEADER: 10.0, IDLE: 60.0}
        self._max = 4096
        self._max_ops = 64
        self._open_ops = 0
        self.draining = False
        # Per cap ("app", "ops"): refusals not yet logged, and when the last line was.
        self._refused_unlogged = {"app": 0, "ops": 0}
        self._refusal_logged_at = {"app": float("-inf"), "ops": float("-inf")}
        metrics.CLIENT_CONNECTIONS.set_function(lambda: len(self._clients))

    def load(self, loader) -> None:
        loader.add_option(
            "client_header_timeout", float, 10.0, "Seconds a new client connection has to send a whole request head."
        )
        loader.add_option(
            "client_idle_timeout",
            float,
            60.0,
            "Seconds a kept-alive client connection may wait, after an answer, for the next whole request head.",
        )
        loader.add_option(
            "max_client_connections",
            int,
            4096,
            "Open client connections over the apps' listeners (all but the ops listener); more are closed at once.",
        )
        loader.add_option(
            "max_ops_connections", int, 64, "Open client connections to the ops listener; more are closed at once."
        )

    def configure(self, updated: set[str]) -> None:
        for name in _OPTIONS:
            if name in updated and getattr(ctx.options, name) <= 0:
                raise exceptions.OptionsError(f"{name} must be positive")
        self._timeouts = {HEADER: ctx.options.client_header_timeout, IDLE: ctx.options.client_idle_timeout}
        self._max = ctx.options.max_client_connections
        self._max_ops = ctx.options.max_ops_connections

    @property
    def calls_in_progress(self) -> int:
        return sum(len(c.calls) for c in self._clients.values())

    def client_connected(self, client: connection.Client) -> None:
        # `ops_mode` is the Health addon's option: the listener it serves.
        ops = came_in_on(client, ctx.options.ops_mode)
        full = self._open_ops >= self._max_ops if ops else len(self._clients) - self._open_ops >= self._max
        if full:
            client.error = "too many client connections"  # mitmproxy closes it without a word
            self._refused("ops" if ops else "app")
            return
        self._clients[client.id] = c = _Client(ops=ops)
        self._open_ops += ops
        self._arm(client.id, c, HEADER)

    def client_disconnected(self, client: connection.Client) -> None:
        c = self._clients.pop(client.id, None)
        if c is None:
            return
        self._open_ops -= c.ops
        if c.timer is not None:
            c.timer.cancel()

    def http_connect(self, flow: http.HTTPFlow) -> None:
        if c := self._clients.get(flow.client_conn.id):
            self._arm(flow.client_conn.id, c, HEADER)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if c := self._clients.get(flow.client_conn.id):
            c.calls.add(flow.id)
            if c.timer is not None:
                c.timer.cancel()
                c.timer = None

    def response(self, flow: http.HTTPFlow) -> None:
        assert flow.response is not None
        if self.draining and flow.request.http_version.startswith("HTTP/1"):
            flow.response.headers["connection"] = "close"  # mitmproxy closes it once the answer is out
        self._call_done(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._call_done(flow)

    def drain(self) -> None:
        """From now on connections close once they have no call in progress; those idle now, at once."""
        self.draining = True
        for client_id, c in list(self._clients.items()):
            if not c.calls and c.waiting == IDLE:
                self._close(client_id)

    async def close_all(self, wait: float) -> None:
        """Closes every client connection and waits up to `wait` seconds for mitmproxy to let go of
        them, so that no connection task is left for the event loop to cancel as it stops."""
        connections = ctx.master.addons.get("proxyserver").connections
        for client_id in list(connections):
            self._close(client_id)
        deadline = time.monotonic() + wait
        while connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def _call_done(self, flow: http.HTTPFlow) -> None:
        c = self._clients.get(flow.client_conn.id)
        if c is not None:
            c.calls.discard(flow.id)
            if not c.calls:
                self._arm(flow.client_conn.id, c, IDLE)

    def _arm(self, client_id: str, c: _Client, which: str) -> None:
        if c.timer is not None:
            c.timer.cancel()
        c.waiting = which
        c.timer = asyncio.get_running_loop().call_later(self._timeouts[which], self._expired, client_id, which)

    def _expired(self, client_id: str, which: str) -> None:
        c = self._clients.get(client_id)
        if c is None or c.calls:
            return
        c.timer = None
        metrics.CLIENT_CONNECTIONS_TIMED_OUT.labels(which).inc()
        log.debug("client connection timed out", timeout=which)
        self._close(client_id)

    def _close(self, client_id: str) -> None:
        handler = ctx.master.addons.get("proxyserver").connections.get(client_id)
        if handler is None:
            return
        transport = handler.transports.get(handler.client)
        if transport is not None and transport.handler is not None:  # None only before mitmproxy starts reading
            handler.close_connection(handler.client)

    def _refused(self, listeners: str) -> None:
        metrics.CLIENT_CONNECTIONS_REFUSED.labels(listeners).inc()
        self._refused_unlogged[listeners] += 1
        now = time.monotonic()
        if now - self._refusal_logged_at[listeners] >= 1:  # a line a second at most per cap, however many are refused
            log.warning(
                "client connections refused: too many open",
                listeners=listeners,
                max_open=self._max_ops if listeners == "ops" else self._max,
                refused=self._refused_unlogged[listeners],
            )
            self._refused_unlogged[listeners] = 0
            self._refusal_logged_at[listeners] = now
