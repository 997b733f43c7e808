"""Checkout.com connector: what each canonical call becomes on the wire, how its answers, response codes and errors
map, 3-D Secure through the sandbox's page and `complete`, refunds read back from the payment's actions, and its
webhooks (Cko-Signature); on recorded answers and on the in-process sandbox."""

from __future__ import annotations

import json
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from conformance import in_process
from strategies import context, drive, json_response, requests_of

from connectors.checkout import Checkout, codes, webhooks
from connectors.checkout.connector import CheckoutAccount
from connectors.checkout.sandbox import CHECKOUT_SANDBOX_KEY, CheckoutCodec
from connectors.kit.connector import GatewayRequest, GatewayResponse
from connectors.kit.declines import DeclineCode
from connectors.kit.errors import ErrorType, SidecarError
from connectors.kit.models import (
    CaptureMethod,
    CaptureRequest,
    Card,
    CardPaymentMethod,
    CompleteRequest,
    EventType,
    Money,
    PaymentRequest,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    VoidRequest,
)
from connectors.kit.sandbox import Event
from connectors.kit.testing import requires_spec, validator_for
from connectors.kit.testing.openapi import load_spec
from connectors.kit.testing.reports import SpecViolation
from connectors.kit.webhooks import RefusalReason, WebhookRefused, WebhookRequest
from sidecar.sandbox import SimulatedGateway

BASE = "https://api.checkout.com"
SPEC = Checkout.conformance.spec
checkout = Checkout()
account = CheckoutAccount(secret_key="sk_test_checkoutkey", webhook_secret=["old-key", "new-key"])
PAY = "pay_" + "a" * 26
ACT = "act_" + "b" * 26
USD_10 = Money(minor=1000, currency="USD")


def request(card: str = "4242424242424242", capture: CaptureMethod = CaptureMethod.MANUAL, **extra) -> PaymentRequest:
    card_model = Card(number=card, exp_month=12, exp_year=date.today().year + 3, cvc="100")
    fields = {"reference": "order-7", "amount": USD_10, "capture": capture, "return_url": "https://shop.example/back"}
    return PaymentRequest(payment_method=CardPaymentMethod(type="card", card=card_model), **(fields | extra))


def sandbox():
    gw = in_process("checkout", "")
    gw.credentials = CheckoutAccount.model_validate(gw.credentials)
    return gw


# What POST /payments answers while the shopper authenticates: enough for tests that look at the request.
PENDING = json_response(202, {"id": PAY, "status": "Pending", "_links": {"self": {"href": f"{BASE}/payments/{PAY}"}}})


def fails(call, kind: ErrorType) -> SidecarError:
    with pytest.raises(SidecarError) as raised:
        drive(call, lambda _r: pytest.fail("nothing may be sent"))
    assert raised.value.type is kind, raised.value.message
    return raised.value


# -- the wire -----------------------------------------------------------------------------------------------


@requires_spec(SPEC.file)
def test_an_authorization_is_one_payment_request_with_the_card_as_its_source() -> None:
    req = request(
        capture=CaptureMethod.AUTOMATIC,
        three_ds=True,
        shopper_ip="203.0.113.9",
        metadata={"order": "7"},
        customer={"id": "shop-customer-9", "email": "a@shop.example", "name": "Ada L", "phone": "+14155550123"},
        billing_address={"line1": "1 Main St", "city": "Boston", "postal_code": "02110", "country": "US"},
    )
    [sent] = requests_of(checkout.authorize(req, context(account, BASE, "key-1")), [PENDING])
    validator_for(SPEC).check_request(sent, BASE, SPEC.schemas)
    body = json.loads(sent.body)
    assert sent.headers["Authorization"] == "Bearer sk_test_checkoutkey"
    assert sent.headers["Cko-Idempotency-Key"] == "key-1"
    assert body["source"] | {"expiry_year": 0} == {
        "type": "card",
        "number": "4242424242424242",
        "expiry_month": 12,
        "expiry_year": 0,
        "cvv": "100",
        "name": "Ada L",
        "billing_address": {"address_line1": "1 Main St", "city": "Boston", "zip": "02110", "country": "US"},
        "phone": {"country_code": "+1", "number": "4155550123"},
    }
    assert (body["amount"], body["currency"], body["capture"], body["3ds"]) == (1000, "USD", True, {"enabled": True})
    assert body["success_url"] == body["failure_url"] == "https://shop.example/back"
    assert body["payment_ip"] == "203.0.113.9"
    # Only a Checkout.com customer's own id fits `customer.id`; the app's is kept in metadata.
    assert body["customer"] == {"email": "a@shop.example", "name": "Ada L"}
    assert body["metadata"] == {"order": "7", "sidecar_customer_id": "shop-customer-9"}


