"""Run as `python -O tests/collector_probe.py kept-alive|new-conn [requests|connections|shortcuts ...]`, by
tests/test_collector.py: calls to a real mitmproxy reverse-proxy listener on loopback whose addon
answers, as the sidecar's do, with sidecar/collector.py's releases of finished requests and of closed
connections installed as named (and, with `shortcuts`, the sidecar's addon manager and
sidecar/shortcuts.py, as `sidecar run` has them). Then prints as JSON the answers, the types of the objects only the
cycle collector would have freed, and whatever was logged as an error.

kept-alive: three calls on one connection, left open. new-conn: three calls on a connection each
(`Connection: close`, as legacy apps send), then one whose app hangs up before the answer, which is
given only once mitmproxy has let the connection go (the sidecar's call still out at its gateway).

Optimized, as the sidecar runs (the Dockerfile's PYTHONOPTIMIZE): in debug mode mitmproxy type-checks
each message's fields by raising and catching TypeErrors, whose tracebacks make cycles of their own."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import sys

from mitmproxy import http, options
from mitmproxy.addons import core, next_layer, proxyserver
from mitmproxy.master import Master

from sidecar import collector, hooktable, shortcuts

CALLS = 3
GONE = "/app-gone"
BOUND_S = 10.0


class Answer:
    def __init__(self, server: proxyserver.Proxyserver) -> None:
        self.server = server
        self.waiting = asyncio.Event()
        self.answered = asyncio.Event()

    async def request(self, flow: http.HTTPFlow) -> None:
        if flow.request.path == GONE:
            self.waiting.set()
            async with asyncio.timeout(BOUND_S):
                while self.server.connections:  # until mitmproxy has let the app's connection go
                    await asyncio.sleep(0.01)
        flow.response = http.Response.make(200, b"ok " + flow.request.path.encode())
        if flow.request.path == GONE:
            self.answered.set()


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())

    def unraisable(self, unraisable: sys.UnraisableHookArgs) -> None:
        self.seen.append(f"{unraisable.err_msg}: {unraisable.exc_value!r}")


async def call(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, close: bool) -> str:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: sidecar\r\n{'Connection: close' if close else ''}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(h[15:]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))
    return (head.split(b"\r\n")[0] + b" " + await reader.readexactly(length)).decode()


async def probe(new_conn: bool, errors: Errors, as_the_sidecar: bool) -> dict[str, list[str]]:
    opts = options.Options()
    master = Master(opts)
    if as_the_sidecar:
        hooktable.install(master)
        shortcuts.install()
    server = proxyserver.Proxyserver()
    answer = Answer(server)
    master.addons.add(core.Core(), server, next_layer.NextLayer(), answer)
    opts.update(mode=["reverse:http://127.0.0.1:9@127.0.0.1:0"], connection_strategy="lazy")
    await server.setup_servers()
    host, port = server.listen_addrs()[0][:2]
    answers = []
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    if new_conn:
        for i in range(CALLS):
            reader, writer = await asyncio.open_connection(host, port)
            answers.append(await call(reader, writer, f"/call-{i}", close=True))
            writer.close()
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET {GONE} HTTP/1.1\r\nHost: sidecar\r\n\r\n".encode())
        await asyncio.wait_for(answer.waiting.wait(), BOUND_S)
        writer.close()
        await asyncio.wait_for(answer.answered.wait(), BOUND_S)
    else:
        reader, writer = await asyncio.open_connection(host, port)
        answers = [await call(reader, writer, f"/call-{i}", close=False) for i in range(CALLS)]
    await asyncio.sleep(0.05)  # the releases run once mitmproxy has finished the event it handles
    gc.collect()
    garbage = sorted({type(o).__name__ for o in gc.garbage})
    gc.set_debug(0)
    writer.close()
    return {"answers": answers, "garbage": garbage, "errors": list(errors.seen)}


if __name__ == "__main__":
    mode, *releases = sys.argv[1:]
    if "requests" in releases:
        collector.release_finished_requests()
    if "connections" in releases:
        collector.release_closed_connections()
    errors = Errors()
    logging.getLogger().addHandler(errors)
    sys.unraisablehook = errors.unraisable
    print(json.dumps(asyncio.run(probe(mode == "new-conn", errors, "shortcuts" in releases))))
