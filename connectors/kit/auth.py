"""Access tokens (OAuth 2.0 client credentials, RFC 6749 section 4.4), for gateways whose API takes a bearer
token got with the account's credentials rather than the credentials themselves (PayPal).

The connector stays pure: where it needs the account's token it yields a `TokenStep` (kit/connector.py)
and gets an `AccessToken` back. The runtime keeps each account's token until shortly before it expires,
gets a new one once however many calls wait for it, and sends the token call through the same pooled
client, written down masked, as any gateway call. A legacy app's own token call through the forward proxy
is answered with `placeholder_answer`: the app never holds a credential.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import TYPE_CHECKING

import orjson

from connectors.kit.connector import AccessToken, Exchange, GatewayRequest, GatewayResponse, TokenStep
from connectors.kit.errors import ErrorType, SidecarError

if TYPE_CHECKING:
    from connectors.kit.connector import Connector

PLACEHOLDER_TOKEN = "sidecar-placeholder-token"  # worth nothing: the sidecar puts the real one in its place


def basic_auth(client_id: str, secret: str) -> str:
    """The Authorization header of a token call: the client's id and secret in HTTP Basic (RFC 6749 2.3.1)."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def client_credentials(url: str, client_id: str, secret: str) -> GatewayRequest:
    """The token call of RFC 6749 4.4.2."""
    headers = {
        "Authorization": basic_auth(client_id, secret),
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    return GatewayRequest("POST", url, headers, b"grant_type=client_credentials", step="access token")


def read_token(connector: Connector, resp: GatewayResponse) -> AccessToken:
    """RFC 6749 5.1's answer (`access_token`, `token_type` Bearer, `expires_in`). An error answer (5.2:
    400 or 401 with `error`) is the gateway refusing the account's credentials, having done nothing."""
    if resp.status in (400, 401):
        try:
            error = connector.json_object(resp).get("error")
        except SidecarError:
            error = None
        reason = f" ({error})" if isinstance(error, str) and error.isascii() and len(error) <= 64 else ""
        raise SidecarError(
            ErrorType.GATEWAY_AUTHENTICATION,
            f"{connector.name} refused the account's client credentials{reason}",
            connector=connector.name,
            outcome="not_processed",
        )
    if resp.status != 200:
        raise connector.status_error(resp, f"{connector.name} answered the token call with HTTP {resp.status}")
    data = connector.json_object(resp)
    token, kind, lifetime = data.get("access_token"), data.get("token_type"), data.get("expires_in")
    if not (isinstance(token, str) and token and str(kind).lower() == "bearer"):
        raise connector.unusable("a bearer access token")
    if not (isinstance(lifetime, int) and not isinstance(lifetime, bool) and lifetime > 0):
        raise connector.unusable("the access token's expires_in")
    return AccessToken(token, float(lifetime))


def bearer(request: GatewayRequest, token: AccessToken) -> GatewayRequest:
    """`request` carrying `token` in its Authorization header, in place of any other."""
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    return replace(request, headers={**headers, "Authorization": f"Bearer {token.value}"})


def with_token(step: TokenStep, request: GatewayRequest) -> Exchange[GatewayResponse]:
    """Sends `request` with the account's access token. A 401 means the gateway refused the token (expired
    early, revoked) and did nothing with the call: the one exception to "one attempt" is a new token and one
    repeat of the very same request, idempotency key and all."""
    token = yield step
    assert isinstance(token, AccessToken)
    response = yield bearer(request, token)
    if isinstance(response, GatewayResponse) and response.status == 401:
        token = yield replace(step, refused=token.value)
        assert isinstance(token, AccessToken)
        response = yield bearer(request, token)
    assert isinstance(response, GatewayResponse)
    return response


def placeholder_answer(lifetime: int = 3600) -> bytes:
    """RFC 6749 5.1's answer with a token worth nothing, for a legacy app's own token call: the sidecar puts
    the account's real token on the app's API calls in its place."""
    return orjson.dumps({"access_token": PLACEHOLDER_TOKEN, "token_type": "Bearer", "expires_in": lifetime})
