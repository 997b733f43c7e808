"""Benchmark: what the sidecar adds to every payment call, against its baselines, in one run.

    uv run python bench/run.py                     # the comparison table (a few minutes)
    uv run python bench/run.py --calls 5000 --concurrency 1,8,32 --json out.json
    uv run python bench/run.py --mitmweb-soak      # RSS over 50,000 calls with mitmweb on

(`.venv/bin/python bench/run.py` works the same.) It is not part of the test suite: run it on demand,
on a quiet machine, and compare numbers only within one run.

What runs
---------
A fast local Adyen-like gateway (bench/gateway.py, its own process) answers every
`POST /v71/payments` with a fixed "Authorised" JSON and counts the TCP connections it accepts. Every
mode ends in that same gateway call with the same Adyen JSON body, and the sidecar is configured with
the Adyen connector, whose canonical authorize is exactly one gateway call (Stripe's is two).

  A (httpx)        httpx.AsyncClient (keep-alive) calling the gateway directly: the issue's baseline.
  A-raw            the same calls from the benchmark's raw HTTP/1.1 client (bench/loadgen.py): what
                   the client itself costs. httpx spends more time per call than a proxy does, so
                   every proxied mode uses the raw client, and C - A is computed raw vs raw.
  B                plain `mitmdump --mode reverse:<gateway>@<port> -q` (default options and addons):
                   the platform's own cost. Raw client, keep-alive.
  B-newconn        B with a new client connection per call: mitmproxy opens one gateway connection
                   per client connection, so this shows ~1,000 gateway connections per 1,000 calls.
  C                `sidecar run` (log level info, as in production) with canonical
                   `POST /v1/payments` authorize calls, keep-alive.
  D                the same sidecar, a new client connection per call (as many legacy apps do).
  C (log warning)  C with log level warning: how much of C is the per-call log lines.

Each mode x concurrency cell: a warm-up (not measured), a reset of the gateway's counters, then a
fixed number of calls over N concurrent connections, bounded by a time limit. Columns:
  calls/s          good answers per second of wall time
  p50, p99         latency of good answers, ms, measured by the client around each call
  proxy cpu s/1k   CPU seconds (user+system) the proxy process and its children used per 1,000 calls
  peak RSS MB      highest RSS of the proxy sampled every 100 ms during the cell (lifetime VmHWM in
                   the JSON output)
  gw conns         TCP connections the gateway accepted during the cell; gw reqs: requests it served
  client cpu s/1k  CPU of the load generator (this process) per 1,000 calls
Then the issue's ratios with their targets, PASS or FAIL.

Read the ratios, not the absolute numbers: client, gateway and proxy share this machine's cores (the
machine line says how many), which all modes suffer alike.

--mitmweb-soak starts the sidecar with mitmweb on (`web.enabled`, max_flows 1000), runs --soak-calls
canonical calls at concurrency 8 in chunks, prints the proxy's RSS after warm-up and after each chunk,
and the growth against the 50 MB target.

Every process the benchmark starts runs in its own session and is stopped on exit, on an error and
on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import http.client
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import Call, LoadResult, one_call, run_httpx, run_raw  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
BIN_DIR = Path(sys.executable).parent

# -- the calls ------------------------------------------------------------------------------------

API_KEY = "bench_key"
MERCHANT_ACCOUNT = "BenchECOM"
RETURN_URL = "https://bench.example/r"

# The gateway call, byte for byte what the sidecar's Adyen connector builds from CANONICAL_BODY.
ADYEN_BODY = json.dumps(
    {
        "amount": {"value": 1000, "currency": "EUR"},
        "reference": "bench-1",
        "merchantAccount": MERCHANT_ACCOUNT,
        "returnUrl": RETURN_URL,
        "paymentMethod": {
            "type": "scheme",
            "number": "4111111111111111",
            "expiryMonth": "03",
            "expiryYear": "2030",
            "cvc": "737",
        },
        "shopperInteraction": "Ecommerce",
        "additionalData": {"manualCapture": "true"},
    },
    separators=(",", ":"),
).encode()
ADYEN_HEADERS = (("X-API-Key", API_KEY), ("Content-Type", "application/json"), ("Accept", "application/json"))
ADYEN_OK = b'"resultCode":"Authorised"'

CANONICAL_BODY = json.dumps(
    {
        "reference": "bench-1",
        "amount": {"minor": 1000, "currency": "EUR"},
        "capture": "manual",
        "payment_method": {
            "type": "card",
            "card": {"number": "4111111111111111", "exp_month": 3, "exp_year": 2030, "cvc": "737"},
        },
    },
    separators=(",", ":"),
).encode()
CANONICAL_HEADERS = (("X-Connector", "adyen"), ("Content-Type", "application/json"))
CANONICAL_OK = b'"status":"authorized"'


def adyen_call(port: int) -> Call:
    return Call(f"http://127.0.0.1:{port}/v71/payments", "POST", ADYEN_HEADERS, ADYEN_BODY, ADYEN_OK)


def canonical_call(port: int) -> Call:
    return Call(f"http://127.0.0.1:{port}/v1/payments", "POST", CANONICAL_HEADERS, CANONICAL_BODY, CANONICAL_OK)


# -- targets (from the issue) ---------------------------------------------------------------------

TARGET_THROUGHPUT_RATIO = 1.0  # C/B
TARGET_ADDED_P50_MS = 1.5  # C - A at concurrency 1
TARGET_ADDED_P99_MS = 5.0
TARGET_RSS_GROWTH_MB = 50.0  # over the soak with mitmweb on


def pool_size() -> int:
    """The sidecar's default keep-alive pool per gateway route: D's target. Read from the project so
    the target follows the code."""
    try:
        from sidecar.config import PoolSettings

        return PoolSettings().max_keepalive
    except Exception:  # the project not importable: fall back to the documented default
        return 20


# -- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def executable(name: str) -> str:
    """A console script of this venv (mitmdump, sidecar), else from PATH."""
    path = BIN_DIR / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found next to {sys.executable} nor on PATH")
    return found


class Processes:
    """Every process the benchmark starts. Each gets its own session, so a Ctrl-C in the terminal
    reaches only this script, which then stops them itself (a sidecar that got the SIGINT directly
    would start draining in the middle of a measurement)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], *, pipe_stdout: bool = False) -> subprocess.Popen[bytes]:
        # Output goes to files, never to a pipe nobody reads: a full pipe would block the proxy.
        out = subprocess.PIPE if pipe_stdout else open(self.workdir / f"{name}.out", "wb")
        err = open(self.workdir / f"{name}.err", "wb")
        try:
            proc = subprocess.Popen(argv, stdout=out, stderr=err, start_new_session=True, cwd=self.workdir)
        finally:
            if not pipe_stdout:
                out.close()  # type: ignore[union-attr]
            err.close()
        self.running.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: the sidecar drains (nothing is in flight), mitmdump exits
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
        self.running = [(n, p) for n, p in self.running if p is not proc]

    def stop_all(self) -> None:
        for _, proc in reversed(self.running):
            self.stop(proc)

    def stderr_tail(self, name: str, chars: int = 2000) -> str:
        path = self.workdir / f"{name}.err"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""


