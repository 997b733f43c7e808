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
- With that garbage gone, the younger generations hold mostly live calls, which scanning cannot
  free: the middle one is scanned less often (`THRESHOLDS`).
"""

from __future__ import annotations

import asyncio
import gc

from mitmproxy.proxy import events, layer
from mitmproxy.proxy.layers import http

# Python's default is (700, 10, 10). With finished requests released, what is left for the collector
# is mostly the layers of closed connections. In the slow-gateway scenario, the middle generation
# scanned every 50 young collections (so the oldest every 500) made 16 middle and 1 full collection
# instead of 73 and 6 with the release alone, and an added p99 of 12-13 ms instead of 14-23 ms.
THRESHOLDS = (700, 50, 10)

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


def settle() -> None:
    """Once start-up is done, before the first call."""
    release_finished_requests()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