def test_amounts_follow_checkout_coms_units_and_are_refused_before_any_call_where_they_cannot() -> None:
    def sent_amount(minor: int, currency: str) -> int:
        req = request(amount=Money(minor=minor, currency=currency))
        [sent] = requests_of(checkout.authorize(req, context(account, BASE)), [PENDING])
        return json.loads(sent.body)["amount"]

    # ISK and UGX in whole units (ISO: 0), CLP in hundredths, KWD in thousandths ending in 0.
    assert [sent_amount(5, "ISK"), sent_amount(5, "UGX"), sent_amount(5, "CLP"), sent_amount(1230, "KWD")] == [
        5,
        5,
        500,
        1230,
    ]
    for minor, currency in ((1231, "KWD"), (1_000_000_000, "USD"), (5, "CLF")):
        fails(
            checkout.authorize(request(amount=Money(minor=minor, currency=currency)), context(account, BASE)),
            ErrorType.INVALID_REQUEST,
        )


def test_fields_over_checkout_coms_limits_are_400_never_cut() -> None:
    for extra in ({"reference": "r" * 51}, {"description": "d" * 101}, {"statement_descriptor": "SHOP"}):
        fails(checkout.authorize(request(**extra), context(account, BASE)), ErrorType.INVALID_REQUEST)
    with_city = account.model_copy(update={"billing_descriptor_city": "Boston"})
    [sent] = requests_of(checkout.authorize(request(statement_descriptor="SHOP"), context(with_city, BASE)), [PENDING])
    assert json.loads(sent.body)["billing_descriptor"] == {"name": "SHOP", "city": "Boston"}


def test_only_the_payment_request_carries_the_idempotency_key_mapped_into_its_limit() -> None:
    long_key = "k" * 200
    payment = {"id": PAY, "amount": 1000, "currency": "USD", "status": "Authorized", "reference": "order-7"}
    [auth] = requests_of(checkout.authorize(request(), context(account, BASE, long_key)), [json_response(201, payment)])
    assert len(auth.headers["Cko-Idempotency-Key"]) <= 64
    [capture] = requests_of(
        checkout.capture(PAY, CaptureRequest(), context(account, BASE, long_key)),
        [json_response(202, {"action_id": ACT})],
    )
    assert "Cko-Idempotency-Key" not in capture.headers


@requires_spec(SPEC.file)
def test_captures_and_refunds_read_the_payments_currency_first_and_refuse_another() -> None:
    details = json_response(200, {"id": PAY, "currency": "EUR", "amount": 1000, "status": "Authorized"})
    with pytest.raises(SidecarError) as refused:
        drive(checkout.capture(PAY, CaptureRequest(amount=USD_10), context(account, BASE)), lambda _r: details)
    assert refused.value.type is ErrorType.INVALID_REQUEST and refused.value.details[0].type == "currency_mismatch"
    sent = requests_of(
        checkout.refund(PAY, RefundRequest(amount=Money(minor=300, currency="EUR")), context(account, BASE)),
        [details, json_response(202, {"action_id": ACT})],
    )
    assert [r.method for r in sent] == ["GET", "POST"]
    for r in sent:
        validator_for(SPEC).check_request(r, BASE, SPEC.schemas)
    assert json.loads(sent[1].body) == {"amount": 300}


def test_asynchronous_actions_answer_initiated_with_the_action_id_as_operation_id() -> None:
    accepted = json_response(202, {"action_id": ACT})
    captured, _ = drive(checkout.capture(PAY, CaptureRequest(), context(account, BASE)), lambda _r: accepted)
    voided, _ = drive(checkout.void(PAY, VoidRequest(reason="dup"), context(account, BASE)), lambda _r: accepted)
    refund, _ = drive(checkout.refund(PAY, RefundRequest(), context(account, BASE)), lambda _r: accepted)
    assert (captured.status, captured.operation_id) == (PaymentStatus.CAPTURE_INITIATED, ACT)
    assert (voided.status, voided.operation_id) == (PaymentStatus.VOID_INITIATED, ACT)
    assert (refund.status, refund.operation_id, refund.id) == (RefundStatus.PENDING, ACT, f"{PAY}~{ACT}")
    assert checkout.check_id("refund", refund.id) == refund.id


