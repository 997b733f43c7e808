"""The canonical payment API's models (shared/API.md): what apps send and what they get back.

Request models are strict and closed: a typo in a field name or a string where an amount belongs is a
400, never a guess, because a guessed amount is money moved wrongly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, StringConstraints, field_validator
from pydantic.json_schema import SkipJsonSchema

from connectors.kit import money


class PaymentStatus(StrEnum):
    STARTED = "started"
    AUTHENTICATION_PENDING = "authentication_pending"
    AUTHORIZING = "authorizing"
    AUTHORIZED = "authorized"
    PARTIALLY_AUTHORIZED = "partially_authorized"
    AUTHORIZATION_FAILED = "authorization_failed"
    CHARGED = "charged"
    PARTIALLY_CHARGED = "partially_charged"
    CAPTURE_INITIATED = "capture_initiated"
    CAPTURE_FAILED = "capture_failed"
    VOID_INITIATED = "void_initiated"
    VOIDED = "voided"
    VOID_FAILED = "void_failed"
    PENDING = "pending"
    FAILURE = "failure"
    UNRESOLVED = "unresolved"


class RefundStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    MANUAL_REVIEW = "manual_review"


class CaptureMethod(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(frozen=True)


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Reference = Annotated[str, StringConstraints(min_length=1, max_length=80)]


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class Money(_Request):
    minor: int = Field(ge=0, le=10**15, description="Amount in the currency's ISO 4217 minor units.")
    currency: Currency = Field(description="An active ISO 4217 alpha-3 code, upper case.")

    @field_validator("currency")
    @classmethod
    def _active(cls, currency: str) -> str:
        if not money.is_active(currency):
            raise ValueError(f"not an active ISO 4217 currency (ISO table of {money.ISO_TABLE_PUBLISHED})")
        return currency


class Card(_Request):
    number: str = Field(
        pattern=r"^[0-9]{13,19}$", description="13-19 digits, Luhn-valid.", json_schema_extra={"format": "pan"}
    )
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)
    cvc: str = Field(pattern=r"^[0-9]{3,4}$", json_schema_extra={"writeOnly": True})
    holder_name: ShortText | None = None

    @field_validator("number")
    @classmethod
    def _luhn(cls, number: str) -> str:
        # The message must not carry the number: validation details are returned and logged.
        if not luhn_valid(number):
            raise ValueError("card number fails the Luhn check")
        return number


class CardPaymentMethod(_Request):
    type: Literal["card"]
    card: Card


# Cards are the only type so far; when another arrives this becomes a union discriminated on `type`.
PaymentMethod = CardPaymentMethod


class Address(_Request):
    line1: ShortText | None = None
    line2: ShortText | None = None
    city: ShortText | None = None
    state: ShortText | None = None
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=20)] | None = None
    country: Country | None = None


class Customer(_Request):
    id: ShortText | None = None
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)] | None = None
    name: ShortText | None = None
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()-]{4,30}$")] | None = None


class Browser(_Request):
    """The shopper's browser, as 3-D Secure 2 needs it for a browser-based authentication."""

    user_agent: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    accept_header: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    language: Annotated[str, StringConstraints(min_length=1, max_length=35)]
    color_depth: int = Field(ge=1, le=48)
    screen_height: int = Field(ge=1, le=999_999)
    screen_width: int = Field(ge=1, le=999_999)
    time_zone_offset: int = Field(ge=-840, le=840, description="Minutes from UTC, as JavaScript's getTimezoneOffset().")
    java_enabled: bool


class Channel(StrEnum):
    WEB = "web"
    IOS = "ios"
    ANDROID = "android"


class PaymentRequest(_Request):
    reference: Reference
    amount: Money
    capture: CaptureMethod
    payment_method: PaymentMethod
    customer: Customer | None = None
    billing_address: Address | None = None
    three_ds: bool | None = None
    return_url: Annotated[str, StringConstraints(pattern=r"^https?://", max_length=1024)] | None = None
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    statement_descriptor: Annotated[str, StringConstraints(min_length=1, max_length=22)] | None = Field(
        default=None, description="What the shopper's bank statement shows; gateways add their own rules."
    )
    # What 3-D Secure 2 needs of the shopper's device (API.md v1.1), each mapped to the gateway's own fields.
    browser: Browser | None = None
    shopper_ip: IPvAnyAddress | None = None
    origin: Annotated[str, StringConstraints(pattern=r"^https?://[^/?#]+$", max_length=255)] | None = None
    channel: Channel | None = None
    # The widest gateway's limits (Stripe's); each connector checks its own gateway's, its own keys counted.
    metadata: (
        dict[
            Annotated[str, StringConstraints(min_length=1, max_length=40)],
            Annotated[str, StringConstraints(max_length=500)],
        ]
        | None
    ) = Field(default=None, max_length=50)


