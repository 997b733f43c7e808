"""The audit's records (sidecar/audit.py) are written after the call that queued them has moved on,
in order, each once; at the bound, calls wait for room rather than lose a record; a failing record
does not stop the others; `flush` writes what is left, as the drain does before the process stops."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import structlog

from connectors.adyen import Adyen
from connectors.kit.connector import GatewayRequest, GatewayResponse
from sidecar import logs, metrics
from sidecar.audit import Audit
from sidecar.masking import Masker

PAN = "4111111111111111"


def run(coro):
    """On an event loop with eager tasks, as mitmproxy runs one: a task starts at once."""

    async def eager():
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
        return await coro

    return asyncio.run(eager())


def test_records_are_written_after_the_call_moves_on_in_order_each_once() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        audit = Audit()
        written: list[int] = []
        for i in range(100):
            await audit.later(lambda i=i: written.append(i))
        before = list(written)  # the call has not yielded to the event loop yet
        while audit.pending():
            await asyncio.sleep(0)
        return before, written

    before, written = run(scenario())
    assert before == []
    assert written == list(range(100))


def test_later_now_queues_at_once_while_there_is_room_and_gives_the_wait_at_the_bound() -> None:
    async def scenario() -> tuple[list[object], bool, list[int]]:
        audit = Audit(max_pending=2)
        written: list[int] = []
        given = [audit.later_now(lambda i=i: written.append(i)) for i in range(2)]
        wait = audit.later_now(lambda: written.append(2))  # the queue is full: this one must wait
        full = wait is not None and audit.pending() == 2
        assert wait is not None
        await wait
        while audit.pending():
            await asyncio.sleep(0)
        return given, full, written

    given, full, written = run(scenario())
    assert given == [None, None]
    assert full
    assert written == [0, 1, 2]


def test_at_the_bound_a_call_waits_for_room_and_no_record_is_lost() -> None:
    async def scenario() -> tuple[bool, int, list[int]]:
        audit = Audit(max_pending=4)
        written: list[int] = []
        for i in range(4):
            await audit.later(lambda i=i: written.append(i))
        fifth = asyncio.create_task(audit.later(lambda: written.append(4)))  # finds the queue full and waits
        waited = not fifth.done()
        most = audit.pending()
        await fifth
        while audit.pending():
            await asyncio.sleep(0)
        return waited, most, written

    waited, most, written = run(scenario())
    assert waited
    assert most <= 4
    assert written == [0, 1, 2, 3, 4]


def test_a_call_cancelled_while_it_waits_still_has_its_record_written() -> None:
    async def scenario() -> list[int]:
        audit = Audit(max_pending=1)
        written: list[int] = []
        await audit.later(lambda: written.append(0))
        waiting = asyncio.create_task(audit.later(lambda: written.append(1)))
        assert not waiting.done()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        audit.flush()
        return written

    assert run(scenario()) == [0, 1]


def test_a_failing_record_does_not_stop_the_others() -> None:
    async def scenario() -> list[int]:
        audit = Audit()
        written: list[int] = []
        await audit.later(lambda: written.append(0))
        await audit.later(lambda: 1 / 0)
        await audit.later(lambda: written.append(2))
        audit.flush()
        return written

    assert run(scenario()) == [0, 2]


def test_flush_writes_every_pending_record_now() -> None:
    async def scenario() -> tuple[int, list[int]]:
        audit = Audit()
        written: list[int] = []
        for i in range(200):  # more than one turn of the event loop writes
            await audit.later(lambda i=i: written.append(i))
        pending = audit.pending()
        audit.flush()
        return pending, written

    pending, written = run(scenario())
    assert pending == 200
    assert written == list(range(200))


@contextlib.contextmanager
def configured_logs(level: str):
    """The sidecar's log lines, as `sidecar run` makes them at `level`, into a buffer; undone afterwards."""
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    before = (logs._lines, logs._info_lines, logs._processors)
    out = io.BytesIO()
    logs.configure(level, "json", out)
    try:
        yield out
    finally:
        structlog.reset_defaults()
        logs._lines, logs._info_lines, logs._processors = before
        root.handlers[:], root.level = handlers, root_level


