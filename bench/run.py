"""Benchmark: what the sidecar adds to every payment call, against its baselines, in one run.

    uv run python bench/run.py                     # the comparison table (about 3 minutes)
    uv run python bench/run.py --calls 5000 --concurrency 1,8,32 --json out.json
    uv run python bench/run.py --mitmweb-soak      # RSS over 50,000 calls with mitmweb on

(`.venv/bin/python bench/run.py` works the same; `--help` lists every option.) It is not part of the
test suite: run it on demand, on a quiet machine, and compare numbers only within one run.

What runs
---------
A fast local Adyen-like gateway (bench/gateway.py, its own process) answers every
`POST /v71/payments` with a fixed "Authorised" JSON and counts the TCP connections it accepts. The
sidecar uses the Adyen connector, whose canonical authorize is exactly one gateway call (Stripe's is
two), so every mode ends in the same gateway call; the run checks the gateway got the same bytes
from every mode and says so under the setup lines.

  A (httpx)        httpx.AsyncClient (keep-alive) calling the gateway directly: the issue's baseline.
  A-raw            the same calls from the benchmark's raw HTTP/1.1 client (bench/loadgen.py): what
                   the client itself costs. httpx spends more time per call than a proxy does, so
                   every proxied mode uses the raw client, and C - A is computed raw against raw.
  B                plain `mitmdump --mode reverse:<gateway>@<port> -q` (default options and addons):
                   the platform's own cost. Raw client, keep-alive.
  B-newconn        B with a new client connection per call: mitmproxy opens one gateway connection
                   per client connection, so this shows 1,000 gateway connections per 1,000 calls.
  C                `sidecar run` (log level info, as in production: two JSON lines per call, to a
                   file) with canonical `POST /v1/payments` authorize calls, keep-alive.
  D                the same sidecar process, a new client connection per call (as legacy apps do).
  C (log warning)  C on a sidecar with log level warning: how much of C the per-call log lines cost.

Each proxy is started once for its modes and stopped after them. Each mode x concurrency cell: a
warm-up (not measured), then a fixed number of calls over N concurrent connections (keep-alive: one
connection per worker; new-conn: one per call), bounded by a time limit. Columns:
  calls/s          good answers (status 200 with the expected body) per second of wall time
  p50, p99 ms      latency of good answers, measured by the client around each call
  proxy cpu s/1k   CPU seconds (user+system) the proxy process and its children used per 1,000 calls
  peak RSS MB      highest RSS of the proxy, sampled every 100 ms during the cell (VmHWM in the JSON)
  gw conns         TCP connections the gateway accepted during the cell; gw reqs: requests it answered
  client cpu s/1k  CPU of the load generator (this process) per 1,000 calls
Then the issue's ratios with their targets, PASS or FAIL, and the gateway connections each proxy
opened over its whole life (a pool's first connections are made during warm-up, so D's cells can
show 0).

Read the ratios more than the absolute numbers: client, gateway and proxy share this machine's cores
(the machine line says how many), which every mode suffers alike.

--mitmweb-soak starts the sidecar with mitmweb on (`web.enabled`, max_flows 1000), runs --soak-calls
canonical calls at concurrency 8 in chunks (ten of them from 10,000 calls up), and prints the proxy's
RSS after the warm-up and after each chunk (a plateau is the flow store filling up; a steady climb is
a leak), the number of flows mitmweb holds at the end, and the growth against the 50 MB target.

Exit status: 0 every target met and no call failed; 1 a target missed or calls failed; 2 the run
itself failed (the work directory with the proxies' configs and logs is then kept); 130 interrupted.
Every process the benchmark starts runs in its own session and is stopped on exit, on an error, on
Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import hashlib
import json
import secrets
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the bench modules, however this is started
from loadgen import Call, LoadResult, one_call, run_httpx, run_raw  # noqa: E402
from procs import (  # noqa: E402
    Gateway,
    Processes,
    Proxy,
    RssSampler,
    free_port,
    listening,
    pool_size,
    start_mitmdump,
    start_sidecar,
    wait_until,
)
from report import Cell, SoakResult, log, machine_info, mb, per_1k, print_report, print_soak  # noqa: E402

# -- the calls ------------------------------------------------------------------------------------

ADYEN_ACCOUNT = {"api_key": "bench_key", "merchant_account": "BenchECOM", "return_url": "https://bench.example/r"}

# The gateway call: byte for byte what the sidecar's Adyen connector builds from CANONICAL_BODY
# (checked on every run: see body_check).
ADYEN_BODY = json.dumps(
    {
        "amount": {"value": 1000, "currency": "EUR"},
        "reference": "bench-1",
        "merchantAccount": ADYEN_ACCOUNT["merchant_account"],
        "returnUrl": ADYEN_ACCOUNT["return_url"],
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
ADYEN_HEADERS = (
    ("X-API-Key", ADYEN_ACCOUNT["api_key"]),
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
)
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


def adyen_connector(gateway: Gateway) -> dict[str, Any]:
    """The sidecar's Adyen connector pointed at the bench gateway; pool and timeouts left at defaults."""
    return {"base_url": f"http://127.0.0.1:{gateway.port}/v71", "accounts": {"default": ADYEN_ACCOUNT}}


