"""The sandbox codec protocol: how one gateway's wire format drives the shared sandbox engine.

The engine (``sidecar/sandbox/engine.py``) keeps the ledger every simulated gateway needs: payments,
attempts, captures, voids, refunds, 3-D Secure, idempotency, test-card rules and deferred settlement;
beside them, the keyed objects a gateway's SDKs also call (``ObjectRecord``: a Stripe Customer or
SetupIntent), zero-amount card checks, updates and lists of every kind of record.
It knows no gateway. A gateway's codec (``connectors/<gateway>/sandbox.py``) knows only its gateway's
wire: it turns one HTTP request into one engine :class:`Call`, and the engine's :class:`Reply` into
the gateway's HTTP answer. The runtime drives both::

    codec.route(request) -> Call | SandboxResponse      (a SandboxResponse: answered without the ledger)
    engine.execute(call) -> Reply                       (state changes, idempotency, events)
    codec.render(request, call, reply) -> SandboxResponse

A codec is pure: bytes and these types in, bytes and these types out, no sockets and no clock (the
request carries ``now``). Everything here is plain data: frozen dataclasses and enums. Amounts are
integers in the gateway's own minor units, as its wire carries them: the engine only adds and compares
them, and a gateway's test rule by amount (Adyen's 12345) is in those units. Wire pieces that codecs
share (route tables, form and JSON bodies, answers, the 3-D Secure pages, card numbers, ids) are in
``connectors.kit.sandbox_wire``.

Webhooks: the engine reports every change as an :class:`Event`; a codec that also implements
:class:`SandboxNotifier` turns an event into its gateway's notification, which the runtime delivers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

__all__ = [
    "APPROVE",
    "BASE_TEST_CARDS",
    "CHALLENGE",
    "FINGERPRINT",
    "FRICTIONLESS",
    "THREE_DS_2",
    "THREE_DS_TEST_CARDS",
    "SLOW_TEST_CARD",
    "SLOW_TEST_SECONDS",
    "AttemptRecord",
    "Authenticate",
    "AuthenticationResult",
    "Call",
    "Capture",
    "CaptureMode",
    "CaptureRecord",
    "CardInput",
    "CardRule",
    "CreatePayment",
    "DeclineCode",
    "Done",
    "ErrorCode",
    "Event",
    "EventType",
    "FinishAuthentication",
    "GetCard",
    "GetObject",
    "GetPayment",
    "IdKind",
    "IdempotencyKey",
    "ListRecords",
    "ObjectRecord",
    "Operation",
    "OperationState",
    "PaymentRecord",
    "PaymentState",
    "PutObject",
    "Refund",
    "RefundRecord",
    "Refusal",
    "Reply",
    "SandboxCodec",
    "SandboxNotification",
    "SandboxNotifier",
    "SandboxPolicy",
    "SandboxRequest",
    "SandboxResponse",
    "SandboxRules",
    "Settlement",
    "StoredCard",
    "ThreeDSMode",
    "ThreeDSRule",
    "ThreeDSState",
    "Tokenize",
    "UpdateCard",
    "UpdatePayment",
    "Void",
    "VoidRecord",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


# --- HTTP in and out -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxRequest:
    """One HTTP request to a simulated gateway, as the runtime hands it to the codec."""

    method: str  # upper case
    path: str
    query: str
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    base_url: str  # where the sandbox is reachable, for the links it hands out (3-D Secure pages)
    now: float  # the engine's clock (Unix seconds), for rules that need the date (card expiry)


@dataclass(frozen=True)
class SandboxResponse:
    """What a simulated gateway answers: the server copies it onto the wire unchanged."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds the server waits before sending (a slow test card); the engine never sleeps.
    delay: float = 0.0

    def json(self) -> Any:
        """The body decoded as JSON (a convenience for tests and callers)."""
        return json.loads(self.body)


# --- words the engine and codecs share -----------------------------------------------------------


class CaptureMode(StrEnum):
    AUTOMATIC = "automatic"  # captured in full when authorized
    MANUAL = "manual"  # authorized; captures follow


