"""structlog, configured once: JSON lines on stdout (what a cluster's log agent ships), or a console
format for development. A last processor masks every string with the safety net, so even a line
someone adds carelessly later cannot carry a card number or a key."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import orjson
import structlog

from sidecar.masking import CLEAN, Masked, MaskedFields, Masker
from sidecar.metrics import catch_counter

_net = Masker(on_catch=catch_counter("log"))

# The fields of the call in progress (request id, connector, account, operation), on every line
# logged while it runs, and on its records written after its answer (they run in its context). One
# variable holding them all: structlog's own contextvars look through the whole context for theirs
# on every line. The default is shared: nothing changes a dict once set (`bind` makes a new one).
_call: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("sidecar_call", default={})  # noqa: B039


def bind(**fields: Any) -> contextvars.Token[dict[str, Any]]:
    """Adds fields to the call's lines until `unbind` with the token returned."""
    return _call.set({**_call.get(), **fields})


def unbind(token: contextvars.Token[dict[str, Any]]) -> None:
    _call.reset(token)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def _merge_call(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in _call.get().items():
        event.setdefault(key, value)  # a line's own field wins, as with structlog's
    return event


# What the net has nothing to look for in: masked already, or not text.
_UNSCANNED = frozenset({Masked, MaskedFields, int, float, bool, type(None)})


def _net_value(value: Any) -> Any:
    if type(value) in _UNSCANNED:
        return value
    if isinstance(value, str):
        return _net.clean(value)
    if isinstance(value, dict):
        return {k: _net_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_net_value(v) for v in value]
    return value


def _mask_strings(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
        kind = type(value)
        if kind is str:
            if value not in CLEAN:  # most are the same few names on every line
                event[key] = _net.clean(value)
        elif kind not in _UNSCANNED:  # most of a call's other fields: not even a call of _net_value
            event[key] = _net_value(value)
    return event


_second: tuple[int, str] = (0, "")


def _timestamp(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """ISO 8601 in UTC to the microsecond, as structlog's TimeStamper writes it, with the date and
    time formatted once a second rather than on every line."""
    global _second
    now = time.time()
    second = int(now)
    if second != _second[0]:
        _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    event["timestamp"] = f"{_second[1]}.{int((now - second) * 1_000_000):06d}Z"
    return event


def _json_line(_: Any, __: str, event: dict[str, Any]) -> bytes:
    """structlog's JSONRenderer over orjson, called directly; except that a string that is not valid
    UTF-8 (a surrogate-escaped byte from a request line) is written escaped rather than failing the
    call that logs it."""
    try:
        return orjson.dumps(event, default=_fallback, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:
        return orjson.dumps(_escape_surrogates(event), default=_fallback, option=orjson.OPT_NON_STR_KEYS)


def _fallback(value: Any) -> Any:
    """What JSONRenderer writes for what JSON has no type for: its `__structlog__()`, else its repr."""
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


def _escape_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_escape_surrogates(k): _escape_surrogates(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escape_surrogates(v) for v in value]
    return value


# How long an info line may wait in memory to share one write with the lines after it.
FLUSH_AFTER = 0.02


class _Lines:
    """structlog's logger for JSON lines. Info and debug lines wait, at most FLUSH_AFTER seconds, to
    go out in one write with those after them: a call writes two lines, and a system call each
    was most of what logging at info cost. A warning or an error goes out at once, with whatever
    waited before it; so does a line written outside the event loop (start-up, exit, a thread);
    `flush()` writes the rest when the sidecar stops."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._waiting: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None
        self._lock = threading.Lock()  # mitmproxy's threads log too (warnings, through the root logger)

    def soon(self, line: bytes) -> None:
        with self._lock:
            self._waiting.append(line)
            if self._timer is not None:
                return
            try:
                self._timer = asyncio.get_running_loop().call_later(FLUSH_AFTER, self.flush)
                return
            except RuntimeError:  # no event loop here
                pass
        self.flush()

    def now(self, line: bytes) -> None:
        with self._lock:
            self._waiting.append(line)
        self.flush()

    def flush(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            lines, self._waiting = self._waiting, []
            if lines:
                self._out.write(b"\n".join(lines) + b"\n")
                self._out.flush()

    def waiting(self) -> int:
        return len(self._waiting)

    msg = log = debug = info = soon
    warn = warning = err = error = critical = exception = fatal = failure = now


_lines: _Lines | None = None  # set by configure() with the JSON format


def flush() -> None:
    """Writes every line still waiting: when the sidecar stops."""
    if _lines is not None:
        _lines.flush()


def waiting() -> int:
    """Lines written to the log but not yet out of the process."""
    return _lines.waiting() if _lines is not None else 0


_info_lines = True  # whether the level lets info lines through (set by configure())
_processors: list[Any] = []  # structlog's, as configure() set them
_info_processors: list[Any] = []  # the same for `info_line`, whose lines never carry an exception


def wants_info() -> bool:
    return _info_lines


def info_line(message: str, fields: dict[str, Any]) -> None:
    """An info line, through the processors every line goes through, without structlog's bound
    logger around them (about 4.6 us of a line with a call's sixteen fields): for the lines every
    call writes. The same line as `structlog.get_logger().info(message, **fields)`."""
    if not _info_lines:
        return
    if _lines is None:  # the console format: rare, and its renderer writes text, not bytes
        structlog.get_logger().info(message, **fields)
        return
    event: Any = {**fields, "event": message}
    for processor in _info_processors:
        event = processor(None, "info", event)
    _lines.soon(event)


def configure(level: str = "info", fmt: str = "json", out: BinaryIO | None = None) -> None:
    """`out`: where JSON lines go instead of stdout (tests)."""
    global _lines, _info_lines, _processors, _info_processors
    json_lines = fmt == "json"
    _lines = _Lines(out or sys.stdout.buffer) if json_lines else None
    renderer: Any = _json_line if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    threshold = logging.getLevelNamesMapping()[level.upper()]
    _info_lines = threshold <= logging.INFO
    _processors = [
        _merge_call,
        structlog.processors.format_exc_info,
        _mask_strings,
        # Added after the mask: level and time carry nothing to mask.
        structlog.processors.add_log_level,
        _timestamp,
        renderer,
    ]
    _info_processors = [p for p in _processors if p is not structlog.processors.format_exc_info]
    structlog.configure(
        processors=_processors,
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        # orjson renders bytes; the console renderer, text.
        logger_factory=(lambda *_: _lines) if _lines is not None else structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    # mitmproxy logs through the standard library's root logger (its ErrorCheck listens there too);
    # its warnings and errors join the same stream.
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _StructlogHandler)] + [_StructlogHandler()]
    root.setLevel(logging.WARNING)


class _StructlogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        log = structlog.get_logger("mitmproxy")
        method = log.error if record.levelno >= logging.ERROR else log.warning
        method(record.getMessage(), logger=record.name)
