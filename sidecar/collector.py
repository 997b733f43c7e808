"""Python's cycle collector kept out of the calls' way.

The collector pauses the one event loop, and every call in flight with it, for as long as it scans.
With real gateways (200-600 ms a call) hundreds of calls are in flight, so their objects reach the
oldest generation before they die, and the full collections that found them paused the loop for
20-100 ms (the slow-gateway scenario, bench/slow.py). So:

- What start-up made (modules, the OpenAPI document, connectors, mitmproxy's addons: about 130,000
  objects) lives as long as the process: it is frozen out of the collector's sight.
- A finished request's objects are freed by reference counting as soon as mitmproxy is done with
  them. mitmproxy's `HttpStream` (one per request) is in reference cycles with itself (its state
  attributes are bound methods of itself, its context's list of layers holds it) and holds the
  flow, so each request left about 20 objects, the real card number among them, for a full
  collection to find.
- A closed connection's objects likewise (`release_closed_connections`). mitmproxy's connection
  handler is in a cycle with its inactivity watchdog (whose callback is a bound method of it), each
  protocol layer with its context's list of layers, and the coroutine reading the connection with the
  `CancelledError` that ends it when mitmproxy closes the connection itself (`Connection: close`):
  each connection left about 60 objects (measured with bench/gateway.py, a new connection per call),
  its last request and so the real card number among them, for a full collection.
- With that garbage gone, a call leaves nothing for the collector: the youngest generation holds
  calls in flight, which scanning cannot free, so it is scanned less often, and the middle one too
  (`THRESHOLDS`).
"""

from __future__ import annotations

import asyncio
import gc
import weakref

from mitmproxy import connection
from mitmproxy.proxy import events, layer, server
from mitmproxy.proxy.context import Context
from mitmproxy.proxy.layers import http

# Python's default is (700, 10, 10). Measured with finished requests released (before closed
# connections were): in the slow-gateway scenario, the middle generation
# scanned every 50 young collections (so the oldest every 500) made 16 middle and 1 full collection
# instead of 73 and 6 with the release alone, and an added p99 of 12-13 ms instead of 14-23 ms.
# The young one: a call's objects are freed by reference counting, so the count of young objects
# only swings with the calls in flight, and at 700 those swings alone set off a young collection
# about every 12 calls (0.2 ms each, none of which found anything: gc.get_stats). At 10,000 they
# rarely do; with mitmweb on, whose flow store keeps every call's copies, a young collection comes
# every few hundred calls instead of every few. CPU per call, head to head (bench at c=8): 0.96-0.99
# of 700's, 0.93-0.96 with mitmweb on; in the slow-gateway scenario's open loop (150 calls in
# flight), no collection at all (gc.callbacks), where 700 made one every few calls.
THRESHOLDS = (10_000, 50, 10)

_handle_event = http.HttpStream.handle_event


def _handle_event_then_release(self: http.HttpStream, event: events.Event) -> layer.CommandGenerator[None]:
    for command in _handle_event(self, event):
        if isinstance(command, http.DropStream):
            # mitmproxy's HTTP layer forgets the stream on this command; the stream still finishes
            # the event it is handling, so it is released after that.
            asyncio.get_running_loop().call_soon(_release, self)
        yield command


def _release(stream: http.HttpStream) -> None:
    """Breaks every cycle through the finished stream by dropping its attributes; one still waiting
    for a command's completion (none is, once dropped, in mitmproxy 12) is left to the collector."""
    if stream.__dict__.get("_paused") is None:
        stream.__dict__.clear()


def release_finished_requests() -> None:
    http.HttpStream.handle_event = _handle_event_then_release  # type: ignore[method-assign]


_handle_connection = server.ConnectionHandler.handle_connection
_handle_client = server.ConnectionHandler.handle_client


async def _handle_connection_forgetting_cancellation(
    self: server.ConnectionHandler, conn: connection.Connection
) -> None:
    try:
        await _handle_connection(self, conn)
    except asyncio.CancelledError as cancelled:
        # mitmproxy keeps the error in a local before re-raising it, so its traceback holds the frame
        # that holds it. mitmproxy only asks whether the task was cancelled, never where.
        cancelled.__traceback__ = None
        raise


async def _handle_client_then_release(self: server.ConnectionHandler) -> None:
    await _handle_client(self)
    # The watchdog's task is cancelled by now: its callback, the handler itself, is never called again.
    self.timeout_watchdog.callback = None  # type: ignore[assignment]
    # Tasks the connection started may outlive it (a call whose app has gone still waits for its
    # gateway, then feeds the layers its answer), and each holds the handler: once the handler is
    # gone, nothing can reach its layers any more.
    weakref.finalize(self, _release_layers, self.layer).atexit = False


def _release_layers(top: layer.Layer) -> None:
    """Drops the attributes of every layer and context reachable from the top layer (directly, or in a
    list or dict, as mitmproxy keeps them), as `_release` does a stream's; a layer still waiting for a
    command's completion is left to the collector."""
    todo: list[object] = [top]
    while todo:
        held = todo.pop()
        if isinstance(held, layer.Layer) and held.__dict__.get("_paused") is not None:
            continue
        for value in held.__dict__.values():
            items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else (value,)
            todo.extend(item for item in items if isinstance(item, (layer.Layer, Context)))
        held.__dict__.clear()


def release_closed_connections() -> None:
    server.ConnectionHandler.handle_connection = _handle_connection_forgetting_cancellation  # type: ignore[method-assign]
    server.ConnectionHandler.handle_client = _handle_client_then_release  # type: ignore[method-assign]


def settle() -> None:
    """Once start-up is done, before the first call."""
    release_finished_requests()
    release_closed_connections()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
