"""Benchmark: what the sidecar adds to every payment call, against its baselines, in one run.

    uv run python bench/run.py --json out.json     # everything, one run: 3 to 4 minutes
    uv run python bench/run.py --scenario overhead     # the comparison table: 2 to 3 minutes
    uv run python bench/run.py --scenario slow-gateway # hundreds of calls in flight (about 45 s)
    uv run python bench/run.py --scenario mitmweb-soak # RSS over 50,000 calls with mitmweb on

(`.venv/bin/python bench/run.py` works the same; `--help` lists every option.) It is not part of the
test suite: run it on demand, on a quiet machine, and compare numbers only within one run.

The overhead scenario
---------------------
A fast local Adyen-like gateway (bench/gateway.py, its own process) answers every
`POST /v71/payments` with a fixed "Authorised" JSON and counts the TCP connections it accepts. The
sidecar uses the Adyen connector, whose canonical authorize is exactly one gateway call (Stripe's is
two), so every mode ends in the same gateway call; the run checks the gateway got the same bytes
from every proxy and says so under the setup lines.

  A (httpx)          httpx.AsyncClient (keep-alive) calling the gateway directly: the issue's baseline.
  A-raw              the same calls from the benchmark's raw HTTP/1.1 client (bench/loadgen.py): what
                     the client itself costs. httpx spends more time per call than a proxy does, so
                     every proxied mode uses the raw client, and C - A is computed raw against raw.
  B                  plain `mitmdump --mode reverse:<gateway>@<port> -q` (default options and addons):
                     the platform's own cost. Raw client, keep-alive.
  B-newconn          B with a new client connection per call: mitmproxy opens one gateway connection
                     per client connection, so this shows 1,000 gateway connections per 1,000 calls.
  C                  `sidecar run` (log level info, as in production: two JSON lines per call, to a
                     file) with canonical `POST /v1/payments` authorize calls, keep-alive.
  D                  a sidecar like C's, in a process of its own, a new client connection per call (as legacy apps do).
  C (log warning)    C on a sidecar with log level warning: what the per-call log lines cost.
  C (httpx-aiohttp)  C on a sidecar whose outbound leg goes through httpx's API over the aiohttp
                     transport (bench/sidecar_httpx.py): what moving the leg to httpx would cost.
  C (mitmweb)        C on a sidecar with mitmweb on (max_flows 1000): what the masked copies cost.
  F (floor)          bench/floor.py: mitmproxy set up as the sidecar sets it up, one addon that makes
                     the same gateway call through aiohttp and answers a fixed body, nothing else: the
                     floor the canonical listener (mitmproxy) and the outbound leg (aiohttp) stand on.
                     C - F is the sidecar's own work; F/B is as low as C/B can go on them.

Every proxy is started first and runs throughout; the cells are then measured interleaved (for each
round, for each concurrency, every mode in turn), so that a machine whose load drifts weighs on
every mode alike, and a cell's figures are its rounds' together. On a machine with two CPUs or more,
every proxy runs on the last CPU and the load generator and the gateway on the others (`--no-pin`
leaves them to the scheduler): each proxy's CPU per call is then measured with the core to itself,
as a sidecar with a CPU limit of its own has it, not taking turns with the load that drives it
(the setup lines say where everything ran). Each cell: a warm-up (not
measured), then a fixed number of calls over N concurrent connections (keep-alive: one connection
per worker; new-conn: one per call), bounded by a time limit. Columns:
  calls/s          good answers (status 200 with the expected body) per second of wall time
  p50, p99 ms      latency of good answers, measured by the client around each call
  proxy cpu s/1k   CPU seconds (user+system) the proxy process and its children used per 1,000 calls
  peak RSS MB      highest RSS of the proxy, sampled every 100 ms during the cell
  gw conns         TCP connections the gateway accepted during the cell; gw reqs: requests it answered
  client cpu s/1k  CPU of the load generator (this process) per 1,000 calls
Then the targets: proxy CPU per canonical call at c=8 (C <= 0.8 ms, C/B <= 0.6, C (mitmweb)/C <= 1.5),
added latency C - A-raw at c=1 (p50 <= 0.8 ms, p99 <= 2.5 ms), logging at info (C / C (log
warning) throughput at c=8 >= 0.95), C/B throughput >= 1, D's gateway connections per 1,000 calls
<= the pool size; and, measured without a target, C (httpx-aiohttp)/C CPU per call (the outbound
leg would move to httpx within 5%).

The slow-gateway scenario: see bench/slow.py (its targets too).

The mitmweb soak starts the sidecar with mitmweb on (`web.enabled`, max_flows 1000), runs
--soak-calls canonical calls at concurrency 8 in chunks (ten of them from 10,000 calls up), and
prints the proxy's RSS after the warm-up and after each chunk (a plateau is the flow store filling
up; a steady climb is a leak), the number of flows mitmweb holds at the end, and the growth against
the 50 MB target.

Output: the machine, each scenario's report, then one table of every target with its value and
PASS or FAIL (the README's). `--json FILE` writes {"machine", "targets": [{"name", "value",
"target", "pass"}, ...], "measured": [...], and each scenario's figures}.

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
    raise_open_files_limit,
    start_floor,
    start_mitmdump,
    start_sidecar,
    wait_until,
)
from report import (  # noqa: E402
    TARGET_RSS_GROWTH_MB,
    Cell,
    Judge,
    SoakResult,
    log,
    machine_info,
    mb,
    per_1k,
    print_machine,
    print_report,
    print_soak,
    print_targets,
)
from slow import print_slow, slow_gateway  # noqa: E402
from slow import targets as slow_targets  # noqa: E402

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


@dataclass
class Sample:
    """One round of one cell: the load's result and what the proxy and the gateway did meanwhile."""

    result: LoadResult
    proxy_cpu: float
    peak_rss: int
    vm_hwm: int | None
    gateway_connections: int
    gateway_requests: int
    gateway_cpu: float


