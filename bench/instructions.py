"""Instructions per call: the overhead scenario's proxies, each under valgrind's callgrind, counted
only while they serve the measured calls.

    uv run python bench/instructions.py                 # B, C, C (log warning), C (mitmweb): about 4 minutes
    uv run python bench/instructions.py --json out.json

A count of instructions does not depend on what else the machine runs, so two versions of the code
can be compared on a shared machine whose speed swings by half from one minute to the next (the
README's Benchmarks section); the same count, run twice, agrees to 0.1%. It is not time: a cache
miss costs no instruction, so it complements bench/run.py and replaces none of its targets. Each
proxy starts with counting off (`--instr-atstart=no`), takes `--warm` calls (mitmweb's store fills
up: its default 1,000 flows take 500 calls), then counts `--calls` calls at concurrency 8 through
the same raw client and local gateway as bench/run.py. Needs valgrind (Debian: `apt-get install
valgrind`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadgen import Call, run_raw
from procs import Gateway, Processes, Proxy, start_mitmdump, start_sidecar
from report import log
from run import adyen_call, adyen_connector, canonical_call, check_first_answer, web_settings

CONCURRENCY = 8
TIME_LIMIT_S = 900.0  # a call takes some fifty times longer under valgrind


def callgrind(out: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p"]


def counted(out: Path, pid: int) -> int:
    """Instructions in the dumps callgrind wrote for `pid` so far."""
    total = 0
    for dump in out.parent.glob(f"{out.name}.{pid}*"):
        for line in dump.read_text().splitlines():
            if line.startswith("totals:"):
                total += int(line.split()[1])
    return total


async def per_call(proxy: Proxy, call: Call, out: Path, warm: int, calls: int) -> tuple[float, int]:
    await run_raw(call, concurrency=CONCURRENCY, calls=warm, time_limit=TIME_LIMIT_S)
    pid = str(proxy.proc.pid)
    subprocess.run(["callgrind_control", "--instr=on", pid], check=True, capture_output=True)
    result = await run_raw(call, concurrency=CONCURRENCY, calls=calls, time_limit=TIME_LIMIT_S)
    subprocess.run(["callgrind_control", "--instr=off", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "--dump", pid], check=True, capture_output=True)
    if result.errors or not result.calls:
        raise RuntimeError(f"{result.errors} errors in {result.calls} calls")
    return counted(out, proxy.proc.pid) / result.calls, result.calls


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    procs = Processes(Path(tempfile.mkdtemp(prefix="sidecar-instructions-")))
    try:
        gateway = Gateway(procs)
        adyen = adyen_connector(gateway)
        rows: list[tuple[str, Callable[[list[str]], Proxy], Callable[[int], Call]]] = [
            ("B", lambda w: start_mitmdump(procs, gateway.port, wrapper=w), adyen_call),
            ("C", lambda w: start_sidecar(procs, "sidecar-info", adyen, wrapper=w), canonical_call),
            (
                "C (log warning)",
                lambda w: start_sidecar(procs, "sidecar-warning", adyen, level="warning", wrapper=w),
                canonical_call,
            ),
            (
                "C (mitmweb)",
                lambda w: start_sidecar(procs, "sidecar-web", adyen, web=web_settings(), wrapper=w),
                canonical_call,
            ),
        ]
        counts: dict[str, float] = {}
        for name, start, call_of in rows:
            out = procs.workdir / f"callgrind.{len(counts)}"
            proxy = start(callgrind(out))
            call = call_of(proxy.port)
            await check_first_answer(call, name, gateway)
            counts[name], n = await per_call(proxy, call, out, args.warm, args.calls)
            log(f"  {name:<16} {counts[name] / 1e6:7.3f} M instructions per call ({n} calls counted)")
            procs.stop(proxy.proc)
        return {
            "instructions_per_call": counts,
            # No C / B: mitmdump runs a different program (three times C's instructions in 1.8 times
            # its time), so only the sidecar's own settings are compared.
            "ratios": {
                "C (mitmweb) / C": counts["C (mitmweb)"] / counts["C"],
                "C (log warning) / C": counts["C (log warning)"] / counts["C"],
            },
            "calls": args.calls,
            "warm": args.warm,
        }
    finally:
        procs.stop_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500, help="calls counted per proxy (default 500)")
    parser.add_argument("--warm", type=int, default=1500, help="calls before counting (default 1,500)")
    parser.add_argument("--json", type=Path, help="write the counts and ratios to this file")
    args = parser.parse_args()
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        print(f"needs {' and '.join(missing)} (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    result = asyncio.run(measure(args))
    print(f"instructions per call, {args.calls} calls at c={CONCURRENCY} after {args.warm} (callgrind):")
    for name, count in result["instructions_per_call"].items():
        print(f"  {name:<20} {count / 1e6:7.3f} M")
    for name, ratio in result["ratios"].items():
        print(f"  {name:<20} {ratio:7.3f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
