"""A minimal, fast Adyen-like gateway for the benchmark, run as its own process.

It answers every `POST /v71/payments` with one fixed 200 JSON body (an Adyen "Authorised" answer), so
the gateway costs next to nothing and whatever a mode adds shows up in the numbers. Plain asyncio
Protocol, HTTP/1.1 keep-alive; it parses the request line, the headers and a Content-Length body, and
honours `Connection: close` (and HTTP/1.0 without keep-alive).

It counts the TCP connections it accepted and the requests it answered, and keeps the last
request body, so the benchmark can check that every mode sent the gateway the same bytes:
  GET  /_stats        -> {"connections": N, "requests": M, "last_body_sha256": "...", "last_body_bytes": L}
  POST /_stats/reset  -> zeroes the counts
Control calls are not counted: a connection whose first request is a control call is taken back out
of the count, and the answer closes it. Use a fresh connection for them.

    python bench/gateway.py [--host 127.0.0.1] [--port 0]

prints `listening <port>` on stdout once bound, then nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import signal
import sys

PAYMENTS_PATH = b"/v71/payments"
PAYMENT_BODY = (
    b'{"pspReference":"BENCH000000000001","resultCode":"Authorised","merchantReference":"bench",'
    b'"amount":{"value":1000,"currency":"EUR"}}'
)
MAX_HEAD = 64 * 1024  # a request head larger than this is garbage: close the connection


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
        self.last_body = b""

    def as_json(self) -> bytes:
        # Hashed only when asked: the hot path just keeps a reference.
        return json.dumps(
            {
                "connections": self.connections,
                "requests": self.requests,
                "last_body_sha256": hashlib.sha256(self.last_body).hexdigest(),
                "last_body_bytes": len(self.last_body),
            }
        ).encode()


class GatewayProtocol(asyncio.Protocol):
    def __init__(self, stats: Stats) -> None:
        self.stats = stats
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.served = 0  # requests on this connection; a control call must be the first one

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.stats.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buf += data
        # A client may pipeline: answer every complete request in the buffer.
        while self.transport is not None and not self.transport.is_closing():
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
        if method == b"POST" and path == PAYMENTS_PATH:
            self.transport.write(_PAYMENT_CLOSE if close else _PAYMENT_KEEP)
        else:
            self.transport.write(_NOT_FOUND_CLOSE if close else _NOT_FOUND_KEEP)
        if close:
            self.transport.close()
            return False
        return True

    def _control(self, method: bytes, path: bytes) -> None:
        # Control connections are not part of what is measured: take this one back out of the count.
        if self.served == 1:
            self.stats.connections -= 1
        if method == b"POST" and path == b"/_stats/reset":
            self.stats.connections = self.stats.requests = 0
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


async def serve(host: str, port: int) -> None:
    stats = Stats()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: GatewayProtocol(stats), host, port, backlog=1024)
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
    args = parser.parse_args(argv)
    try:
        import uvloop  # optional; not a dependency of the project

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