async def measure(mode: Mode, concurrency: int, gateway: Gateway, args: argparse.Namespace) -> Sample:
    """Warm-up, then the measured calls, with the proxy's CPU, RSS and the gateway's counts around them."""
    warm = await load(mode, concurrency, args.warmup, args.cell_timeout)
    if warm.errors:
        log(f"  warning: {warm.errors} errors in the warm-up of {mode.name} c={concurrency}: {warm.error_samples[:1]}")
    before = gateway.stats()  # a difference, not a reset: the gateway's lifetime totals stay readable
    watched = mode.proxy.monitor if mode.proxy else None
    proxy_cpu0 = watched.cpu_seconds() if watched else 0.0
    gateway_cpu0 = gateway.monitor.cpu_seconds()
    sampler = RssSampler(watched) if watched else None
    with sampler or contextlib.nullcontext():
        result = await load(mode, concurrency, args.calls, args.cell_timeout)
    after = gateway.stats()
    return Sample(
        result=result,
        proxy_cpu=watched.cpu_seconds() - proxy_cpu0 if watched else 0.0,
        peak_rss=sampler.peak if sampler else 0,
        vm_hwm=watched.vm_hwm() if watched else None,
        gateway_connections=after["connections"] - before["connections"],
        gateway_requests=after["requests"] - before["requests"],
        gateway_cpu=gateway.monitor.cpu_seconds() - gateway_cpu0,
    )


def cell_of(mode: Mode, concurrency: int, samples: list[Sample]) -> Cell:
    """A cell's figures from its rounds together: calls, time and CPU summed, latencies pooled."""
    result = LoadResult(wall=sum(x.result.wall for x in samples))
    for x in samples:
        result.ok += x.result.ok
        result.errors += x.result.errors
        result.cut += x.result.cut
        result.latencies += x.result.latencies
        result.error_samples += x.result.error_samples
        result.client_cpu += x.result.client_cpu
        result.timed_out = result.timed_out or x.result.timed_out
    watched = mode.proxy is not None
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
        proxy_cpu_per_1k=per_1k(sum(x.proxy_cpu for x in samples), result.calls) if watched else None,
        proxy_peak_rss_mb=mb(max(x.peak_rss for x in samples)) if watched else None,
        proxy_vm_hwm_mb=mb(max(x.vm_hwm or 0 for x in samples)) if watched else None,
        gateway_connections=sum(x.gateway_connections for x in samples),
        gateway_requests=sum(x.gateway_requests for x in samples),
        gateway_cpu_per_1k=per_1k(sum(x.gateway_cpu for x in samples), result.calls),
        client_cpu_per_1k=per_1k(result.client_cpu, result.calls),
        error_samples=result.error_samples[:5],
    )


