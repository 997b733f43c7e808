"""The sandbox engine: one ledger and state machine that every simulated gateway runs on.

Why the split
    Every simulated gateway needs the same ledger: payments, their attempts, captures, voids and
    refunds with remaining-amount checks; pending 3-D Secure; idempotency (the same key and body
    replays the first answer, another body conflicts, a key still running is busy); test-card rules;
    settlement that comes later; events for webhooks. Each simulator wrote its own (about a fifth of
    Stripe's and Adyen's; the rest is their wire). Here it is written once, with no gateway-specific
    branch: where gateways really differ (which states may be voided, whether captures and refunds
    settle later, whether a declining card is authenticated first) the codec's ``SandboxPolicy``
    says so, and its ``SandboxRules`` add its own test data to the shared table
    (``connectors.kit.sandbox.BASE_TEST_CARDS``: 4242424242424242 and 4111111111111111 approve,
    4000000000000002 declines ``generic_decline``, 4242000000000018 approves slowly, on every sandbox).

Beyond payments
    What SDKs call around a payment (a Stripe Customer, a SetupIntent) is a keyed object: the codec's
    own fields and status, changed by JSON merge patch, guarded by the statuses it may change from, and
    a card checked as a zero-amount authorization with no shopper present (a card that asks for 3-D
    Secure is declined ``authentication_required``). ``ListRecords`` hands the codec every record of a
    kind, newest first, to filter and page (``sandbox_wire.page``); a call's ``requires`` names the
    objects that must exist before it runs. Still no gateway-specific branch.

What a codec must do (``connectors.kit.sandbox.SandboxCodec``)
    - ``route``: check the gateway's authentication and input in the gateway's own words, and name
      one engine operation with the account it acts for and, where the gateway has one, its
      idempotency key; or answer at once (401, 404, validation). Amounts stay in the gateway's units.
    - ``render``: turn the engine's ``Reply`` (a ``Done`` with immutable records, or a ``Refusal``)
      into the gateway's answer: status words, ids, error shapes. A replayed reply carries the first
      call's records and context, which the runtime renders again: the first answer, whatever came
      this time. (So a context holds what route parsed for rendering, never a card number.)
    - ``new_id``: ids in the gateway's formats. ``rules`` and ``policy``: as above.
    It holds no state: what the gateway keeps beyond the ledger goes in the records' ``extra``.

3-D Secure
    A card's ``ThreeDSRule`` (or the policy's default, when the merchant requires authentication) names
    the steps the shopper goes through: a fingerprint (the issuer looks at the device; nobody is asked),
    a challenge, or both; no steps is decided without the shopper. Each waiting step gets a fresh
    ``action`` id, indexed to the payment, that the shopper's side names it by (the shared pages'
    addresses, Adyen's paymentData). ``Authenticate`` answers the current step; a success moves on to the
    next step; after the last the payment is concluded at once, or the result waits behind a one-time
    completion ``token`` for ``FinishAuthentication`` (Adyen's redirectResult, then /payments/details), or,
    for a payment created with ``confirm_after_authentication``, for an ``Attempt`` (Stripe's manual
    confirmation). A rule's forced ``result`` replaces the shopper's success (a card that always fails).
    A card whose own rule both authenticates and declines is declined after authentication.

The engine never sleeps and reads time only from the injected ``clock``. A slow test card gives the
reply a ``delay`` that the runtime waits before answering; the key stays in progress until then.
Deferred settlement is a queue: the runtime asks ``next_settlement()`` when to come back and calls
``settle_due()`` then. ``on_event`` receives every change after the engine's lock is released.
"""

from __future__ import annotations

import heapq
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from connectors.kit.sandbox import (
    APPROVE,
    BASE_TEST_CARDS,
    Attempt,
    AttemptRecord,
    Authenticate,
    AuthenticationResult,
    Call,
    Capture,
    CaptureMode,
    CaptureRecord,
    CardInput,
    CardRule,
    CreatePayment,
    DeclineCode,
    Done,
    ErrorCode,
    Event,
    EventType,
    FinishAuthentication,
    GetCard,
    GetObject,
    GetPayment,
    IdKind,
    ListRecords,
    ObjectRecord,
    Operation,
    OperationState,
    PaymentRecord,
    PaymentState,
    PutObject,
    Refund,
    RefundRecord,
    Refusal,
    Reply,
    SandboxPolicy,
    SandboxRules,
    Settlement,
    StoredCard,
    ThreeDSMode,
    ThreeDSRule,
    ThreeDSState,
    Tokenize,
    UpdateCard,
    UpdatePayment,
    Void,
    VoidRecord,
)
from connectors.kit.sandbox_wire import card_brand, luhn_valid, random_digits

