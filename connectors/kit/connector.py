"""What every connector is: pure translation between canonical calls and one gateway's HTTP.

An operation is a generator: it yields each gateway request it needs and receives the gateway's
response, then returns the canonical result. The runtime drives it (sends the requests through the
pooled clients, logs them); the connector never touches a socket or a clock, so a whole flow reads
top to bottom in one function and tests can drive it with recorded responses.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import orjson
from pydantic import BaseModel

from connectors.kit.conformance import Conformance
from connectors.kit.contact import e164
from connectors.kit.errors import (
    STATUS_DECIDES,
    ErrorType,
    SidecarError,
    gateway_status_error,
    invalid_request,
    parse_retry_after,
)
from connectors.kit.masking import Sensitivity
from connectors.kit.metadata import MetadataError, MetadataLimits
from connectors.kit.models import (
    CaptureRequest,
    CompleteRequest,
    ErrorDetail,
    Money,
    NextAction,
    Payment,
    PaymentRequest,
    Redirect,
    Refund,
    RefundRequest,
    VoidRequest,
    WebhookEvent,
)
from connectors.kit.money import GatewayCurrencies, MoneyError
from connectors.kit.webhooks import Acknowledgement, WebhookRequest

IdKind = Literal["payment", "refund", "capture"]


@dataclass(frozen=True, slots=True)
class GatewayRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None
    step: str = ""  # names the gateway call in logs when an operation makes more than one


@dataclass(frozen=True, slots=True)
class GatewayResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token got with an account's credentials (OAuth 2.0 client credentials): what a `TokenStep`
    is answered with."""

    value: str = field(repr=False)
    lifetime: float  # seconds it lasts from when the gateway issued it (its `expires_in`)


@dataclass(frozen=True, slots=True)
class TokenStep:
    """What a connector yields where it needs the account's access token, instead of a request (kit/auth.py).
    The runtime answers with its cached token while it lasts, else sends `request` and reads the answer with
    `read` (one at a time per account: concurrent calls wait for the same token); the connector never keeps
    a token itself, having no state and no clock."""

    request: GatewayRequest  # the token call, carrying the account's credentials
    read: Callable[[GatewayResponse], AccessToken]  # the gateway's answer to it, or a SidecarError
    refused: str | None = None  # a token the gateway just refused (401): never handed out again


@dataclass(frozen=True, slots=True)
class CallContext:
    base_url: str
    credentials: Any  # the connector's own Credentials model
    request_id: str
    idempotency_key: str | None = None
    account: str = "default"  # the account's name, for logs


@dataclass(frozen=True, slots=True)
class PublicApi:
    """Where a gateway's own SDKs send their calls: the forward proxy sends legacy apps' calls to these
    hosts, on this port only, to the connector's base URL (or the sandbox)."""

    # Host names; a leading `*` stands for the rest of the first label (Adyen live: `{prefix}-checkout-live...`).
    hosts: tuple[str, ...]
    port: int = 443
    # The API version a base URL's path ends with (a regular expression; Adyen: `/v71`), if any. A legacy
    # call brings its own version in its path, so only what comes before it in the base URL's path
    # (Adyen live: `/checkout`) is put in front of the call's path.
    base_url_version: str = ""

    def mount(self, base_path: str) -> str:
        """The part of a base URL's path that the public API's paths lack: "" when there is none."""
        path = base_path.rstrip("/")
        versioned = re.fullmatch(f"(.*)(?:{self.base_url_version})", path) if self.base_url_version else None
        return versioned[1] if versioned else path


# A connector whose gateway takes access tokens also yields TokenSteps, and gets AccessTokens back.
type Exchange[T] = Generator[GatewayRequest | TokenStep, GatewayResponse | AccessToken, T]


def segment(value: str) -> str:
    """One path segment of a gateway URL: percent-encoded whole, so a `/` cannot split it, and never
    `.` or `..`, which HTTP clients resolve away (`/payment_intents/./capture` is `/payment_intents/capture`)."""
    if value in ("", ".", ".."):
        raise invalid_request("an id cannot be empty, . or ..", path="id", detail="not an id")
    return quote(value, safe="")