async def check_first_answer(call: Call, what: str, gateway: Gateway) -> bool:
    """The numbers mean nothing unless the target answers as expected: one call first, which must
    succeed. Returns whether the gateway got exactly ADYEN_BODY from it (the same payload in every mode)."""
    status, body = await one_call(call)
    if status != 200 or (call.expect is not None and call.expect not in body):
        raise RuntimeError(f"{what}: first answer is {status} {body[:300]!r}, expected 200 with {call.expect!r}")
    return gateway.stats()["last_body_sha256"] == hashlib.sha256(ADYEN_BODY).hexdigest()


async def run_interleaved(modes: list[Mode], gateway: Gateway, args: argparse.Namespace) -> list[Cell]:
    """Every cell, round after round, each round going through every concurrency and every mode."""
    samples: dict[tuple[str, int], list[Sample]] = {}
    for round_ in range(1, args.rounds + 1):
        for concurrency in args.concurrency:
            for mode in modes:
                x = await measure(mode, concurrency, gateway, args)
                samples.setdefault((mode.name, concurrency), []).append(x)
                r = x.result
                log(
                    f"  round {round_} {mode.name:<18} c={concurrency:<3} {r.throughput:8.0f} calls/s  "
                    f"p50 {r.percentile_ms(0.5):7.3f} ms  p99 {r.percentile_ms(0.99):7.3f} ms  "
                    f"proxy cpu {per_1k(x.proxy_cpu, r.calls) if mode.proxy else float('nan'):6.3f} s/1k  "
                    f"errors {r.errors}"
                )
    by_name = {m.name: m for m in modes}
    return [cell_of(by_name[name], n, xs) for (name, n), xs in samples.items()]


# -- the overhead scenario ------------------------------------------------------------------------


def web_settings() -> dict[str, Any]:
    return {
        "enabled": True,
        "host": "127.0.0.1",
        "port": free_port(),
        "password": secrets.token_urlsafe(16),
        "max_flows": 1000,
    }


async def overhead(procs: Processes, args: argparse.Namespace) -> tuple[list[Cell], list[dict[str, Any]], str]:
    gateway = Gateway(procs)
    log(f"gateway on 127.0.0.1:{gateway.port}")
    direct = adyen_call(gateway.port)
    await check_first_answer(direct, "gateway", gateway)
    adyen = adyen_connector(gateway)
    # Each proxy and the modes measured through it: all started first, then measured interleaved.
    starts: list[tuple[Callable[[], Proxy], Callable[[Proxy], list[Mode]]]] = [
        (
            lambda: start_mitmdump(procs, gateway.port),
            lambda p: [
                Mode("B", adyen_call(p.port), proxy=p),
                Mode("B-newconn", adyen_call(p.port), new_conn=True, proxy=p),
            ],
        ),
        (
            lambda: start_sidecar(procs, "sidecar-info", adyen),
            lambda p: [Mode("C", canonical_call(p.port), proxy=p)],
        ),
        (
            # A process of its own: what thousands of short connections leave behind must not weigh
            # on C, which is compared with the C variants, each on a process that serves only it.
            lambda: start_sidecar(procs, "sidecar-newconn", adyen),
            lambda p: [Mode("D", canonical_call(p.port), new_conn=True, proxy=p)],
        ),
        (
            lambda: start_floor(procs, gateway.port, ADYEN_BODY),
            lambda p: [Mode("F (floor)", canonical_call(p.port), proxy=p)],
        ),
        (
            lambda: start_sidecar(procs, "sidecar-warning", adyen, level="warning"),
            lambda p: [Mode("C (log warning)", canonical_call(p.port), proxy=p)],
        ),
        (
            lambda: start_sidecar(procs, "sidecar-httpx", adyen, httpx_aiohttp=True),
            lambda p: [Mode("C (httpx-aiohttp)", canonical_call(p.port), proxy=p)],
        ),
    ]
    if not args.skip_mitmweb:
        web = web_settings()
        starts.append(
            (
                lambda: start_sidecar(procs, "sidecar-web", adyen, web=web),
                lambda p: [Mode("C (mitmweb)", canonical_call(p.port), proxy=p)],
            )
        )
    modes = [Mode("A (httpx)", direct, client="httpx"), Mode("A-raw", direct)]
    proxies = []
    for start, modes_of in starts:
        proxy = start()
        measured = modes_of(proxy)
        names = ", ".join(m.name for m in measured)
        same_body = await check_first_answer(measured[0].call, names, gateway)
        proxies.append({"modes": names, "setup": proxy.setup, "same_gateway_body": same_body})
        modes += measured
    cells = await run_interleaved(modes, gateway, args)
    for proxy in {m.proxy.proc.pid: m.proxy for m in modes if m.proxy}.values():
        procs.stop(proxy.proc)
    procs.stop(gateway.proc)
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
    web = web_settings()
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


