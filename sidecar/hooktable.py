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

import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mitmproxy import addonmanager, exceptions, flow, hooks
from mitmproxy.master import Master

# mitmproxy's own logger for addon errors, so the lines read as they always have.
logger = logging.getLogger(addonmanager.__name__)

_UPDATE = hooks.UpdateHook([])


# What is left to await of a hook begun with `lifecycle_now` and handed on to mitmproxy's hook task.
REST = "_sidecar_rest"


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
        if REST in event.__dict__:  # begun already (sidecar/shortcuts.py)
            rest = event.__dict__.pop(REST)
        else:
            rest = self.lifecycle_now(event)
        if rest is not None:
            await rest

    async def trigger_event(self, event: hooks.Hook) -> None:
        if (rest := self._run_now(self.handlers(event), _args(event))) is not None:
            await rest

    def lifecycle_now(self, event: hooks.Hook) -> Awaitable[None] | None:
        """`handle_lifecycle` as far as it goes without waiting: None when the event is done, else
        what is left of it, to be awaited."""
        args = _args(event)
        rest = self._run_now(self.handlers(event), args)
        if not isinstance(args[0], flow.Flow):
            return rest
        if rest is not None:
            return self._then(rest, [[args[0]]])
        return self._run_now(update, [[args[0]]]) if (update := self.handlers(_UPDATE)) else None

    def _run_now(self, handlers: Sequence[Callable[..., Any]], args: list[Any]) -> Awaitable[None] | None:
        for i, handler in enumerate(handlers):
            try:
                result = handler(*args)
            except Exception as e:
                if _halts(e):
                    return None
            else:
                if result is not None and inspect.isawaitable(result):
                    return self._finish(result, handlers[i + 1 :], args)
        return None

    async def _finish(self, pending: Awaitable[Any], handlers: Sequence[Callable[..., Any]], args: list[Any]) -> None:
        try:
            await pending
        except Exception as e:
            if _halts(e):
                return
        if (rest := self._run_now(handlers, args)) is not None:
            await rest

    async def _then(self, rest: Awaitable[None], args: list[Any]) -> None:
        await rest
        if (update := self.handlers(_UPDATE)) and (rest := self._run_now(update, args)) is not None:
            await rest


def _halts(error: Exception) -> bool:
    """mitmproxy's rules for a handler's exception (called where it is caught): `AddonHalt` ends the
    event, `OptionsError` goes on up, any other is logged as "Addon error" and the next handler runs."""
    if isinstance(error, exceptions.AddonHalt):
        return True
    if isinstance(error, exceptions.OptionsError):
        raise error
    logger.error(f"Addon error: {error}", exc_info=True)
    return False


_ARG_NAMES: dict[type[hooks.Hook], tuple[str, ...]] = {}


def _args(event: hooks.Hook) -> list[Any]:
    """`event.args()`, without asking `dataclasses.fields` for the names every time."""
    names = _ARG_NAMES.get(type(event))
    if names is None:
        names = _ARG_NAMES[type(event)] = tuple(f.name for f in dataclasses.fields(event))  # type: ignore[arg-type]
    return [getattr(event, name) for name in names]


def install(master: Master) -> None:
    """Gives `master`, before any addon is added, a HookTable in place of its AddonManager."""
    if master.addons.chain:
        raise RuntimeError("the hook table must be installed before any addon is added")
    master.options.changed.disconnect(master.addons._configure_all)
    master.addons = HookTable(master)