# -- answers and codes -------------------------------------------------------------------------------------


@requires_spec(SPEC.file)
def test_every_payment_status_of_the_spec_is_mapped() -> None:
    schemas = load_spec(SPEC.file)["components"]["schemas"]
    listed = set(schemas["PaymentDetails"]["properties"]["status"]["enum"])
    listed |= set(schemas["PaymentResponse"]["properties"]["status"]["enum"])
    assert listed == set(codes.PAYMENT_STATUS)


def test_a_status_no_table_knows_is_a_named_error_never_a_guess() -> None:
    answer = json_response(200, {"id": PAY, "amount": 1000, "currency": "USD", "status": "Teleported"})
    with pytest.raises(codes.UnmappedStatus) as raised:
        drive(checkout.sync(PAY, context(account, BASE)), lambda _r: answer)
    assert (raised.value.status, raised.value.outcome) == (502, "unknown") and "Teleported" in raised.value.message


@pytest.mark.parametrize(
    "code, summary, expected",
    [
        ("20051", "Insufficient Funds", DeclineCode.INSUFFICIENT_FUNDS),
        ("20054", "Expired Card", DeclineCode.EXPIRED_CARD),
        ("30041", "Lost card - pick up", DeclineCode.LOST_OR_STOLEN),
        ("20151", "Cardholder failed 3DS authentication", DeclineCode.AUTHENTICATION_FAILED),
        ("20151", "something else", DeclineCode.CARD_DECLINED),  # unconfirmed codes need their own words
        ("40101", "Risk blocked transaction", DeclineCode.CARD_DECLINED),
    ],
)
def test_response_codes_map_to_canonical_declines(code, summary, expected) -> None:
    answer = {"id": PAY, "amount": 1000, "currency": "USD", "status": "Declined", "approved": False}
    answer |= {"response_code": code, "response_summary": summary}
    payment, _ = drive(checkout.authorize(request(), context(account, BASE)), lambda _r: json_response(201, answer))
    assert payment.status is PaymentStatus.AUTHORIZATION_FAILED
    assert (payment.error.code, payment.error.connector_code) == (expected, code)
    assert (payment.error.unmapped is None) is (code in codes.RESPONSE_CODES or expected != DeclineCode.CARD_DECLINED)


def test_a_replayed_answer_to_another_call_under_the_same_key_is_a_conflict() -> None:
    first = json_response(201, {"id": PAY, "amount": 5000, "currency": "USD", "status": "Authorized", "reference": "x"})
    with pytest.raises(SidecarError) as raised:
        drive(checkout.authorize(request(), context(account, BASE, "key-1")), lambda _r: first)
    assert (raised.value.type, raised.value.outcome) == (ErrorType.IDEMPOTENCY_CONFLICT, "not_processed")


@pytest.mark.parametrize(
    "status, body, keyed, action, expected",
    [
        (401, b"", False, "", (ErrorType.GATEWAY_AUTHENTICATION, "not_processed")),
        (403, b"", False, "capture", (ErrorType.GATEWAY_AUTHENTICATION, "not_processed")),
        (404, b"", False, "void", (ErrorType.NOT_FOUND, "not_processed")),
        (429, b"", True, "", (ErrorType.REQUEST_IN_PROGRESS, "unknown")),
        (429, b"{}", False, "", (ErrorType.GATEWAY_RATE_LIMITED, "not_processed")),
        (
            422,
            b'{"error_type":"request_invalid","error_codes":["amount_invalid"]}',
            False,
            "",
            (ErrorType.GATEWAY_REJECTED, "not_processed"),
        ),
        (409, b'{"error_type":"duplicate_requests_detected"}', False, "", (ErrorType.REQUEST_IN_PROGRESS, "unknown")),
        (502, b"<html>bad gateway</html>", False, "", (ErrorType.GATEWAY_ERROR, "unknown")),
    ],
)
def test_error_answers_say_what_happened(status, body, keyed, action, expected) -> None:
    resp = GatewayResponse(status, {"content-type": "application/json"}, body)
    error = checkout._error(resp, keyed=keyed, action=action)
    assert (error.type, error.outcome) == expected
    if status == 422:
        assert error.details[0].path == "amount"


