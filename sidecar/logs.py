"""structlog, configured once: JSON lines on stdout (what a cluster's log agent ships), or a console
format for development. A last processor masks every string with the safety net, so even a line
someone adds carelessly later cannot carry a card number or a key."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

import orjson
import structlog

from sidecar.masking import Masked, MaskedFields, Masker
from sidecar.metrics import catch_counter

_net = Masker(on_catch=catch_counter("log"))


# What the net has nothing to look for in: masked already, or not text.
_UNSCANNED = frozenset({Masked, MaskedFields, int, float, bool, type(None)})


def _net_value(value: Any) -> Any:
    if type(value) in _UNSCANNED:
        return value
    if isinstance(value, str):
        return _net.text(value)
    if isinstance(value, dict):
        return {k: _net_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_net_value(v) for v in value]
    return value


def _mask_strings(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in event.items():
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


def _dumps(event: dict[str, Any], **kw: Any) -> bytes:
    """orjson, except that a string that is not valid UTF-8 (a surrogate-escaped byte from a request
    line) is written escaped rather than failing the call that logs it."""
    try:
        return orjson.dumps(event, **kw)
    except orjson.JSONEncodeError:
        return orjson.dumps(_escape_surrogates(event), **kw)


def _escape_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_escape_surrogates(k): _escape_surrogates(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escape_surrogates(v) for v in value]
    return value


class _Lines:
    """structlog's logger for JSON lines: each line flushed as it is written, except inside `batch()`,
    whose lines go out in one write when it ends (the audit writes its records that way, a turn of
    the event loop at a time, rather than a system call per line)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.batching = False

    def msg(self, line: bytes) -> None:
        self._out.write(line + b"\n")
        if not self.batching:
            self._out.flush()

    def flush(self) -> None:
        self._out.flush()

    log = debug = info = warn = warning = err = error = critical = exception = fatal = failure = msg


_lines: _Lines | None = None  # set by configure() with the JSON format


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Lines written inside go out together when it ends; nested, the outermost one writes them."""
    if _lines is None or _lines.batching:
        yield
        return
    _lines.batching = True
    try:
        yield
    finally:
        _lines.batching = False
        _lines.flush()


def configure(level: str = "info", fmt: str = "json", out: BinaryIO | None = None) -> None:
    """`out`: where JSON lines go instead of stdout (tests)."""
    global _lines
    json_lines = fmt == "json"
    _lines = _Lines(out or sys.stdout.buffer) if json_lines else None
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps, option=orjson.OPT_NON_STR_KEYS)
        if json_lines
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.format_exc_info,
            _mask_strings,
            # Added after the mask: level and time carry nothing to mask.
            structlog.processors.add_log_level,
            _timestamp,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
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