SCENARIOS = ("all", "overhead", "slow-gateway", "mitmweb-soak")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="all",
        help="all (default: overhead, then slow-gateway), overhead, slow-gateway, or mitmweb-soak",
    )
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per cell and round (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured calls before each cell (default 200)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of every cell (default 2)")
    parser.add_argument(
        "--concurrency",
        type=lambda s: [int(x) for x in s.split(",") if x.strip()],
        default=[1, 8, 32],
        help="comma-separated concurrencies (default 1,8,32; the targets need 1 and 8)",
    )
    parser.add_argument("--cell-timeout", type=float, default=120, help="seconds a cell may take (default 120)")
    parser.add_argument("--skip-mitmweb", action="store_true", help="leave out the C (mitmweb) rows")
    parser.add_argument("--slow-rate", type=float, default=500, help="slow gateway: open-loop calls/s (default 500)")
    parser.add_argument("--slow-seconds", type=float, default=30, help="slow gateway: open-loop seconds (default 30)")
    parser.add_argument("--slow-burst", type=int, default=1000, help="slow gateway: calls at once after (default 1000)")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="leave the proxies and the load where the scheduler puts them (default: a CPU of their own each side)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    parser.add_argument("--keep-logs", action="store_true", help="keep the work directory (configs, proxy logs)")
    parser.add_argument("--mitmweb-soak", action="store_true", help="the same as --scenario mitmweb-soak")
    parser.add_argument("--soak-calls", type=int, default=50_000, help="calls in the soak (default 50000)")
    parser.add_argument("--soak-timeout", type=float, default=900, help="seconds the soak may take (default 900)")
    args = parser.parse_args(argv)
    if args.mitmweb_soak:
        args.scenario = "mitmweb-soak"
    if (
        args.calls < 1
        or args.warmup < 0
        or args.rounds < 1
        or args.soak_calls < 1
        or args.slow_rate <= 0
        or args.slow_seconds <= 2
        or args.slow_burst < 0
        or not args.concurrency
        or min(args.concurrency) < 1
    ):
        parser.error("--calls, --rounds, --soak-calls and every --concurrency must be at least 1")
    return args


async def run(args: argparse.Namespace, procs: Processes) -> int:
    # SIGTERM cancels the run as Ctrl-C does (asyncio.run turns SIGINT into a cancellation too), so
    # the workers stop at an await rather than being hit by an exception in the middle of a callback.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    info = machine_info()
    info["pinning"] = procs.pin_cpus() if args.pin else "cpus: not pinned (--no-pin)"
    print()
    print_machine(info)
    output: dict[str, Any] = {"machine": info}
    judge = Judge()
    clean = True
    if args.scenario == "mitmweb-soak":
        result = await soak(procs, args)
        ok = print_soak(result, info, args.warmup, args.soak_calls, args.soak_timeout)
        judge.targets.append(
            {
                "name": "mitmweb soak: RSS growth MB",
                "value": result.rss_growth_mb,
                "target": f"<= {TARGET_RSS_GROWTH_MB:g}",
                "pass": ok,
            }
        )
        output["soak"] = {**asdict(result), "rss_growth_mb": result.rss_growth_mb}
    if args.scenario in ("all", "overhead"):
        cells, proxies, payload = await overhead(procs, args)
        settings = {**vars(args), "body_check": payload}
        clean = print_report(cells, proxies, info, settings, pool_size(), judge) and clean
        output |= {"proxies": proxies, "cells": [asdict(c) for c in cells]}
    if args.scenario in ("all", "slow-gateway"):
        slow = await slow_gateway(procs, args, canonical_call, adyen_connector)
        print()
        for line in print_slow(slow):
            print(line)
        judge.targets += slow_targets(slow)
        clean = clean and slow.errors == 0
        output["slow_gateway"] = asdict(slow)
    ok = print_targets(judge, clean)
    output |= {"targets": judge.targets, "measured": judge.measured}
    if args.json:
        args.json.write_text(json.dumps(output, indent=2, default=str) + "\n")
        print(f"\nwrote {args.json}")
    return 0 if ok else 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM outside the event loop: the same cleanup as Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files_limit()  # the slow gateway's burst: a connection per call in flight
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