def wait_until(check: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} while starting")
        with contextlib.suppress(OSError, http.client.HTTPException):
            if check():
                return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready within {timeout:g}s")


def listening(port: int) -> bool:
    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    return True


def http_get_status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


class Gateway:
    """bench/gateway.py in its own process, and its counters."""

    def __init__(self, procs: Processes) -> None:
        self.proc = procs.start("gateway", [sys.executable, str(BENCH_DIR / "gateway.py")], pipe_stdout=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()  # "listening <port>", printed once bound
        if not line.startswith("listening "):
            raise RuntimeError(f"gateway did not start: {line!r} {procs.stderr_tail('gateway')}")
        self.port = int(line.split()[1])
        self.monitor = ProcessMonitor(self.proc.pid)

    def _control(self, method: str, path: str) -> dict[str, int]:
        # A fresh connection per control call: the gateway takes it out of its count.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path, headers={"Connection": "close"})
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def stats(self) -> dict[str, int]:
        return self._control("GET", "/_stats")


@dataclass
class Proxy:
    """A proxy under test: its process, its port, and what watches it."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    monitor: ProcessMonitor
    config: str = ""  # how it was started, for the report


def start_mitmdump(procs: Processes, gateway_port: int) -> Proxy:
    port = free_port()
    mode = f"reverse:http://127.0.0.1:{gateway_port}@127.0.0.1:{port}"
    argv = [executable("mitmdump"), "--mode", mode, "-q"]
    proc = procs.start("mitmdump", argv)
    wait_until(lambda: listening(port), proc, "mitmdump")
    how = f"mitmdump --mode {mode} -q (default options and addons)"
    return Proxy("mitmdump", proc, port, ProcessMonitor(proc.pid), how)


def start_sidecar(
    procs: Processes, gateway_port: int, name: str, *, level: str = "info", web: dict[str, Any] | None = None
) -> Proxy:
    port = free_port()
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "log": {"level": level, "format": "json"},
        "connectors": {
            "adyen": {
                "base_url": f"http://127.0.0.1:{gateway_port}/v71",
                "accounts": {
                    "default": {"api_key": API_KEY, "merchant_account": MERCHANT_ACCOUNT, "return_url": RETURN_URL}
                },
            }
        },
    }
    config.update(forward_proxy_config(procs.workdir))
    if web is not None:
        config["web"] = web
    path = procs.workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = procs.start(name, [executable("sidecar"), "run", "--config", str(path)])
    try:
        wait_until(lambda: http_get_status(port, "/readyz") == 200, proc, name)
    except RuntimeError as e:
        raise RuntimeError(f"{e}: {procs.stderr_tail(name)}") from None
    how = (
        f"sidecar run --config {path.name} (adyen -> the gateway, log level {level}, "
        f"default pool: max_keepalive {pool_size()}{', mitmweb on' if web else ''})"
    )
    return Proxy(name, proc, port, ProcessMonitor(proc.pid), how)


# -- watching a process ---------------------------------------------------------------------------


def forward_proxy_config(workdir: Path) -> dict[str, Any]:
    """Newer sidecars also open a forward-proxy listener (default 127.0.0.1:3128, CA under $HOME).
    It stays on, as in production, but on a free port and with its CA in the work directory, so a
    run neither collides with anything on 3128 nor writes to $HOME. Older configs have no such
    section: then nothing is added."""
    try:
        from sidecar.config import Settings

        section = Settings.model_fields["forward_proxy"].annotation
        fields = section.model_fields  # type: ignore[union-attr]
    except Exception:
        return {}
    config: dict[str, Any] = {}
    if "port" in fields:
        config["port"] = free_port()
    if "ca" in fields:
        config["ca"] = {"dir": str(workdir / "ca")}
    return {"forward_proxy": config}


class ProcessMonitor:
    """CPU and memory of one process and its children, through psutil."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.proc = psutil.Process(pid)

    def _family(self) -> list[psutil.Process]:
        with contextlib.suppress(psutil.Error):
            return [self.proc, *self.proc.children(recursive=True)]
        return [self.proc]

    def cpu_seconds(self) -> float:
        total = 0.0
        for p in self._family():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def rss(self) -> int:
        total = 0
        for p in self._family():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def vm_hwm(self) -> int | None:
        """The kernel's lifetime peak RSS of the main process, in bytes (Linux only)."""
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return None


class RssSampler:
    """Samples a process's RSS every 100 ms on a thread, keeping the maximum. The thread only wakes
    ten times a second, so it costs the client next to nothing."""

    def __init__(self, monitor: ProcessMonitor, interval: float = 0.1) -> None:
        self.monitor = monitor
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while True:
            self.peak = max(self.peak, self.monitor.rss())
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.monitor.rss())