# -- on the sandbox ------------------------------------------------------------------------------------------


def test_checkout_coms_test_cards_decline_with_their_codes_on_the_sandbox() -> None:
    gw = sandbox()
    for card, code in (
        ("4544249167673670", DeclineCode.INSUFFICIENT_FUNDS),
        ("4485381577182090", DeclineCode.INCORRECT_NUMBER),
    ):
        payment, _ = gw.run(checkout.authorize(request(card), gw.context()))
        assert (payment.status, payment.error.code) == (PaymentStatus.AUTHORIZATION_FAILED, code)


def three_ds_on_the_sandbox(outcome: str):
    gw = sandbox()
    pending, _ = gw.run(checkout.authorize(request(three_ds=True), gw.context()))
    assert pending.status is PaymentStatus.AUTHENTICATION_PENDING and pending.next_action.type == "redirect"
    page = urlsplit(pending.next_action.url)
    answer = gw.send(GatewayRequest("GET", f"{gw.base_url}{page.path}?outcome={outcome}", {}))
    assert answer.status == 302
    back = urlsplit(answer.headers["Location"])
    assert back.netloc == "shop.example"
    session = parse_qs(back.query)["cko-session-id"][0]
    payment, _ = gw.run(checkout.complete(CompleteRequest(details={"cko-session-id": session}), gw.context()))
    assert payment.id == pending.id
    return payment


def test_3ds_completed_on_the_page_is_authorized_when_the_shopper_is_back() -> None:
    assert three_ds_on_the_sandbox("complete").status is PaymentStatus.AUTHORIZED


def test_3ds_failed_on_the_page_is_a_decline_for_authentication() -> None:
    payment = three_ds_on_the_sandbox("fail")
    assert (payment.status, payment.error.code) == (
        PaymentStatus.AUTHORIZATION_FAILED,
        DeclineCode.AUTHENTICATION_FAILED,
    )


def test_complete_takes_a_session_or_a_payment_id_and_nothing_else() -> None:
    for req in (
        CompleteRequest(),
        CompleteRequest(details={"redirectResult": "x"}),
        CompleteRequest(details={"cko-session-id": "pay_x"}),
    ):
        fails(checkout.complete(req, context(account, BASE)), ErrorType.INVALID_REQUEST)


def test_a_refund_is_read_back_from_the_payments_actions_and_an_unknown_one_is_404() -> None:
    gw = sandbox()
    payment, _ = gw.run(checkout.authorize(request(capture=CaptureMethod.AUTOMATIC), gw.context()))
    refund, _ = gw.run(
        checkout.refund(payment.id, RefundRequest(amount=Money(minor=300, currency="USD")), gw.context())
    )
    synced, sent = gw.run(checkout.refund_sync(refund.id, gw.context()))
    assert (synced.status, synced.amount, synced.operation_id) == (
        RefundStatus.SUCCEEDED,
        Money(minor=300, currency="USD"),
        refund.operation_id,
    )
    assert urlsplit(sent[0].url).path == f"/payments/{payment.id}/actions"
    with pytest.raises(SidecarError) as missing:
        gw.run(checkout.refund_sync(f"{payment.id}~act_{'z' * 26}", gw.context()))
    assert missing.value.type is ErrorType.NOT_FOUND


def test_the_sandbox_refuses_a_wrong_key_and_a_payment_without_a_source() -> None:
    gw = SimulatedGateway(CheckoutCodec())
    wrong = gw.handle("POST", "/payments", "", {"Authorization": "Bearer sk_sbox_wrong"}, b"{}")
    assert (wrong.status, wrong.body) == (401, b"")
    unsourced = gw.handle(
        "POST", "/payments", "", {"Authorization": f"Bearer {CHECKOUT_SANDBOX_KEY}"}, b'{"currency":"USD"}'
    )
    assert unsourced.status == 422 and unsourced.json()["error_codes"] == ["payment_source_required"]


@requires_spec(SPEC.file)
def test_the_spec_check_follows_the_sources_discriminator() -> None:
    validator = validator_for(SPEC)

    def problems(source: dict) -> str:
        body = json.dumps({"currency": "USD", "source": source}).encode()
        try:
            validator.check("POST", "/payments", body, content_type="application/json", schemas=SPEC.schemas)
        except SpecViolation as e:
            return str(e)
        return ""

    assert problems({"type": "card", "number": "4242424242424242", "expiry_month": 1, "expiry_year": 2030}) == ""
    assert "source.number" in problems({"type": "card", "number": 4242, "expiry_month": 1, "expiry_year": 2030})
    assert "source.token" in problems({"type": "token"})
    assert "'bogus' is not one of" in problems({"type": "bogus"})


