"""The sidecar's addon manager (sidecar/hooktable.py) dispatches as mitmproxy's does: chain order,
sync and async handlers, `update` after a flow event, an addon's error logged without stopping the
others, AddonHalt ending the event, and addons added or removed later taken into account."""

from __future__ import annotations

import asyncio
import logging

from mitmproxy import exceptions, options
from mitmproxy.master import Master
from mitmproxy.proxy.layers.http import HttpRequestHook
from mitmproxy.test import tflow

from sidecar import hooktable


class Recorder:
    def __init__(self, name: str, seen: list[str]) -> None:
        self.name = name
        self.seen = seen

    def request(self, flow) -> None:
        self.seen.append(f"{self.name} request")

    def update(self, flows) -> None:
        self.seen.append(f"{self.name} update")


class AsyncRecorder(Recorder):
    async def request(self, flow) -> None:
        await asyncio.sleep(0)
        self.seen.append(f"{self.name} request")


class Failing(Recorder):
    def request(self, flow) -> None:
        raise RuntimeError("boom")


class Halting(Recorder):
    def request(self, flow) -> None:
        self.seen.append(f"{self.name} request")
        raise exceptions.AddonHalt


def dispatch(*addons: object, later: object = None, drop: object = None) -> list[list[str]]:
    """What each of two request events reaches: before and after `later` is added and `drop` removed."""

    async def scenario() -> list[list[str]]:
        master = Master(options.Options())
        hooktable.install(master)
        assert isinstance(master.addons, hooktable.HookTable)
        master.addons.add(*addons)
        seen = addons[0].seen  # type: ignore[attr-defined]
        rounds = []
        for first in (True, False):
            seen.clear()
            await master.addons.handle_lifecycle(HttpRequestHook(tflow.tflow()))
            rounds.append(list(seen))
            if first and later is not None:
                master.addons.add(later)
            if first and drop is not None:
                master.addons.remove(drop)
        return rounds

    return asyncio.run(scenario())


def test_handlers_run_in_chain_order_sync_and_async_then_update() -> None:
    seen: list[str] = []
    (first, _) = dispatch(Recorder("a", seen), AsyncRecorder("b", seen), Recorder("c", seen))
    assert first == ["a request", "b request", "c request", "a update", "b update", "c update"]


def test_an_addon_error_is_logged_and_the_next_handler_runs(caplog) -> None:
    seen: list[str] = []
    with caplog.at_level(logging.ERROR):
        (first, _) = dispatch(Recorder("a", seen), Failing("f", seen), Recorder("c", seen))
    assert first == ["a request", "c request", "a update", "f update", "c update"]
    assert any(r.getMessage() == "Addon error: boom" for r in caplog.records)


def test_addon_halt_ends_the_event() -> None:
    seen: list[str] = []
    (first, _) = dispatch(Recorder("a", seen), Halting("h", seen), Recorder("c", seen))
    assert first[:2] == ["a request", "h request"] and "c request" not in first


def test_addons_added_or_removed_later_are_taken_into_account() -> None:
    seen: list[str] = []
    b = Recorder("b", seen)
    (_, second) = dispatch(Recorder("a", seen), b, later=Recorder("late", seen), drop=b)
    assert second == ["a request", "late request", "a update", "late update"]


class ReturnsAwaitable(Recorder):
    """A plain method that sometimes has something to wait for, as addons/audit.py's `response`."""

    def request(self, flow):
        async def later() -> None:
            await asyncio.sleep(0)
            self.seen.append(f"{self.name} request, later")

        self.seen.append(f"{self.name} request")
        return later()


def test_a_plain_handler_may_return_something_to_await() -> None:
    seen: list[str] = []
    (first, _) = dispatch(Recorder("a", seen), ReturnsAwaitable("w", seen), Recorder("c", seen))
    assert first == ["a request", "w request", "w request, later", "c request", "a update", "w update", "c update"]