# -- one cell -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    name: str
    call: Call
    client: str = "raw"  # "raw" or "httpx"
    new_conn: bool = False
    proxy: Proxy | None = None  # None: direct to the gateway


@dataclass
class Cell:
    mode: str
    concurrency: int
    client: str
    new_conn: bool
    calls: int
    errors: int
    cut: int
    timed_out: bool
    wall_s: float
    throughput: float
    p50_ms: float
    p99_ms: float
    proxy_cpu_per_1k: float | None
    proxy_peak_rss_mb: float | None
    proxy_vm_hwm_mb: float | None
    gateway_connections: int
    gateway_requests: int
    gateway_cpu_per_1k: float
    client_cpu_per_1k: float
    error_samples: list[str] = field(default_factory=list)


async def load(mode: Mode, concurrency: int, calls: int, time_limit: float) -> LoadResult:
    if mode.client == "httpx":
        return await run_httpx(mode.call, concurrency=concurrency, calls=calls, time_limit=time_limit)
    return await run_raw(mode.call, concurrency=concurrency, calls=calls, time_limit=time_limit, new_conn=mode.new_conn)


def per_1k(value: float, calls: int) -> float:
    return value / calls * 1000 if calls else math.nan


def mb(n: int | None) -> float | None:
    return None if n is None else n / 2**20