class CompleteRequest(_Request):
    """What the shopper's return or the client SDK produced, to finish a payment that waited for 3-D Secure or a
    redirect (API.md v1.1): Adyen `redirectResult` or `threeDSResult` in `details`; Stripe the PaymentIntent as
    `payment_id`. `details` is the gateway's own vocabulary, passed on as it is."""

    payment_id: ShortText | None = None
    details: dict[str, Annotated[str, StringConstraints(max_length=100_000)]] = Field(
        default_factory=dict, max_length=20
    )


class CaptureRequest(_Request):
    amount: Money | None = None
    reference: Reference | None = Field(default=None, description="Sent to gateways that take one per capture.")


class VoidRequest(_Request):
    reason: ShortText | None = None
    reference: Reference | None = Field(default=None, description="Sent to gateways that take one per cancel.")


class RefundRequest(_Request):
    amount: Money | None = None
    reason: ShortText | None = None
    reference: Reference | None = None
    capture_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        default=None, description="A capture's operation_id, for gateways that refund per capture."
    )


class DeclineInfo(_Response):
    code: str
    message: str
    connector_code: str | None = None
    connector_message: str | None = None
    decline_code: str | None = None
    # The gateway's code is in none of the connector's tables: the sidecar counts it so that gaps show.
    # Never sent to apps, not in the OpenAPI document.
    unmapped: SkipJsonSchema[str | None] = Field(default=None, exclude=True)


class CardSummary(_Response):
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


class Redirect(_Response):
    url: str
    method: Literal["GET", "POST"]
    form: dict[str, str] | None = None


ActionType = Literal["redirect", "threeds_fingerprint", "threeds_challenge", "present_to_shopper", "sdk"]


class NextAction(_Response):
    """What the shopper or the app's client SDK must do before the payment can go on."""

    type: ActionType
    url: str | None = None
    method: Literal["GET", "POST"] | None = None
    form: dict[str, str] | None = None
    data: dict[str, Any] | None = Field(default=None, description="The gateway's own action object, for its SDK.")


class Payment(_Response):
    # Absent only where the gateway created no transaction yet: then `reference` is the handle.
    id: str | None = None
    # The gateway's own id of a capture or void where it differs from the payment's (Adyen's modification
    # pspReference): what the webhook that settles it carries.
    operation_id: str | None = None
    connector: str
    status: PaymentStatus
    reference: str | None = None
    amount: Money | None = None
    captured: Money | None = None
    refunded: Money | None = None
    card: CardSummary | None = None
    redirect: Redirect | None = None
    next_action: NextAction | None = None
    network_transaction_id: str | None = None
    connector_status: str
    error: DeclineInfo | None = None


class Refund(_Response):
    id: str
    # The gateway's own id of the refund where `id` packs more to stay readable back (Checkout.com's action id):
    # what the webhook that settles it carries.
    operation_id: str | None = None
    payment_id: str | None = None
    connector: str
    status: RefundStatus
    amount: Money | None = None
    connector_status: str
    error: DeclineInfo | None = None


# After a gateway call: whether the gateway did nothing, may have acted, or never got the call.
Outcome = Literal["not_processed", "unknown", "not_sent"]


class ErrorDetail(_Response):
    path: str
    message: str
    type: str


class ErrorInfo(_Response):
    type: str
    message: str
    request_id: str
    connector: str | None = None
    outcome: Outcome | None = None
    details: list[ErrorDetail] | None = None


class ErrorBody(_Response):
    error: ErrorInfo


class Health(_Response):
    status: Literal["ok", "starting", "draining"]


class EventType(StrEnum):
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_CAPTURED = "payment.captured"
    PAYMENT_VOIDED = "payment.voided"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    DISPUTE_OPENED = "dispute.opened"
    DISPUTE_CLOSED = "dispute.closed"
    UNKNOWN = "unknown"


class WebhookEvent(_Response):
    """One gateway event, verified and translated (API.md v1.1, "Webhooks"): what `deliver_to` receives."""

    connector: str
    account: str | None = Field(default=None, description="The configured account whose secret verified it.")
    verified: Literal[True] = True
    type: EventType
    object: Literal["payment", "refund", "dispute"]
    id: str = Field(description="The gateway's id of the payment, refund or dispute the event is about.")
    event_id: str = Field(
        description="The gateway's event id (Adyen: `pspReference:eventCode:success`), for the app to de-duplicate: "
        "gateways deliver at least once."
    )
    payment_id: str | None = Field(default=None, description="The payment a refund or dispute belongs to.")
    operation_id: str | None = Field(
        default=None,
        description="The gateway's id of the capture or void this event settles (a Payment's operation_id).",
    )
    status: PaymentStatus | RefundStatus | None = Field(
        default=None, description="The object's status after the event, where the event says it."
    )
    amount: Money | None = Field(
        default=None, description="The amount the event moved or concerns, in ISO minor units."
    )
    reference: str | None = Field(
        default=None, description="The app's reference of the payment, where the event has it."
    )
    connector_event: str = Field(description="The gateway's own event type, unchanged (e.g. `CAPTURE`).")
    payload: dict[str, Any] = Field(description="The gateway's event, masked.")
