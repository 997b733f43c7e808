"""`sidecar` with its outbound leg through httpx's API over the aiohttp transport (httpx-aiohttp), for
the benchmark's comparison only: what moving the leg back to httpx would cost, on the same aiohttp
sessions, pool slots and timeouts, measured in the same run as the sidecar as it is.

    python bench/sidecar_httpx.py run --config FILE

Only answers are handled: a transport fault surfaces as httpx's exception, not mapped to an
outcome (the benchmark's gateway does not fail). Moving the leg would carry the mapping over.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from httpx_aiohttp import AiohttpTransport

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project, however this is started
from connectors.kit.connector import GatewayRequest, GatewayResponse  # noqa: E402
from sidecar import outbound, runner  # noqa: E402
from sidecar.cli import main  # noqa: E402
from sidecar.config import ConnectorSettings  # noqa: E402


class HttpxOverAiohttp(outbound.OutboundPool):
    def __init__(self) -> None:
        super().__init__()
        self._clients: dict[outbound._Route, httpx.AsyncClient] = {}

    async def send(self, req: GatewayRequest, settings: ConnectorSettings, connector: str) -> GatewayResponse:
        route = self.route(req.url, settings)
        pool = self._pool(route)
        client = self._clients.get(route)
        if client is None:
            t = settings.timeouts
            client = self._clients[route] = httpx.AsyncClient(
                transport=AiohttpTransport(client=pool.session),
                timeout=httpx.Timeout(t.total, connect=t.connect, read=t.read),
                trust_env=False,
                follow_redirects=False,
            )
        await outbound._admitted(pool.slots, route.pool, connector)
        try:
            resp = await client.request(req.method, req.url, headers=req.headers, content=req.body)
        finally:
            pool.slots.release()
        return GatewayResponse(resp.status_code, resp.headers, resp.content)


runner.OutboundPool = HttpxOverAiohttp  # type: ignore[misc]

if __name__ == "__main__":
    sys.exit(main())