# -- webhooks ------------------------------------------------------------------------------------------------


def signed(event: dict, key: str = "new-key") -> WebhookRequest:
    body = json.dumps(event).encode()
    return WebhookRequest({"cko-signature": webhooks.signature(key, body)}, body, now=0)


def test_a_webhook_signed_with_any_current_key_verifies_and_translates() -> None:
    event = {
        "id": "evt_1",
        "type": "payment_captured",
        "data": {"id": PAY, "action_id": ACT, "amount": 600, "currency": "USD"},
    }
    for key in ("old-key", "new-key"):
        [translated] = webhooks.events(checkout, signed(event, key), account.webhook_secret)
        assert (translated.type, translated.id, translated.operation_id) == (EventType.PAYMENT_CAPTURED, PAY, ACT)
        assert (translated.event_id, translated.amount) == ("evt_1", Money(minor=600, currency="USD"))


def test_a_refund_event_names_the_refund_as_its_canonical_id() -> None:
    event = {
        "id": "evt_2",
        "type": "payment_refunded",
        "data": {"id": PAY, "action_id": ACT, "amount": 300, "currency": "USD"},
    }
    [translated] = webhooks.events(checkout, signed(event), account.webhook_secret)
    assert (translated.object, translated.id, translated.payment_id) == ("refund", f"{PAY}~{ACT}", PAY)
    assert translated.status is RefundStatus.SUCCEEDED


@pytest.mark.parametrize(
    "headers, secrets, reason",
    [
        ({}, ("new-key",), RefusalReason.UNSIGNED),
        ({"cko-signature": "00" * 32}, ("new-key",), RefusalReason.BAD_SIGNATURE),
        ({"cko-signature": "00" * 32}, (), RefusalReason.NOT_CONFIGURED),
    ],
)
def test_unverified_webhooks_are_refused(headers, secrets, reason) -> None:
    body = b'{"id":"evt_3","type":"payment_approved","data":{}}'
    with pytest.raises(WebhookRefused) as refused:
        webhooks.events(
            checkout,
            WebhookRequest(headers, body, 0),
            CheckoutAccount(secret_key="sk", webhook_secret=secrets).webhook_secret,
        )
    assert refused.value.reason is reason


def test_unknown_event_types_are_delivered_as_unknown_and_a_body_that_is_no_event_is_400() -> None:
    [event] = webhooks.events(checkout, signed({"id": "evt_4", "type": "payment_teleported"}), account.webhook_secret)
    assert event.type is EventType.UNKNOWN and event.connector_event == "payment_teleported"
    with pytest.raises(WebhookRefused) as refused:
        webhooks.events(checkout, signed(["not", "an", "event"]), account.webhook_secret)  # type: ignore[arg-type]
    assert refused.value.reason is RefusalReason.MALFORMED


def test_the_sandboxs_webhooks_verify_with_its_key_and_carry_the_action() -> None:
    engine_events: list[Event] = []
    gw = SimulatedGateway(CheckoutCodec(), "http://sandbox.invalid", on_event=engine_events.append)
    headers = {"Authorization": f"Bearer {CHECKOUT_SANDBOX_KEY}"}
    body = {"source": {"type": "card", "number": "4242424242424242", "expiry_month": 12, "expiry_year": 2040}}
    answer = gw.handle("POST", "/payments", "", headers, json.dumps(body | {"amount": 700, "currency": "EUR"}).encode())
    assert answer.status == 201
    sent = [webhooks.sandbox_webhook(e, "k") for e in engine_events]
    verified = CheckoutAccount(secret_key="sk", webhook_secret="k").webhook_secret
    translated = [
        webhooks.events(checkout, WebhookRequest({k.lower(): v for k, v in m.headers.items()}, m.body, 0), verified)[0]
        for m in sent
        if m is not None
    ]
    assert [e.type for e in translated] == [EventType.PAYMENT_AUTHORIZED, EventType.PAYMENT_CAPTURED]
    assert {e.id for e in translated} == {answer.json()["id"]}
    assert translated[1].amount == Money(minor=700, currency="EUR") and translated[1].operation_id.startswith("act_")