# -- one cell -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    name: str
    call: Call
    client: str = "raw"  # "raw" or "httpx"
    new_conn: bool = False
    proxy: Proxy | None = None  # None: straight to the gateway


async def load(mode: Mode, concurrency: int, calls: int, time_limit: float) -> LoadResult:
    if mode.client == "httpx":
        return await run_httpx(mode.call, concurrency=concurrency, calls=calls, time_limit=time_limit)
    return await run_raw(mode.call, concurrency=concurrency, calls=calls, time_limit=time_limit, new_conn=mode.new_conn)


async def measure(mode: Mode, concurrency: int, gateway: Gateway, args: argparse.Namespace) -> Cell:
    """Warm-up, then the measured calls, with the proxy's CPU, RSS and the gateway's counts around them."""
    warm = await load(mode, concurrency, args.warmup, args.cell_timeout)
    if warm.errors:
        log(f"  warning: {warm.errors} errors in the warm-up of {mode.name} c={concurrency}: {warm.error_samples[:1]}")
    before = gateway.stats()  # a difference, not a reset: each proxy's lifetime totals stay readable
    watched = mode.proxy.monitor if mode.proxy else None
    proxy_cpu0 = watched.cpu_seconds() if watched else 0.0
    gateway_cpu0 = gateway.monitor.cpu_seconds()
    sampler = RssSampler(watched) if watched else None
    with sampler or contextlib.nullcontext():
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
        proxy_peak_rss_mb=mb(sampler.peak) if sampler else None,
        proxy_vm_hwm_mb=mb(watched.vm_hwm()) if watched else None,
        gateway_connections=after["connections"] - before["connections"],
        gateway_requests=after["requests"] - before["requests"],
        gateway_cpu_per_1k=per_1k(gateway_cpu, result.calls),
        client_cpu_per_1k=per_1k(result.client_cpu, result.calls),
        error_samples=result.error_samples,
    )


async def check_first_answer(call: Call, what: str, gateway: Gateway) -> bool:
    """The numbers mean nothing unless the target answers as expected: one call first, which must
    succeed. Returns whether the gateway got exactly ADYEN_BODY from it (the same payload in every mode)."""
    status, body = await one_call(call)
    if status != 200 or (call.expect is not None and call.expect not in body):
        raise RuntimeError(f"{what}: first answer is {status} {body[:300]!r}, expected 200 with {call.expect!r}")
    return gateway.stats()["last_body_sha256"] == hashlib.sha256(ADYEN_BODY).hexdigest()


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
    start: Callable[[], Proxy],
    modes: Callable[[Proxy], list[Mode]],
    gateway: Gateway,
    procs: Processes,
    args: argparse.Namespace,
) -> tuple[list[Cell], dict[str, Any]]:
    """Starts a proxy, checks its first answer, measures `modes` through it, stops it. Also returns
    the gateway connections it opened over its whole life, warm-ups and checks included: a pool's
    first connections show there, while each cell shows only what it opened itself."""
    before = gateway.stats()  # before the start: mitmdump connects upstream as soon as a client does
    proxy = start()
    try:
        measured = modes(proxy)
        names = ", ".join(m.name for m in measured)
        same_body = await check_first_answer(measured[0].call, names, gateway)
        cells = await run_modes(measured, gateway, args)
    finally:
        procs.stop(proxy.proc)
    after = gateway.stats()
    life = {
        "modes": names,
        "setup": proxy.setup,
        "same_gateway_body": same_body,
        "gateway_connections": after["connections"] - before["connections"],
        "gateway_requests": after["requests"] - before["requests"],
    }
    return cells, life


