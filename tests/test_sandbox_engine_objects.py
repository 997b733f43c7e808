"""The sandbox engine's keyed objects (a gateway's customers, saved-card setups), card checks, payment and
card updates, lists and the objects a call names; and the kit's cursor paging. On the engine directly,
with no gateway's codec."""

from __future__ import annotations

import pytest
from test_sandbox_engine import ACCOUNT, DECLINES, FIXED_NOW, VISA, Clock, card, done, make_engine, refusal, run

from connectors.kit.sandbox import (
    Call,
    CaptureMode,
    CardRule,
    CreatePayment,
    DeclineCode,
    ErrorCode,
    GetObject,
    ListRecords,
    ObjectRecord,
    OperationState,
    PaymentState,
    PutObject,
    SandboxPolicy,
    SandboxRules,
    ThreeDSRule,
    Tokenize,
    UpdateCard,
    UpdatePayment,
)
from connectors.kit.sandbox_wire import page
from sidecar.sandbox.engine import Engine

ASKS_3DS = "4000002760003184"
RULES = SandboxRules(cards={ASKS_3DS: CardRule(three_ds=ThreeDSRule())})


def put(engine: Engine, op: PutObject, account: str = ACCOUNT) -> ObjectRecord:
    obj = done(run(engine, op, account=account)).obj
    assert obj is not None
    return obj


def test_objects_are_created_and_changed_by_merge_patch() -> None:
    engine = make_engine()
    patch = {"email": "a@example.com", "metadata": {"plan": "gold", "team": "a"}, "address": {"line1": "1 St"}}
    created = put(engine, PutObject("customer", patch=patch, status="active"))
    assert (created.kind, created.status, created.created_at, created.fields) == (
        "customer",
        "active",
        FIXED_NOW,
        patch,
    )
    changed = put(
        engine, PutObject("customer", created.id, {"metadata": {"plan": None, "region": "eu"}, "address": None})
    )
    assert changed.fields == {"email": "a@example.com", "metadata": {"team": "a", "region": "eu"}}
    assert changed.status == "active" and changed.id == created.id
    assert done(run(engine, GetObject("customer", created.id))).obj == changed


def test_objects_are_found_only_by_their_kind_and_account() -> None:
    engine = make_engine()
    created = put(engine, PutObject("customer"))
    assert refusal(run(engine, GetObject("setup", created.id)), ErrorCode.NOT_FOUND).field == "ref"
    assert refusal(run(engine, GetObject("customer", created.id), account="other"), ErrorCode.NOT_FOUND)
    assert refusal(run(engine, PutObject("customer", "nope", {"a": 1})), ErrorCode.NOT_FOUND)


def test_an_object_changes_only_from_the_statuses_given() -> None:
    engine = make_engine()
    created = put(engine, PutObject("setup", status="open"))
    closed = put(engine, PutObject("setup", created.id, {"reason": "done"}, "closed", frozenset({"open"})))
    refused = refusal(
        run(engine, PutObject("setup", created.id, {}, "open", frozenset({"open"}))), ErrorCode.INVALID_STATE
    )
    assert refused.obj == closed
    assert done(run(engine, GetObject("setup", created.id))).obj == closed  # nothing changed


def test_a_card_check_passes_declines_and_refuses_3d_secure_with_no_shopper() -> None:
    engine = make_engine(rules=RULES, policy=SandboxPolicy(decline_before_authentication=False))
    passed = put(engine, PutObject("setup", card=card(VISA), check=True))
    assert (passed.status, passed.decline, passed.card and passed.card.last4) == (
        OperationState.SUCCEEDED,
        None,
        "4242",
    )
    declined = put(engine, PutObject("setup", card=card(DECLINES), check=True))
    assert (declined.status, declined.decline) == (OperationState.FAILED, DeclineCode.GENERIC_DECLINE)
    expired = put(engine, PutObject("setup", card=card(VISA, year=2029), check=True))
    assert expired.decline == DeclineCode.EXPIRED_CARD
    authentication = put(engine, PutObject("setup", card=card(ASKS_3DS), check=True))
    assert authentication.decline == DeclineCode.AUTHENTICATION_REQUIRED
    again = put(engine, PutObject("setup", declined.id, card=card(VISA), check=True))
    assert (again.status, again.decline) == (OperationState.SUCCEEDED, None)


