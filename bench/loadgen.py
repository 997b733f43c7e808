"""Load generators for the benchmark: a minimal raw HTTP/1.1 client, and an httpx one for reference.

Both run N concurrent workers that pull calls from one shared, bounded budget (a call count and a
deadline), time each call with `time.perf_counter`, and check each answer (status 200 and, when
given, a marker in the body). The raw client exists because httpx itself costs more per call than a
fast proxy does: with it, the numbers would mostly measure httpx. It sends precomputed request bytes
and parses only what it must (status line, Content-Length or chunked, Connection).

Connection modes of the raw client:
  keep-alive (default): each worker opens one connection and reuses it for all of its calls.
  new connection per call (`new_conn=True`): each call connects, sends `Connection: close`, reads the
  answer and closes, as many legacy apps do. Its latency includes the TCP connect.

Used by bench/run.py; also runnable alone for ad-hoc checks:

    python bench/loadgen.py http://127.0.0.1:8080/v1/payments -H 'X-Connector: adyen' \\
        -H 'Content-Type: application/json' -d @body.json -n 2000 -c 8 [--new-conn] [--httpx]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

MAX_ERROR_SAMPLES = 5
CUT_GRACE_S = 5.0  # after the deadline, in-flight calls get this long before they are cut


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP call, repeated: where it goes, what it sends, and what a good answer contains."""

    url: str
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    expect: bytes | None = None  # a marker a good answer's body must contain

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    def raw_request(self, *, close: bool) -> bytes:
        parts = urlsplit(self.url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"{self.method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines.append(f"Content-Length: {len(self.body)}")
        lines.append("Connection: close" if close else "Connection: keep-alive")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass(slots=True)
class LoadResult:
    ok: int = 0
    errors: int = 0
    cut: int = 0  # calls still in flight when the time limit cut them
    latencies: list[float] = field(default_factory=list)  # seconds, good answers only
    error_samples: list[str] = field(default_factory=list)
    wall: float = 0.0
    client_cpu: float = 0.0  # CPU seconds of this process (the client) during the run
    timed_out: bool = False

    @property
    def calls(self) -> int:
        return self.ok + self.errors

    def good(self, latency: float) -> None:
        self.ok += 1
        self.latencies.append(latency)

    def bad(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(what)

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile of the good answers' latency, in milliseconds (nan if none)."""
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1000

    @property
    def throughput(self) -> float:
        return self.ok / self.wall if self.wall > 0 else 0.0


class Budget:
    """The calls left to make, shared by every worker, and the deadline after which none start."""

    def __init__(self, calls: int, time_limit: float) -> None:
        self.remaining = calls
        self.deadline = time.monotonic() + time_limit

    def take(self) -> bool:
        # Single-threaded asyncio: no lock needed between the check and the decrement.
        if self.remaining <= 0 or time.monotonic() >= self.deadline:
            return False
        self.remaining -= 1
        return True


# -- raw client -----------------------------------------------------------------------------------


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, server will close) of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length: int | None = None
    chunked = close = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    if chunked:
        body = await _read_chunked(reader)
    elif length is not None:
        body = await reader.readexactly(length)
    else:  # no framing: the body runs to the end of the connection
        body, close = await reader.read(), True
    return status, body, close


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def _raw_worker(call: Call, budget: Budget, result: LoadResult, new_conn: bool) -> None:
    request = call.raw_request(close=new_conn)
    host, port = call.host, call.port
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    try:
        while budget.take():
            start = time.perf_counter()
            try:
                if conn is None:
                    conn = await asyncio.open_connection(host, port)
                reader, writer = conn
                writer.write(request)
                status, body, server_closes = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as e:
                result.bad(f"{type(e).__name__}: {e}")
                conn = _close(conn)
                continue
            _judge(result, call, status, body, time.perf_counter() - start)
            if new_conn or server_closes:
                conn = _close(conn)
    finally:
        _close(conn)


def _close(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
    """Closes the connection, if any; returns None, the worker's "no connection"."""
    if conn is not None:
        conn[1].close()  # not awaited: the client is done with it, and waiting adds nothing to measure
    return None


def _judge(result: LoadResult, call: Call, status: int, body: bytes, elapsed: float) -> None:
    if status == 200 and (call.expect is None or call.expect in body):
        result.good(elapsed)
    else:
        result.bad(f"status {status}: {body[:200]!r}")


# -- httpx client ---------------------------------------------------------------------------------


async def _httpx_worker(client: httpx.AsyncClient, call: Call, budget: Budget, result: LoadResult) -> None:
    headers = dict(call.headers)
    while budget.take():
        start = time.perf_counter()
        try:
            resp = await client.request(call.method, call.url, content=call.body, headers=headers)
        except httpx.HTTPError as e:
            result.bad(f"{type(e).__name__}: {e}")
            continue
        _judge(result, call, resp.status_code, resp.content, time.perf_counter() - start)


# -- running a load -------------------------------------------------------------------------------


async def _run(
    workers: Callable[[Budget, LoadResult], list[Awaitable[None]]], calls: int, time_limit: float
) -> LoadResult:
    result = LoadResult()
    budget = Budget(calls, time_limit)
    cpu0, t0 = time.process_time(), time.perf_counter()
    tasks = [asyncio.ensure_future(w) for w in workers(budget, result)]
    try:
        _, pending = await asyncio.wait(tasks, timeout=time_limit + CUT_GRACE_S)
    except asyncio.CancelledError:  # the whole run is being stopped (Ctrl-C): take the workers down too
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for task in pending:  # stuck in a call past the limit: stop it and report what we have
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    result.wall = time.perf_counter() - t0
    result.client_cpu = time.process_time() - cpu0
    result.cut = len(pending)
    result.timed_out = budget.remaining > 0 or bool(pending)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            result.bad(f"worker crashed: {task.exception()!r}")
    return result


async def run_raw(call: Call, *, concurrency: int, calls: int, time_limit: float, new_conn: bool = False) -> LoadResult:
    """`calls` calls over `concurrency` raw connections (or one connection per call with new_conn)."""
    return await _run(
        lambda budget, result: [_raw_worker(call, budget, result, new_conn) for _ in range(concurrency)],
        calls,
        time_limit,
    )


async def run_httpx(call: Call, *, concurrency: int, calls: int, time_limit: float) -> LoadResult:
    """The same with one httpx.AsyncClient, keep-alive, a pool as large as the concurrency."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) as client:
        return await _run(
            lambda budget, result: [_httpx_worker(client, call, budget, result) for _ in range(concurrency)],
            calls,
            time_limit,
        )


async def one_call(call: Call, timeout: float = 10) -> tuple[int, bytes]:
    """A single call on its own connection: for checking a target answers as expected."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(call.host, call.port)
        try:
            writer.write(call.raw_request(close=True))
            status, body, _ = await read_response(reader)
            return status, body
        finally:
            writer.close()


# -- command line ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Send a fixed HTTP call N times at concurrency C; print stats.")
    parser.add_argument("url")
    parser.add_argument("-X", "--method", default="POST")
    parser.add_argument("-H", "--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("-d", "--data", default="", help="body, or @file")
    parser.add_argument("-n", "--calls", type=int, default=1000)
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=60)
    parser.add_argument("--new-conn", action="store_true", help="a new connection per call (raw client only)")
    parser.add_argument("--httpx", action="store_true", help="use httpx instead of the raw client")
    args = parser.parse_args(argv)
    body = open(args.data[1:], "rb").read() if args.data.startswith("@") else args.data.encode()
    headers = tuple((n.strip(), v.strip()) for n, _, v in (h.partition(":") for h in args.header))
    call = Call(args.url, args.method, headers, body)
    if args.httpx:
        run = run_httpx(call, concurrency=args.concurrency, calls=args.calls, time_limit=args.time_limit)
    else:
        run = run_raw(
            call, concurrency=args.concurrency, calls=args.calls, time_limit=args.time_limit, new_conn=args.new_conn
        )
    r = asyncio.run(run)
    print(
        f"ok {r.ok} errors {r.errors} cut {r.cut} wall {r.wall:.2f}s {r.throughput:.0f} calls/s "
        f"p50 {r.percentile_ms(0.5):.3f} ms p99 {r.percentile_ms(0.99):.3f} ms client CPU {r.client_cpu:.2f}s"
    )
    for sample in r.error_samples:
        print(f"  error: {sample}")
    return 0 if r.errors == 0 and not r.timed_out else 1


if __name__ == "__main__":
    sys.exit(main())


# -- open loop ------------------------------------------------------------------------------------


@dataclass(slots=True)
class OpenCall:
    """One call of an open-loop run: when it was due, when it went out, when its answer was whole."""

    index: int
    phase: str  # "steady" or "burst"
    due: float  # time.perf_counter() seconds
    sent: float = 0.0  # when the client started it (connection taken or opened)
    done: float = 0.0
    ok: bool = False
    error: str = ""
    service_ms: float | None = None  # the gateway's own time, filled in afterwards

    @property
    def latency(self) -> float:
        return self.done - self.sent


@dataclass(slots=True)
class OpenLoopResult:
    calls: list[OpenCall] = field(default_factory=list)
    started: float = 0.0  # perf_counter at the first due call
    steady_end: float = 0.0  # perf_counter when the last steady call was due
    peak_in_flight: int = 0
    cut: int = 0
    client_cpu: float = 0.0


class _Connections:
    """Idle kept-alive connections to one address; a call takes one, or opens one when none is idle."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self.idle:
            conn = self.idle.pop()
            if not conn[1].is_closing():
                return conn
        return await asyncio.open_connection(self.host, self.port, limit=2**16)

    def close_all(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def run_open_loop(
    call: Call,
    request_for: Callable[[int], bytes],
    *,
    rate: float,
    seconds: float,
    burst: int,
    time_limit: float,
) -> OpenLoopResult:
    """Open loop: a call every 1/rate seconds for `seconds`, each due at its time whether or not the
    earlier ones were answered (a late client catches up at once, so the offered rate holds), then,
    once those are answered, `burst` calls at the same moment. `request_for(i)` gives call i's request
    bytes. Every call is timed from when it starts (taking a kept-alive connection, or opening one) to
    its whole answer."""
    result = OpenLoopResult()
    pool = _Connections(call.host, call.port)
    tasks: set[asyncio.Task[None]] = set()
    in_flight = 0

    async def one(c: OpenCall) -> None:
        nonlocal in_flight
        in_flight += 1
        result.peak_in_flight = max(result.peak_in_flight, in_flight)
        conn = None
        c.sent = time.perf_counter()
        try:
            conn = await pool.take()
            conn[1].write(request_for(c.index))
            status, body, closes = await read_response(conn[0])
            c.done = time.perf_counter()
            c.ok = status == 200 and (call.expect is None or call.expect in body)
            if not c.ok:
                c.error = f"status {status}: {body[:200]!r}"
            if closes:
                conn[1].close()
            else:
                pool.idle.append(conn)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as e:
            c.done = time.perf_counter()
            c.error = f"{type(e).__name__}: {e}"
            if conn is not None:
                conn[1].close()
        finally:
            in_flight -= 1

    def launch(c: OpenCall) -> None:
        result.calls.append(c)
        task = asyncio.ensure_future(one(c))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    cpu0 = time.process_time()
    interval = 1 / rate
    steady = int(rate * seconds)
    result.started = start = time.perf_counter() + 0.01
    for i in range(steady):
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        launch(OpenCall(i, "steady", due))
    result.steady_end = start + (steady - 1) * interval
    if burst and tasks:
        # The open loop's last calls are answered first: answers that came back while the burst was
        # being taken in would time the burst, not the open loop (its last 300 ms with a slow gateway:
        # 1% of its calls, all of its p99).
        await asyncio.wait(set(tasks), timeout=time_limit)
    burst_due = time.perf_counter()
    for i in range(steady, steady + burst):
        launch(OpenCall(i, "burst", burst_due))
    if tasks:
        _, pending = await asyncio.wait(set(tasks), timeout=time_limit)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        result.cut = len(pending)
    pool.close_all()
    result.client_cpu = time.process_time() - cpu0
    return result
