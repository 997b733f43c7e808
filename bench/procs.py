"""The processes a benchmark run starts (gateway, mitmdump, sidecar), and how they are watched.

Every process runs in its own session with its output in files of the work directory, and is
stopped by `Processes.stop_all` on exit, on an error and on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

BENCH_DIR = Path(__file__).resolve().parent
BIN_DIR = Path(sys.executable).parent


def raise_open_files_limit() -> None:
    """A burst of a thousand calls needs more than the usual 1,024 open files: up to the hard limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


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


@dataclass(frozen=True)
class CpuPlan:
    proxies: set[int]
    load: set[int]


class Processes:
    """Every process the benchmark starts. Each gets its own session, so a Ctrl-C in the terminal
    reaches only the benchmark, which then stops them itself (a sidecar that got the SIGINT directly
    would start draining in the middle of a measurement)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: list[subprocess.Popen[bytes]] = []
        self.cpus: CpuPlan | None = None  # set by `pin_cpus`: the proxies apart from the load

    def pin_cpus(self) -> str:
        """From now on, each proxy under test runs on a CPU of its own side and the load (this process,
        the gateway) on the other, so that the two never take turns on one core: a proxy's CPU per
        call then does not depend on where the scheduler put the load generator. Says what it did."""
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return f"cpus: not pinned (one CPU: {cpus})"
        self.cpus = CpuPlan(proxies={cpus[-1]}, load=set(cpus[:-1]))
        os.sched_setaffinity(0, self.cpus.load)  # threads this process starts later inherit it
        return f"cpus: proxies on CPU {cpus[-1]}; load generator and gateway on CPU {','.join(map(str, cpus[:-1]))}"

    def place(self, pid: int, *, proxy: bool) -> None:
        """Puts every thread of `pid` on its side (threads it starts later inherit it); without a plan, nothing."""
        if self.cpus is None:
            return
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(ProcessLookupError):  # a thread that has ended since
                os.sched_setaffinity(int(tid), self.cpus.proxies if proxy else self.cpus.load)

    def start(
        self, name: str, argv: list[str], *, pipe_stdout: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        # Output goes to files, never to a pipe nobody reads: a full pipe would block the proxy.
        # (The gateway's stdout is a pipe: it prints one line, its port, and nothing after.)
        environ = {**os.environ, **(env or {})}
        with open(self.workdir / f"{name}.err", "wb") as err:
            if pipe_stdout:
                proc = subprocess.Popen(
                    argv, stdout=subprocess.PIPE, stderr=err, start_new_session=True, cwd=self.workdir, env=environ
                )
            else:
                with open(self.workdir / f"{name}.out", "wb") as out:
                    proc = subprocess.Popen(
                        argv, stdout=out, stderr=err, start_new_session=True, cwd=self.workdir, env=environ
                    )
        self.running.append(proc)
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
        self.running = [p for p in self.running if p is not proc]

    def stop_all(self) -> None:
        for proc in reversed(self.running):
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


# -- watching a process ---------------------------------------------------------------------------


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
    """Samples a process's RSS on a thread (every 100 ms by default), keeping the maximum. The thread
    wakes ten times a second, so it costs the client next to nothing."""

    def __init__(self, monitor: ProcessMonitor, interval: float = 0.1) -> None:
        self.monitor = monitor
        self.interval = interval
        self.peak = 0
        self.samples: list[tuple[float, int]] = []  # (time.monotonic(), RSS bytes)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while True:
            rss = self.monitor.rss()
            self.samples.append((time.monotonic(), rss))
            self.peak = max(self.peak, rss)
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.monitor.rss())


# -- the gateway ----------------------------------------------------------------------------------


class Gateway:
    """bench/gateway.py in its own process, and its counters; slow when given a delay."""

    def __init__(self, procs: Processes, delay_ms: float = 0, jitter_ms: float = 0, name: str = "gateway") -> None:
        slowness = ["--delay-ms", str(delay_ms), "--jitter-ms", str(jitter_ms)]
        self.proc = procs.start(name, [sys.executable, str(BENCH_DIR / "gateway.py"), *slowness], pipe_stdout=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()  # "listening <port>", printed once bound
        if not line.startswith("listening "):
            raise RuntimeError(f"gateway did not start: {line!r} {procs.stderr_tail(name)}")
        self.port = int(line.split()[1])
        self.monitor = ProcessMonitor(self.proc.pid)
        procs.place(self.proc.pid, proxy=False)

    def stats(self) -> dict[str, Any]:
        """{"connections", "requests", "open", "max_open", "last_body_sha256", "last_body_bytes"}. On a
        fresh connection, which the gateway takes back out of its count."""
        return self._get("/_stats")

    def service_ms(self) -> dict[str, float]:
        """A slow gateway's service time of each call, by the call's reference."""
        return self._get("/_stats/service")

    def _get(self, path: str) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path, headers={"Connection": "close"})
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()


# -- the proxies under test -----------------------------------------------------------------------


@dataclass
class Proxy:
    """A proxy under test: its process, its port, what watches it, and how it was started."""

    proc: subprocess.Popen[bytes]
    port: int
    monitor: ProcessMonitor
    setup: str


def _script(name: str, wrapper: Sequence[str]) -> list[str]:
    # Under a wrapper, the interpreter is named: valgrind would otherwise measure the script's #! line.
    return [sys.executable, executable(name)] if wrapper else [executable(name)]


def _ready_within(wrapper: Sequence[str]) -> float:
    return 300 if wrapper else 30  # seconds: a proxy under valgrind starts some fifty times slower


def start_mitmdump(procs: Processes, gateway_port: int, *, wrapper: Sequence[str] = ()) -> Proxy:
    """Plain mitmproxy in reverse mode in front of the gateway: default options and addons. `wrapper`:
    a command it runs under (bench/instructions.py: valgrind), which also gives it longer to start."""
    port = free_port()
    mode = f"reverse:http://127.0.0.1:{gateway_port}@127.0.0.1:{port}"
    proc = procs.start("mitmdump", [*wrapper, *_script("mitmdump", wrapper), "--mode", mode, "-q"])
    wait_until(lambda: listening(port), proc, "mitmdump", timeout=_ready_within(wrapper))
    procs.place(proc.pid, proxy=True)
    return Proxy(proc, port, ProcessMonitor(proc.pid), f"mitmdump --mode {mode} -q (default options and addons)")


# The sidecar runs as its image runs it (Dockerfile: PYTHONOPTIMIZE=1).
SIDECAR_ENV = {"PYTHONOPTIMIZE": "1"}


def start_sidecar(
    procs: Processes,
    name: str,
    adyen: dict[str, Any],
    *,
    level: str = "info",
    web: dict[str, Any] | None = None,
    httpx_aiohttp: bool = False,
    wrapper: Sequence[str] = (),
) -> Proxy:
    """`sidecar run --config <yaml>` with only the Adyen connector, set to `adyen` (base_url, accounts,
    and pool or timeouts where given). `httpx_aiohttp`: the same sidecar with its outbound leg
    through httpx's API over the aiohttp transport (bench/sidecar_httpx.py). `wrapper`: as for
    `start_mitmdump`."""
    port = free_port()
    config: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "ops": {"host": "127.0.0.1", "port": free_port()},
        "log": {"level": level, "format": "json"},
        "connectors": {"adyen": adyen},
        **forward_proxy_config(procs.workdir),
    }
    if web is not None:
        config["web"] = web
    path = procs.workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    command = [sys.executable, str(BENCH_DIR / "sidecar_httpx.py")] if httpx_aiohttp else _script("sidecar", wrapper)
    proc = procs.start(name, [*wrapper, *command, "run", "--config", str(path)], env=SIDECAR_ENV)
    try:
        wait_until(lambda: http_get_status(port, "/readyz") == 200, proc, name, timeout=_ready_within(wrapper))
    except RuntimeError as e:
        raise RuntimeError(f"{e}: {procs.stderr_tail(name)}") from None
    procs.place(proc.pid, proxy=True)
    pool = adyen.get("pool", {}).get("max_connections", pool_size())
    setup = (
        f"PYTHONOPTIMIZE=1 {'bench/sidecar_httpx.py' if httpx_aiohttp else 'sidecar'} run --config {path.name} "
        "(as the Dockerfile runs it; adyen -> the gateway, "
        f"log level {level}, pool max_connections {pool}{', mitmweb on' if web else ''}"
        f"{', outbound leg: httpx API over the aiohttp transport' if httpx_aiohttp else ''})"
    )
    return Proxy(proc, port, ProcessMonitor(proc.pid), setup)


def start_floor(procs: Processes, gateway_port: int, gateway_body: bytes) -> Proxy:
    """bench/floor.py: mitmproxy as the sidecar sets it up, one addon that calls the gateway through
    aiohttp and answers, nothing else; run as the sidecar runs (PYTHONOPTIMIZE=1)."""
    port = free_port()
    body = procs.workdir / "floor-gateway-body.json"
    body.write_bytes(gateway_body)
    url = f"http://127.0.0.1:{gateway_port}/v71/payments"
    proc = procs.start(
        "floor", [sys.executable, str(BENCH_DIR / "floor.py"), str(port), url, str(body)], env=SIDECAR_ENV
    )
    wait_until(lambda: listening(port), proc, "floor")
    procs.place(proc.pid, proxy=True)
    setup = (
        "PYTHONOPTIMIZE=1 bench/floor.py (mitmproxy as the sidecar sets it up + one aiohttp gateway call, nothing else)"
    )
    return Proxy(proc, port, ProcessMonitor(proc.pid), setup)


def forward_proxy_config(workdir: Path) -> dict[str, Any]:
    """Newer sidecars also open a forward-proxy listener (default 127.0.0.1:3128, CA under $HOME).
    It stays on, as in production, but on a free port and with its CA in the work directory, so a
    run neither collides with anything on 3128 nor writes to $HOME. A configuration without that
    section gets nothing added."""
    try:
        from sidecar.config import Settings

        fields = Settings.model_fields["forward_proxy"].annotation.model_fields  # type: ignore[union-attr]
    except Exception:
        return {}
    section: dict[str, Any] = {}
    if "port" in fields:
        section["port"] = free_port()
    if "ca" in fields:
        section["ca"] = {"dir": str(workdir / "ca")}
    return {"forward_proxy": section}


def pool_size() -> int:
    """The sidecar's default pool size per gateway route (D's target), read from the project
    so the target follows the code."""
    try:
        from sidecar.config import PoolSettings

        return PoolSettings().max_connections
    except Exception:  # the project not importable: the documented default
        return 100