async def measure(mode: Mode, concurrency: int, gateway: Gateway, args: argparse.Namespace) -> Cell:
    warm = await load(mode, concurrency, args.warmup, args.cell_timeout)
    if warm.errors:
        log(f"  warning: {warm.errors} errors during warm-up of {mode.name} c={concurrency}: {warm.error_samples[:1]}")
    before = gateway.stats()  # a difference, not a reset: the proxy's lifetime totals stay readable
    watched = mode.proxy.monitor if mode.proxy else None
    proxy_cpu0 = watched.cpu_seconds() if watched else 0.0
    gateway_cpu0 = gateway.monitor.cpu_seconds()
    sampler = RssSampler(watched) if watched else contextlib.nullcontext()
    with sampler:
        result = await load(mode, concurrency, args.calls, args.cell_timeout)
    gateway_cpu = gateway.monitor.cpu_seconds() - gateway_cpu0
    after = gateway.stats()
    return Cell(
        mode=mode.name,
        concurrency=concurrency,
        client=mode.client,
        new_conn=mode.new_conn,
        calls=result.calls,
        errors=result.errors,
        cut=result.cut,
        timed_out=result.timed_out,
        wall_s=result.wall,
        throughput=result.throughput,
        p50_ms=result.percentile_ms(0.50),
        p99_ms=result.percentile_ms(0.99),
        proxy_cpu_per_1k=per_1k(watched.cpu_seconds() - proxy_cpu0, result.calls) if watched else None,
        proxy_peak_rss_mb=mb(sampler.peak) if isinstance(sampler, RssSampler) else None,
        proxy_vm_hwm_mb=mb(watched.vm_hwm()) if watched else None,
        gateway_connections=after["connections"] - before["connections"],
        gateway_requests=after["requests"] - before["requests"],
        gateway_cpu_per_1k=per_1k(gateway_cpu, result.calls),
        client_cpu_per_1k=per_1k(result.client_cpu, result.calls),
        error_samples=result.error_samples,
    )


async def check_first_answer(call: Call, what: str) -> None:
    """The benchmark means nothing if the target does not answer as expected: check one call first."""
    status, body = await one_call(call)
    if status != 200 or (call.expect is not None and call.expect not in body):
        raise RuntimeError(f"{what}: first answer is {status} {body[:300]!r}, expected 200 with {call.expect!r}")


async def run_modes(modes: list[Mode], gateway: Gateway, args: argparse.Namespace) -> list[Cell]:
    cells = []
    for mode in modes:
        for concurrency in args.concurrency:
            cell = await measure(mode, concurrency, gateway, args)
            log(
                f"  {cell.mode:<16} c={concurrency:<3} {cell.throughput:8.0f} calls/s  p50 {cell.p50_ms:7.3f} ms  "
                f"p99 {cell.p99_ms:7.3f} ms  errors {cell.errors}"
            )
            cells.append(cell)
    return cells


# -- the comparison -------------------------------------------------------------------------------


async def through_proxy(
    label: str,
    start: Callable[[], Proxy],
    modes: Callable[[Proxy], list[Mode]],
    gateway: Gateway,
    procs: Processes,
    args: argparse.Namespace,
) -> tuple[list[Cell], dict[str, Any]]:
    """Starts a proxy, checks its first answer, measures `modes` through it, stops it. Also returns
    the gateway connections it opened over its whole life, warm-ups and checks included: what a
    pool opens once shows here, while each cell shows only what it opened."""
    before = gateway.stats()  # before the start: mitmdump connects upstream as soon as a client does
    proxy = start()
    try:
        measured = modes(proxy)
        await check_first_answer(measured[0].call, label)
        cells = await run_modes(measured, gateway, args)
    finally:
        procs.stop(proxy.proc)
    after = gateway.stats()
    life = {
        "modes": ", ".join(m.name for m in measured),
        "setup": proxy.config,
        "gateway_connections": after["connections"] - before["connections"],
        "gateway_requests": after["requests"] - before["requests"],
    }
    return cells, life