def test_a_card_check_needs_a_card_and_a_kept_card_is_checked_later() -> None:
    engine = make_engine()
    empty = put(engine, PutObject("setup", status="waiting"))
    assert refusal(run(engine, PutObject("setup", empty.id, check=True)), ErrorCode.INVALID_ARGUMENT).field == "card"
    stored = done(run(engine, Tokenize(card()))).card
    assert stored is not None
    kept = put(engine, PutObject("setup", empty.id, card=stored.id))
    assert kept.status == "waiting" and kept.card == stored
    assert put(engine, PutObject("setup", empty.id, check=True)).status == OperationState.SUCCEEDED
    unknown = refusal(run(engine, PutObject("setup", card="card_nope")), ErrorCode.NOT_FOUND)
    assert unknown.field == "pay_with"


def test_a_card_that_passes_is_attached_to_the_objects_owner() -> None:
    engine = make_engine()
    owner = put(engine, PutObject("customer"))
    checked = put(engine, PutObject("setup", patch={"customer": owner.id}, card=card(), check=True, attach="customer"))
    assert checked.card is not None and checked.card.extra["customer"] == owner.id
    stored = done(run(engine, ListRecords("card"))).items[0]
    assert stored.extra["customer"] == owner.id
    failed = put(
        engine, PutObject("setup", patch={"customer": owner.id}, card=card(DECLINES), check=True, attach="customer")
    )
    assert failed.card is not None and "customer" not in failed.card.extra


def test_a_call_runs_only_when_the_objects_it_names_exist() -> None:
    engine = make_engine()
    owner = put(engine, PutObject("customer"))
    create = CreatePayment(1000, "EUR", pay_with=card(), extra={"customer": owner.id})
    assert done(engine.execute(Call(ACCOUNT, create, requires=(("customer", owner.id),)))).payment
    missing = engine.execute(Call(ACCOUNT, create, requires=(("customer", "cus_nope"),)))
    assert refusal(missing, ErrorCode.NOT_FOUND).field == "customer"
    other_account = engine.execute(Call("other", create, requires=(("customer", owner.id),)))
    assert refusal(other_account, ErrorCode.NOT_FOUND)
    assert len(done(run(engine, ListRecords("payment"))).items) == 1  # the refused ones made nothing


def test_records_are_listed_newest_first_per_account_and_kind() -> None:
    clock = Clock()
    engine = make_engine(clock=clock)
    made = []
    for index in range(3):
        clock.now = FIXED_NOW + index
        made.append(put(engine, PutObject("customer")).id)
    put(engine, PutObject("setup"))
    put(engine, PutObject("customer"), account="other")
    put(engine, PutObject("customer", made[0], {"name": "changed"}))  # a change keeps its place
    assert [o.id for o in done(run(engine, ListRecords("customer"))).items] == made[::-1]
    for amount in (100, 200):
        run(engine, CreatePayment(amount, "EUR", pay_with=card()))
    assert [p.amount for p in done(run(engine, ListRecords("payment"))).items] == [200, 100]
    assert len(done(run(engine, ListRecords("card"))).items) == 2


