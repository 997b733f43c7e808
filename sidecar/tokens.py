"""Access tokens for connectors whose gateway takes one (OAuth 2.0 client credentials, connectors/kit/auth.py).

One cache per process, keyed by the token call itself (gateway URL and credentials, hashed): each account,
and each set of per-request credentials, has its own token. A token is handed out until shortly before it
expires; then, or when the gateway refused it (a 401), the next call gets a new one. However many calls
need a new token at once, one token call is made and all of them wait for it (single flight): a burst of
calls after an expiry must not become a burst of token calls, which gateways rate-limit.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from connectors.kit.connector import AccessToken, GatewayRequest, GatewayResponse, TokenStep

# Refreshed this long before it expires (half its life for a shorter-lived token): longer than a call's
# time on the way, so that a token handed out is still good when the gateway reads it.
MARGIN_SECONDS = 300.0
MAX_TOKENS = 1000  # per-request credentials make keys of their own: the oldest are forgotten first

type Fetch = Callable[[GatewayRequest], Awaitable[GatewayResponse]]


class AccessTokens:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: OrderedDict[str, tuple[AccessToken, float]] = OrderedDict()  # key -> (token, fresh until)
        self._flights: dict[str, asyncio.Future[AccessToken]] = {}

    async def get(self, step: TokenStep, fetch: Fetch) -> AccessToken:
        """The account's token: the cached one while it is fresh and not the one just refused, else the one
        the token call in flight brings, else a new token call's, sent with `fetch`."""
        key = _key(step.request)
        cached = self._tokens.get(key)
        if cached is not None and cached[0].value != step.refused and self._clock() < cached[1]:
            return cached[0]
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._fetch(key, step, fetch))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        # Shielded: a caller that goes away (the app hung up) does not cancel the token the others wait for.
        return await asyncio.shield(flight)

    async def _fetch(self, key: str, step: TokenStep, fetch: Fetch) -> AccessToken:
        asked = self._clock()
        token = step.read(await fetch(step.request))
        fresh_until = asked + token.lifetime - min(MARGIN_SECONDS, token.lifetime / 2)
        self._tokens[key] = (token, fresh_until)
        self._tokens.move_to_end(key)
        while len(self._tokens) > MAX_TOKENS:
            self._tokens.popitem(last=False)
        return token

    def _landed(self, key: str, flight: asyncio.Future[AccessToken]) -> None:
        self._flights.pop(key, None)
        if not flight.cancelled():
            flight.exception()  # retrieved here, so a failure nobody waits for any more is not reported as lost


def _key(request: GatewayRequest) -> str:
    """The token call's identity: the same URL, credentials and body get the same token."""
    parts = [request.method, request.url, *sorted(f"{k.lower()}:{v}" for k, v in request.headers.items())]
    digest = hashlib.sha256("\n".join(parts).encode())
    digest.update(request.body or b"")
    return digest.hexdigest()