from .common import DEFAULT_MAX_OBJECTS, BoundedStore, canonical_fingerprint, card_fingerprint

__all__ = ["Engine"]

_PENDING, _SUCCEEDED, _FAILED = OperationState.PENDING, OperationState.SUCCEEDED, OperationState.FAILED
_ATTEMPTABLE = (PaymentState.CREATED, PaymentState.DECLINED)
_CAPTURABLE = (PaymentState.AUTHORIZED, PaymentState.PARTIALLY_CAPTURED)
_REFUNDABLE = (PaymentState.PARTIALLY_CAPTURED, PaymentState.CAPTURED)
_AUTHENTICATION_DECLINES = {
    AuthenticationResult.FAILED: DeclineCode.AUTHENTICATION_FAILED,
    AuthenticationResult.ABANDONED: DeclineCode.AUTHENTICATION_ABANDONED,
}
_CURRENCY = re.compile(r"[A-Z]{3}")
# A codec whose ids collide this often has too small an id space: a bug, said loudly.
_ID_TRIES = 8


class _Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def _refuse(code: ErrorCode, message: str, **details: Any) -> _Refused:
    return _Refused(Refusal(code, message, **details))


def _invalid(field: str, message: str) -> _Refused:
    return _refuse(ErrorCode.INVALID_ARGUMENT, message, field=field)


@dataclass(frozen=True)
class _Saved:
    scope: str
    fingerprint: str
    context: Any
    result: Done
    busy_until: float


@dataclass(order=True, frozen=True)
class _Due:
    at: float
    seq: int
    payment_id: str
    subject: str
    outcome: OperationState


