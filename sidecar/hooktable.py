"""mitmproxy's addon manager, with each event's handlers looked up once instead of on every event.

mitmproxy dispatches an event by walking every addon and its sub-addons, with a `getattr`, a
coroutine and a context manager for each one, whether it handles the event or not, then does the
same again for an `update` event after each flow event. A canonical call is four flow events, so
that walk was about a fifth of the sidecar's CPU per call (py-spy, bench/README "Benchmarks"), and
a third of plain mitmdump's. This manager keeps, per event name, the handlers mitmproxy's own walk
finds (`_iter_hooks`, in chain order), rebuilt whenever an addon is added or removed, and calls them
with mitmproxy's guarantees: `AddonHalt` ends the event, any other exception is logged as
"Addon error" and the next handler runs, async handlers are awaited; an `update` that no addon
handles is not even made. An addon must not grow or lose a hook method once it is loaded."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Any

from mitmproxy import addonmanager, exceptions, flow, hooks
from mitmproxy.master import Master

# mitmproxy's own logger for addon errors, so the lines read as they always have.
logger = logging.getLogger(addonmanager.__name__)

_UPDATE = hooks.UpdateHook([])


class HookTable(addonmanager.AddonManager):
    def __init__(self, master: Master) -> None:
        super().__init__(master)
        self._handlers: dict[str, tuple[Callable[..., Any], ...]] = {}

    def handlers(self, event: hooks.Hook) -> tuple[Callable[..., Any], ...]:
        found = self._handlers.get(event.name)
        if found is None:
            found = tuple(func for addon in self.chain for _, func in self._iter_hooks(addon, event))
            self._handlers[event.name] = found
        return found

    # Every change of the chain goes through one of these.
    def register(self, addon):
        self._handlers.clear()
        try:
            return super().register(addon)
        finally:
            self._handlers.clear()

    def add(self, *addons) -> None:
        try:
            super().add(*addons)
        finally:
            self._handlers.clear()

    def remove(self, addon) -> None:
        try:
            super().remove(addon)
        finally:
            self._handlers.clear()

    def clear(self) -> None:
        super().clear()
        self._handlers.clear()

    async def handle_lifecycle(self, event: hooks.Hook) -> None:
        args = event.args()
        await self._run(self.handlers(event), args)
        if isinstance(args[0], flow.Flow) and (update := self.handlers(_UPDATE)):
            await self._run(update, [[args[0]]])

    async def trigger_event(self, event: hooks.Hook) -> None:
        await self._run(self.handlers(event), event.args())

    async def _run(self, handlers: Sequence[Callable[..., Any]], args: list[Any]) -> None:
        for handler in handlers:
            try:
                result = handler(*args)
                if result is not None and inspect.isawaitable(result):
                    await result
            except exceptions.AddonHalt:
                return
            except exceptions.OptionsError:
                raise
            except Exception as e:
                logger.error(f"Addon error: {e}", exc_info=True)


def install(master: Master) -> None:
    """Gives `master`, before any addon is added, a HookTable in place of its AddonManager."""
    if master.addons.chain:
        raise RuntimeError("the hook table must be installed before any addon is added")
    master.options.changed.disconnect(master.addons._configure_all)
    master.addons = HookTable(master)
