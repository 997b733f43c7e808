"""One simulated gateway: a codec's wire format over its own engine ledger.

:class:`SimulatedGateway` has the simulators' ``handle(method, path, query, headers, body)``, so
``server.py`` serves it like them. It hands the request to the codec, the codec's call to the engine
and the engine's reply back to the codec (or to the call, where it renders itself: the shared 3-D Secure
pages); a slow test card's delay rides on the answer for the server to wait out. With an event loop it
also drives deferred settlement: one timer, re-armed after every call for the engine's next due
settlement. Without one, its owner calls :meth:`settle_due` (tests with a clock of their own).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

from connectors.kit.sandbox import Event, SandboxCodec, SandboxRequest, SandboxResponse

from .common import DEFAULT_MAX_OBJECTS, lower_headers, origin
from .engine import Engine

__all__ = ["SimulatedGateway"]


class SimulatedGateway:
    def __init__(
        self,
        codec: SandboxCodec,
        base_url: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[Event], None] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        max_objects: int = DEFAULT_MAX_OBJECTS,
    ) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.codec = codec
        self.engine = Engine(
            codec.rules, codec.policy, codec.new_id, clock=clock, on_event=on_event, max_objects=max_objects
        )
        self._clock = clock
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    def handle(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> SandboxResponse:
        lowered = lower_headers(headers)
        request = SandboxRequest(
            method=method.upper(),
            path=path,
            query=query,
            headers=lowered,
            body=body,
            base_url=origin(self.base_url, lowered),
            now=self._clock(),
        )
        routed = self.codec.route(request)
        if isinstance(routed, SandboxResponse):
            return routed
        reply = self.engine.execute(routed)
        self._arm()
        call = replace(routed, context=reply.first_context) if reply.replayed else routed
        answer = call.render(reply) if call.render else self.codec.render(request, call, reply)
        return replace(answer, delay=reply.delay) if reply.delay else answer

    def settle_due(self) -> None:
        self._timer = self._timer_at = None
        self.engine.settle_due()
        self._arm()

    def close(self) -> None:
        """Stop the settlement timer (what is still pending stays pending)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None

    def _arm(self) -> None:
        if self._loop is None:
            return
        due = self.engine.next_settlement()
        if due == self._timer_at:
            return
        self.close()
        if due is not None:
            # A timer that fires a little early finds nothing due and is simply armed again.
            self._timer = self._loop.call_later(max(0.0, due - self._clock()), self.settle_due)
            self._timer_at = due