async def benchmark(procs: Processes, args: argparse.Namespace) -> dict[str, Any]:
    gateway = Gateway(procs)
    log(f"gateway on 127.0.0.1:{gateway.port}")
    direct = adyen_call(gateway.port)
    await check_first_answer(direct, "gateway")
    cells = await run_modes([Mode("A (httpx)", direct, client="httpx"), Mode("A-raw", direct)], gateway, args)
    lives = []

    def plain_mitmproxy(p: Proxy) -> list[Mode]:
        call = adyen_call(p.port)
        return [Mode("B", call, proxy=p), Mode("B-newconn", call, new_conn=True, proxy=p)]

    def sidecar_modes(p: Proxy) -> list[Mode]:
        call = canonical_call(p.port)
        return [Mode("C", call, proxy=p), Mode("D", call, new_conn=True, proxy=p)]

    def sidecar_quiet(p: Proxy) -> list[Mode]:
        return [Mode("C (log warning)", canonical_call(p.port), proxy=p)]

    groups: list[tuple[str, Callable[[], Proxy], Callable[[Proxy], list[Mode]]]] = [
        ("mitmdump", lambda: start_mitmdump(procs, gateway.port), plain_mitmproxy),
        ("sidecar", lambda: start_sidecar(procs, gateway.port, "sidecar-info"), sidecar_modes),
    ]
    if not args.skip_log_warning:
        groups.append(
            (
                "sidecar (log warning)",
                lambda: start_sidecar(procs, gateway.port, "sidecar-warning", level="warning"),
                sidecar_quiet,
            )
        )
    for label, start, modes in groups:
        group_cells, life = await through_proxy(label, start, modes, gateway, procs, args)
        cells += group_cells
        lives.append(life)
    return {"proxies": lives, "cells": cells}


def find(cells: list[Cell], mode: str, concurrency: int) -> Cell | None:
    return next((c for c in cells if c.mode == mode and c.concurrency == concurrency), None)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ratios(cells: list[Cell], concurrencies: list[int]) -> tuple[list[str], list[dict[str, Any]]]:
    """The issue's ratios as printed lines, and as records for the JSON output."""
    lines: list[str] = []
    records: list[dict[str, Any]] = []

    def record(name: str, concurrency: int, value: float, target: str, ok: bool | None) -> str:
        records.append({"ratio": name, "concurrency": concurrency, "value": value, "target": target, "pass": ok})
        return "" if ok is None else verdict(ok)

    lines.append(f"C/B throughput (target >= {TARGET_THROUGHPUT_RATIO:g}):")
    for n in concurrencies:
        b, c = find(cells, "B", n), find(cells, "C", n)
        if b and c and b.throughput:
            value = c.throughput / b.throughput
            mark = record("C/B throughput", n, value, f">= {TARGET_THROUGHPUT_RATIO:g}", value >= TARGET_THROUGHPUT_RATIO)
            lines.append(f"  c={n:<3} {c.throughput:8.0f} / {b.throughput:8.0f} = {value:5.2f}   {mark}")

    cpu = [
        f"c={n} {c.proxy_cpu_per_1k / b.proxy_cpu_per_1k:.2f}x"
        for n in concurrencies
        if (b := find(cells, "B", n)) and (c := find(cells, "C", n)) and b.proxy_cpu_per_1k and c.proxy_cpu_per_1k
    ]
    if cpu:
        lines.append(f"  (for reference, C/B proxy CPU per call: {', '.join(cpu)})")
    lines.append(
        "Added latency C - A-raw, ms (both from the same raw keep-alive client; "
        f"target at c=1: p50 <= {TARGET_ADDED_P50_MS:g}, p99 <= {TARGET_ADDED_P99_MS:g}):"
    )
    for n in concurrencies:
        a, c = find(cells, "A-raw", n), find(cells, "C", n)
        if a and c:
            d50, d99 = c.p50_ms - a.p50_ms, c.p99_ms - a.p99_ms
            targeted = n == 1
            m50 = record("C-A p50 ms", n, d50, f"<= {TARGET_ADDED_P50_MS:g}" if targeted else "", d50 <= TARGET_ADDED_P50_MS if targeted else None)
            m99 = record("C-A p99 ms", n, d99, f"<= {TARGET_ADDED_P99_MS:g}" if targeted else "", d99 <= TARGET_ADDED_P99_MS if targeted else None)
            suffix = f"   p50 {m50}, p99 {m99}" if targeted else "   (no target at this concurrency)"
            lines.append(f"  c={n:<3} p50 {d50:+7.3f}   p99 {d99:+7.3f}{suffix}")

    pool = pool_size()
    lines.append(
        f"Gateway connections per 1,000 calls, D (new client connection per call; target <= pool size {pool}, "
        "the sidecar's pool.max_keepalive):"
    )
    for n in concurrencies:
        d = find(cells, "D", n)
        if d and d.calls:
            value = per_1k(d.gateway_connections, d.calls)
            mark = record("D gateway conns per 1k", n, value, f"<= {pool}", value <= pool)
            lines.append(f"  c={n:<3} {value:8.1f}   {mark}")
    contrast = [
        f"c={n} {per_1k(b.gateway_connections, b.calls):.0f}"
        for n in concurrencies
        if (b := find(cells, "B-newconn", n)) and b.calls
    ]
    if contrast:
        lines.append(f"  for contrast, plain mitmproxy (B-newconn): {', '.join(contrast)} per 1,000 calls")
    return lines, records