async def benchmark(procs: Processes, args: argparse.Namespace) -> tuple[list[Cell], list[dict[str, Any]], str]:
    gateway = Gateway(procs)
    log(f"gateway on 127.0.0.1:{gateway.port}")
    direct = adyen_call(gateway.port)
    await check_first_answer(direct, "gateway", gateway)
    cells = await run_modes([Mode("A (httpx)", direct, client="httpx"), Mode("A-raw", direct)], gateway, args)

    def plain_mitmproxy(p: Proxy) -> list[Mode]:
        call = adyen_call(p.port)
        return [Mode("B", call, proxy=p), Mode("B-newconn", call, new_conn=True, proxy=p)]

    def sidecar(p: Proxy) -> list[Mode]:
        call = canonical_call(p.port)
        return [Mode("C", call, proxy=p), Mode("D", call, new_conn=True, proxy=p)]

    def sidecar_quiet(p: Proxy) -> list[Mode]:
        return [Mode("C (log warning)", canonical_call(p.port), proxy=p)]

    adyen = adyen_connector(gateway)
    groups: list[tuple[Callable[[], Proxy], Callable[[Proxy], list[Mode]]]] = [
        (lambda: start_mitmdump(procs, gateway.port), plain_mitmproxy),
        (lambda: start_sidecar(procs, "sidecar-info", adyen), sidecar),
    ]
    if not args.skip_log_warning:
        groups.append((lambda: start_sidecar(procs, "sidecar-warning", adyen, level="warning"), sidecar_quiet))
    proxies = []
    for start, modes in groups:
        group_cells, life = await through_proxy(start, modes, gateway, procs, args)
        cells += group_cells
        proxies.append(life)
    return cells, proxies, body_check(proxies)


def body_check(proxies: list[dict[str, Any]]) -> str:
    differ = [p["modes"] for p in proxies if not p["same_gateway_body"]]
    if not differ:
        return f"payload: every mode sent the gateway the same {len(ADYEN_BODY)}-byte Adyen body"
    return f"WARNING: the gateway got a different body from {'; '.join(differ)} than ADYEN_BODY: not comparable"


# -- the mitmweb soak ------------------------------------------------------------------------------

SOAK_CONCURRENCY = 8


