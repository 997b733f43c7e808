"""Running a connector's exchanges: on recorded answers, or on a sandbox the runtime plugs in.

The kit cannot start a sandbox itself (the sandbox engine is the runtime's, and connectors never import
the runtime): the caller hands it a `SandboxDriver`, whose `send` answers one gateway request, however
the runtime does it (in process, or over HTTP).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.kit.connector import AccessToken, CallContext, Exchange, GatewayRequest, GatewayResponse, TokenStep

Send = Callable[[GatewayRequest], GatewayResponse]
Token = Callable[[TokenStep], AccessToken]


def drive[T](exchange: Exchange[T], answer: Send, token: Token | None = None) -> tuple[T, list[GatewayRequest]]:
    """Runs an exchange to completion, answering each request with `answer`; returns result and requests.
    A token step is answered by `token`, by default a new token got through `answer` (not in the requests)."""
    fetch = token or (lambda step: step.read(answer(step.request)))
    sent: list[GatewayRequest] = []
    try:
        request = next(exchange)
        while True:
            if isinstance(request, TokenStep):
                request = exchange.send(fetch(request))
                continue
            sent.append(request)
            request = exchange.send(answer(request))
    except StopIteration as done:
        return done.value, sent


@dataclass
class SandboxDriver:
    """A gateway's sandbox as the runtime serves it: where it is, the account it knows, how to call it."""

    base_url: str  # the connector's base URL on the sandbox (its path as the gateway's, e.g. /v71)
    credentials: Any  # an instance of the connector's Credentials model
    send: Send
    # Every request sent and its answer, in order: what the spec checks read.
    exchanges: list[tuple[GatewayRequest, GatewayResponse]] = field(default_factory=list)
    # Called with each request before it is sent (the spec check); raising stops the exchange there.
    inspect: Callable[[GatewayRequest], None] = lambda _request: None
    # The account's access token, kept as the runtime keeps it, for gateways that take one.
    token: AccessToken | None = None

    def run[T](self, exchange: Exchange[T]) -> tuple[T, list[GatewayRequest]]:
        return drive(exchange, self._send, self._token)

    def context(self, idempotency_key: str | None = None) -> CallContext:
        return CallContext(
            base_url=self.base_url,
            credentials=self.credentials,
            request_id="conformance",
            idempotency_key=idempotency_key,
        )

    def _token(self, step: TokenStep) -> AccessToken:
        # The token call is no API call of the spec's: neither inspected nor among the exchanges.
        if self.token is None or self.token.value == step.refused:
            self.token = step.read(self.send(step.request))
        return self.token

    def _send(self, request: GatewayRequest) -> GatewayResponse:
        self.inspect(request)
        response = self.send(request)
        self.exchanges.append((request, response))
        return response