def test_a_payment_is_updated_while_it_may_be_attempted_then_only_its_details() -> None:
    engine = make_engine(policy=SandboxPolicy(amount_steps={"KWD": 10}))
    created = done(run(engine, CreatePayment(1000, "EUR", confirm=False, metadata={"a": "1", "b": "2"}))).payment
    assert created is not None
    op = UpdatePayment(created.id, 2500, "USD", CaptureMode.MANUAL, card(), "two", {"a": None, "c": "3"}, {"x": 1})
    updated = done(run(engine, op)).payment
    assert updated is not None
    assert (updated.amount, updated.currency, updated.capture_mode, updated.description) == (
        2500,
        "USD",
        CaptureMode.MANUAL,
        "two",
    )
    assert updated.metadata == {"b": "2", "c": "3"} and updated.extra == {"x": 1} and updated.card is not None
    assert refusal(run(engine, UpdatePayment(created.id, currency="KWD", amount=1005)), ErrorCode.INVALID_ARGUMENT)
    assert refusal(run(engine, UpdatePayment(created.id, amount=-1)), ErrorCode.INVALID_ARGUMENT).field == "amount"


def test_a_declined_payment_takes_a_new_card_and_an_authorized_one_keeps_its_amount() -> None:
    engine = make_engine()
    declined = done(run(engine, CreatePayment(1000, "EUR", pay_with=card(DECLINES)))).payment
    assert declined is not None and declined.status is PaymentState.DECLINED and declined.card is None
    given = done(run(engine, UpdatePayment(declined.id, pay_with=card()))).payment
    assert given is not None and given.status is PaymentState.DECLINED and given.card is not None
    authorized = done(run(engine, CreatePayment(1000, "EUR", CaptureMode.MANUAL, card()))).payment
    assert authorized is not None
    refused = refusal(run(engine, UpdatePayment(authorized.id, amount=500)), ErrorCode.INVALID_STATE)
    assert refused.payment == authorized
    noted = done(run(engine, UpdatePayment(authorized.id, description="late", metadata={"k": "v"}))).payment
    assert noted is not None and (noted.amount, noted.description, noted.metadata) == (1000, "late", {"k": "v"})


def test_a_card_is_updated_only_as_expected() -> None:
    engine = make_engine()
    stored = done(run(engine, Tokenize(card()))).card
    assert stored is not None
    attached = done(run(engine, UpdateCard(stored.id, {"customer": "c1"}, expect={"customer": None}))).card
    assert attached is not None and attached.extra["customer"] == "c1"
    again = run(engine, UpdateCard(stored.id, {"customer": "c2"}, expect={"customer": None}))
    assert refusal(again, ErrorCode.INVALID_STATE)
    detached = done(run(engine, UpdateCard(stored.id, {"customer": None}))).card
    assert detached is not None and "customer" not in detached.extra
    assert refusal(run(engine, UpdateCard("nope", {})), ErrorCode.NOT_FOUND).field == "card_id"


def test_an_idempotent_object_creation_replays() -> None:
    engine = make_engine()
    first = run(engine, PutObject("customer", patch={"email": "a@example.com"}), key="k")
    again = run(engine, PutObject("customer", patch={"email": "a@example.com"}), key="k")
    assert again.replayed and done(again).obj == done(first).obj
    assert len(done(run(engine, ListRecords("customer"))).items) == 1


# --- the kit's cursor paging ---------------------------------------------------------------------

ITEMS = ["e", "d", "c", "b", "a"]  # newest first


@pytest.mark.parametrize(
    ("limit", "after", "before", "expected"),
    [
        (2, None, None, (["e", "d"], True)),
        (5, None, None, (ITEMS, False)),
        (10, None, None, (ITEMS, False)),
        (2, "d", None, (["c", "b"], True)),
        (2, "b", None, (["a"], False)),
        (2, "a", None, ([], False)),
        (2, None, "b", (["d", "c"], True)),
        (2, None, "c", (["e", "d"], False)),
        (2, None, "e", ([], False)),
    ],
)
def test_page_by_cursor(limit: int, after: str | None, before: str | None, expected: tuple[list[str], bool]) -> None:
    found = page(ITEMS, limit, after=after, before=before, key=str)
    assert found is not None and (list(found[0]), found[1]) == expected


def test_page_by_a_cursor_not_in_the_list_is_none() -> None:
    assert page(ITEMS, 2, after="z", key=str) is None
    assert page(ITEMS, 2, before="z", key=str) is None
