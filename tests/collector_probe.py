"""Run as `python -O tests/collector_probe.py [release]`, by tests/test_collector.py: three calls on one
kept-alive connection to a real mitmproxy reverse-proxy listener on loopback whose addon answers, as
the sidecar's do; then, with the connection still open, prints as JSON the answers and the types of
the objects only the cycle collector would have freed.

Optimized, as the sidecar runs (the Dockerfile's PYTHONOPTIMIZE): in debug mode mitmproxy type-checks
each message's fields by raising and catching TypeErrors, whose tracebacks make cycles of their own."""

from __future__ import annotations

import asyncio
import gc
import json
import sys

from mitmproxy import http, options
from mitmproxy.addons import core, next_layer, proxyserver
from mitmproxy.master import Master

from sidecar import collector

CALLS = 3


class Answer:
    def request(self, flow: http.HTTPFlow) -> None:
        flow.response = http.Response.make(200, b"ok " + flow.request.path.encode())


async def probe() -> dict[str, list[str]]:
    opts = options.Options()
    master = Master(opts)
    server = proxyserver.Proxyserver()
    master.addons.add(core.Core(), server, next_layer.NextLayer(), Answer())
    opts.update(mode=["reverse:http://127.0.0.1:9@127.0.0.1:0"], connection_strategy="lazy")
    await server.setup_servers()
    host, port = server.listen_addrs()[0][:2]
    reader, writer = await asyncio.open_connection(host, port)
    answers = []
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    for i in range(CALLS):
        writer.write(f"GET /call-{i} HTTP/1.1\r\nHost: sidecar\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(h[15:]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))
        answers.append((head.split(b"\r\n")[0] + b" " + await reader.readexactly(length)).decode())
    await asyncio.sleep(0.05)  # the release runs once the stream has finished the event it handles
    gc.collect()
    garbage = sorted({type(o).__name__ for o in gc.garbage})
    gc.set_debug(0)
    writer.close()
    return {"answers": answers, "garbage": garbage}


if __name__ == "__main__":
    if sys.argv[1:] == ["release"]:
        collector.release_finished_requests()
    print(json.dumps(asyncio.run(probe())))