class Connector(ABC):
    """Defaults say "unsupported" (501): a connector overrides exactly what its gateway can do."""

    name: ClassVar[str]
    Credentials: ClassVar[type[BaseModel]]
    default_base_url: ClassVar[str]
    public_api: ClassVar[PublicApi]
    # Field names (JSON keys, or the last bracket segment of a form key) and headers to mask in logs.
    sensitive_fields: ClassVar[Mapping[str, Sensitivity]]
    secret_headers: ClassVar[frozenset[str]]
    # The gateway's currencies and its minor units for each (connectors/money.py).
    currencies: ClassVar[GatewayCurrencies]
    metadata_limits: ClassVar[MetadataLimits]
    # The gateway's own id charset per kind of id an app sends (API.md v1.1): any other is 400 before any call.
    id_patterns: ClassVar[Mapping[IdKind, re.Pattern[str]]]
    # The official spec it is checked against, its sandbox's 3-D Secure trigger, whether it can read back
    # (connectors/kit/conformance.py): read only by the conformance kit, connectors/kit/testing.
    conformance: ClassVar[Conformance]
    # What the gateway's webhook endpoint answers once every event was delivered (any 2xx, unless it says more).
    webhook_accepted: ClassVar[Acknowledgement] = Acknowledgement(200, b'{"received":true}', "application/json")

    @abstractmethod
    def auth_headers(self, credentials: Any) -> dict[str, str]:
        """The headers that carry an account's credentials to the gateway."""

    def token_step(self, ctx: CallContext) -> TokenStep | None:
        """How to get the account's access token, for a gateway whose API takes one (OAuth 2.0 client
        credentials, kit/auth.py); None where `auth_headers` go on every call."""
        return None

    def authorize(self, req: PaymentRequest, ctx: CallContext) -> Exchange[Payment]:
        raise self.unsupported("authorize")

    def sync(self, payment_id: str, ctx: CallContext) -> Exchange[Payment]:
        raise self.unsupported("payment sync")

    def capture(self, payment_id: str, req: CaptureRequest, ctx: CallContext) -> Exchange[Payment]:
        raise self.unsupported("capture")

    def void(self, payment_id: str, req: VoidRequest, ctx: CallContext) -> Exchange[Payment]:
        raise self.unsupported("void")

    def refund(self, payment_id: str, req: RefundRequest, ctx: CallContext) -> Exchange[Refund]:
        raise self.unsupported("refund")

    def refund_sync(self, refund_id: str, ctx: CallContext) -> Exchange[Refund]:
        raise self.unsupported("refund sync")

    def complete(self, req: CompleteRequest, ctx: CallContext) -> Exchange[Payment]:
        """Finishes a payment that waited for 3-D Secure or a redirect, with what the shopper's return or
        the client SDK produced (API.md v1.1)."""
        raise self.unsupported("payment completion")

    def webhook(self, req: WebhookRequest, ctx: CallContext) -> Exchange[list[WebhookEvent]]:
        """Verifies a gateway's webhook with the account of `ctx` (constant-time, by the gateway's own scheme;
        a batch whole) and translates every event in it; raises `WebhookRefused` for anything unverified. A
        gateway whose verification is a call of its own yields that call like any other exchange."""
        raise self.unsupported("webhooks")

    # -- the kit: checks and conversions every connector makes the same way ------------------------

    def check_id(self, kind: IdKind, value: str, path: str = "id") -> str:
        """`value` if it is one of the gateway's ids of that kind; else 400 (the message does not quote it)."""
        pattern = self.id_patterns[kind]
        if not pattern.fullmatch(value):
            raise invalid_request(
                f"{kind} id not in {self.name}'s format",
                path=path,
                detail=f"{self.name} {kind} ids match {pattern.pattern}",
            )
        return value

    def to_gateway(self, money: Money, path: str) -> int:
        """The gateway's value for `money`, or 400 where the gateway cannot hold it exactly."""
        try:
            return self.currencies.to_gateway(money.minor, money.currency)
        except MoneyError as e:
            raise invalid_request(str(e), path=f"{path}.{e.field}", detail=str(e), type="not_representable") from None

    def to_gateway_decimal(self, money: Money, path: str) -> str:
        """`to_gateway` for a gateway that takes amounts as decimal strings of its units (PayPal)."""
        return self.currencies.decimal(self.to_gateway(money, path), money.currency)

    def from_gateway_decimal(self, value: Any, currency: Any) -> Money:
        """`from_gateway` for a gateway that answers amounts as decimal strings of its units (PayPal)."""
        if not isinstance(value, str) or not isinstance(currency, str):
            raise self.unusable("a usable amount")
        try:
            units = self.currencies.units(value, currency.upper())
        except MoneyError as e:
            raise SidecarError(ErrorType.GATEWAY_ERROR, str(e), connector=self.name, outcome="unknown") from None
        return self.from_gateway(units, currency)

    def from_gateway(self, value: Any, currency: Any) -> Money:
        """Canonical money for a gateway's value and currency code; gateway_error when they are not money."""
        if not isinstance(value, int) or isinstance(value, bool) or not isinstance(currency, str):
            raise SidecarError(
                ErrorType.GATEWAY_ERROR, f"{self.name} answered without a usable amount", connector=self.name
            )
        currency = currency.upper()
        try:
            return Money(minor=self.currencies.from_gateway(value, currency), currency=currency)
        except MoneyError as e:
            raise SidecarError(ErrorType.GATEWAY_ERROR, str(e), connector=self.name) from None

    def same_currency(self, given: Money, currency: str, path: str) -> None:
        """A capture or refund moves money in the payment's currency only (API.md v1.1): else 400."""
        if given.currency != currency:
            raise invalid_request(
                f"the payment is in {currency}, not {given.currency}; no money was moved",
                path=f"{path}.currency",
                detail=f"must be the payment's currency, {currency}",
                type="currency_mismatch",
            )

    def metadata(self, app: Mapping[str, str] | None, own: Mapping[str, str]) -> dict[str, str]:
        """The app's metadata plus the sidecar's own keys, within the gateway's limits; else 400."""
        try:
            return self.metadata_limits.merge(app, own)
        except MetadataError as e:
            raise invalid_request(str(e), path="metadata", detail=str(e), type="metadata_limit") from None

    def phone(self, req: PaymentRequest) -> str | None:
        """The customer's phone in E.164, or 400; None when there is none."""
        if not (req.customer and req.customer.phone):
            return None
        country = req.billing_address.country if req.billing_address else None
        try:
            return e164(req.customer.phone, country)
        except ValueError as e:
            raise invalid_request(
                "customer.phone is not a phone number", path="customer.phone", detail=str(e)
            ) from None

    def unsupported(self, what: str, why: str = "") -> SidecarError:
        message = f"{self.name} does not support {what}" + (f": {why}" if why else "")
        return SidecarError(ErrorType.UNSUPPORTED_OPERATION, message, connector=self.name)

    def unparseable(self, resp: GatewayResponse) -> SidecarError:
        """A body that is not the gateway's JSON. A 401, 403, 407 or 429 still says what happened;
        anything else (an HTML 502 from a load balancer, a truncated 200) may have come after the money
        moved."""
        kind = resp.headers.get("content-type", "no content type").split(";")[0]
        message = f"{self.name} answered HTTP {resp.status} with a body that is not the expected JSON ({kind})"
        if resp.status in STATUS_DECIDES:
            return self.status_error(resp, message)
        return SidecarError(ErrorType.GATEWAY_ERROR, message, connector=self.name, outcome="unknown")

    def unusable(self, what: str) -> SidecarError:
        """JSON that lacks what the answer must carry: the call's outcome is unknown."""
        return SidecarError(
            ErrorType.GATEWAY_ERROR, f"{self.name} answered without {what}", connector=self.name, outcome="unknown"
        )

    def status_error(
        self, resp: GatewayResponse, message: str, details: list[ErrorDetail] | None = None
    ) -> SidecarError:
        """The API.md error for a gateway's non-result answer by its status, Retry-After passed on."""
        retry_after = next((v for k, v in resp.headers.items() if k.lower() == "retry-after"), None)
        return gateway_status_error(
            resp.status, message, self.name, details, retry_after=parse_retry_after(retry_after)
        )

    def json_object(self, resp: GatewayResponse) -> dict[str, Any]:
        """The gateway's JSON object, or an error: an HTML error page is not an answer."""
        try:
            data = orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            raise self.unparseable(resp) from None
        if not isinstance(data, dict):
            raise self.unparseable(resp)
        return data


def redirect_of(action: NextAction | None) -> Redirect | None:
    """`Payment.redirect`, kept filled for redirects beside `next_action` (API.md v1.1)."""
    if action is None or action.type != "redirect" or not action.url:
        return None
    return Redirect(url=action.url, method=action.method or "GET", form=action.form)