class ThreeDSMode(StrEnum):
    AUTO = "auto"  # the card's rule decides
    REQUIRED = "required"  # authenticate even if the card does not ask (the merchant requested it)
    UNAVAILABLE = "unavailable"  # no shopper to authenticate (off session): a card that asks is declined


class AuthenticationResult(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ABANDONED = "abandoned"


class PaymentState(StrEnum):
    CREATED = "created"  # no attempt yet (a Stripe PaymentIntent before confirmation, a PayPal order)
    AUTHENTICATION_PENDING = "authentication_pending"
    DECLINED = "declined"  # the last attempt was declined; another attempt may follow
    AUTHORIZED = "authorized"  # open: nothing captured yet
    PARTIALLY_CAPTURED = "partially_captured"  # open: captured in part, more captures may follow
    CAPTURED = "captured"  # closed to captures: fully captured, finally captured, or the rest voided
    VOIDED = "voided"  # cancelled with nothing captured


class OperationState(StrEnum):
    """The state of an attempt, capture, void or refund."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Settlement(StrEnum):
    """How a refund settles (a test rule by amount); captures and voids always succeed."""

    SUCCEEDS = "succeeds"
    FAILS = "fails"
    STAYS_PENDING = "stays_pending"


class IdKind(StrEnum):
    """What a codec is asked to name (each gateway has its own id formats)."""

    PAYMENT = "payment"
    ATTEMPT = "attempt"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"
    CARD = "card"
    TOKEN = "token"  # a one-time 3-D Secure completion token (Adyen's redirectResult)


class DeclineCode(StrEnum):
    """Decline reasons the engine itself gives or the shared test cards use.

    Gateway additions may decline with any other string; the codec maps every reason it can meet to
    its wire (Stripe's ``decline_code``, Adyen's ``refusalReason`` and code).
    """

    GENERIC_DECLINE = "generic_decline"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    AUTHENTICATION_REQUIRED = "authentication_required"
    AUTHENTICATION_FAILED = "authentication_failed"
    AUTHENTICATION_ABANDONED = "authentication_abandoned"


class ErrorCode(StrEnum):
    """Why the engine refused a call; nothing changed in the ledger."""

    INVALID_ARGUMENT = "invalid_argument"  # a value no gateway would take (codecs validate first)
    NOT_FOUND = "not_found"  # no such id for this account
    INVALID_STATE = "invalid_state"  # the payment is not in a state for this operation
    AMOUNT_EXCEEDS = "amount_exceeds"  # more than can be captured or refunded (``available``)
    CURRENCY_MISMATCH = "currency_mismatch"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"  # the key was used with another request
    IDEMPOTENCY_IN_PROGRESS = "idempotency_in_progress"  # the key's first request is still running


class EventType(StrEnum):
    """What the engine reports to ``on_event`` (the sandboxes' webhooks are made from these)."""

    AUTHENTICATION_PENDING = "payment.authentication_pending"
    AUTHORIZED = "payment.authorized"
    DECLINED = "payment.declined"
    CAPTURED = "payment.captured"  # a capture was taken; ``capture.settled`` follows
    CAPTURE_SETTLED = "capture.settled"
    VOIDED = "payment.voided"
    VOID_SETTLED = "void.settled"
    REFUNDED = "payment.refunded"  # a refund was taken; ``refund.settled`` or ``refund.failed`` follows
    REFUND_SETTLED = "refund.settled"
    REFUND_FAILED = "refund.failed"


# --- test rules and gateway policy ---------------------------------------------------------------


@dataclass(frozen=True)
class ThreeDSRule:
    """How authentication goes for a card.

    ``steps`` are the codec's names for what the shopper goes through, in order (``("challenge",)``,
    ``("fingerprint", "challenge")``); no steps is decided without the shopper at all. The shared pages
    (``connectors.kit.sandbox_wire``) know two: FINGERPRINT, the issuer's look at the shopper's device,
    which asks nothing of the shopper (3-D Secure 2's frictionless flow is a fingerprint alone), and
    CHALLENGE, which the shopper answers. ``result`` forces the outcome of a completed authentication (a
    card that always fails it); ``None`` takes the shopper's answer.
    """

    steps: tuple[str, ...] = ("challenge",)
    result: AuthenticationResult | None = None


@dataclass(frozen=True)
class CardRule:
    """What a test card (or holder name, or amount) does when a payment is attempted."""

    decline: str | None = None  # a DeclineCode or a gateway's own reason
    three_ds: ThreeDSRule | None = None  # the card asks for authentication
    delay: float = 0.0  # seconds the answer is held back (a slow issuer); the key stays in progress


APPROVE = CardRule()

# The steps the shared 3-D Secure pages know (ThreeDSRule.steps).
FINGERPRINT = "fingerprint"
CHALLENGE = "challenge"
THREE_DS_2 = ThreeDSRule((FINGERPRINT, CHALLENGE))
FRICTIONLESS = ThreeDSRule((FINGERPRINT,))

# This project's own 3-D Secure test cards (no gateway has them), which a codec may add to its rules so
# that each path and each result can be picked by card on any sandbox: 3-D Secure 2 with a challenge the
# shopper answers; frictionless (a fingerprint alone), authenticated or failed; a challenge that fails or is
# abandoned whatever the shopper answers.
THREE_DS_TEST_CARDS: Mapping[str, CardRule] = MappingProxyType(
    {
        "4242000000003004": CardRule(three_ds=THREE_DS_2),
        "4242000000003103": CardRule(three_ds=FRICTIONLESS),
        "4242000000003202": CardRule(three_ds=ThreeDSRule((FINGERPRINT,), AuthenticationResult.FAILED)),
        "4242000000003301": CardRule(three_ds=ThreeDSRule(THREE_DS_2.steps, AuthenticationResult.FAILED)),
        "4242000000003400": CardRule(three_ds=ThreeDSRule(THREE_DS_2.steps, AuthenticationResult.ABANDONED)),
    }
)

# A sandbox rule of every sandbox (no gateway has it): this Visa number approves after SLOW_TEST_SECONDS,
# and its idempotency key stays in progress until then, so that a retry meets the gateway's "in progress".
SLOW_TEST_CARD = "4242000000000018"
SLOW_TEST_SECONDS = 3.0

# Every sandbox approves 4242... and 4111..., declines 4000...0002 and is slow on SLOW_TEST_CARD, whatever
# its gateway adds: an app or a conformance test can count on them anywhere. No codec may redefine them.
BASE_TEST_CARDS: Mapping[str, CardRule] = MappingProxyType(
    {
        "4242424242424242": APPROVE,
        "4111111111111111": APPROVE,
        "4000000000000002": CardRule(decline=DeclineCode.GENERIC_DECLINE),
        SLOW_TEST_CARD: CardRule(delay=SLOW_TEST_SECONDS),
    }
)


@dataclass(frozen=True)
class SandboxRules:
    """A gateway's own test data, added to the shared table.

    When a payment is attempted the first rule that is not plain approval wins, in this order: an
    expired card (declined ``expired_card``), the card number, the holder name (upper case, trimmed),
    the amount. Refund amounts pick how a refund settles.
    """

    cards: Mapping[str, CardRule] = _EMPTY
    holder_names: Mapping[str, CardRule] = _EMPTY
    amounts: Mapping[int, CardRule] = _EMPTY
    refund_amounts: Mapping[int, Settlement] = _EMPTY


_OPEN = frozenset({PaymentState.AUTHORIZED, PaymentState.PARTIALLY_CAPTURED})


@dataclass(frozen=True)
class SandboxPolicy:
    """How a gateway's ledger behaves where gateways differ; the engine reads it and has no other switch."""

    # Seconds after which a capture, void or refund settles; None settles it within the call.
    capture_delay: float | None = None
    void_delay: float | None = None
    refund_delay: float | None = None
    # States a payment may be voided from. From a partial capture, a void closes the payment and
    # releases the rest; from states before authorization, it cancels the payment.
    voidable: frozenset[PaymentState] = _OPEN
    # True: a card that declines does so before any authentication (Stripe). False: the shopper
    # authenticates first and the decline comes after (Adyen).
    decline_before_authentication: bool = True
    # The flow when authentication is required but the card names none.
    default_three_ds: ThreeDSRule = ThreeDSRule()
    # Currencies the gateway takes only in multiples of some amount (Stripe: three-decimal currencies in
    # tens); any other amount of them is refused INVALID_ARGUMENT ``amount``, whatever the operation.
    amount_steps: Mapping[str, int] = _EMPTY


# --- what the ledger holds (immutable snapshots) -------------------------------------------------


@dataclass(frozen=True)
class CardInput:
    """A card as a request carries it. The number and CVC never reach a record or a repr."""

    number: str = field(repr=False)
    exp_month: int
    exp_year: int
    cvc: str | None = field(default=None, repr=False)
    holder_name: str | None = None
    extra: Mapping[str, Any] = _EMPTY  # codec data kept with the stored card (Stripe billing_details)


@dataclass(frozen=True)
class StoredCard:
    """A card the engine keeps: what rules and answers need, never the number or the CVC."""

    id: str
    account: str
    brand: str  # visa, mastercard, amex, discover, diners, jcb, unionpay or unknown
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str  # stable for one number within a run, says nothing about it
    holder_name: str | None
    cvc_given: bool
    rule: CardRule  # the card number's own rule (APPROVE when it has none)
    created_at: float
    extra: Mapping[str, Any] = _EMPTY


@dataclass(frozen=True)
class ThreeDSState:
    steps: tuple[str, ...]
    step: int  # index of the current step in ``steps``
    forced: AuthenticationResult | None
    result: AuthenticationResult | None = None  # set once the shopper is done
    token: str | None = None  # set when the result waits for FinishAuthentication
    # The id the shopper's side names the current step by (Adyen's paymentData and authorisationToken, the
    # pages' addresses): a fresh one for each step, indexed to the payment like its other parts.
    action: str | None = None

    @property
    def current(self) -> str | None:
        """The step the shopper is at, or None once done."""
        return self.steps[self.step] if self.result is None and self.steps else None


@dataclass(frozen=True)
class AttemptRecord:
    """One try at authorizing the payment (a Stripe charge, a PayPal authorization)."""

    id: str
    card: StoredCard
    status: OperationState  # pending while authenticating
    created_at: float
    decline: str | None = None
    network_transaction_id: str | None = None
    auth_code: str | None = None


@dataclass(frozen=True)
class CaptureRecord:
    id: str
    amount: int
    status: OperationState
    created_at: float
    final: bool
    automatic: bool  # taken by automatic capture at authorization
    reference: str | None = None


@dataclass(frozen=True)
class VoidRecord:
    id: str
    status: OperationState
    created_at: float
    reason: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class RefundRecord:
    id: str
    amount: int
    status: OperationState
    created_at: float
    capture_id: str | None = None
    reason: str | None = None
    reference: str | None = None
    metadata: Mapping[str, str] = _EMPTY


def _live(items: tuple[CaptureRecord, ...] | tuple[RefundRecord, ...]) -> int:
    return sum(item.amount for item in items if item.status is not OperationState.FAILED)


@dataclass(frozen=True)
class PaymentRecord:
    """A payment as the ledger holds it at one moment; every operation makes a new one."""

    id: str
    account: str
    amount: int
    currency: str
    capture_mode: CaptureMode
    status: PaymentState
    created_at: float
    reference: str | None = None
    description: str | None = None
    return_url: str | None = None
    metadata: Mapping[str, str] = _EMPTY
    extra: Mapping[str, Any] = _EMPTY  # the codec's own fields, kept and returned untouched
    # The card the next attempt uses; none after a decline (the card that was declined is in its attempt).
    card: StoredCard | None = None
    three_ds_mode: ThreeDSMode = ThreeDSMode.AUTO  # as created; an Attempt may change it
    # A successful authentication waits for the merchant to confirm (CreatePayment.confirm_after_authentication).
    confirm_after_authentication: bool = False
    attempts: tuple[AttemptRecord, ...] = ()
    three_ds: ThreeDSState | None = None
    authorized: int = 0
    captures: tuple[CaptureRecord, ...] = ()
    void: VoidRecord | None = None
    refunds: tuple[RefundRecord, ...] = ()

    @property
    def latest_attempt(self) -> AttemptRecord | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def decline(self) -> str | None:
        """Why the payment is declined, while it is."""
        attempt = self.latest_attempt
        return attempt.decline if attempt and self.status is PaymentState.DECLINED else None

    @property
    def captured(self) -> int:
        """Captured so far, settled or not."""
        return _live(self.captures)

    @property
    def refunded(self) -> int:
        """Refunded so far, settled or not (failed refunds give the amount back)."""
        return _live(self.refunds)

    @property
    def capturable(self) -> int:
        return self.authorized - self.captured if self.status in _OPEN else 0

    @property
    def released(self) -> int:
        """What a final partial capture or a void gave back to the card holder."""
        closed = self.status in (PaymentState.CAPTURED, PaymentState.VOIDED)
        return self.authorized - self.captured if closed else 0

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded

    def capture(self, capture_id: str) -> CaptureRecord | None:
        return next((c for c in self.captures if c.id == capture_id), None)

    def refund(self, refund_id: str) -> RefundRecord | None:
        return next((r for r in self.refunds if r.id == refund_id), None)


@dataclass(frozen=True)
class ObjectRecord:
    """A keyed object the ledger keeps beside payments for a codec (a Stripe Customer or SetupIntent).

    ``fields`` and ``status`` are the codec's own; the engine only merges, compares and checks. ``card`` is
    the card kept with it; ``decline`` is why its last check failed (None: passed, or never checked)."""

    id: str
    kind: str  # the codec's name for it, also what new_id is asked for
    account: str
    created_at: float
    status: str | None = None
    fields: Mapping[str, Any] = _EMPTY
    card: StoredCard | None = None
    decline: str | None = None


# --- operations (what a codec asks of the engine) ------------------------------------------------
# ``ref`` names a payment by its id or by the id of anything the engine made for it (an attempt,
# capture, void, refund or completion token), so that a codec can address a payment the way its
# gateway does (Stripe refunds by charge, PayPal captures by authorization).


@dataclass(frozen=True)
class Tokenize:
    """Store a card (Stripe's PaymentMethod, a vaulted card). Done.card is the StoredCard."""

    card: CardInput


@dataclass(frozen=True)
class GetCard:
    card_id: str


@dataclass(frozen=True)
class CreatePayment:
    """A new payment; with ``confirm`` (and something to pay with) it is attempted at once."""

    amount: int
    currency: str
    capture: CaptureMode = CaptureMode.AUTOMATIC
    pay_with: CardInput | str | None = None  # a card, a stored card's id, or None for later
    confirm: bool = True
    three_ds: ThreeDSMode = ThreeDSMode.AUTO
    reference: str | None = None
    description: str | None = None
    return_url: str | None = None
    metadata: Mapping[str, str] = _EMPTY
    extra: Mapping[str, Any] = _EMPTY
    # After a successful authentication the payment waits, still pending, for the merchant's confirmation:
    # an Attempt or a FinishAuthentication concludes it (Stripe's manual confirmation, `requires_confirmation`).
    # A failed or abandoned authentication has nothing to confirm and concludes at once.
    confirm_after_authentication: bool = False


@dataclass(frozen=True)
class Attempt:
    """Attempt a created or declined payment again (Stripe's confirm, PayPal's authorize); on a payment whose
    successful authentication waits for confirmation, conclude it."""

    ref: str
    pay_with: CardInput | str | None = None  # None: the card on the payment (none after a decline)
    three_ds: ThreeDSMode | None = None  # None keeps the payment's
    capture: CaptureMode | None = None  # None keeps the payment's
    return_url: str | None = None  # None keeps the payment's
    extra: Mapping[str, Any] = _EMPTY  # merged into the payment's


@dataclass(frozen=True)
class Authenticate:
    """The shopper's answer to the current 3-D Secure step.

    With ``finish`` the payment is concluded at once (authorized or declined); with ``finish=False`` the
    result waits and the engine hands out a one-time token for FinishAuthentication (Adyen's redirectResult
    then /payments/details). ``None``: as the payment was created (``confirm_after_authentication``).
    A successful answer to a step that is not the last moves the shopper on to the next step.
    """

    ref: str
    result: AuthenticationResult
    step: str | None = None  # when given, must be the current step
    finish: bool | None = None


@dataclass(frozen=True)
class FinishAuthentication:
    ref: str  # the payment or its completion token


@dataclass(frozen=True)
class Capture:
    """Capture an open payment; ``amount`` None captures all that is capturable."""

    ref: str
    amount: int | None = None
    currency: str | None = None  # checked against the payment's when given
    final: bool = True  # False leaves the rest open for more captures
    reference: str | None = None
    metadata: Mapping[str, str] = _EMPTY  # merged into the payment's


@dataclass(frozen=True)
class Void:
    ref: str
    reason: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class Refund:
    """Refund captured money; ``amount`` None refunds all that is left (of ``capture_id`` if named)."""

    ref: str
    amount: int | None = None
    currency: str | None = None
    capture_id: str | None = None
    reason: str | None = None
    reference: str | None = None
    metadata: Mapping[str, str] = _EMPTY  # the refund's own


@dataclass(frozen=True)
class GetPayment:
    ref: str


@dataclass(frozen=True)
class UpdatePayment:
    """Change a payment (Stripe's update). Its amount, currency, capture mode and card only while it may be
    attempted (created or declined: a new card makes it ready to attempt again), else INVALID_STATE; its
    description, metadata and the codec's extra at any time."""

    ref: str
    amount: int | None = None  # None keeps what it is, as for every field here
    currency: str | None = None
    capture: CaptureMode | None = None
    pay_with: CardInput | str | None = None
    description: str | None = None
    metadata: Mapping[str, str | None] = _EMPTY  # merged into the payment's; None removes a key
    extra: Mapping[str, Any] = _EMPTY  # merged into the payment's


@dataclass(frozen=True)
class UpdateCard:
    """Merge ``patch`` into a stored card's ``extra`` (a JSON merge patch: None removes a key). ``expect``:
    values its ``extra`` must hold first (None: the key absent), else INVALID_STATE (attaching a Stripe
    PaymentMethod that is attached already)."""

    card_id: str
    patch: Mapping[str, Any]
    expect: Mapping[str, Any] = _EMPTY


@dataclass(frozen=True)
class PutObject:
    """Create (``ref`` None) or change a keyed object (``ObjectRecord``); Done.obj is the record after.

    ``patch`` is a JSON merge patch (RFC 7396) of its fields: objects merge, None removes. ``status``, when
    given, becomes its status; ``states``, when given, are the statuses it may be changed from, else
    INVALID_STATE. ``card`` is kept with it (a card to store, or a stored card's id). With ``check`` its card
    (this one, else the one it has; none is INVALID_ARGUMENT ``card``) is checked as a zero-amount
    authorization with no shopper present: the expiry and the card rules, a card that asks for 3-D Secure
    declined ``authentication_required``. The status becomes ``succeeded`` or ``failed`` (with ``decline``),
    and a card that passes records the object's ``attach`` field (its owner: a Stripe SetupIntent's
    customer) under the same name in its ``extra``."""

    kind: str
    ref: str | None = None
    patch: Mapping[str, Any] = _EMPTY
    status: str | None = None
    states: frozenset[str] | None = None
    card: CardInput | str | None = None
    check: bool = False
    attach: str | None = None


@dataclass(frozen=True)
class GetObject:
    kind: str
    ref: str


@dataclass(frozen=True)
class ListRecords:
    """Every record of one kind for the account, newest first, in Done.items: ``payment`` (PaymentRecords),
    ``card`` (StoredCards) or an object kind (ObjectRecords). Codecs filter and page them
    (``sandbox_wire.page``)."""

    kind: str


type Operation = (
    Tokenize
    | GetCard
    | CreatePayment
    | Attempt
    | Authenticate
    | FinishAuthentication
    | Capture
    | Void
    | Refund
    | GetPayment
    | UpdatePayment
    | UpdateCard
    | PutObject
    | GetObject
    | ListRecords
)


@dataclass(frozen=True)
class IdempotencyKey:
    """A gateway's idempotency key and what it must match on a retry.

    ``scope`` is where the key was used (the path, say); ``body`` is what a retry must repeat (the
    parsed parameters, so that key order and encoding do not matter). A gateway that replays whatever
    comes with a known key (Adyen documents no comparison) gives the same scope and body every time.
    Keys are per account.
    """

    key: str
    scope: str
    body: Any


@dataclass(frozen=True)
class Call:
    account: str
    operation: Operation
    idempotency: IdempotencyKey | None = None
    # The codec's own data for render (what route parsed; never a card number): the engine keeps it only
    # to render a replay as the first answer.
    context: Any = None
    # Keyed objects the call names, as (kind, id), which must exist for the account before it runs, else
    # NOT_FOUND with the kind as the field (a Stripe PaymentIntent's customer).
    requires: tuple[tuple[str, str], ...] = ()
    # The call's own answer to the reply, in place of the codec's render (the shared 3-D Secure pages).
    render: Callable[[Reply], SandboxResponse] | None = None


# --- what the engine answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    payment: PaymentRecord | None = None
    card: StoredCard | None = None
    # The id this call made or named, when not the payment's: the capture, void, refund or attempt
    # just made, the completion token handed out, or the sub-object a GetPayment ref named.
    subject: str | None = None
    obj: ObjectRecord | None = None
    items: tuple[Any, ...] = ()  # what ListRecords found


@dataclass(frozen=True)
class Refusal:
    code: ErrorCode
    message: str  # plain words, never a card number; codecs usually speak their gateway's instead
    payment: PaymentRecord | None = None  # the payment as it stands (INVALID_STATE, AMOUNT_EXCEEDS)
    field: str | None = None  # the operation's field at fault (INVALID_ARGUMENT; NOT_FOUND: ref or pay_with)
    available: int | None = None  # what could have been captured or refunded (AMOUNT_EXCEEDS)
    first_scope: str | None = None  # where the key was first used (IDEMPOTENCY_CONFLICT)
    obj: ObjectRecord | None = None  # the keyed object as it stands (INVALID_STATE)


@dataclass(frozen=True)
class Reply:
    result: Done | Refusal
    replayed: bool = False  # the first answer to this idempotency key, given again
    delay: float = 0.0  # seconds the runtime holds the answer back
    # For a replay, the context of the call first made with the key: the runtime renders the reply with
    # it in place of the retry's (Adyen replays the first answer whatever path and body come with a key).
    first_context: Any = None


@dataclass(frozen=True)
class Event:
    type: EventType
    account: str
    payment: PaymentRecord  # after the change
    subject: str | None  # the attempt, capture, void or refund it is about
    at: float


class SandboxCodec(Protocol):
    """One gateway's wire format over the engine. Pure: no sockets, no clock, no state of its own."""

    rules: SandboxRules
    policy: SandboxPolicy

    def new_id(self, kind: IdKind | str) -> str:
        """A fresh id in the gateway's format (the engine retries on the rare collision); a ``str`` kind is
        a keyed object's (``PutObject.kind``)."""
        ...

    def route(self, request: SandboxRequest) -> Call | SandboxResponse:
        """The engine call a request asks for, or the answer itself (auth failure, bad input, 404)."""
        ...

    def render(self, request: SandboxRequest, call: Call, reply: Reply) -> SandboxResponse:
        """The gateway's answer to ``call`` (but for a call that renders itself); a replayed reply must render
        as it did the first time."""
        ...


@dataclass(frozen=True)
class SandboxNotification:
    """A webhook a simulated gateway sends: the runtime POSTs it to the configured listener."""

    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = _EMPTY  # its signature, where the gateway signs


class SandboxNotifier(Protocol):
    """What a codec adds to send its gateway's webhooks: the notification of one engine event, or None
    where its gateway sends none for that event (Stripe's ``payment_intent.*``, Adyen's notification items)."""

    def notification(self, event: Event) -> SandboxNotification | None: ...