@pytest.fixture
def json_logs():
    with configured_logs("info") as out:
        yield out


async def authorized(audit: Audit, masker: Masker, request: GatewayRequest, response: GatewayResponse) -> None:
    """A gateway exchange of Adyen's authorize in call req-1, handed to the audit."""
    await audit.gateway_call(
        masker,
        request_id="req-1",
        connector="adyen",
        account="default",
        operation="authorize",
        request=request,
        response=response,
        error=None,
        started=0.0,
        latency=0.01,
    )


def test_at_log_level_warning_a_gateway_exchange_is_still_masked_so_catches_are_counted() -> None:
    """No line is written and nothing keeps flows, yet a gateway that echoes a card number where no
    field is declared is still caught and counted: the README promises the safety-net counts at
    `warning` too (an alert on them must not depend on the log level)."""
    caught: list[str] = []
    masker = Masker(on_catch=caught.append)
    request = GatewayRequest("POST", "http://127.0.0.1:9/v71/payments", {}, b"{}")
    response = GatewayResponse(200, {"Content-Type": "application/json"}, json.dumps({"note": PAN}).encode())

    async def scenario() -> None:
        audit = Audit()
        await authorized(audit, masker, request, response)
        audit.flush()

    with configured_logs("warning") as out:
        run(scenario())
    assert caught == ["pan"]
    assert b"connector call" not in out.getvalue()


def test_the_gateway_call_line_is_masked_and_carries_the_calls_context(json_logs) -> None:
    """The line is written later, yet with the request id the call had bound, and masked."""
    adyen = Adyen()
    masker = Masker(adyen.sensitive_fields, adyen.secret_headers)
    body = json.dumps({"paymentMethod": {"number": PAN, "cvc": "737"}}).encode()
    key = {"X-API-Key": "AQEsecretkey0123456789xyz"}
    request = GatewayRequest("POST", "http://127.0.0.1:9/v71/payments", key, body)
    response = GatewayResponse(200, {"Content-Type": "application/json"}, b'{"resultCode":"Authorised"}')

    async def scenario() -> None:
        audit = Audit()
        token = logs.bind(request_id="req-1")
        await authorized(audit, masker, request, response)
        logs.unbind(token)  # the call has moved on
        assert b"connector call" not in json_logs.getvalue()
        audit.flush()

    run(scenario())
    (line,) = [json.loads(x) for x in json_logs.getvalue().splitlines() if b'"connector call"' in x]
    assert line["request_id"] == "req-1" and line["outcome"] == "success"
    assert PAN not in json.dumps(line) and "AQEsecret" not in json.dumps(line) and "737" not in line["request_body"]
    assert "sidecar_audit_pending 0.0" in metrics.render().decode()


def test_info_lines_wait_briefly_to_share_a_write_and_none_is_lost(json_logs) -> None:
    log = structlog.get_logger("test")

    async def scenario() -> tuple[bytes, int, bytes, bytes]:
        for n in range(3):
            log.info("line", n=n, note=f"card {PAN}")
        held, waiting = json_logs.getvalue(), logs.waiting()
        log.warning("now", n=3)  # a warning goes out at once, after what waited before it
        after_warning = json_logs.getvalue()
        log.info("line", n=4)
        await asyncio.sleep(logs.FLUSH_AFTER * 5)
        return held, waiting, after_warning, json_logs.getvalue()

    before = datetime.now(UTC)
    held, waiting, after_warning, out = run(scenario())
    assert (held, waiting) == (b"", 3)
    assert [json.loads(line)["n"] for line in after_warning.splitlines()] == [0, 1, 2, 3]
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["n"] for line in lines] == [0, 1, 2, 3, 4] and logs.waiting() == 0
    assert all(PAN not in line.get("note", "") for line in lines)  # the safety net on every string
    stamp = datetime.strptime(lines[0]["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= stamp <= datetime.now(UTC) + timedelta(seconds=1)
