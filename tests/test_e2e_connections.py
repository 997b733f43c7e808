"""Connection hygiene on the apps' side, on the real process: a client that sends its request head
slowly is cut after the header timeout (on the canonical and the forward-proxy listener), a
kept-alive connection left unused is closed after the idle timeout (and not before, by the header
timeout), connections over the cap are refused and counted, and the open-file limit is raised to
what the cap needs."""

from __future__ import annotations

import resource
import socket
import time
from pathlib import Path

import httpx
import pytest
from harness import SidecarProcess, wait_until

HEAD = b"GET /healthz HTTP/1.1\r\nHost: sidecar\r\n\r\n"


def start(tmp_path: Path, **client_connections) -> SidecarProcess:
    return SidecarProcess(tmp_path, {"client_connections": client_connections}).start()


def closed_by_server(sock: socket.socket, bound_s: float = 15) -> tuple[bool, bytes]:
    """Reads until the server closes the connection, for at most `bound_s` (a bound, not an
    assertion); whether it closed it, and what it sent before."""
    received = b""
    deadline = time.monotonic() + bound_s
    sock.settimeout(0.2)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True, received
        if not data:
            return True, received
        received += data
    return False, received


def answer(sock: socket.socket) -> tuple[bytes, bytes]:
    """One whole answer (the sidecar's have a Content-Length): its head and body."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        data += _received(sock)
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += _received(sock)
    return head, body


def _received(sock: socket.socket) -> bytes:
    data = sock.recv(4096)
    if not data:
        raise ConnectionError("closed by the sidecar before a whole answer")
    return data


def metric(sidecar: SidecarProcess, name: str) -> float:
    text = httpx.get(sidecar.url + "/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


@pytest.mark.parametrize("listener", ["canonical", "forward_proxy"])
def test_a_request_head_sent_slowly_is_cut_at_the_header_timeout(tmp_path, listener) -> None:
    sidecar = start(tmp_path, header_timeout=1)
    port = sidecar.port if listener == "canonical" else sidecar.forward_port
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET http://sidecar/healthz HTTP/1.1\r\nHost: sidecar\r\n")
            closed, received = False, b""
            for i in range(100):  # a header line every 0.2 s: never idle, never a whole head (20 s at most)
                try:
                    sock.sendall(b"X-Slow-%d: drip\r\n" % i)
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                closed, received = closed_by_server(sock, bound_s=0.2)
                if closed:
                    break
        assert closed and received == b""
        assert metric(sidecar, 'sidecar_client_connections_timed_out_total{timeout="header"}') >= 1
    finally:
        assert sidecar.stop() == 0


def test_a_kept_alive_connection_left_unused_is_closed_at_the_idle_timeout(tmp_path) -> None:
    sidecar = start(tmp_path, idle_timeout=1)
    try:
        with socket.create_connection(("127.0.0.1", sidecar.port)) as sock:
            sock.sendall(HEAD)
            assert answer(sock)[0].startswith(b"HTTP/1.1 200")
            closed, received = closed_by_server(sock)
        assert closed and received == b""
        assert metric(sidecar, 'sidecar_client_connections_timed_out_total{timeout="idle"}') >= 1
    finally:
        assert sidecar.stop() == 0


def test_the_header_timeout_does_not_cut_a_kept_alive_connection_between_calls(tmp_path) -> None:
    sidecar = start(tmp_path, header_timeout=1, idle_timeout=60)
    try:
        with socket.create_connection(("127.0.0.1", sidecar.port)) as sock:
            sock.sendall(HEAD)
            assert answer(sock)[0].startswith(b"HTTP/1.1 200")
            time.sleep(2)  # longer than the header timeout, well within the idle timeout
            sock.sendall(HEAD)
            assert answer(sock)[0].startswith(b"HTTP/1.1 200")
    finally:
        assert sidecar.stop() == 0


def test_connections_over_the_cap_are_refused_logged_and_counted(tmp_path) -> None:
    sidecar = start(tmp_path, max_open=3)
    held = [socket.create_connection(("127.0.0.1", sidecar.port))]

    def only_one_open() -> bool:  # the readiness checks' connections have gone: only this one is left
        held[0].sendall(b"GET /metrics HTTP/1.1\r\nHost: sidecar\r\n\r\n")
        return b"\nsidecar_client_connections 1.0\n" in answer(held[0])[1]

    try:
        wait_until(only_one_open, 10, "start-up connections closed")
        held += [socket.create_connection(("127.0.0.1", sidecar.port)) for _ in range(2)]
        for sock in held:  # each has been served, so each is surely counted open
            sock.sendall(HEAD)
            assert answer(sock)[0].startswith(b"HTTP/1.1 200")
        with socket.create_connection(("127.0.0.1", sidecar.port)) as over:
            over.sendall(HEAD)
            closed, received = closed_by_server(over)
        assert closed and received == b""
        held.pop().close()

        def served() -> bool:
            try:
                return httpx.get(sidecar.url + "/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(served, 10, "a place under the cap")
        assert metric(sidecar, "sidecar_client_connections_refused_total") >= 1
        assert "client connections refused: too many open" in sidecar.output()
    finally:
        for sock in held:
            sock.close()
        assert sidecar.stop() == 0


def test_the_open_file_limit_is_raised_to_what_the_cap_needs(tmp_path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = 3000
    if hard != resource.RLIM_INFINITY and hard < cap + 1000:
        pytest.skip(f"the hard open-file limit ({hard}) leaves no room to show it raised")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))  # inherited by the sidecar
    try:
        sidecar = SidecarProcess(tmp_path, {"client_connections": {"max_open": cap}}).start()
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert sidecar.proc is not None
        limits = Path(f"/proc/{sidecar.proc.pid}/limits").read_text()
        raised = int(next(line for line in limits.splitlines() if line.startswith("Max open files")).split()[3])
        assert raised > cap
    finally:
        assert sidecar.stop() == 0
