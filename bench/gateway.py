"""A minimal, fast Adyen-like gateway for the benchmark, run as its own process.

It answers every `POST /v71/payments` with one fixed 200 JSON body (an Adyen "Authorised" answer), so
the gateway costs next to nothing and whatever a mode adds shows up in the numbers. Plain asyncio
Protocol, HTTP/1.1 keep-alive; it parses the request line, the headers and a Content-Length body, and
honours `Connection: close` (and HTTP/1.0 without keep-alive).

With `--delay-ms D` it is a slow gateway instead: each payment is answered after D ms, give or take
a uniform `--jitter-ms J`, as real gateways take 200-600 ms; the answer echoes the request's
`reference` as `merchantReference` and stamps its own service time (from the whole request to the
answer) in an `X-Service-Time-Ms` header, and keeps it by reference for `/_stats/service`, so a
client behind a proxy that translates the answer can still subtract it.

It counts the TCP connections it accepted, the requests it answered and the most connections open
at once, and keeps the last request body, so the benchmark can check that every mode sent the
gateway the same bytes:
  GET  /_stats          -> {"connections": N, "requests": M, "open": O, "max_open": X,
                            "last_body_sha256": "...", "last_body_bytes": L}
  GET  /_stats/service  -> {"<reference>": service ms, ...} (slow mode)
  POST /_stats/reset    -> zeroes the counts
Control calls are not counted: a connection whose first request is a control call is taken back out
of the count, and the answer closes it. Use a fresh connection for them.

    python bench/gateway.py [--host 127.0.0.1] [--port 0] [--delay-ms 0 --jitter-ms 0]

prints `listening <port>` on stdout once bound, then nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import signal
import sys
import time

PAYMENTS_PATH = b"/v71/payments"
PAYMENT_BODY = (
    b'{"pspReference":"BENCH000000000001","resultCode":"Authorised","merchantReference":"bench",'
    b'"amount":{"value":1000,"currency":"EUR"}}'
)
MAX_HEAD = 64 * 1024  # a request head larger than this is garbage: close the connection
_REFERENCE = re.compile(rb'"reference":"([^"]{1,80})"')


def _response(status: str, body: bytes, *, close: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode() + body


# Precomputed: the hot path only picks one of these.
_PAYMENT_KEEP = _response("200 OK", PAYMENT_BODY, close=False)
_PAYMENT_CLOSE = _response("200 OK", PAYMENT_BODY, close=True)
_NOT_FOUND_KEEP = _response("404 Not Found", b'{"status":404,"errorType":"validation"}', close=False)
_NOT_FOUND_CLOSE = _response("404 Not Found", b'{"status":404,"errorType":"validation"}', close=True)
_BAD_REQUEST = _response("400 Bad Request", b'{"status":400}', close=True)


class Stats:
    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self.open = 0  # connections open now that carried a measured request
        self.max_open = 0
        self.last_body = b""
        self.service_ms: dict[str, float] = {}  # slow mode: each reference's service time

    def as_json(self) -> bytes:
        # Hashed only when asked: the hot path just keeps a reference.
        return json.dumps(
            {
                "connections": self.connections,
                "requests": self.requests,
                "open": self.open,
                "max_open": self.max_open,
                "last_body_sha256": hashlib.sha256(self.last_body).hexdigest(),
                "last_body_bytes": len(self.last_body),
            }
        ).encode()


class Slowness:
    """How long a slow gateway takes: `delay` seconds, give or take a uniform `jitter`."""

    def __init__(self, delay_ms: float, jitter_ms: float) -> None:
        self.delay, self.jitter = delay_ms / 1000, jitter_ms / 1000

    def __bool__(self) -> bool:
        return self.delay > 0

    def draw(self) -> float:
        return max(0.0, self.delay + random.uniform(-self.jitter, self.jitter))


def _slow_answer(reference: bytes, service_ms: float, *, close: bool) -> bytes:
    body = (
        b'{"pspReference":"BENCH000000000001","resultCode":"Authorised","merchantReference":"'
        + reference
        + b'","amount":{"value":1000,"currency":"EUR"}}'
    )
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/json\r\n"
        f"X-Service-Time-Ms: {service_ms:.3f}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n"
    )
    return head.encode() + body


class GatewayProtocol(asyncio.Protocol):
    def __init__(self, stats: Stats, slowness: Slowness) -> None:
        self.stats = stats
        self.slowness = slowness
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.served = 0  # requests on this connection; a control call must be the first one
        self.counted = False  # among the open connections (it carried a measured request)
        self.answering: asyncio.TimerHandle | None = None  # slow mode: the answer being waited out

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stats.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if self.counted:
            self.stats.open -= 1
        if self.answering is not None:
            self.answering.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._serve()

    def _serve(self) -> None:
        # A client may pipeline: answer every complete request in the buffer, in order.
        while self.transport is not None and not self.transport.is_closing() and self.answering is None:
            if not self._handle_one():
                return

    def _handle_one(self) -> bool:
        """Answers one complete request from the buffer; False when more bytes are needed."""
        assert self.transport is not None
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                self._close_with(_BAD_REQUEST)
            return False
        head = bytes(self.buf[:end])
        parsed = _parse_head(head)
        if parsed is None:
            self._close_with(_BAD_REQUEST)
            return False
        method, path, length, close = parsed
        if len(self.buf) < end + 4 + length:
            return False
        body = bytes(self.buf[end + 4 : end + 4 + length])
        del self.buf[: end + 4 + length]
        self.served += 1

        if path.startswith(b"/_stats"):
            self._control(method, path)
            return False
        self.stats.requests += 1
        self.stats.last_body = body
        if not self.counted:
            self.counted = True
            self.stats.open += 1
            self.stats.max_open = max(self.stats.max_open, self.stats.open)
        if method == b"POST" and path == PAYMENTS_PATH and self.slowness:
            found = _REFERENCE.search(body)
            reference = found.group(1) if found else b""
            self.answering = asyncio.get_running_loop().call_later(
                self.slowness.draw(), self._answer_slowly, reference, time.perf_counter(), close
            )
            return False
        if method == b"POST" and path == PAYMENTS_PATH:
            self.transport.write(_PAYMENT_CLOSE if close else _PAYMENT_KEEP)
        else:
            self.transport.write(_NOT_FOUND_CLOSE if close else _NOT_FOUND_KEEP)
        if close:
            self.transport.close()
            return False
        return True

    def _answer_slowly(self, reference: bytes, received: float, close: bool) -> None:
        self.answering = None
        if self.transport is None:
            return
        service_ms = (time.perf_counter() - received) * 1000
        self.stats.service_ms[reference.decode(errors="replace")] = service_ms
        self.transport.write(_slow_answer(reference, service_ms, close=close))
        if close:
            self.transport.close()
            return
        self._serve()  # whatever came in meanwhile

    def _control(self, method: bytes, path: bytes) -> None:
        # Control connections are not part of what is measured: take this one back out of the count.
        if self.served == 1:
            self.stats.connections -= 1
        if method == b"POST" and path == b"/_stats/reset":
            self.stats.connections = self.stats.requests = self.stats.max_open = 0
            self.stats.service_ms.clear()
        if path == b"/_stats/service":
            self._close_with(_response("200 OK", json.dumps(self.stats.service_ms).encode(), close=True))
            return
        self._close_with(_response("200 OK", self.stats.as_json(), close=True))

    def _close_with(self, answer: bytes) -> None:
        assert self.transport is not None
        self.transport.write(answer)
        self.transport.close()


def _parse_head(head: bytes) -> tuple[bytes, bytes, int, bool] | None:
    """(method, path, content length, close after answering) or None when malformed."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        return None
    method, path, version = parts
    length = 0
    connection = b""
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            return None
        name = name.strip().lower()
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return None
        elif name == b"connection":
            connection = value.strip().lower()
    if version == b"HTTP/1.0":
        close = connection != b"keep-alive"
    else:
        close = connection == b"close"
    return method, path.split(b"?", 1)[0], length, close


def raise_open_files_limit() -> None:
    """A burst of a thousand calls needs more than the usual 1,024 open files: up to the hard limit."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def serve(host: str, port: int, slowness: Slowness) -> None:
    stats = Stats()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: GatewayProtocol(stats, slowness), host, port, backlog=4096)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening {bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--delay-ms", type=float, default=0, help="answer payments after this long (slow mode)")
    parser.add_argument("--jitter-ms", type=float, default=0, help="give or take up to this much, uniformly")
    args = parser.parse_args(argv)
    raise_open_files_limit()
    try:
        import uvloop  # optional; not a dependency of the project

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.host, args.port, Slowness(args.delay_ms, args.jitter_ms)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
