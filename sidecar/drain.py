"""Stopping on SIGTERM or SIGINT, which mitmproxy leaves to its embedder: stop listening, close
idle client connections, let calls in progress finish up to a deadline, cut what is left, close the
remaining connections, write every call's log lines and masked copies still waiting
(sidecar/audit.py), then stop mitmproxy. A second signal cuts at once.

The exit status says how it went: 0 every call finished, 3 the deadline cut calls, 128 + the
signal's number when a second signal forced the stop (143 for SIGTERM, 130 for SIGINT)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import structlog
from mitmproxy.master import Master

from addons.connections import ClientConnections
from addons.health import Health
from sidecar.audit import Audit
from sidecar.outbound import OutboundPool

log = structlog.get_logger("sidecar")

CLEAN, DEADLINE_CUT = 0, 3
# Once calls are cut, how long their apps' answers (outcome unknown) and the connections' closing
# may take: the tasks mitmproxy runs for them must end before the event loop stops.
_CUT_GRACE_S = 1.0


class Drain:
    def __init__(
        self,
        master: Master,
        connections: ClientConnections,
        health: Health,
        pool: OutboundPool,
        audit: Audit,
        in_flight: Callable[[], int],
        seconds: float,
    ) -> None:
        self.master = master
        self.connections = connections
        self.health = health
        self.pool = pool
        self.audit = audit
        self.in_flight = in_flight
        self.seconds = seconds
        self.exit_status = CLEAN
        self._signals = 0
        self._forced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None  # held: the event loop keeps only weak references

    def on_signal(self, signum: int) -> None:
        self._signals += 1
        if self._signals == 1:
            self._task = asyncio.get_running_loop().create_task(self._run(signum))
        elif self._signals == 2:
            log.warning("second signal: stopping now", signal=signal.Signals(signum).name, in_flight=self.in_flight())
            self.exit_status = 128 + signum
            self._forced.set()

    async def _run(self, signum: int) -> None:
        self.health.draining = True
        self.connections.drain()
        log.info("draining", signal=signal.Signals(signum).name, in_flight=self.in_flight(), deadline_s=self.seconds)
        self.master.options.update(server=False)  # closes the listening sockets; open connections carry on
        await self._settle(self.seconds, until_forced=True)
        if self.in_flight():
            if not self._forced.is_set():
                log.warning("drain deadline passed; calls still in flight are cut", in_flight=self.in_flight())
                self.exit_status = DEADLINE_CUT
            # Closing the pool fails each gateway call in flight, which logs it and answers its app
            # with outcome `unknown`.
            await self.pool.aclose()
            await self._settle(_CUT_GRACE_S, until_forced=False)
        await self.connections.close_all(_CUT_GRACE_S)
        self.audit.flush()
        self.master.shutdown()

    async def _settle(self, seconds: float, *, until_forced: bool) -> None:
        """Waits until no call is in flight, for at most `seconds` (or, if `until_forced`, until forced)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.in_flight() and loop.time() < deadline and not (until_forced and self._forced.is_set()):
            await asyncio.sleep(0.02)