class Engine:
    """The ledger of one simulated gateway. Thread-safe; every call is atomic."""

    def __init__(
        self,
        rules: SandboxRules,
        policy: SandboxPolicy,
        new_id: Callable[[str], str],
        *,
        clock: Callable[[], float] = time.time,
        on_event: Callable[[Event], None] | None = None,
        max_objects: int = DEFAULT_MAX_OBJECTS,
    ) -> None:
        overridden = sorted(number[-4:] for number in rules.cards if number in BASE_TEST_CARDS)
        if overridden:
            raise ValueError(f"a gateway may not redefine the shared test cards (ending {', '.join(overridden)})")
        self._cards_table: Mapping[str, CardRule] = {**rules.cards, **BASE_TEST_CARDS}
        self._rules = rules
        self._policy = policy
        self._new_id = new_id
        self._clock = clock
        self._on_event = on_event
        self._lock = threading.Lock()
        self._payments: BoundedStore[str, PaymentRecord] = BoundedStore(max_objects)
        self._cards: BoundedStore[str, StoredCard] = BoundedStore(max_objects)
        self._objects: BoundedStore[str, ObjectRecord] = BoundedStore(max_objects)
        # Every id handed out for a payment's parts, to the payment's id.
        self._index: BoundedStore[str, str] = BoundedStore(max_objects * 4)
        self._idempotency: BoundedStore[tuple[str, str], _Saved] = BoundedStore(max_objects)
        self._due: list[_Due] = []
        self._seq = 0
        self._events: list[Event] = []

    # -- the runtime's side ---------------------------------------------------------------------

    def execute(self, call: Call) -> Reply:
        with self._lock:
            try:
                reply = self._execute(call)
            finally:
                events, self._events = self._events, []
        self._emit(events)
        return reply

    def next_settlement(self) -> float | None:
        """When ``settle_due`` next has something to do (clock time), if ever."""
        with self._lock:
            return self._due[0].at if self._due else None

    def settle_due(self) -> None:
        """Settle every capture, void and refund whose time has come."""
        with self._lock:
            now = self._clock()
            try:
                while self._due and self._due[0].at <= now:
                    self._settle(heapq.heappop(self._due))
            finally:
                events, self._events = self._events, []
        self._emit(events)

    def _emit(self, events: list[Event]) -> None:
        if self._on_event is not None:
            for event in events:
                self._on_event(event)

    # -- idempotency ----------------------------------------------------------------------------

    def _execute(self, call: Call) -> Reply:
        now = self._clock()
        idem = call.idempotency
        if idem is None:
            return self._run_once(call, now)
        slot, fingerprint = (call.account, idem.key), canonical_fingerprint(idem.body)
        saved = self._idempotency.get(slot)
        if saved is None:
            reply = self._run_once(call, now)
            if isinstance(reply.result, Done):
                self._idempotency.put(
                    slot, _Saved(idem.scope, fingerprint, call.context, reply.result, now + reply.delay)
                )
            return reply
        if now < saved.busy_until:
            message = "the first request with this idempotency key is still in progress"
            return Reply(Refusal(ErrorCode.IDEMPOTENCY_IN_PROGRESS, message))
        if (saved.scope, saved.fingerprint) != (idem.scope, fingerprint):
            message = "this idempotency key was used with another request"
            return Reply(Refusal(ErrorCode.IDEMPOTENCY_CONFLICT, message, first_scope=saved.scope))
        return Reply(saved.result, replayed=True, first_context=saved.context)

    def _run_once(self, call: Call, now: float) -> Reply:
        try:
            for kind, ref in call.requires:
                self._object(call.account, kind, ref, field=kind)
            result, delay = self._run(call.account, call.operation, now)
        except _Refused as refused:
            # Nothing changed, so nothing is remembered: a corrected retry with the same key runs.
            return Reply(refused.refusal)
        return Reply(result, delay=delay)

    def _run(self, account: str, op: Operation, now: float) -> tuple[Done, float]:
        match op:
            case Tokenize(card=card):
                return Done(card=self._store_card(account, card, now)), 0.0
            case GetCard(card_id=card_id):
                return Done(card=self._card(account, card_id, "card_id")), 0.0
            case CreatePayment():
                return self._create(account, op, now)
            case Attempt():
                return self._attempt_again(account, op, now)
            case Authenticate():
                return self._authenticate(account, op, now), 0.0
            case FinishAuthentication(ref=ref):
                return self._finish(account, ref, now), 0.0
            case Capture():
                return self._capture(account, op, now), 0.0
            case Void():
                return self._void(account, op, now), 0.0
            case Refund():
                return self._refund(account, op, now), 0.0
            case GetPayment(ref=ref):
                payment = self._payment(account, ref)
                return Done(payment, subject=ref if ref != payment.id else None), 0.0
            case UpdatePayment():
                return Done(self._update(account, op, now)), 0.0
            case UpdateCard():
                return Done(card=self._update_card(account, op)), 0.0
            case PutObject():
                return Done(obj=self._put_object(account, op, now)), 0.0
            case GetObject(kind=kind, ref=ref):
                return Done(obj=self._object(account, kind, ref)), 0.0
            case ListRecords(kind=kind):
                return Done(items=self._records(account, kind)), 0.0
        raise TypeError(f"not an engine operation: {type(op).__name__}")

    # -- lookups and bookkeeping ----------------------------------------------------------------

    def _payment(self, account: str, ref: str) -> PaymentRecord:
        payment = self._payments.get(self._index.get(ref) or ref)
        if payment is None or payment.account != account:
            raise _refuse(ErrorCode.NOT_FOUND, "no such payment", field="ref")
        return payment

    def _card(self, account: str, card_id: str, field: str = "pay_with") -> StoredCard:
        card = self._cards.get(card_id)
        if card is None or card.account != account:
            raise _refuse(ErrorCode.NOT_FOUND, "no such card", field=field)
        return card

    def _object(self, account: str, kind: str, ref: str, field: str = "ref") -> ObjectRecord:
        obj = self._objects.get(ref)
        if obj is None or obj.account != account or obj.kind != kind:
            raise _refuse(ErrorCode.NOT_FOUND, f"no such {kind}", field=field)
        return obj

    def _fresh_id(self, kind: str) -> str:
        for _ in range(_ID_TRIES):
            candidate = self._new_id(kind)
            stores = (self._index, self._payments, self._cards, self._objects)
            if all(candidate not in store for store in stores):
                return candidate
        raise RuntimeError(f"the codec's new_id gave {_ID_TRIES} ids in a row that are taken")

    def _part_id(self, kind: IdKind, payment_id: str) -> str:
        part_id = self._fresh_id(kind)
        self._index.put(part_id, payment_id)
        return part_id

    def _save(self, payment: PaymentRecord, event: EventType | None = None, subject: str | None = None) -> None:
        self._payments.put(payment.id, payment)
        if event is not None:
            self._events.append(Event(event, payment.account, payment, subject, self._clock()))

    def _schedule(self, delay: float, payment_id: str, subject: str, outcome: OperationState) -> None:
        self._seq += 1
        heapq.heappush(self._due, _Due(self._clock() + delay, self._seq, payment_id, subject, outcome))

    # -- cards ----------------------------------------------------------------------------------

    def _store_card(self, account: str, card: CardInput, now: float) -> StoredCard:
        number = card.number
        if not luhn_valid(number):
            raise _invalid("number", "the card number is not 12-19 digits with a valid check digit")
        if not 1 <= card.exp_month <= 12:
            raise _invalid("exp_month", "the expiry month is not 1-12")
        if not 1000 <= card.exp_year <= 9999:
            raise _invalid("exp_year", "the expiry year is not four digits")
        if card.cvc is not None and not re.fullmatch(r"\d{3,4}", card.cvc):
            raise _invalid("cvc", "the CVC is not 3-4 digits")
        # What the rules and the answers need survives; the number and the CVC end here.
        stored = StoredCard(
            id=self._fresh_id(IdKind.CARD),
            account=account,
            brand=card_brand(number),
            last4=number[-4:],
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            fingerprint=card_fingerprint(number),
            holder_name=card.holder_name,
            cvc_given=card.cvc is not None,
            rule=self._cards_table.get(number, APPROVE),
            created_at=now,
            extra=dict(card.extra),
        )
        self._cards.put(stored.id, stored)
        return stored

    def _pay_with(self, account: str, source: CardInput | str, now: float) -> StoredCard:
        return self._store_card(account, source, now) if isinstance(source, CardInput) else self._card(account, source)

    def _rule(self, card: StoredCard, amount: int) -> CardRule:
        """The first rule that is not plain approval: card number, holder name, amount."""
        holder = (card.holder_name or "").strip().upper()
        for rule in (card.rule, self._rules.holder_names.get(holder), self._rules.amounts.get(amount)):
            if rule is not None and rule != APPROVE:
                return rule
        return APPROVE

    def _check_step(self, amount: int, currency: str, payment: PaymentRecord | None = None) -> None:
        step = self._policy.amount_steps.get(currency, 1)
        if amount % step:
            raise _refuse(
                ErrorCode.INVALID_ARGUMENT,
                f"{currency} is taken in multiples of {step}",
                field="amount",
                payment=payment,
            )

    def _within(self, amount: int | None, available: int, payment: PaymentRecord) -> int:
        """The amount asked for (all that is available when None), if it fits."""
        if amount is not None:
            _check_amount(amount, "amount", minimum=1)
        wanted = available if amount is None else amount
        if available > 0:
            self._check_step(wanted, payment.currency, payment)
        if available <= 0 or wanted > available:
            message = f"the amount is more than the {available} minor units available"
            raise _refuse(ErrorCode.AMOUNT_EXCEEDS, message, payment=payment, available=available)
        return wanted

    def _decline_for(self, card: StoredCard, rule: CardRule, now: float) -> str | None:
        today = datetime.fromtimestamp(now, tz=UTC)
        if (card.exp_year, card.exp_month) < (today.year, today.month):
            return DeclineCode.EXPIRED_CARD
        return rule.decline

    # -- payments and attempts ------------------------------------------------------------------

    def _create(self, account: str, op: CreatePayment, now: float) -> tuple[Done, float]:
        _check_amount(op.amount, "amount", minimum=0)
        if not _CURRENCY.fullmatch(op.currency):
            raise _invalid("currency", "the currency is not three upper-case letters")
        self._check_step(op.amount, op.currency)
        if op.confirm and op.pay_with is None:
            raise _invalid("pay_with", "a payment confirmed at creation needs a card")
        card = self._pay_with(account, op.pay_with, now) if op.pay_with is not None else None
        payment = PaymentRecord(
            id=self._fresh_id(IdKind.PAYMENT),
            account=account,
            amount=op.amount,
            currency=op.currency,
            capture_mode=op.capture,
            status=PaymentState.CREATED,
            created_at=now,
            reference=op.reference,
            description=op.description,
            return_url=op.return_url,
            metadata=dict(op.metadata),
            extra=dict(op.extra),
            card=card,
            three_ds_mode=op.three_ds,
            confirm_after_authentication=op.confirm_after_authentication,
        )
        if not op.confirm or card is None:
            self._save(payment)
            return Done(payment), 0.0
        return self._start_attempt(payment, card, now)

    def _attempt_again(self, account: str, op: Attempt, now: float) -> tuple[Done, float]:
        payment = self._payment(account, op.ref)
        state = payment.three_ds
        if payment.status is PaymentState.AUTHENTICATION_PENDING and payment.confirm_after_authentication:
            if state is None or state.token is None:
                raise _refuse(ErrorCode.INVALID_STATE, "the shopper has not authenticated yet", payment=payment)
            # The shopper is done and the payment waits for this confirmation.
            return Done(self._conclude(payment, now), subject=payment.attempts[-1].id), 0.0
        if payment.status not in _ATTEMPTABLE:
            raise _refuse(ErrorCode.INVALID_STATE, f"a {payment.status} payment cannot be attempted", payment=payment)
        source = op.pay_with if op.pay_with is not None else payment.card
        if source is None:
            raise _invalid("pay_with", "the payment has no card to attempt with")
        card = source if isinstance(source, StoredCard) else self._pay_with(account, source, now)
        payment = replace(
            payment,
            capture_mode=op.capture or payment.capture_mode,
            return_url=op.return_url or payment.return_url,
            extra={**payment.extra, **op.extra},
            card=card,
            three_ds_mode=op.three_ds or payment.three_ds_mode,
        )
        return self._start_attempt(payment, card, now)

    def _start_attempt(self, payment: PaymentRecord, card: StoredCard, now: float) -> tuple[Done, float]:
        rule = self._rule(card, payment.amount)
        attempt = AttemptRecord(self._part_id(IdKind.ATTEMPT, payment.id), card, _PENDING, now)
        payment = replace(payment, attempts=(*payment.attempts, attempt), three_ds=None)
        mode = payment.three_ds_mode
        flow = rule.three_ds or (self._policy.default_three_ds if mode is ThreeDSMode.REQUIRED else None)
        decline = self._decline_for(card, rule, now)
        if flow is not None and mode is ThreeDSMode.UNAVAILABLE:  # no shopper here to authenticate
            decline, flow = decline or DeclineCode.AUTHENTICATION_REQUIRED, None
        # A card whose own rule authenticates and then declines does so after the shopper authenticated.
        before = self._policy.decline_before_authentication and rule.three_ds is None
        if decline is not None and (flow is None or before):
            payment = self._declined(payment, decline)
        elif flow is None:
            payment = self._authorized(payment, now)
        else:
            payment = self._authentication(payment, flow, now)
        return Done(payment, subject=attempt.id), rule.delay

    def _authentication(self, payment: PaymentRecord, flow: ThreeDSRule, now: float) -> PaymentRecord:
        state = ThreeDSState(flow.steps, 0, flow.result)
        if not flow.steps:  # decided without the shopper
            return self._conclude(replace(payment, three_ds=replace(state, result=flow.result or _OK)), now)
        state = replace(state, action=self._part_id(IdKind.TOKEN, payment.id))
        payment = replace(payment, status=PaymentState.AUTHENTICATION_PENDING, three_ds=state)
        self._save(payment, EventType.AUTHENTICATION_PENDING, payment.attempts[-1].id)
        return payment

    def _authenticate(self, account: str, op: Authenticate, now: float) -> Done:
        payment = self._payment(account, op.ref)
        state = payment.three_ds
        if payment.status is not PaymentState.AUTHENTICATION_PENDING or state is None or state.result is not None:
            raise _refuse(ErrorCode.INVALID_STATE, "no authentication step is waiting", payment=payment)
        if op.step is not None and op.step != state.current:
            raise _refuse(ErrorCode.INVALID_STATE, f"the current step is {state.current}", payment=payment)
        if op.result is _OK and state.step + 1 < len(state.steps):
            action = self._part_id(IdKind.TOKEN, payment.id)
            payment = replace(payment, three_ds=replace(state, step=state.step + 1, action=action))
            self._save(payment)
            return Done(payment)
        result = (state.forced or _OK) if op.result is _OK else op.result
        finish = op.finish
        if finish is None:  # a failed or abandoned authentication leaves nothing to confirm
            finish = not (payment.confirm_after_authentication and result is _OK)
        if finish:
            return Done(self._conclude(replace(payment, three_ds=replace(state, result=result)), now))
        token = self._part_id(IdKind.TOKEN, payment.id)
        payment = replace(payment, three_ds=replace(state, result=result, token=token))
        self._save(payment)
        return Done(payment, subject=token)

    def _finish(self, account: str, ref: str, now: float) -> Done:
        payment = self._payment(account, ref)
        state = payment.three_ds
        if payment.status is not PaymentState.AUTHENTICATION_PENDING or state is None or state.result is None:
            raise _refuse(ErrorCode.INVALID_STATE, "no finished authentication is waiting", payment=payment)
        return Done(self._conclude(payment, now))

    def _conclude(self, payment: PaymentRecord, now: float) -> PaymentRecord:
        """After authentication: the authentication's own decline, the card's rules, or approval."""
        card = payment.attempts[-1].card
        assert payment.three_ds is not None and payment.three_ds.result is not None
        decline = _AUTHENTICATION_DECLINES.get(payment.three_ds.result)
        decline = decline or self._decline_for(card, self._rule(card, payment.amount), now)
        return self._declined(payment, decline) if decline else self._authorized(payment, now)

    def _declined(self, payment: PaymentRecord, decline: str) -> PaymentRecord:
        attempt = replace(payment.attempts[-1], status=_FAILED, decline=decline)
        # The declined card stays in its attempt only: another attempt names the card it tries.
        payment = replace(payment, status=PaymentState.DECLINED, card=None, attempts=(*payment.attempts[:-1], attempt))
        self._save(payment, EventType.DECLINED, attempt.id)
        return payment

    def _authorized(self, payment: PaymentRecord, now: float) -> PaymentRecord:
        ids = {"network_transaction_id": random_digits(15), "auth_code": random_digits(6)}
        attempt = replace(payment.attempts[-1], status=_SUCCEEDED, **ids)
        payment = replace(
            payment,
            status=PaymentState.AUTHORIZED,
            authorized=payment.amount,
            attempts=(*payment.attempts[:-1], attempt),
        )
        self._save(payment, EventType.AUTHORIZED, attempt.id)
        if payment.capture_mode is CaptureMode.MANUAL:
            return payment
        if payment.amount == 0:  # a zero-amount check: nothing to capture, and nothing stays open
            payment = replace(payment, status=PaymentState.CAPTURED)
            self._save(payment)
            return payment
        return self._take_capture(payment, payment.amount, final=True, automatic=True, reference=None, now=now)[0]

    # -- captures, voids, refunds ---------------------------------------------------------------

    def _capture(self, account: str, op: Capture, now: float) -> Done:
        payment = self._payment(account, op.ref)
        if payment.status not in _CAPTURABLE:
            raise _refuse(ErrorCode.INVALID_STATE, f"a {payment.status} payment cannot be captured", payment=payment)
        _check_currency(payment, op.currency)
        amount = self._within(op.amount, payment.capturable, payment)
        payment = replace(payment, metadata={**payment.metadata, **op.metadata})
        payment, capture_id = self._take_capture(payment, amount, op.final, False, op.reference, now)
        return Done(payment, subject=capture_id)

    def _take_capture(
        self, payment: PaymentRecord, amount: int, final: bool, automatic: bool, reference: str | None, now: float
    ) -> tuple[PaymentRecord, str]:
        delay = self._policy.capture_delay
        capture = CaptureRecord(
            id=self._part_id(IdKind.CAPTURE, payment.id),
            amount=amount,
            status=_PENDING if delay is not None else _SUCCEEDED,
            created_at=now,
            final=final,
            automatic=automatic,
            reference=reference,
        )
        closed = final or amount == payment.capturable
        payment = replace(
            payment,
            status=PaymentState.CAPTURED if closed else PaymentState.PARTIALLY_CAPTURED,
            captures=(*payment.captures, capture),
        )
        self._save(payment, EventType.CAPTURED, capture.id)
        if delay is None:
            self._save(payment, EventType.CAPTURE_SETTLED, capture.id)
        else:
            self._schedule(delay, payment.id, capture.id, _SUCCEEDED)
        return payment, capture.id

    def _void(self, account: str, op: Void, now: float) -> Done:
        payment = self._payment(account, op.ref)
        if payment.status not in self._policy.voidable:
            raise _refuse(ErrorCode.INVALID_STATE, f"a {payment.status} payment cannot be voided", payment=payment)
        delay = self._policy.void_delay
        void = VoidRecord(
            id=self._part_id(IdKind.VOID, payment.id),
            status=_PENDING if delay is not None else _SUCCEEDED,
            created_at=now,
            reason=op.reason,
            reference=op.reference,
        )
        # Voiding after a partial capture keeps what was captured and releases the rest.
        status = PaymentState.CAPTURED if payment.captured else PaymentState.VOIDED
        payment = replace(payment, status=status, void=void)
        self._save(payment, EventType.VOIDED, void.id)
        if delay is None:
            self._save(payment, EventType.VOID_SETTLED, void.id)
        else:
            self._schedule(delay, payment.id, void.id, _SUCCEEDED)
        return Done(payment, subject=void.id)

    def _refund(self, account: str, op: Refund, now: float) -> Done:
        payment = self._payment(account, op.ref)
        attempt = next((a for a in payment.attempts if a.id == op.ref), None)
        if payment.status not in _REFUNDABLE or (attempt is not None and attempt.status is not _SUCCEEDED):
            raise _refuse(ErrorCode.INVALID_STATE, "nothing of this payment was captured", payment=payment)
        _check_currency(payment, op.currency)
        available = payment.refundable
        # A refund addressed to a capture (PayPal's /captures/{id}/refund) is a refund of that capture.
        capture_id = op.capture_id or (op.ref if payment.capture(op.ref) else None)
        if capture_id is not None:
            capture = payment.capture(capture_id)
            if capture is None or capture.status is _FAILED:
                raise _refuse(ErrorCode.NOT_FOUND, "no such capture of this payment", payment=payment)
            of_capture = sum(r.amount for r in payment.refunds if r.capture_id == capture.id and r.status != _FAILED)
            available = min(available, capture.amount - of_capture)
        amount = self._within(op.amount, available, payment)
        settlement = self._rules.refund_amounts.get(amount, Settlement.SUCCEEDS)
        delay = self._policy.refund_delay
        outcome = _FAILED if settlement is Settlement.FAILS else _SUCCEEDED
        settles_now = delay is None and settlement is not Settlement.STAYS_PENDING
        refund = RefundRecord(
            id=self._part_id(IdKind.REFUND, payment.id),
            amount=amount,
            status=outcome if settles_now else _PENDING,
            created_at=now,
            capture_id=capture_id,
            reason=op.reason,
            reference=op.reference,
            metadata=dict(op.metadata),
        )
        payment = replace(payment, refunds=(*payment.refunds, refund))
        self._save(payment, EventType.REFUNDED, refund.id)
        if settles_now:
            self._save(payment, _REFUND_EVENTS[outcome], refund.id)
        elif delay is not None and settlement is not Settlement.STAYS_PENDING:
            self._schedule(delay, payment.id, refund.id, outcome)
        return Done(payment, subject=refund.id)

    def _settle(self, due: _Due) -> None:
        payment = self._payments.get(due.payment_id)
        if payment is None:  # forgotten by the bounded store meanwhile
            return
        if (capture := payment.capture(due.subject)) is not None:
            settled = replace(capture, status=due.outcome)
            payment = replace(payment, captures=tuple(settled if c is capture else c for c in payment.captures))
            self._save(payment, EventType.CAPTURE_SETTLED, capture.id)
        elif (refund := payment.refund(due.subject)) is not None:
            settled_refund = replace(refund, status=due.outcome)
            payment = replace(payment, refunds=tuple(settled_refund if r is refund else r for r in payment.refunds))
            self._save(payment, _REFUND_EVENTS[due.outcome], refund.id)
        elif payment.void is not None and payment.void.id == due.subject:
            payment = replace(payment, void=replace(payment.void, status=due.outcome))
            self._save(payment, EventType.VOID_SETTLED, due.subject)

    # -- changes, keyed objects, lists ----------------------------------------------------------

    def _update(self, account: str, op: UpdatePayment, now: float) -> PaymentRecord:
        payment = self._payment(account, op.ref)
        if payment.status not in _ATTEMPTABLE and (op.amount, op.currency, op.capture, op.pay_with) != (None,) * 4:
            message = f"the amount, currency, capture mode or card of a {payment.status} payment cannot change"
            raise _refuse(ErrorCode.INVALID_STATE, message, payment=payment)
        if op.amount is not None:
            _check_amount(op.amount, "amount", minimum=0)
        if op.currency is not None and not _CURRENCY.fullmatch(op.currency):
            raise _invalid("currency", "the currency is not three upper-case letters")
        amount, currency = op.amount if op.amount is not None else payment.amount, op.currency or payment.currency
        self._check_step(amount, currency)
        payment = replace(
            payment,
            amount=amount,
            currency=currency,
            capture_mode=op.capture or payment.capture_mode,
            card=self._pay_with(account, op.pay_with, now) if op.pay_with is not None else payment.card,
            description=payment.description if op.description is None else op.description,
            metadata=_merged(payment.metadata, op.metadata),
            extra={**payment.extra, **op.extra},
        )
        self._save(payment)
        return payment

    def _update_card(self, account: str, op: UpdateCard) -> StoredCard:
        card = self._card(account, op.card_id, "card_id")
        if any(card.extra.get(key) != value for key, value in op.expect.items()):
            raise _refuse(ErrorCode.INVALID_STATE, "the card is not as expected for this change")
        card = replace(card, extra=_merged(card.extra, op.patch))
        self._cards.put(card.id, card)
        return card

    def _put_object(self, account: str, op: PutObject, now: float) -> ObjectRecord:
        if op.ref is None:
            obj = ObjectRecord(self._fresh_id(op.kind), op.kind, account, now)
        else:
            obj = self._object(account, op.kind, op.ref)
            if op.states is not None and obj.status not in op.states:
                raise _refuse(ErrorCode.INVALID_STATE, f"a {op.kind} that is {obj.status} cannot change so", obj=obj)
        if op.check and op.card is None and obj.card is None:
            raise _invalid("card", f"the {op.kind} has no card to check")
        card = self._pay_with(account, op.card, now) if op.card is not None else obj.card
        obj = replace(obj, fields=_merged(obj.fields, op.patch), status=op.status or obj.status, card=card)
        if op.check and card is not None:
            obj = self._check(obj, card, op.attach, now)
        self._objects.put(obj.id, obj)
        return obj

    def _check(self, obj: ObjectRecord, card: StoredCard, attach: str | None, now: float) -> ObjectRecord:
        """A zero-amount authorization with no shopper present: a card that asks for 3-D Secure is declined."""
        rule = self._rule(card, 0)
        decline = self._decline_for(card, rule, now) or (DeclineCode.AUTHENTICATION_REQUIRED if rule.three_ds else None)
        if decline is None and attach is not None and obj.fields.get(attach) is not None:
            card = replace(card, extra=_merged(card.extra, {attach: obj.fields[attach]}))
            self._cards.put(card.id, card)
        return replace(obj, card=card, status=_FAILED if decline else _SUCCEEDED, decline=decline)

    def _records(self, account: str, kind: str) -> tuple[Any, ...]:
        store: BoundedStore[str, Any] = {"payment": self._payments, "card": self._cards}.get(kind, self._objects)
        return tuple(r for r in store.newest_first() if r.account == account and getattr(r, "kind", kind) == kind)


_OK = AuthenticationResult.SUCCEEDED
_REFUND_EVENTS = {_SUCCEEDED: EventType.REFUND_SETTLED, _FAILED: EventType.REFUND_FAILED}


def _check_amount(amount: object, field: str, *, minimum: int) -> None:
    # bool is an int in Python, never an amount.
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < minimum:
        raise _invalid(field, f"the amount is not an integer of at least {minimum} minor units")


def _check_currency(payment: PaymentRecord, currency: str | None) -> None:
    if currency is not None and currency != payment.currency:
        raise _refuse(ErrorCode.CURRENCY_MISMATCH, f"the payment is in {payment.currency}", payment=payment)


def _merged(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``target`` with a JSON merge patch (RFC 7396) applied: objects merge, None removes, the rest replaces."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping):
            current = merged.get(key)
            merged[key] = _merged(current if isinstance(current, Mapping) else {}, value)
        else:
            merged[key] = value
    return merged
