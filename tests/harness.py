"""Real parts for end-to-end tests: the `sidecar` process, tinyproxy, and misbehaving gateways.
Everything listens on 127.0.0.1 only."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

SIDECAR = str(Path(sys.executable).parent / "sidecar")
# Debian's Chromium under playwright (ensure_installed("chromium", "chromium")), headless, as root, quiet.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready within {timeout}s")


class SidecarProcess:
    """`sidecar run --config FILE` as a user runs it; stdout and stderr kept for the tests to scan."""

    def __init__(
        self, workdir: Path, config: dict[str, Any], env: dict[str, str] | None = None, sidecar: str = SIDECAR
    ) -> None:
        self.sidecar = sidecar  # the `sidecar` command of another environment (one with a plug-in installed)
        self.port = free_port()
        self.forward_port = free_port()
        self.ca_dir = workdir / f"ca-{self.port}"
        # Tests listen on loopback only, and never on the ops listener's default 9090, which runs side by side
        # would share; merged, so a test can set one ops field and keep the rest.
        ops = {"host": "127.0.0.1", "port": free_port(), **config.get("ops", {})}
        config = {
            "listen": {"host": "127.0.0.1", "port": self.port},
            **config,
            "ops": ops,
            # Merged, so a test can set one forward-proxy field and keep the free port and private CA.
            "forward_proxy": {
                "port": self.forward_port,
                "ca": {"dir": str(self.ca_dir)},
                **config.get("forward_proxy", {}),
            },
        }
        self.config_path = workdir / f"sidecar-{self.port}.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self._stdout_path = workdir / f"sidecar-{self.port}.out"
        self.stderr_path = workdir / f"sidecar-{self.port}.err"
        self.url = f"http://127.0.0.1:{self.port}"
        self.ops_port = ops["port"]
        self.ops_url = f"http://{ops['host']}:{self.ops_port}"
        # Where /metrics is served: the ops listener, else the canonical one.
        self._metrics_url = (self.ops_url if ops.get("enabled", True) else self.url) + "/metrics"
        self.proxy_url = f"http://127.0.0.1:{self.forward_port}"
        self._env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> SidecarProcess:
        with open(self._stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [self.sidecar, "run", "--config", str(self.config_path)], stdout=out, stderr=err, env=self._env
            )
        wait_until(self._ready, timeout, "sidecar")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"sidecar exited with {self.proc.returncode}: {self.stderr_path.read_text()[-2000:]}")
        try:
            return httpx.get(self.url + "/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self, timeout: float = 20) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    @property
    def stdout_path(self) -> Path:
        """The sidecar's stdout, holding the lines of every call answered so far: the sidecar writes a
        call's log lines and masked copies just after its answer (sidecar/audit.py), so this waits
        until none is left to write."""
        self.written()
        return self._stdout_path

    def written(self, timeout: float = 10) -> None:
        """Waits until the running sidecar has no answered call's lines or copies left to write (its
        `sidecar_audit_pending` gauge, on the ops listener if there is one: the apps' connection caps
        stay untouched)."""
        if self.proc is None or self.proc.poll() is not None:
            return

        def nothing_pending() -> bool:
            try:
                scraped = httpx.get(self._metrics_url, timeout=2).text
            except httpx.TransportError:  # not serving (stopping, or its cap is full): the drain writes them
                return True
            return "\nsidecar_audit_pending 0.0\n" in scraped

        wait_until(nothing_pending, timeout, "the sidecar's pending log lines")

    def output(self) -> str:
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def error_lines(self) -> list[str]:
        """Error-level log lines and tracebacks in the output: a clean run and stop has none."""
        return [line for line in self.output().splitlines() if '"level":"error"' in line or "Traceback" in line]

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kw)


def ensure_installed(binary: str, package: str) -> str:
    """The tests' own setup installs what they need (as root, from Debian), or says how."""
    path = shutil.which(binary) or (f"/usr/bin/{binary}" if Path(f"/usr/bin/{binary}").exists() else None)
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True, env=env, capture_output=True)
        if path := shutil.which(binary) or (f"/usr/bin/{binary}" if Path(f"/usr/bin/{binary}").exists() else None):
            return path
    raise RuntimeError(f"{binary} is needed by the tests: apt-get install {package}")


class Tinyproxy:
    """A real upstream (egress) proxy whose access log proves what went through it."""

    def __init__(self, workdir: Path, auth: tuple[str, str] | None = None) -> None:
        self.binary = ensure_installed("tinyproxy", "tinyproxy-bin")
        self.port = free_port()
        self.log_path = workdir / f"tinyproxy-{self.port}.log"
        self.conf = workdir / f"tinyproxy-{self.port}.conf"
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Timeout 30",
            f'LogFile "{self.log_path}"',
            "LogLevel Connect",
            "MaxClients 100",
            "Allow 127.0.0.1",
            "DisableViaHeader Yes",
        ]
        if auth:
            lines.append(f"BasicAuth {auth[0]} {auth[1]}")
        self.conf.write_text("\n".join(lines) + "\n")
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Tinyproxy:
        self.proc = subprocess.Popen(
            [self.binary, "-d", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_until(self._listening, 10, "tinyproxy")
        return self

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def requests(self) -> list[str]:
        """The request lines tinyproxy logged, e.g. `POST http://127.0.0.1:1234/v1/refunds HTTP/1.1`."""
        if not self.log_path.exists():
            return []
        marker = "]: Request (file descriptor "
        return [line.split("): ", 1)[1] for line in self.log_path.read_text().splitlines() if marker in line]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


class FakeGateway:
    """A real local HTTP server that misbehaves on purpose. Its behaviour can be changed between
    calls: answer with a status, headers and body, accept the request and never answer (`hang`), or
    announce a longer body than it sends and close the connection (`cut`)."""

    def __init__(self) -> None:
        outer = self
        self.status, self.body, self.content_type, self.hang = 200, b"{}", "application/json", False
        self.headers: dict[str, str] = {}
        self.cut = False
        self.delay = 0.0
        self.hits = 0
        self.connections = 0
        self.last_headers: dict[str, str] = {}
        self.last_path = ""
        self.received: list[tuple[dict[str, str], bytes]] = []  # every request's headers and body, in order
        self.release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                outer.connections += 1
                super().setup()

            def _serve(self) -> None:
                outer.hits += 1
                outer.last_headers = dict(self.headers.items())
                outer.last_path = self.path
                outer.received.append(
                    (outer.last_headers, self.rfile.read(int(self.headers.get("content-length") or 0)))
                )
                time.sleep(outer.delay)
                if outer.hang:
                    outer.release.wait(60)
                    self.close_connection = True
                    return
                # One reading of the answer: once the headers of an empty body are out, the test may
                # already be setting the next answer, which must not end up on this connection.
                status, body, content_type, headers, cut = (
                    outer.status,
                    outer.body,
                    outer.content_type,
                    outer.headers,
                    outer.cut,
                )
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body) + (100 if cut else 0)))
                self.end_headers()
                self.wfile.write(body)
                if cut:
                    self.close_connection = True

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        cut: bool = False,
    ) -> None:
        self.status, self.body, self.content_type, self.hang = status, body, content_type, False
        self.headers, self.cut = headers or {}, cut

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