# -- output ---------------------------------------------------------------------------------------


def log(message: str) -> None:
    """Progress goes to stderr, so stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


def machine_info() -> dict[str, Any]:
    import mitmproxy.version

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "mitmproxy": mitmproxy.version.VERSION,
        "httpx": httpx.__version__,
    }


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


COLUMNS = (
    ("mode", "<16"),
    ("conc", ">4"),
    ("calls", ">6"),
    ("err", ">4"),
    ("calls/s", ">8"),
    ("p50 ms", ">8"),
    ("p99 ms", ">8"),
    ("proxy cpu s/1k", ">14"),
    ("peak RSS MB", ">11"),
    ("gw conns", ">8"),
    ("gw reqs", ">7"),
    ("client cpu s/1k", ">15"),
)


def table(cells: list[Cell]) -> list[str]:
    header = "  ".join(format(name, spec) for name, spec in COLUMNS)
    rows = [header, "-" * len(header)]
    for c in cells:
        values = (
            c.mode,
            str(c.concurrency),
            str(c.calls),
            str(c.errors),
            fmt(c.throughput, ".0f"),
            fmt(c.p50_ms, ".3f"),
            fmt(c.p99_ms, ".3f"),
            fmt(c.proxy_cpu_per_1k, ".3f"),
            fmt(c.proxy_peak_rss_mb, ".1f"),
            str(c.gateway_connections),
            str(c.gateway_requests),
            fmt(c.client_cpu_per_1k, ".3f"),
        )
        rows.append("  ".join(format(v, spec) for v, (_, spec) in zip(values, COLUMNS, strict=True)))
    return rows


def print_machine(info: dict[str, Any], out: TextIO = sys.stdout) -> None:
    print(
        f"machine: {info['cpus']} CPUs ({info['cpus_usable']} usable) {info['cpu_model']}, {info['memory_gb']} GB; "
        f"{info['platform']}",
        file=out,
    )
    print(f"python {info['python']}, mitmproxy {info['mitmproxy']}, httpx {info['httpx']}, asyncio default loop", file=out)


def print_report(result: dict[str, Any], info: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    cells: list[Cell] = result["cells"]
    print()
    print_machine(info)
    print(
        f"calls per cell: {args.calls} after {args.warmup} warm-up calls; time limit {args.cell_timeout:g}s per cell; "
        "gateway: bench/gateway.py (Adyen POST /v71/payments, fixed answer)"
    )
    for life in result["proxies"]:
        print(f"{life['modes']}: {life['setup']}")
    print()
    for line in table(cells):
        print(line)
    troubled = [c for c in cells if c.errors or c.timed_out]
    for c in troubled:
        note = " (stopped at the time limit)" if c.timed_out else ""
        print(f"  {c.mode} c={c.concurrency}: {c.errors} errors, {c.cut} cut{note}; e.g. {c.error_samples[:2]}")
    print()
    lines, records = ratios(cells, args.concurrency)
    for line in lines:
        print(line)
    print("Gateway connections over each proxy's whole life (warm-ups and checks included):")
    for life in result["proxies"]:
        print(
            f"  {life['modes']:<18} {life['gateway_connections']:>6} connections for "
            f"{life['gateway_requests']:>6} gateway calls"
        )
    failed = sum(1 for r in records if r["pass"] is False)
    judged = sum(1 for r in records if r["pass"] is not None)
    print(f"\ntargets: {judged - failed} of {judged} pass" + ("" if not troubled else "; some cells had errors"))
    return records


# -- the mitmweb soak ------------------------------------------------------------------------------


async def soak(procs: Processes, args: argparse.Namespace) -> dict[str, Any]:
    gateway = Gateway(procs)
    web_port = free_port()
    web = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": web_port,
        "password": secrets.token_urlsafe(16),
        "max_flows": 1000,
    }
    sidecar = start_sidecar(procs, gateway.port, "sidecar-web", web=web)
    wait_until(lambda: listening(web_port), sidecar.proc, "mitmweb")
    call = canonical_call(sidecar.port)
    await check_first_answer(call, "sidecar with mitmweb")
    concurrency = 8
    await run_raw(call, concurrency=concurrency, calls=args.warmup, time_limit=args.cell_timeout)

    monitor = sidecar.monitor
    start_rss = monitor.rss()
    log(f"soak: {args.soak_calls} calls at c={concurrency}, mitmweb on :{web_port}; RSS after warm-up {mb(start_rss):.1f} MB")
    chunk = max(1000, args.soak_calls // 10)
    deadline = time.monotonic() + args.soak_timeout
    done = errors = 0
    latencies: list[float] = []
    points = [{"calls": 0, "rss_mb": mb(start_rss), "elapsed_s": 0.0}]
    t0 = time.perf_counter()
    cpu0 = monitor.cpu_seconds()
    with RssSampler(monitor, interval=0.5) as sampler:
        while done < args.soak_calls and time.monotonic() < deadline:
            n = min(chunk, args.soak_calls - done)
            r = await run_raw(call, concurrency=concurrency, calls=n, time_limit=deadline - time.monotonic())
            done, errors = done + r.calls, errors + r.errors
            latencies += r.latencies
            points.append({"calls": done, "rss_mb": mb(monitor.rss()), "elapsed_s": time.perf_counter() - t0})
            log(f"  {done:>7} calls  RSS {points[-1]['rss_mb']:7.1f} MB  errors {errors}")
            if r.timed_out:
                break
    wall = time.perf_counter() - t0
    summary = LoadResult(ok=len(latencies), latencies=latencies, wall=wall)
    end_rss = monitor.rss()
    flows_held = mitmweb_flow_count(web_port, web["password"])
    return {
        "calls": done,
        "errors": errors,
        "completed": done >= args.soak_calls,
        "wall_s": wall,
        "throughput": summary.throughput,
        "p50_ms": summary.percentile_ms(0.5),
        "p99_ms": summary.percentile_ms(0.99),
        "proxy_cpu_per_1k": per_1k(monitor.cpu_seconds() - cpu0, done),
        "rss_start_mb": mb(start_rss),
        "rss_end_mb": mb(end_rss),
        "rss_growth_mb": mb(end_rss - start_rss),
        "rss_peak_mb": mb(sampler.peak),
        "vm_hwm_mb": mb(monitor.vm_hwm()),
        "points": points,
        "max_flows": web["max_flows"],
        "mitmweb_flows_held": flows_held,
    }


def mitmweb_flow_count(port: int, password: str) -> int | None:
    """How many flows mitmweb holds at the end: proof that the soak went through its store (None if
    it cannot be read)."""
    try:
        resp = httpx.get(f"http://127.0.0.1:{port}/flows", headers={"Authorization": f"Bearer {password}"}, timeout=30)
        return len(resp.json()) if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def print_soak(s: dict[str, Any], info: dict[str, Any], args: argparse.Namespace) -> bool:
    print()
    print_machine(info)
    print(
        f"mitmweb soak: sidecar (log level info) with web.enabled, max_flows {s['max_flows']}; "
        f"{s['calls']} canonical authorize calls at concurrency 8 after {args.warmup} warm-up calls"
        + ("" if s["completed"] else f" (STOPPED at the {args.soak_timeout:g}s limit before {args.soak_calls})")
    )
    print()
    print(f"{'calls':>8}  {'RSS MB':>8}  {'elapsed s':>9}")
    for p in s["points"]:
        print(f"{p['calls']:>8}  {p['rss_mb']:8.1f}  {p['elapsed_s']:9.1f}")
    print()
    print(
        f"errors {s['errors']}; {s['throughput']:.0f} calls/s, p50 {s['p50_ms']:.3f} ms, p99 {s['p99_ms']:.3f} ms; "
        f"proxy cpu {s['proxy_cpu_per_1k']:.3f} s/1k; peak RSS {s['rss_peak_mb']:.1f} MB, VmHWM {fmt(s['vm_hwm_mb'], '.1f')} MB"
    )
    print(f"mitmweb holds {fmt(s['mitmweb_flows_held'], 'd')} flows at the end (max_flows {s['max_flows']})")
    ok = s["rss_growth_mb"] <= TARGET_RSS_GROWTH_MB
    print(
        f"RSS start {s['rss_start_mb']:.1f} MB, end {s['rss_end_mb']:.1f} MB, growth {s['rss_growth_mb']:+.1f} MB "
        f"over {s['calls']} calls (target <= {TARGET_RSS_GROWTH_MB:g} MB over 50,000)   {verdict(ok)}"
    )
    return ok


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the sidecar against direct calls and plain mitmproxy. See the module docstring."
    )
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per cell (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured calls before each cell (default 200)")
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=[1, 8, 32],
        help="comma-separated concurrencies (default 1,8,32)",
    )
    parser.add_argument("--cell-timeout", type=float, default=120, help="seconds per cell before it stops (default 120)")
    parser.add_argument("--skip-log-warning", action="store_true", help="leave out the C (log warning) row")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--keep-logs", action="store_true", help="keep the work directory (configs, proxy logs)")
    parser.add_argument("--mitmweb-soak", action="store_true", help="run the RSS soak with mitmweb on instead")
    parser.add_argument("--soak-calls", type=int, default=50_000, help="calls in the soak (default 50000)")
    parser.add_argument("--soak-timeout", type=float, default=900, help="seconds the soak may take (default 900)")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.warmup < 0 or not args.concurrency or min(args.concurrency) < 1:
        parser.error("--calls and every --concurrency must be at least 1")
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the run the same way Ctrl-C does: through the cleanup


async def run(args: argparse.Namespace, procs: Processes) -> int:
    info = machine_info()
    if args.mitmweb_soak:
        s = await soak(procs, args)
        ok = print_soak(s, info, args)
        output: dict[str, Any] = {"machine": info, "soak": s}
        status = 0 if ok and s["completed"] else 1
    else:
        result = await benchmark(procs, args)
        records = print_report(result, info, args)
        output = {
            "machine": info,
            "proxies": result["proxies"],
            "cells": [asdict(c) for c in result["cells"]],
            "ratios": records,
        }
        status = 0
    if args.json:
        args.json.write_text(json.dumps(output, indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return status


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sidecar-bench-"))
    procs = Processes(workdir)
    atexit.register(procs.stop_all)  # a safety net; the finally below is the normal path
    signal.signal(signal.SIGTERM, _interrupt)
    keep = args.keep_logs
    try:
        return asyncio.run(run(args, procs))
    except KeyboardInterrupt:
        log("interrupted: stopping the processes")
        return 130
    except Exception:
        keep = True  # the proxies' logs explain most failures
        raise
    finally:
        procs.stop_all()
        if keep:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
