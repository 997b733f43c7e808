"""The floor under the sidecar, for the benchmark's F row: mitmproxy set up as `sidecar run` sets it
up (its addon manager, sidecar/hooktable.py, and sidecar/shortcuts.py; the same core addons; a
reverse listener whose addon answers every request, `connection_strategy=lazy`), where that one
addon makes the gateway call
through an aiohttp session and answers a fixed canonical body, and nothing else: no parsing, no
validation, no connector, no masking, no log line, no metric. What a canonical call costs the
sidecar beyond this row is the sidecar's own work; this row itself is mitmproxy's HTTP/1 layer and
aiohttp's client, which the canonical listener and the outbound leg stand on.

    python bench/floor.py PORT GATEWAY_URL GATEWAY_BODY_FILE
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp
from mitmproxy import http, options
from mitmproxy.addons import core, next_layer, proxyserver
from mitmproxy.master import Master

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, however this is started
from addons.tls import TlsConfig  # noqa: E402
from sidecar import hooktable, shortcuts  # noqa: E402

ANSWER = (
    b'{"id":"BENCH000000000001","status":"authorized","amount":{"minor":1000,"currency":"EUR"},"reference":"bench-1"}'
)
GATEWAY_HEADERS = {"X-API-Key": "bench_key", "Content-Type": "application/json", "Accept": "application/json"}


class AnswerAfterGateway:
    def __init__(self, gateway: str, body: bytes) -> None:
        self.gateway, self.body = gateway, body
        self.session: aiohttp.ClientSession | None = None

    async def request(self, flow: http.HTTPFlow) -> None:
        if self.session is None:
            self.session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        async with self.session.post(self.gateway, data=self.body, headers=GATEWAY_HEADERS) as resp:
            await resp.read()
        flow.response = http.Response.make(200, ANSWER, {"Content-Type": "application/json"})


async def main(port: int, gateway: str, body: bytes) -> None:
    opts = options.Options()
    master = Master(opts)
    hooktable.install(master)
    shortcuts.install()
    master.addons.add(
        core.Core(),
        proxyserver.Proxyserver(),
        next_layer.NextLayer(),
        TlsConfig(),
        AnswerAfterGateway(gateway, body),
    )
    opts.update(mode=[f"reverse:http://127.0.0.1:9@127.0.0.1:{port}"], connection_strategy="lazy")
    await master.run()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]).read_bytes()))
