"""The sandbox engine: its ledger and state machine directly, then TinyPay (a codec written on the kit
alone) through SimulatedGateway and over real HTTP, then hypothesis state machines on the ledger."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from tinypay_codec import RULES, TinyPayCodec

from connectors.kit.sandbox import (
    BASE_TEST_CARDS,
    SLOW_TEST_CARD,
    SLOW_TEST_SECONDS,
    Attempt,
    Authenticate,
    AuthenticationResult,
    Call,
    Capture,
    CaptureMode,
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
    GetPayment,
    IdempotencyKey,
    IdKind,
    Operation,
    OperationState,
    PaymentRecord,
    PaymentState,
    Refund,
    Refusal,
    Reply,
    SandboxPolicy,
    SandboxRules,
    Settlement,
    ThreeDSMode,
    ThreeDSRule,
    Tokenize,
    Void,
)
from sidecar.sandbox.engine import Engine
from sidecar.sandbox.gateway import SimulatedGateway
from sidecar.sandbox.server import serve

# "June 2030", so that expiry rules do not depend on the day the suite runs.
FIXED_NOW = datetime(2030, 6, 15, tzinfo=UTC).timestamp()
ACCOUNT = "acct"
VISA, VISA_2, DECLINES = "4242424242424242", "4111111111111111", "4000000000000002"
MASTERCARD = "5555555555554444"


class Clock:
    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self) -> float:
        return self.now


def counting_ids() -> Callable[[IdKind], str]:
    counter = itertools.count(1)
    return lambda kind: f"{kind}_{next(counter)}"


def make_engine(
    policy: SandboxPolicy | None = None,
    rules: SandboxRules | None = None,
    clock: Clock | None = None,
    on_event: Callable[[Event], None] | None = None,
    max_objects: int = 1000,
) -> Engine:
    return Engine(
        rules or SandboxRules(),
        policy or SandboxPolicy(),
        counting_ids(),
        clock=clock or Clock(),
        on_event=on_event,
        max_objects=max_objects,
    )


def card(number: str = VISA, holder: str | None = None, month: int = 12, year: int = 2034) -> CardInput:
    return CardInput(number, month, year, cvc="123", holder_name=holder)


def run(engine: Engine, op: Operation, key: str | None = None, body: Any = None, account: str = ACCOUNT) -> Reply:
    idempotency = IdempotencyKey(key, type(op).__name__, body if body is not None else repr(op)) if key else None
    return engine.execute(Call(account, op, idempotency))


def done(reply: Reply) -> Done:
    assert isinstance(reply.result, Done), reply.result
    return reply.result


def payment_of(reply: Reply) -> PaymentRecord:
    payment = done(reply).payment
    assert payment is not None
    return payment


def refusal(reply: Reply, code: ErrorCode) -> Refusal:
    assert isinstance(reply.result, Refusal), reply.result
    assert reply.result.code is code, reply.result
    return reply.result


def authorize(engine: Engine, amount: int = 1000, number: str = VISA, **extra: Any) -> PaymentRecord:
    op = CreatePayment(amount, "EUR", capture=CaptureMode.MANUAL, pay_with=card(number), **extra)
    return payment_of(run(engine, op))


def get(engine: Engine, ref: str) -> PaymentRecord:
    return payment_of(run(engine, GetPayment(ref)))


# --- test cards ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rules", [SandboxRules(), RULES], ids=["no additions", "tinypay additions"])
@pytest.mark.parametrize("policy", [SandboxPolicy(), SandboxPolicy(decline_before_authentication=False)])
def test_every_sandbox_has_the_shared_test_cards(rules: SandboxRules, policy: SandboxPolicy) -> None:
    engine = make_engine(policy, rules)
    for number in (VISA, VISA_2):
        assert authorize(engine, number=number).status is PaymentState.AUTHORIZED
    declined = authorize(engine, number=DECLINES)
    assert (declined.status, declined.decline) == (PaymentState.DECLINED, DeclineCode.GENERIC_DECLINE)
    slow = run(engine, CreatePayment(100, "EUR", pay_with=card(SLOW_TEST_CARD)))
    assert (payment_of(slow).status, slow.delay) == (PaymentState.CAPTURED, SLOW_TEST_SECONDS)


def test_a_gateway_may_not_redefine_the_shared_cards() -> None:
    with pytest.raises(ValueError, match="0002"):
        make_engine(rules=SandboxRules(cards={DECLINES: CardRule()}))
    assert set(BASE_TEST_CARDS) == {VISA, VISA_2, DECLINES, SLOW_TEST_CARD}


def test_rules_apply_in_order_expiry_card_holder_amount() -> None:
    rules = SandboxRules(
        cards={MASTERCARD: CardRule(decline="lost_card")},
        holder_names={"DECLINED": CardRule(decline="refused")},
        amounts={12345: CardRule(decline="amount_rule")},
    )
    engine = make_engine(rules=rules)

    def attempt(number: str = VISA, holder: str | None = None, amount: int = 1000, month: int = 12) -> str | None:
        op = CreatePayment(amount, "EUR", pay_with=card(number, holder, month=month, year=2030))
        return payment_of(run(engine, op)).decline

    assert attempt(MASTERCARD, " declined ", 12345, month=5) == DeclineCode.EXPIRED_CARD  # May 2030 is past
    assert attempt(MASTERCARD, "DECLINED", 12345) == "lost_card"
    # A shared approving card is no rule of its own: the holder name and the amount still decline it.
    assert attempt(VISA_2, " declined ", 12345) == "refused"
    assert attempt(VISA_2, "Jane Roe", 12345) == "amount_rule"
    assert attempt(VISA_2, "Jane Roe", 1000) is None


def test_a_stored_card_keeps_no_number_or_cvc() -> None:
    engine = make_engine()
    number = "4000056655665556"
    stored = done(run(engine, Tokenize(CardInput(number, 3, 2031, cvc="737", holder_name="J")))).card
    assert stored is not None and (stored.brand, stored.last4, stored.cvc_given) == ("visa", "5556", True)
    assert done(run(engine, GetCard(stored.id))).card == stored
    payment = payment_of(run(engine, CreatePayment(500, "EUR", pay_with=stored.id)))
    assert payment.card == stored and payment.status is PaymentState.CAPTURED
    assert number not in repr(stored) + repr(payment)
    shown = repr(CardInput(number, 3, 2031, cvc="737"))
    assert number not in shown and "737" not in shown


@pytest.mark.parametrize(
    ("op", "field"),
    [
        (Tokenize(card("4242424242424241")), "number"),
        (Tokenize(card(month=13)), "exp_month"),
        (Tokenize(CardInput(VISA, 1, 30)), "exp_year"),
        (Tokenize(CardInput(VISA, 1, 2031, cvc="12a")), "cvc"),
        (CreatePayment(-1, "EUR", pay_with=card()), "amount"),
        (CreatePayment(True, "EUR", pay_with=card()), "amount"),  # type: ignore[arg-type]
        (CreatePayment(100, "eur", pay_with=card()), "currency"),
        (CreatePayment(100, "EUR"), "pay_with"),
    ],
)
def test_values_no_gateway_takes_are_refused_and_change_nothing(op: Operation, field: str) -> None:
    events: list[Event] = []
    engine = make_engine(on_event=events.append)
    found = refusal(run(engine, op, key="k"), ErrorCode.INVALID_ARGUMENT)
    assert found.field == field and VISA not in found.message
    assert events == []


# --- authorization, capture, void ----------------------------------------------------------------


def test_manual_capture_in_several_parts_then_a_final_one_releases_the_rest() -> None:
    engine = make_engine()
    payment = authorize(engine)
    assert (payment.status, payment.authorized, payment.capturable) == (PaymentState.AUTHORIZED, 1000, 1000)
    first = payment_of(run(engine, Capture(payment.id, 300, "EUR", final=False)))
    assert (first.status, first.captured, first.capturable) == (PaymentState.PARTIALLY_CAPTURED, 300, 700)
    second = run(engine, Capture(payment.id, 200, final=True))
    closed = payment_of(second)
    assert (closed.status, closed.captured, closed.capturable, closed.released) == (PaymentState.CAPTURED, 500, 0, 500)
    assert closed.capture(done(second).subject or "") == closed.captures[-1]
    refusal(run(engine, Capture(payment.id, 1)), ErrorCode.INVALID_STATE)


def test_a_capture_never_exceeds_what_is_capturable() -> None:
    engine = make_engine()
    payment = authorize(engine)
    run(engine, Capture(payment.id, 600, final=False))
    over = refusal(run(engine, Capture(payment.id, 401, final=False)), ErrorCode.AMOUNT_EXCEEDS)
    assert over.available == 400 and over.payment == get(engine, payment.id)
    refusal(run(engine, Capture(payment.id, 100, "USD")), ErrorCode.CURRENCY_MISMATCH)
    refusal(run(engine, Capture(payment.id, 0)), ErrorCode.INVALID_ARGUMENT)
    rest = payment_of(run(engine, Capture(payment.id, final=False)))  # no amount: all that is left
    assert (rest.status, rest.captured) == (PaymentState.CAPTURED, 1000)


def test_automatic_capture_and_its_events() -> None:
    events: list[Event] = []
    engine = make_engine(on_event=events.append)
    payment = payment_of(run(engine, CreatePayment(700, "EUR", pay_with=card())))
    (capture,) = payment.captures
    assert (payment.status, capture.amount, capture.automatic, capture.status) == (
        PaymentState.CAPTURED,
        700,
        True,
        OperationState.SUCCEEDED,
    )
    assert [e.type for e in events] == [EventType.AUTHORIZED, EventType.CAPTURED, EventType.CAPTURE_SETTLED]
    assert events[-1].payment == payment and events[1].subject == capture.id
    zero = payment_of(run(engine, CreatePayment(0, "EUR", pay_with=card())))
    assert (zero.status, zero.captures, zero.capturable) == (PaymentState.CAPTURED, (), 0)


def test_void_by_default_only_an_open_payment() -> None:
    engine = make_engine()
    payment = authorize(engine)
    voided = payment_of(run(engine, Void(payment.id, reason="duplicate")))
    assert (voided.status, voided.released, voided.void and voided.void.reason) == (
        PaymentState.VOIDED,
        1000,
        "duplicate",
    )
    refusal(run(engine, Void(payment.id)), ErrorCode.INVALID_STATE)
    refusal(run(engine, Capture(payment.id)), ErrorCode.INVALID_STATE)
    refusal(run(engine, Void(authorize(engine, number=DECLINES).id)), ErrorCode.INVALID_STATE)

    partly = authorize(engine)
    run(engine, Capture(partly.id, 250, final=False))
    closed = payment_of(run(engine, Void(partly.id)))
    assert (closed.status, closed.captured, closed.released, closed.refundable) == (
        PaymentState.CAPTURED,
        250,
        750,
        250,
    )


def test_a_policy_can_void_before_authorization() -> None:
    before = frozenset({PaymentState.CREATED, PaymentState.DECLINED, PaymentState.AUTHENTICATION_PENDING})
    engine = make_engine(SandboxPolicy(voidable=before | {PaymentState.AUTHORIZED}))
    created = payment_of(run(engine, CreatePayment(100, "EUR", confirm=False)))
    pending = authorize(engine, three_ds=ThreeDSMode.REQUIRED)
    for payment in (created, pending, authorize(engine, number=DECLINES)):
        assert payment_of(run(engine, Void(payment.id))).status is PaymentState.VOIDED
    refusal(run(engine, Authenticate(pending.id, AuthenticationResult.SUCCEEDED)), ErrorCode.INVALID_STATE)


def test_attempts_after_a_decline_until_one_is_authorized() -> None:
    engine = make_engine()
    created = payment_of(run(engine, CreatePayment(900, "EUR", pay_with=card(DECLINES), confirm=False)))
    assert (created.status, created.attempts) == (PaymentState.CREATED, ())
    declined = payment_of(run(engine, Attempt(created.id)))
    assert declined.status is PaymentState.DECLINED
    retried = run(engine, Attempt(created.id, pay_with=card(VISA_2), capture=CaptureMode.MANUAL, extra={"k": "v"}))
    payment = payment_of(retried)
    first, second = payment.attempts
    assert (first.status, first.decline, second.status) == (OperationState.FAILED, "generic_decline", "succeeded")
    assert done(retried).subject == second.id and payment.card == second.card and payment.card.last4 == "1111"
    assert (payment.status, payment.extra, payment.decline) == (PaymentState.AUTHORIZED, {"k": "v"}, None)
    assert second.network_transaction_id and len(second.network_transaction_id) == 15
    refusal(run(engine, Attempt(created.id)), ErrorCode.INVALID_STATE)
    assert get(engine, first.id) == payment  # any id of a payment's parts finds it


# --- 3-D Secure ----------------------------------------------------------------------------------

FINGERPRINT_THEN_CHALLENGE = "4000000000003220"
FRICTIONLESS_FAILS = "4000000000003238"
ALWAYS_FAILS = "4000000000003246"
THREE_DS_RULES = SandboxRules(
    cards={
        FINGERPRINT_THEN_CHALLENGE: CardRule(three_ds=ThreeDSRule(("fingerprint", "challenge"))),
        FRICTIONLESS_FAILS: CardRule(three_ds=ThreeDSRule((), AuthenticationResult.FAILED)),
        ALWAYS_FAILS: CardRule(three_ds=ThreeDSRule(("challenge",), AuthenticationResult.FAILED)),
    }
)


def test_authentication_steps_in_order_then_authorization() -> None:
    events: list[Event] = []
    engine = make_engine(rules=THREE_DS_RULES, on_event=events.append)
    pending = authorize(engine, number=FINGERPRINT_THEN_CHALLENGE)
    assert pending.status is PaymentState.AUTHENTICATION_PENDING and pending.three_ds is not None
    assert pending.three_ds.current == "fingerprint"
    refusal(run(engine, Capture(pending.id)), ErrorCode.INVALID_STATE)
    wrong = run(engine, Authenticate(pending.id, AuthenticationResult.SUCCEEDED, step="challenge"))
    assert refusal(wrong, ErrorCode.INVALID_STATE).message == "the current step is fingerprint"
    fingerprinted = payment_of(run(engine, Authenticate(pending.id, AuthenticationResult.SUCCEEDED, "fingerprint")))
    assert fingerprinted.three_ds and fingerprinted.three_ds.current == "challenge"
    final = payment_of(run(engine, Authenticate(pending.id, AuthenticationResult.SUCCEEDED, "challenge")))
    assert final.status is PaymentState.AUTHORIZED and final.three_ds and final.three_ds.result == "succeeded"
    assert [e.type for e in events] == [EventType.AUTHENTICATION_PENDING, EventType.AUTHORIZED]


@pytest.mark.parametrize(
    ("number", "mode", "answer", "status", "decline"),
    [
        (VISA, ThreeDSMode.REQUIRED, AuthenticationResult.SUCCEEDED, PaymentState.AUTHORIZED, None),
        (VISA, ThreeDSMode.REQUIRED, AuthenticationResult.FAILED, PaymentState.DECLINED, "authentication_failed"),
        (VISA, ThreeDSMode.REQUIRED, AuthenticationResult.ABANDONED, PaymentState.DECLINED, "authentication_abandoned"),
        (
            "4000000000003246",
            ThreeDSMode.AUTO,
            AuthenticationResult.SUCCEEDED,
            PaymentState.DECLINED,
            "authentication_failed",
        ),
    ],
)
def test_the_shoppers_answer_or_the_cards_forced_result_concludes(
    number: str, mode: ThreeDSMode, answer: AuthenticationResult, status: PaymentState, decline: str | None
) -> None:
    engine = make_engine(rules=THREE_DS_RULES)
    pending = authorize(engine, number=number, three_ds=mode)
    assert pending.three_ds and pending.three_ds.current == "challenge"
    concluded = payment_of(run(engine, Authenticate(pending.id, answer)))
    assert (concluded.status, concluded.decline) == (status, decline)


def test_frictionless_off_session_and_cards_that_ask_for_nothing() -> None:
    engine = make_engine(rules=THREE_DS_RULES)
    assert authorize(engine, number=FRICTIONLESS_FAILS).decline == DeclineCode.AUTHENTICATION_FAILED
    off_session = authorize(engine, number=FINGERPRINT_THEN_CHALLENGE, three_ds=ThreeDSMode.UNAVAILABLE)
    assert off_session.decline == DeclineCode.AUTHENTICATION_REQUIRED
    assert authorize(engine, three_ds=ThreeDSMode.UNAVAILABLE).status is PaymentState.AUTHORIZED


@pytest.mark.parametrize(("first", "status"), [(True, PaymentState.DECLINED), (False, "authentication_pending")])
def test_a_declining_card_is_authenticated_first_only_where_the_policy_says(first: bool, status: str) -> None:
    engine = make_engine(SandboxPolicy(decline_before_authentication=first))
    payment = authorize(engine, number=DECLINES, three_ds=ThreeDSMode.REQUIRED)
    assert payment.status == status
    if not first:
        after = payment_of(run(engine, Authenticate(payment.id, AuthenticationResult.SUCCEEDED)))
        assert after.decline == DeclineCode.GENERIC_DECLINE


def test_authentication_finished_later_by_a_one_time_token() -> None:
    engine = make_engine()
    pending = authorize(engine, three_ds=ThreeDSMode.REQUIRED)
    refusal(run(engine, FinishAuthentication(pending.id)), ErrorCode.INVALID_STATE)  # the shopper is not done
    answered = run(engine, Authenticate(pending.id, AuthenticationResult.SUCCEEDED, finish=False))
    token = done(answered).subject
    waiting = payment_of(answered)
    assert token and waiting.status is PaymentState.AUTHENTICATION_PENDING
    assert waiting.three_ds is not None and waiting.three_ds.token == token
    refusal(run(engine, Authenticate(pending.id, AuthenticationResult.FAILED)), ErrorCode.INVALID_STATE)
    finished = payment_of(run(engine, FinishAuthentication(token)))
    assert finished.status is PaymentState.AUTHORIZED and finished.id == pending.id
    again = refusal(run(engine, FinishAuthentication(token)), ErrorCode.INVALID_STATE)
    assert again.payment == finished  # a codec can answer a second completion with the payment


def test_each_step_waits_under_an_id_of_its_own_that_names_the_payment() -> None:
    engine = make_engine(rules=THREE_DS_RULES)
    pending = authorize(engine, number=FINGERPRINT_THEN_CHALLENGE)
    first = pending.three_ds.action if pending.three_ds else None
    assert first and get(engine, first).id == pending.id
    moved = payment_of(run(engine, Authenticate(first, AuthenticationResult.SUCCEEDED, "fingerprint")))
    second = moved.three_ds.action if moved.three_ds else None
    assert second and second != first and get(engine, second).id == pending.id
    stale = run(engine, Authenticate(first, AuthenticationResult.SUCCEEDED, "fingerprint"))
    assert refusal(stale, ErrorCode.INVALID_STATE).payment == moved  # an answer to a step passed changes nothing


@pytest.mark.parametrize(
    ("answer", "status"),
    [(AuthenticationResult.SUCCEEDED, "waits"), (AuthenticationResult.FAILED, PaymentState.DECLINED)],
)
def test_a_payment_confirmed_after_authentication_waits_only_after_success(answer, status) -> None:
    engine = make_engine()
    pending = authorize(engine, three_ds=ThreeDSMode.REQUIRED, confirm_after_authentication=True)
    refusal(run(engine, Attempt(pending.id)), ErrorCode.INVALID_STATE)  # the shopper is not done
    answered = payment_of(run(engine, Authenticate(pending.id, answer)))
    if status != "waits":  # nothing to confirm
        assert (answered.status, answered.decline) == (status, DeclineCode.AUTHENTICATION_FAILED)
        return
    assert answered.status is PaymentState.AUTHENTICATION_PENDING and answered.three_ds and answered.three_ds.token
    confirmed = payment_of(run(engine, Attempt(pending.id)))
    assert confirmed.status is PaymentState.AUTHORIZED
    refusal(run(engine, Attempt(pending.id)), ErrorCode.INVALID_STATE)


def test_a_card_that_authenticates_then_declines_does_so_after_authentication_whatever_the_policy() -> None:
    number = "4000008400001629"
    rules = SandboxRules(cards={number: CardRule(decline="card_declined", three_ds=ThreeDSRule())})
    engine = make_engine(SandboxPolicy(decline_before_authentication=True), rules)
    pending = authorize(engine, number=number)
    assert pending.status is PaymentState.AUTHENTICATION_PENDING
    after = payment_of(run(engine, Authenticate(pending.id, AuthenticationResult.SUCCEEDED)))
    assert after.decline == "card_declined"


# --- refunds and settlement ----------------------------------------------------------------------


def test_refunds_never_exceed_what_was_captured_in_total_or_per_capture() -> None:
    engine = make_engine()
    payment = authorize(engine)
    refusal(run(engine, Refund(payment.id, 1)), ErrorCode.INVALID_STATE)  # nothing captured yet
    first = done(run(engine, Capture(payment.id, 600, final=False))).subject
    second = done(run(engine, Capture(payment.id, 300, final=False))).subject
    assert first and second
    over = refusal(run(engine, Refund(payment.id, 901)), ErrorCode.AMOUNT_EXCEEDS)
    assert over.available == 900
    refusal(run(engine, Refund(payment.id, 301, capture_id=second)), ErrorCode.AMOUNT_EXCEEDS)
    refusal(run(engine, Refund(payment.id, 1, capture_id="capture_404")), ErrorCode.NOT_FOUND)
    refusal(run(engine, Refund(payment.id, 1, currency="USD")), ErrorCode.CURRENCY_MISMATCH)
    by_capture = run(engine, Refund(second, 200))  # addressed to the capture: a refund of that capture
    refund = payment_of(by_capture).refund(done(by_capture).subject or "")
    assert refund is not None and (refund.capture_id, refund.amount) == (second, 200)
    assert (
        refusal(run(engine, Refund(payment.id, capture_id=second, amount=101)), ErrorCode.AMOUNT_EXCEEDS).available
        == 100
    )
    rest = payment_of(run(engine, Refund(payment.id)))  # no amount: all that is left
    assert (rest.refunded, rest.refundable) == (900, 0)
    assert refusal(run(engine, Refund(payment.id)), ErrorCode.AMOUNT_EXCEEDS).available == 0


def test_a_failed_attempt_is_not_refundable_by_its_id() -> None:
    engine = make_engine()
    created = payment_of(run(engine, CreatePayment(500, "EUR", pay_with=card(DECLINES))))
    failed = created.attempts[0].id
    payment_of(run(engine, Attempt(created.id, pay_with=card())))
    refusal(run(engine, Refund(failed)), ErrorCode.INVALID_STATE)
    good = get(engine, created.id).attempts[-1].id
    assert payment_of(run(engine, Refund(good, 100))).refunded == 100


def test_deferred_settlement_waits_for_the_clock_and_reports_each_change() -> None:
    clock, events = Clock(), []
    policy = SandboxPolicy(capture_delay=5.0, void_delay=1.0, refund_delay=10.0)
    rules = SandboxRules(refund_amounts={13: Settlement.FAILS, 14: Settlement.STAYS_PENDING})
    engine = make_engine(policy, rules, clock, events.append)
    payment = authorize(engine)
    assert engine.next_settlement() is None
    capture_id = done(run(engine, Capture(payment.id, 100, final=False))).subject
    void_id = done(run(engine, Void(payment.id))).subject
    assert engine.next_settlement() == FIXED_NOW + 1.0
    refunds = [done(run(engine, Refund(payment.id, amount))).subject for amount in (50, 13, 14)]
    pending = get(engine, payment.id)
    assert [c.status for c in pending.captures] == ["pending"] and pending.void and pending.void.status == "pending"
    assert pending.refundable == 100 - 77  # pending refunds count at once

    clock.now = FIXED_NOW + 4.9
    engine.settle_due()
    early = get(engine, payment.id)
    assert early.captures[0].status == "pending" and early.void and early.void.status == "succeeded"
    assert engine.next_settlement() == FIXED_NOW + 5.0
    clock.now = FIXED_NOW + 5.0
    engine.settle_due()
    assert get(engine, payment.id).captures[0].status == "succeeded"
    clock.now = FIXED_NOW + 10.0
    engine.settle_due()
    final = get(engine, payment.id)
    assert [r.status for r in final.refunds] == ["succeeded", "failed", "pending"]
    assert [r.id for r in final.refunds] == refunds
    assert (final.refunded, final.refundable) == (64, 36)  # the failed refund's 13 is refundable again
    assert engine.next_settlement() is None
    assert [(e.type, e.subject) for e in events[-4:]] == [
        (EventType.VOID_SETTLED, void_id),
        (EventType.CAPTURE_SETTLED, capture_id),
        (EventType.REFUND_SETTLED, refunds[0]),
        (EventType.REFUND_FAILED, refunds[1]),
    ]


def test_sync_settlement_and_a_refund_that_stays_pending() -> None:
    engine = make_engine(rules=SandboxRules(refund_amounts={1337: Settlement.STAYS_PENDING, 7: Settlement.FAILS}))
    payment = payment_of(run(engine, CreatePayment(5000, "EUR", pay_with=card())))
    statuses = [payment_of(run(engine, Refund(payment.id, amount))).refunds[-1].status for amount in (1337, 7, 100)]
    assert statuses == ["pending", "failed", "succeeded"]
    assert engine.next_settlement() is None


def test_events_arrive_after_the_engine_is_unlocked() -> None:
    seen: list[PaymentState] = []
    engine: Engine

    def on_event(event: Event) -> None:
        # A hook that reads the ledger back (as a webhook sender would) must not deadlock.
        seen.append(get(engine, event.payment.id).status)

    engine = make_engine(on_event=on_event)
    authorize(engine)
    assert seen == [PaymentState.AUTHORIZED]


# --- idempotency and accounts --------------------------------------------------------------------


def test_an_idempotent_replay_is_the_first_answer_and_changes_nothing() -> None:
    engine = make_engine()
    payment = authorize(engine)
    first = run(engine, Capture(payment.id, 400, final=False), key="cap-1")
    run(engine, Capture(payment.id, 100, final=False))
    before = get(engine, payment.id)
    replay = run(engine, Capture(payment.id, 400, final=False), key="cap-1")
    assert replay.replayed and not first.replayed and replay.result == first.result
    assert get(engine, payment.id) == before and before.captured == 500


def test_an_idempotency_key_with_another_request_conflicts() -> None:
    engine = make_engine()
    payment = authorize(engine)
    run(engine, Capture(payment.id, 400, final=False), key="k", body={"amount": 400})
    other_body = run(engine, Capture(payment.id, 300, final=False), key="k", body={"amount": 300})
    assert refusal(other_body, ErrorCode.IDEMPOTENCY_CONFLICT).first_scope == "Capture"
    other_scope = run(engine, Refund(payment.id, 400), key="k", body={"amount": 400})
    refusal(other_scope, ErrorCode.IDEMPOTENCY_CONFLICT)
    assert get(engine, payment.id).captured == 400 and get(engine, payment.id).refunded == 0
    # Keys are per account: the same key elsewhere is a new request.
    elsewhere = CreatePayment(100, "EUR", pay_with=card())
    assert payment_of(run(engine, elsewhere, key="k", body={"amount": 400}, account="other")).account == "other"


def test_a_refused_request_leaves_its_key_free_for_a_corrected_retry() -> None:
    engine = make_engine()
    payment = authorize(engine)
    refusal(run(engine, Capture(payment.id, 5000), key="k", body="same"), ErrorCode.AMOUNT_EXCEEDS)
    assert payment_of(run(engine, Capture(payment.id, 500), key="k", body="same")).captured == 500


def test_the_shared_slow_card_holds_its_key_in_progress_until_the_answer_is_due() -> None:
    clock = Clock()
    engine = make_engine(clock=clock)
    op = CreatePayment(100, "EUR", pay_with=card(SLOW_TEST_CARD))
    first = run(engine, op, key="slow", body="b")
    assert first.delay == SLOW_TEST_SECONDS == 3.0 and payment_of(first).status is PaymentState.CAPTURED
    clock.now = FIXED_NOW + 2.9
    refusal(run(engine, op, key="slow", body="b"), ErrorCode.IDEMPOTENCY_IN_PROGRESS)
    refusal(run(engine, op, key="slow", body="other"), ErrorCode.IDEMPOTENCY_IN_PROGRESS)  # whatever it carries
    clock.now = FIXED_NOW + 3.0
    refusal(run(engine, op, key="slow", body="other"), ErrorCode.IDEMPOTENCY_CONFLICT)
    replay = run(engine, op, key="slow", body="b")
    assert replay.replayed and replay.result == first.result and replay.delay == 0


def test_accounts_see_only_their_own_payments_and_cards() -> None:
    engine = make_engine()
    payment = authorize(engine)
    stored = done(run(engine, Tokenize(card()))).card
    assert stored is not None
    for op in (GetPayment(payment.id), Capture(payment.id), Void(payment.id), GetCard(stored.id)):
        refusal(run(engine, op, account="intruder"), ErrorCode.NOT_FOUND)
    refusal(run(engine, CreatePayment(1, "EUR", pay_with=stored.id), account="intruder"), ErrorCode.NOT_FOUND)
    assert get(engine, payment.id).status is PaymentState.AUTHORIZED


def test_the_ledger_is_bounded() -> None:
    engine = make_engine(max_objects=3)
    ids = [authorize(engine).id for _ in range(5)]
    refusal(run(engine, GetPayment(ids[0])), ErrorCode.NOT_FOUND)
    assert get(engine, ids[-1]).status is PaymentState.AUTHORIZED


def test_a_gateways_amount_steps_hold_for_payments_captures_and_refunds() -> None:
    engine = make_engine(SandboxPolicy(amount_steps={"KWD": 10}))
    refused = refusal(run(engine, CreatePayment(1005, "KWD", pay_with=card())), ErrorCode.INVALID_ARGUMENT)
    assert (refused.field, refused.payment) == ("amount", None)
    payment = payment_of(run(engine, CreatePayment(2000, "KWD", CaptureMode.MANUAL, card())))
    assert refusal(run(engine, Capture(payment.id, 1005)), ErrorCode.INVALID_ARGUMENT).payment == payment
    payment_of(run(engine, Capture(payment.id, 1010)))
    refusal(run(engine, Refund(payment.id, 15)), ErrorCode.INVALID_ARGUMENT)
    assert payment_of(run(engine, Refund(payment.id, 10))).refunded == 10
    assert payment_of(run(engine, CreatePayment(1005, "EUR", pay_with=card()))).amount == 1005  # other currencies


def test_what_was_not_found_is_named() -> None:
    engine = make_engine()
    assert refusal(run(engine, GetPayment("nope")), ErrorCode.NOT_FOUND).field == "ref"
    assert refusal(run(engine, CreatePayment(1, "EUR", pay_with="card_nope")), ErrorCode.NOT_FOUND).field == "pay_with"
    assert refusal(run(engine, GetCard("card_nope")), ErrorCode.NOT_FOUND).field == "card_id"


def test_a_declined_card_is_not_tried_again_unless_named_and_3ds_holds_across_attempts() -> None:
    engine = make_engine()
    created = payment_of(run(engine, CreatePayment(900, "EUR", three_ds=ThreeDSMode.REQUIRED, confirm=False)))
    declined = payment_of(run(engine, Attempt(created.id, pay_with=card(DECLINES))))
    assert (declined.card, declined.attempts[-1].card.last4) == (None, "0002")
    assert refusal(run(engine, Attempt(created.id)), ErrorCode.INVALID_ARGUMENT).field == "pay_with"
    pending = payment_of(run(engine, Attempt(created.id, pay_with=card())))
    assert pending.status is PaymentState.AUTHENTICATION_PENDING  # the mode asked at creation


def test_a_refund_keeps_its_metadata_and_a_replay_its_first_context() -> None:
    engine = make_engine()
    payment = payment_of(run(engine, CreatePayment(500, "EUR", pay_with=card())))
    refunded = payment_of(run(engine, Refund(payment.id, 100, metadata={"order": "7"})))
    assert refunded.refunds[0].metadata == {"order": "7"}
    op, key = CreatePayment(100, "EUR", pay_with=card()), IdempotencyKey("k", "", None)
    first = engine.execute(Call(ACCOUNT, op, key, context="first"))
    replay = engine.execute(Call(ACCOUNT, op, key, context="second"))
    assert (first.first_context, replay.replayed, replay.first_context) == (None, True, "first")


def test_a_codec_whose_ids_collide_is_a_loud_bug() -> None:
    engine = Engine(SandboxRules(), SandboxPolicy(), lambda kind: "same", clock=Clock())
    with pytest.raises(RuntimeError, match="taken"):
        authorize(engine)  # the card takes "same", then the payment can have no id


# --- TinyPay: a codec on the kit alone, through SimulatedGateway ---------------------------------

TINY_HEADERS = {"Authorization": "Bearer tp_alpha", "Content-Type": "application/json"}
TINY_CARD = {"number": VISA, "exp_month": 12, "exp_year": 2034, "cvc": "123"}


def tiny(gateway: SimulatedGateway, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
    headers = {**TINY_HEADERS, **({"Idempotency-Key": key} if key else {})}
    return gateway.handle(method, path, "", headers, json.dumps(body).encode() if body is not None else b"")


@pytest.fixture
def tinypay() -> tuple[SimulatedGateway, Clock]:
    clock = Clock()
    return SimulatedGateway(TinyPayCodec(), "http://sandbox.test", clock=clock), clock


def test_tinypay_lifecycle_on_the_engine(tinypay: tuple[SimulatedGateway, Clock]) -> None:
    gateway, clock = tinypay
    created = tiny(
        gateway, "POST", "/v1/payments", {"amount": 1000, "currency": "EUR", "capture": "manual", "card": TINY_CARD}
    )
    payment = created.json()
    assert created.status == 200 and payment["status"] == "authorized" and payment["card"]["last4"] == "4242"
    assert VISA not in created.body.decode()
    pid = payment["id"]
    capture = tiny(gateway, "POST", f"/v1/payments/{pid}/captures", {"amount": 600, "final": False}, key="c1").json()
    assert (capture["status"], capture["captured"], capture["captures"][0]["status"]) == (
        "partially_captured",
        600,
        "pending",
    )
    replay = tiny(gateway, "POST", f"/v1/payments/{pid}/captures", {"final": False, "amount": 600}, key="c1")
    assert replay.json() == capture and replay.headers["Idempotent-Replayed"] == "true"
    over = tiny(gateway, "POST", f"/v1/payments/{pid}/refunds", {"amount": 601})
    assert (over.status, over.json()["error"]["available"]) == (422, 600)
    refund = tiny(gateway, "POST", f"/v1/payments/{pid}/refunds", {"amount": 200})
    assert (refund.status, refund.json()["status"]) == (201, "pending")

    clock.now += 2
    gateway.settle_due()
    synced = tiny(gateway, "GET", f"/v1/payments/{pid}").json()
    assert (synced["captures"][0]["status"], synced["refunds"][0]["status"]) == ("succeeded", "succeeded")
    assert tiny(gateway, "GET", f"/v1/refunds/{refund.json()['id']}").json()["status"] == "succeeded"
    assert tiny(gateway, "GET", f"/v1/refunds/{pid}").status == 404  # a payment id is no refund id
    voided = tiny(gateway, "POST", f"/v1/payments/{pid}/void", {}).json()
    assert (voided["status"], voided["released"], voided["void"]["status"]) == ("captured", 400, "succeeded")


def test_tinypay_cards_3ds_and_answers_of_its_own(tinypay: tuple[SimulatedGateway, Clock]) -> None:
    gateway, _ = tinypay

    def pay(number: str, **extra: Any) -> Any:
        body = {"amount": 500, "currency": "EUR", "card": {**TINY_CARD, "number": number}, **extra}
        return tiny(gateway, "POST", "/v1/payments", body).json()

    assert pay(VISA_2)["status"] == "captured"
    assert (pay(DECLINES)["status"], pay(DECLINES)["decline"]) == ("declined", "generic_decline")
    assert pay("4000000000009995")["decline"] == "insufficient_funds"
    assert pay("4000000000003063")["status"] == "captured"  # frictionless
    pending = pay("4000000000003220")
    assert pending["next_action"] == {
        "step": "fingerprint",
        "url": f"http://sandbox.test/v1/payments/{pending['id']}/authenticate",
    }
    path = f"/v1/payments/{pending['id']}/authenticate"
    assert (
        tiny(gateway, "POST", path, {"result": "succeeded", "step": "fingerprint"}).json()["next_action"]["step"]
        == "challenge"
    )
    later = tiny(gateway, "POST", path, {"result": "succeeded", "later": True}).json()
    finished = tiny(gateway, "POST", "/v1/payments/complete", {"token": later["token"]}).json()
    assert (finished["id"], finished["status"]) == (pending["id"], "captured")

    unauthorised = gateway.handle("GET", f"/v1/payments/{pending['id']}", "", {"Authorization": "Bearer tp_x"}, b"")
    assert unauthorised.status == 401
    other_account = gateway.handle("GET", f"/v1/payments/{pending['id']}", "", {"Authorization": "Bearer tp_beta"}, b"")
    assert other_account.status == 404
    assert tiny(gateway, "DELETE", "/v1/payments").status == 404
    bad = tiny(gateway, "POST", "/v1/payments", {"amount": "10", "currency": "EUR"})
    assert (bad.status, bad.json()["error"]["field"]) == (400, "amount")
    luhn = tiny(gateway, "POST", "/v1/cards", {**TINY_CARD, "number": "4242424242424241"})
    assert (luhn.status, luhn.json()["error"]["field"]) == (400, "number")
    assert "4242424242424241" not in luhn.body.decode()


# --- over HTTP, through the sandbox server -------------------------------------------------------


async def _serve_tinypay(gateway: SimulatedGateway) -> tuple[Any, str]:
    runner, url = await serve(gateway, "127.0.0.1", 0, None)
    assert gateway.base_url == url
    return runner, url


async def _settles_by_the_runtimes_timer() -> None:
    settled = asyncio.Event()

    def on_event(event: Event) -> None:
        if event.type is EventType.CAPTURE_SETTLED:
            settled.set()

    policy = SandboxPolicy(capture_delay=0.05)
    gateway = SimulatedGateway(TinyPayCodec(policy), on_event=on_event, loop=asyncio.get_running_loop())
    runner, url = await _serve_tinypay(gateway)
    try:
        async with httpx.AsyncClient(base_url=url, headers=TINY_HEADERS, timeout=10) as client:
            created = await client.post(
                "/v1/payments", json={"amount": 800, "currency": "EUR", "capture": "manual", "card": TINY_CARD}
            )
            pid = created.json()["id"]
            captured = await client.post(f"/v1/payments/{pid}/captures", json={})
            assert captured.json()["captures"][0]["status"] == "pending"
            # Bounded wait for the event, not a timing assertion: the timer fires when the clock says.
            await asyncio.wait_for(settled.wait(), timeout=10)
            synced = await client.get(f"/v1/payments/{pid}")
            assert synced.json()["captures"][0]["status"] == "succeeded"
    finally:
        gateway.close()
        await runner.cleanup()


def test_tinypay_over_http_settles_by_the_runtimes_timer() -> None:
    asyncio.run(_settles_by_the_runtimes_timer())


async def _slow_card_over_http() -> None:
    clock = Clock()
    authorized = asyncio.Event()
    gateway = SimulatedGateway(TinyPayCodec(), clock=clock, on_event=lambda e: authorized.set())
    runner, url = await _serve_tinypay(gateway)
    body = {"amount": 300, "currency": "EUR", "card": {**TINY_CARD, "number": SLOW_TEST_CARD}}
    headers = {"Idempotency-Key": "slow-1"}
    try:
        async with httpx.AsyncClient(base_url=url, headers=TINY_HEADERS, timeout=10) as client:
            first = asyncio.create_task(client.post("/v1/payments", json=body, headers=headers))
            await asyncio.wait_for(authorized.wait(), timeout=10)
            # The engine's clock stands still, so the first request is in flight however slow this is.
            busy = await client.post("/v1/payments", json=body, headers=headers)
            assert (busy.status_code, busy.json()["error"]["code"]) == (409, "idempotency_in_progress")
            answer = await first
            assert answer.status_code == 200 and answer.json()["status"] == "captured"
            clock.now += SLOW_TEST_SECONDS
            replay = await client.post("/v1/payments", json=body, headers=headers)
            assert replay.content == answer.content and replay.headers["idempotent-replayed"] == "true"
    finally:
        await runner.cleanup()


def test_tinypay_over_http_a_slow_card_keeps_its_key_in_progress() -> None:
    asyncio.run(_slow_card_over_http())


# --- hypothesis: the ledger under any sequence of calls ------------------------------------------

# Weighted towards cards and modes that authorize, so that captures and refunds get their turn.
CARDS = (VISA, VISA, VISA_2, MASTERCARD, DECLINES, FINGERPRINT_THEN_CHALLENGE, ALWAYS_FAILS)
MODES = (ThreeDSMode.AUTO, ThreeDSMode.AUTO, ThreeDSMode.AUTO, ThreeDSMode.REQUIRED, ThreeDSMode.UNAVAILABLE)
AMOUNTS = st.one_of(st.none(), st.integers(min_value=0, max_value=3000))


class LedgerMachine(RuleBasedStateMachine):
    """Random calls against one engine; after each, every payment must add up and replays must hold."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        policy = SandboxPolicy(capture_delay=3.0, refund_delay=5.0, decline_before_authentication=False)
        refund_rules = {7: Settlement.FAILS, 8: Settlement.STAYS_PENDING}
        rules = SandboxRules(cards=THREE_DS_RULES.cards, refund_amounts=refund_rules)
        self.engine = make_engine(policy, rules, self.clock)
        self.keys = itertools.count()
        self.answered: list[tuple[Call, Reply]] = []
        self.ids: list[str] = []

    def call(self, op: Operation, account: str = ACCOUNT) -> Reply:
        key = f"key-{next(self.keys)}"
        call = Call(account, op, IdempotencyKey(key, type(op).__name__, repr(op)))
        reply = self.engine.execute(call)
        if isinstance(reply.result, Done):
            self.answered.append((call, reply))
        return reply

    def ledger(self) -> list[PaymentRecord]:
        return [get(self.engine, pid) for pid in self.ids]

    def pick(self, data: st.DataObject, fits: Callable[[PaymentRecord], bool]) -> PaymentRecord:
        """A payment the operation fits, if there is one (``anything_on_any_payment`` covers the rest)."""
        fitting = [p for p in self.ledger() if fits(p)]
        return data.draw(st.sampled_from(fitting)) if fitting else self.ledger()[0]

    def amount(self, data: st.DataObject, limit: int) -> int | None:
        """Part of the limit (most often), None (all), the limit, just over it, or anything."""
        part = st.integers(min_value=1, max_value=max(1, limit - 1))
        return data.draw(st.one_of(part, part, st.none(), st.just(limit), st.just(limit + 1), AMOUNTS))

    @initialize(amounts=st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=3))
    def open_payments(self, amounts: list[int]) -> None:
        for amount in amounts:
            self.create(amount, manual=True, number=VISA, mode=ThreeDSMode.AUTO)

    @rule(
        amount=st.integers(min_value=0, max_value=3000),
        manual=st.sampled_from((True, True, False)),
        number=st.sampled_from(CARDS),
        mode=st.sampled_from(MODES),
    )
    def create(self, amount: int, manual: bool, number: str, mode: ThreeDSMode) -> None:
        capture = CaptureMode.MANUAL if manual else CaptureMode.AUTOMATIC
        payment = payment_of(self.call(CreatePayment(amount, "EUR", capture, card(number), three_ds=mode)))
        self.ids.append(payment.id)

    @precondition(lambda self: self.ids)
    @rule(answer=st.sampled_from(AuthenticationResult), finish=st.booleans(), data=st.data())
    def authenticate(self, answer: AuthenticationResult, finish: bool, data: st.DataObject) -> None:
        payment = self.pick(data, lambda p: p.status is PaymentState.AUTHENTICATION_PENDING)
        reply = self.call(Authenticate(payment.id, answer, finish=finish))
        token = isinstance(reply.result, Done) and reply.result.subject
        if token and data.draw(st.booleans()):
            assert isinstance(self.call(FinishAuthentication(token)).result, Done)

    @precondition(lambda self: self.ids)
    @rule(final=st.sampled_from((False, False, True)), data=st.data())
    def capture(self, final: bool, data: st.DataObject) -> None:
        before = self.pick(data, lambda p: p.capturable > 0)
        amount = self.amount(data, before.capturable)
        reply = self.call(Capture(before.id, amount, final=final))
        if amount is not None and amount > before.capturable:
            assert isinstance(reply.result, Refusal)
        if isinstance(reply.result, Refusal):
            assert get(self.engine, before.id) == before

    @precondition(lambda self: self.ids)
    @rule(data=st.data(), kind=st.sampled_from((Capture, Void, Refund, Authenticate, FinishAuthentication)))
    def anything_on_any_payment(self, data: st.DataObject, kind: type) -> None:
        before = get(self.engine, data.draw(st.sampled_from(self.ids)))
        if kind is Authenticate:
            op: Operation = Authenticate(before.id, data.draw(st.sampled_from(AuthenticationResult)))
        elif kind in (Capture, Refund):
            op = kind(before.id, data.draw(AMOUNTS))
        else:
            op = kind(before.id)
        if isinstance(self.call(op).result, Refusal):
            assert get(self.engine, before.id) == before

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def void(self, data: st.DataObject) -> None:
        self.call(Void(self.pick(data, lambda p: p.capturable > 0).id))

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def refund(self, data: st.DataObject) -> None:
        before = self.pick(data, lambda p: p.refundable > 0)
        live = [r for r in before.refunds if r.status != "failed"]
        capture = data.draw(st.sampled_from((None, *before.captures)))
        limit = before.refundable
        if capture is not None:
            limit = min(limit, capture.amount - sum(r.amount for r in live if r.capture_id == capture.id))
        amount = self.amount(data, limit)
        reply = self.call(Refund(before.id, amount, capture_id=capture.id if capture else None))
        if amount is not None and amount > limit:
            assert isinstance(reply.result, Refusal)
        if isinstance(reply.result, Refusal):
            assert get(self.engine, before.id) == before

    @rule(seconds=st.sampled_from([0.5, 3.0, 5.0, 10.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.now += seconds
        self.engine.settle_due()

    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        if not self.answered:
            return
        call, first = data.draw(st.sampled_from(self.answered))
        before = self.ledger()
        again = self.engine.execute(call)
        assert again.replayed and again.result == first.result
        assert self.ledger() == before

    @rule(data=st.data())
    def reuse_a_key_for_another_request(self, data: st.DataObject) -> None:
        if not self.answered:
            return
        call, _ = data.draw(st.sampled_from(self.answered))
        assert call.idempotency is not None
        other = dataclasses.replace(call.idempotency, body=repr(call.operation) + " changed")
        before = self.ledger()
        assert isinstance(self.engine.execute(dataclasses.replace(call, idempotency=other)).result, Refusal)
        assert self.ledger() == before

    @invariant()
    def every_payment_adds_up(self) -> None:
        for payment in self.ledger():
            live_refunds = [r for r in payment.refunds if r.status != "failed"]
            assert 0 <= payment.captured <= payment.authorized <= payment.amount
            assert 0 <= payment.refunded <= payment.captured
            assert sum(c.amount for c in payment.captures) == payment.captured  # captures never fail
            for capture in payment.captures:
                assert sum(r.amount for r in live_refunds if r.capture_id == capture.id) <= capture.amount
            if payment.status in (PaymentState.CREATED, PaymentState.DECLINED, PaymentState.AUTHENTICATION_PENDING):
                assert payment.authorized == 0 and not payment.captures
            if payment.status is PaymentState.VOIDED:
                assert payment.captured == 0 and payment.void is not None
            if payment.status is PaymentState.AUTHORIZED:
                assert payment.captured == 0 and payment.capturable == payment.authorized
            if payment.status is PaymentState.PARTIALLY_CAPTURED:
                assert 0 < payment.captured < payment.authorized and not any(c.final for c in payment.captures)


TestLedger = LedgerMachine.TestCase
TestLedger.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
