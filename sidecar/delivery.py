"""Delivery of verified webhook events to the app: one POST per event to `webhooks.deliver_to`, signed
`X-Sidecar-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>` (one `v1` per signing
secret, for rotation), one attempt within the time left. Its own small pooled client: the gateways'
pool is keyed by connector settings (upstream proxies, client certificates, gateway timeouts) that
have nothing to do with the app's own endpoint, which is usually beside the sidecar in its pod."""

from __future__ import annotations

from typing import Literal

import aiohttp

from connectors.kit.connector import GatewayRequest, GatewayResponse
from connectors.kit.errors import ErrorType, SidecarError
from connectors.kit.models import Outcome
from connectors.kit.webhooks import signature_header
from sidecar.config import WebhookSettings

SIGNATURE_HEADER = "X-Sidecar-Signature"
# Connections to the app kept alive this long when idle; well below common servers' own keep-alive.
_IDLE_SECONDS = 15.0


class Undelivered(SidecarError):
    """The app did not answer: no connection (`unreachable`), or no answer in time (`timeout`)."""

    def __init__(self, reason: Literal["timeout", "unreachable"], message: str, outcome: Outcome) -> None:
        super().__init__(ErrorType.WEBHOOK_UNDELIVERED, message, outcome=outcome)
        self.reason = reason


class AppDelivery:
    def __init__(self, settings: WebhookSettings) -> None:
        self.url = settings.deliver_to
        self._secrets = [secret.get_secret_value() for secret in settings.signing_secret]
        self._session: aiohttp.ClientSession | None = None

    def request(self, body: bytes, request_id: str, now: float, step: str = "") -> GatewayRequest:
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(self._secrets, int(now), body),
            "X-Request-Id": request_id,
        }
        return GatewayRequest("POST", self.url, headers, body, step)

    async def send(self, req: GatewayRequest, timeout: float) -> GatewayResponse:
        """The app's answer, whatever its status; Undelivered when there is none within `timeout` seconds."""
        if timeout <= 0:
            raise Undelivered("timeout", "no time was left to deliver this event", "not_sent")
        try:
            async with self._client().post(
                req.url,
                data=req.body,
                headers=req.headers,
                timeout=aiohttp.ClientTimeout(total=timeout),
                allow_redirects=False,
            ) as resp:
                return GatewayResponse(resp.status, resp.headers, await resp.read())
        except TimeoutError:
            raise Undelivered("timeout", f"the app did not answer within {timeout:.3g} s", "unknown") from None
        except aiohttp.ClientConnectorError:
            raise Undelivered("unreachable", "cannot connect to the app (webhooks.deliver_to)", "not_sent") from None
        except aiohttp.ClientError as e:
            message = f"the connection to the app failed after sending ({type(e).__name__})"
            raise Undelivered("unreachable", message, "unknown") from None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on first use: a session belongs to the running event loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=_IDLE_SECONDS),
                trust_env=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