async def soak(procs: Processes, args: argparse.Namespace) -> SoakResult:
    """The sidecar with mitmweb on, args.soak_calls canonical calls in chunks, RSS after each."""
    gateway = Gateway(procs)
    web = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": free_port(),
        "password": secrets.token_urlsafe(16),
        "max_flows": 1000,
    }
    sidecar = start_sidecar(procs, "sidecar-web", adyen_connector(gateway), web=web)
    wait_until(lambda: listening(web["port"]), sidecar.proc, "mitmweb")
    call = canonical_call(sidecar.port)
    await check_first_answer(call, "sidecar with mitmweb", gateway)
    await run_raw(call, concurrency=SOAK_CONCURRENCY, calls=args.warmup, time_limit=args.cell_timeout)

    monitor = sidecar.monitor
    start_rss = monitor.rss()
    log(f"soak: {args.soak_calls} calls at c={SOAK_CONCURRENCY}; RSS after warm-up {mb(start_rss):.1f} MB")
    chunk = max(1000, args.soak_calls // 10)  # ten RSS points, to tell a plateau from a leak
    deadline = time.monotonic() + args.soak_timeout
    done = errors = 0
    latencies: list[float] = []
    points = [{"calls": 0, "rss_mb": mb(start_rss), "elapsed_s": 0.0}]
    t0, cpu0 = time.perf_counter(), monitor.cpu_seconds()
    with RssSampler(monitor, interval=0.5) as sampler:
        while done < args.soak_calls and time.monotonic() < deadline:
            n = min(chunk, args.soak_calls - done)
            r = await run_raw(call, concurrency=SOAK_CONCURRENCY, calls=n, time_limit=deadline - time.monotonic())
            done, errors = done + r.calls, errors + r.errors
            latencies += r.latencies
            points.append({"calls": done, "rss_mb": mb(monitor.rss()), "elapsed_s": time.perf_counter() - t0})
            log(f"  {done:>7} calls  RSS {points[-1]['rss_mb']:7.1f} MB  errors {errors}")
            if r.timed_out:
                break
    wall = time.perf_counter() - t0
    overall = LoadResult(ok=len(latencies), latencies=latencies, wall=wall)
    return SoakResult(
        calls=done,
        errors=errors,
        completed=done >= args.soak_calls,
        wall_s=wall,
        throughput=overall.throughput,
        p50_ms=overall.percentile_ms(0.5),
        p99_ms=overall.percentile_ms(0.99),
        proxy_cpu_per_1k=per_1k(monitor.cpu_seconds() - cpu0, done),
        rss_start_mb=mb(start_rss),
        rss_end_mb=mb(monitor.rss()),
        rss_peak_mb=mb(sampler.peak),
        vm_hwm_mb=mb(monitor.vm_hwm()),
        max_flows=web["max_flows"],
        mitmweb_flows_held=mitmweb_flow_count(web["port"], web["password"]),
        points=points,
    )


def mitmweb_flow_count(port: int, password: str) -> int | None:
    """How many flows mitmweb holds at the end: proof the soak went through its store (None if unreadable)."""
    try:
        resp = httpx.get(f"http://127.0.0.1:{port}/flows", headers={"Authorization": f"Bearer {password}"}, timeout=30)
        return len(resp.json()) if resp.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per cell (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured calls before each cell (default 200)")
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=[1, 8, 32],
        help="comma-separated concurrencies (default 1,8,32)",
    )
    parser.add_argument("--cell-timeout", type=float, default=120, help="seconds a cell may take (default 120)")
    parser.add_argument("--skip-log-warning", action="store_true", help="leave out the C (log warning) rows")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--keep-logs", action="store_true", help="keep the work directory (configs, proxy logs)")
    parser.add_argument("--mitmweb-soak", action="store_true", help="run the RSS soak with mitmweb on instead")
    parser.add_argument("--soak-calls", type=int, default=50_000, help="calls in the soak (default 50000)")
    parser.add_argument("--soak-timeout", type=float, default=900, help="seconds the soak may take (default 900)")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.warmup < 0 or args.soak_calls < 1 or not args.concurrency or min(args.concurrency) < 1:
        parser.error("--calls, --soak-calls and every --concurrency must be at least 1")
    return args


async def run(args: argparse.Namespace, procs: Processes) -> int:
    # SIGTERM cancels the run as Ctrl-C does (asyncio.run turns SIGINT into a cancellation too), so
    # the workers stop at an await rather than being hit by an exception in the middle of a callback.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    info = machine_info()
    if args.mitmweb_soak:
        result = await soak(procs, args)
        ok = print_soak(result, info, args.warmup, args.soak_calls, args.soak_timeout)
        output: dict[str, Any] = {"machine": info, "soak": {**asdict(result), "rss_growth_mb": result.rss_growth_mb}}
    else:
        cells, proxies, payload = await benchmark(procs, args)
        settings = {**vars(args), "body_check": payload}
        records, ok = print_report(cells, proxies, info, settings, pool_size())
        output = {"machine": info, "proxies": proxies, "cells": [asdict(c) for c in cells], "ratios": records}
    if args.json:
        args.json.write_text(json.dumps(output, indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return 0 if ok else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM outside the event loop: the same cleanup as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sidecar-bench-"))
    procs = Processes(workdir)
    atexit.register(procs.stop_all)  # a safety net; the finally below is the normal path
    signal.signal(signal.SIGTERM, _interrupt)
    keep = args.keep_logs
    try:
        return asyncio.run(run(args, procs))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log("interrupted: stopping the processes")
        return 130
    except Exception:
        keep = True  # the proxies' logs explain most failures
        traceback.print_exc()
        return 2
    finally:
        # A second Ctrl-C must not cut the cleanup short; it is bounded anyway (SIGTERM, then SIGKILL).
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        procs.stop_all()
        if keep:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
