"""Stripe connector: every request it builds validates against Stripe's official OpenAPI spec, for
many generated canonical calls; statuses, declines and errors map as API.md says."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    captures,
    context,
    drive,
    gateway_ids,
    idempotency_keys,
    json_response,
    payment_requests,
    refunds,
    requests_of,
    voids,
)

from connectors.kit.connector import GatewayResponse
from connectors.kit.declines import DeclineCode
from connectors.kit.errors import ErrorType, SidecarError
from connectors.kit.idempotency import gateway_key
from connectors.kit.models import (
    CaptureRequest,
    Channel,
    CompleteRequest,
    Customer,
    Money,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    VoidRequest,
)
from connectors.kit.testing import requires_spec, validator_for
from connectors.stripe.codes import CARD_ERROR_CODES, DECLINE_CODES
from connectors.stripe.connector import API_VERSION, Stripe, StripeCredentials

BASE = "https://api.stripe.com"
SPEC = Stripe.conformance.spec
requires_specs = requires_spec(SPEC.file)
stripe = Stripe()
creds = StripeCredentials(api_key="sk_test_abc123")


def check(request) -> None:
    url = urlsplit(request.url)
    assert f"{url.scheme}://{url.netloc}" == BASE
    assert request.headers["Authorization"] == "Bearer sk_test_abc123"
    assert request.headers["Stripe-Version"] == API_VERSION
    validator_for(SPEC).check_request(request, BASE, SPEC.schemas)


def intent(status: str = "requires_capture", **extra) -> dict:
    return {
        "id": "pi_1",
        "object": "payment_intent",
        "status": status,
        "amount": 1000,
        "currency": "usd",
        "amount_received": 1000 if status == "succeeded" else 0,
        "metadata": {"sidecar_reference": "order-1"},
        **extra,
    }


def answering(final: dict, currency: str = "usd"):
    """Answers the currency lookup a capture or refund with an amount makes first, then the call itself."""

    def answer(request):
        if request.step == "read payment currency":
            return json_response(200, intent(currency=currency))
        return json_response(200, final)

    return answer


@requires_specs
@settings(max_examples=150, deadline=None)
@given(req=payment_requests, key=idempotency_keys)
def test_authorize_requests_validate_against_the_spec(req, key) -> None:
    sent = requests_of(
        stripe.authorize(req, context(creds, BASE, key)),
        [json_response(200, {"id": "pm_1", "object": "payment_method"}), json_response(200, intent())],
    )
    assert [urlsplit(r.url).path for r in sent] == ["/v1/payment_methods", "/v1/payment_intents"]
    for r in sent:
        check(r)
    pm, pi = (parse_qs(r.body.decode()) for r in sent)
    assert pm["card[number]"] == [req.payment_method.card.number]
    assert pi["amount"] == [str(req.amount.minor)] and pi["currency"] == [req.amount.currency.lower()]
    assert pi["capture_method"] == [req.capture.value] and pi["payment_method"] == ["pm_1"]
    assert pi["metadata[sidecar_reference]"] == [req.reference]
    for key_, value in (req.metadata or {}).items():
        assert pi.get(f"metadata[{key_}]", [""]) == [value]  # Stripe drops an empty value: so does the encoding
    if req.customer and req.customer.id:
        assert pi["metadata[sidecar_customer_id]"] == [req.customer.id] and "customer" not in pi
    if req.statement_descriptor:
        assert pi["statement_descriptor_suffix"] == [req.statement_descriptor]
    if req.customer and req.customer.phone:
        assert pm["billing_details[phone]"][0].startswith("+") and " " not in pm["billing_details[phone]"][0]
    # An app's Stripe SDK handles the action and the server confirms; the browser Stripe reads itself.
    sdk = req.channel in ("ios", "android")
    assert (pi.get("use_stripe_sdk"), pi.get("confirmation_method")) == (
        (["true"], ["manual"]) if sdk else (None, None)
    )
    assert not any(k.startswith("mandate_data") for k in pi)
    if key:
        # Distinct calls need distinct keys, each stable across the app's retries and within Stripe's 255.
        pm_key, pi_key = (r.headers["Idempotency-Key"] for r in sent)
        assert pm_key == gateway_key(key, 255, "payment_method") != pi_key
        assert pi_key == (key if len(key) <= 255 and not key.startswith("sidecar-") else gateway_key(key, 255))
        assert len(pm_key) <= 255 and len(pi_key) <= 255
    else:
        assert all("Idempotency-Key" not in r.headers for r in sent)


@requires_specs
@settings(max_examples=60, deadline=None)
@given(pid=gateway_ids, cap=captures, void=voids, ref=refunds, key=idempotency_keys)
def test_follow_up_requests_validate_against_the_spec(pid, cap, void, ref, key) -> None:
    ctx = context(creds, BASE, key)
    refund_obj = {"id": "re_1", "object": "refund", "status": "succeeded", "amount": 10, "currency": "usd"}
    for exchange, answer, amount in [
        (stripe.capture(pid, cap, ctx), intent("succeeded"), cap.amount),
        (stripe.void(pid, void, ctx), intent("canceled"), None),
        (stripe.refund(pid, ref, ctx), refund_obj, ref.amount),
        (stripe.sync(pid, ctx), intent(), None),
        (stripe.refund_sync(pid, ctx), refund_obj, None),
    ]:
        currency = amount.currency.lower() if amount else "usd"
        _, sent = drive(exchange, answering(answer, currency))
        # With an amount, the payment's currency is read first: one GET, then the call.
        assert [r.step == "read payment currency" for r in sent] == ([True, False] if amount else [False])
        for request in sent:
            check(request)


def test_capture_sends_partial_amount_and_void_maps_reasons() -> None:
    ctx = context(creds, BASE)
    _, (lookup, r) = drive(
        stripe.capture("pi_1", CaptureRequest(amount=Money(minor=500, currency="USD")), ctx),
        answering(intent("succeeded")),
    )
    assert (lookup.method, urlsplit(lookup.url).path) == ("GET", "/v1/payment_intents/pi_1")
    assert parse_qs(r.body.decode())["amount_to_capture"] == ["500"]
    (r,) = requests_of(
        stripe.void("pi_1", VoidRequest(reason="changed mind"), ctx), [json_response(200, intent("canceled"))]
    )
    assert "cancellation_reason" not in parse_qs(r.body.decode())  # not one of Stripe's reasons: left out


@pytest.mark.parametrize(
    "status, received, expected",
    [
        ("requires_payment_method", 0, PaymentStatus.STARTED),
        ("requires_confirmation", 0, PaymentStatus.STARTED),
        ("requires_action", 0, PaymentStatus.AUTHENTICATION_PENDING),
        ("processing", 0, PaymentStatus.AUTHORIZING),
        ("requires_capture", 0, PaymentStatus.AUTHORIZED),
        ("canceled", 0, PaymentStatus.VOIDED),
        ("succeeded", 1000, PaymentStatus.CHARGED),
        ("succeeded", 400, PaymentStatus.PARTIALLY_CHARGED),
        ("something_new", 0, PaymentStatus.UNRESOLVED),
    ],
)
def test_payment_status_map(status, received, expected) -> None:
    payment, _ = drive(
        stripe.sync("pi_1", context(creds, BASE)),
        lambda _r: json_response(200, intent(status, amount_received=received)),
    )
    assert payment.status is expected
    assert payment.connector_status == status


def test_approved_payment_carries_card_and_network_id() -> None:
    charge = {
        "id": "ch_1",
        "amount": 1000,
        "amount_captured": 1000,
        "captured": True,
        "amount_refunded": 300,
        "payment_method_details": {
            "card": {
                "brand": "visa",
                "last4": "4242",
                "exp_month": 12,
                "exp_year": 2030,
                "network_transaction_id": "123456789012345",
            }
        },
    }
    payment, _ = drive(
        stripe.sync("pi_1", context(creds, BASE)),
        lambda _r: json_response(200, intent("succeeded", latest_charge=charge)),
    )
    assert payment.card.last4 == "4242" and payment.card.brand == "visa"
    assert payment.network_transaction_id == "123456789012345"
    assert payment.refunded == Money(minor=300, currency="USD")
    assert payment.reference == "order-1"


def test_decline_is_a_payment_with_error() -> None:
    declined = {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
            "payment_intent": intent("requires_payment_method"),
        }
    }
    payment, _ = drive(stripe.sync("pi_1", context(creds, BASE)), lambda _r: json_response(402, declined))
    assert payment.status is PaymentStatus.AUTHORIZATION_FAILED
    assert payment.error.code == "insufficient_funds"
    assert payment.error.connector_code == "card_declined"
    assert payment.error.decline_code == "insufficient_funds"


def test_generic_decline_maps_to_card_declined() -> None:
    declined = {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
            "payment_intent": intent("requires_payment_method"),
        }
    }
    payment, _ = drive(stripe.sync("pi_1", context(creds, BASE)), lambda _r: json_response(402, declined))
    assert payment.error.code == "card_declined"


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (
            401,
            {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_test_****"}},
            ErrorType.GATEWAY_AUTHENTICATION,
        ),
        (
            403,
            {"error": {"type": "invalid_request_error", "message": "no permission"}},
            ErrorType.GATEWAY_AUTHENTICATION,
        ),
        (
            404,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": "No such payment_intent",
                }
            },
            ErrorType.NOT_FOUND,
        ),
        (
            400,
            {"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such refund"}},
            ErrorType.NOT_FOUND,
        ),
        (
            400,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "parameter_unknown",
                    "param": "foo",
                    "message": "Received unknown parameter: foo",
                }
            },
            ErrorType.GATEWAY_REJECTED,
        ),
        (
            429,
            {"error": {"type": "invalid_request_error", "code": "rate_limit", "message": "rate limit"}},
            ErrorType.GATEWAY_RATE_LIMITED,
        ),
        (
            409,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "idempotency_key_in_use",
                    "message": "There is currently another in-progress request using this Idempotent Key",
                }
            },
            ErrorType.REQUEST_IN_PROGRESS,
        ),
        (
            400,
            {"error": {"type": "idempotency_error", "message": "Keys for idempotent requests can only be used..."}},
            ErrorType.IDEMPOTENCY_CONFLICT,
        ),
        (500, {"error": {"type": "api_error", "message": "boom"}}, ErrorType.GATEWAY_ERROR),
        (500, {"error": {"type": "card_error", "code": "card_declined", "message": "?"}}, ErrorType.GATEWAY_ERROR),
    ],
)
def test_error_answers_map_to_api_errors(status, body, expected) -> None:
    with pytest.raises(SidecarError) as e:
        drive(stripe.capture("pi_1", CaptureRequest(), context(creds, BASE)), lambda _r: json_response(status, body))
    assert e.value.type is expected
    assert e.value.connector == "stripe"
    # Only a 5xx or a 409 (the first call still running) leaves the gateway's side unknown.
    assert e.value.outcome == ("unknown" if status >= 500 or status == 409 else "not_processed")


@pytest.mark.parametrize("status", [401, 403, 429])
@pytest.mark.parametrize("body", [b"<html><h1>Forbidden</h1></html>", b"", b'{"error": {"type": "api_error"'])
def test_auth_and_rate_limit_statuses_decide_whatever_the_body(status, body) -> None:
    answer = GatewayResponse(status, {"content-type": "text/html", "Retry-After": "7"}, body)
    with pytest.raises(SidecarError) as e:
        drive(stripe.capture("pi_1", CaptureRequest(), context(creds, BASE)), lambda _r: answer)
    expected = ErrorType.GATEWAY_RATE_LIMITED if status == 429 else ErrorType.GATEWAY_AUTHENTICATION
    assert (e.value.type, e.value.outcome) == (expected, "not_processed")
    assert e.value.retry_after == ("7" if status == 429 else None)


def test_rejected_parameter_is_named_in_details() -> None:
    body = {
        "error": {
            "type": "invalid_request_error",
            "code": "amount_too_large",
            "param": "amount",
            "message": "Refund amount is greater than unrefunded amount",
        }
    }
    with pytest.raises(SidecarError) as e:
        drive(stripe.refund("pi_1", RefundRequest(), context(creds, BASE)), lambda _r: json_response(400, body))
    assert e.value.type is ErrorType.GATEWAY_REJECTED
    assert e.value.details[0].path == "amount" and e.value.details[0].type == "amount_too_large"


@pytest.mark.parametrize(
    "code, message, canonical",
    [
        ("invalid_expiry_year", "Your card's expiration year is invalid.", "invalid_expiry"),
        ("incorrect_number", "Your card number is incorrect.", "incorrect_number"),
    ],
)
def test_card_refused_at_payment_method_creation_is_a_decline_without_id(
    sample_payment_request, code, message, canonical
) -> None:
    # API.md v1.1: a decline at Stripe's PaymentMethod step is a Payment with no id; the reference is the handle.
    # (Before v1.1 this was a 422, so an expired card was an error, not a decline.)
    body = {"error": {"type": "card_error", "code": code, "param": "exp_year", "message": message}}
    payment, sent = drive(
        stripe.authorize(sample_payment_request, context(creds, BASE)), lambda _r: json_response(402, body)
    )
    assert len(sent) == 1  # no PaymentIntent was created
    assert payment.id is None and payment.reference == sample_payment_request.reference
    assert payment.status is PaymentStatus.AUTHORIZATION_FAILED and payment.amount == sample_payment_request.amount
    assert (payment.error.code, payment.error.connector_code, payment.connector_status) == (
        canonical,
        code,
        "card_error",
    )


@pytest.mark.parametrize("status", [200, 400, 402, 404, 502])
@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b"", b"[1,2]", b'{"no": "status"}', b'{"id": "pi'])
def test_unparseable_answers_are_gateway_errors_of_unknown_outcome(status, body) -> None:
    with pytest.raises(SidecarError) as e:
        drive(
            stripe.sync("pi_1", context(creds, BASE)),
            lambda _r: GatewayResponse(status, {"content-type": "text/html"}, body),
        )
    assert (e.value.type, e.value.outcome) == (ErrorType.GATEWAY_ERROR, "unknown")


def declined_with(**error) -> GatewayResponse:
    body = {"error": {"type": "card_error", **error, "payment_intent": intent("requires_payment_method")}}
    return json_response(402, body)


@pytest.mark.parametrize("decline_code", sorted(DECLINE_CODES))
def test_every_documented_decline_code_is_mapped(decline_code) -> None:
    answer = declined_with(code="card_declined", decline_code=decline_code, message="Your card was declined.")
    payment, _ = drive(stripe.sync("pi_1", context(creds, BASE)), lambda _r: answer)
    assert payment.error.code == DECLINE_CODES[decline_code] and payment.error.unmapped is None
    assert (payment.error.decline_code, payment.error.connector_code) == (decline_code, "card_declined")


@pytest.mark.parametrize("code", sorted(CARD_ERROR_CODES))
def test_card_error_codes_without_decline_code_are_mapped(code) -> None:
    payment, _ = drive(stripe.sync("pi_1", context(creds, BASE)), lambda _r: declined_with(code=code, message="no"))
    assert payment.error.code == CARD_ERROR_CODES[code] and payment.error.connector_code == code


def test_unknown_decline_code_is_card_declined_and_marked_for_counting() -> None:
    answer = declined_with(code="card_declined", decline_code="brand_new_reason", message="Declined.")
    payment, _ = drive(stripe.sync("pi_1", context(creds, BASE)), lambda _r: answer)
    assert payment.error.code == DeclineCode.CARD_DECLINED and payment.error.unmapped == "brand_new_reason"
    assert "unmapped" not in payment.model_dump_json()  # the app never sees the marker


def test_unknown_non_card_payment_error_is_a_processing_error_not_a_refusal() -> None:
    last_error = {"type": "api_error", "code": "something_odd", "message": "The provider timed out."}
    answer = json_response(200, intent("requires_payment_method", last_payment_error=last_error))
    payment, _ = drive(stripe.sync("pi_1", context(creds, BASE)), lambda _r: answer)
    assert payment.status is PaymentStatus.AUTHORIZATION_FAILED
    assert payment.error.code == DeclineCode.PROCESSING_ERROR and payment.error.unmapped == "something_odd"


@pytest.mark.parametrize(
    "next_action, kind, url",
    [
        (
            {"type": "redirect_to_url", "redirect_to_url": {"url": "https://hooks.stripe.com/3ds", "return_url": "x"}},
            "redirect",
            "https://hooks.stripe.com/3ds",
        ),
        ({"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}, "sdk", None),
        (
            {"type": "alipay_handle_redirect", "alipay_handle_redirect": {"url": "https://alipay.example/x"}},
            "redirect",
            "https://alipay.example/x",
        ),
        (
            {"type": "oxxo_display_details", "oxxo_display_details": {"hosted_voucher_url": "https://v.example"}},
            "present_to_shopper",
            "https://v.example",
        ),
        ({"type": "pix_display_qr_code", "pix_display_qr_code": {"data": "qr"}}, "present_to_shopper", None),
        (
            {"type": "wechat_pay_redirect_to_ios_app", "wechat_pay_redirect_to_ios_app": {"native_url": "weixin://"}},
            "sdk",
            None,
        ),
        ({"type": "a_future_action"}, "sdk", None),
        (None, "sdk", None),
    ],
)
def test_requires_action_gives_next_action(next_action, kind, url) -> None:
    answer = json_response(200, intent("requires_action", next_action=next_action))
    payment, _ = drive(stripe.sync("pi_1", context(creds, BASE)), lambda _r: answer)
    assert payment.status is PaymentStatus.AUTHENTICATION_PENDING
    assert (payment.next_action.type, payment.next_action.url) == (kind, url)
    assert payment.next_action.data == next_action
    assert (payment.redirect.url if payment.redirect else None) == (url if kind == "redirect" else None)


@pytest.mark.parametrize(
    "status, expected",
    [
        ("succeeded", RefundStatus.SUCCEEDED),
        ("pending", RefundStatus.PENDING),
        ("failed", RefundStatus.FAILED),
        ("canceled", RefundStatus.FAILED),
        ("requires_action", RefundStatus.PENDING),
        ("odd", RefundStatus.MANUAL_REVIEW),
    ],
)
def test_refund_status_map(status, expected) -> None:
    refund, _ = drive(
        stripe.refund_sync("re_1", context(creds, BASE)),
        lambda _r: json_response(
            200,
            {
                "id": "re_1",
                "status": status,
                "amount": 10,
                "currency": "eur",
                "payment_intent": "pi_1",
                "failure_reason": "expired_or_canceled_card" if status == "failed" else None,
            },
        ),
    )
    assert refund.status is expected and refund.payment_id == "pi_1"
    assert refund.amount == Money(minor=10, currency="EUR")
    assert (refund.error is not None) == (status == "failed")


@given(st.data())
def test_form_encoding_round_trips_nested_keys(data) -> None:
    from connectors.stripe.connector import form_encode

    meta = data.draw(st.dictionaries(st.from_regex(r"\A[a-z]{1,8}\Z"), st.text(max_size=20), max_size=4))
    encoded = form_encode({"metadata": meta, "expand": ["latest_charge"], "confirm": True})
    decoded = parse_qs(encoded, keep_blank_values=True)
    assert decoded["expand[]"] == ["latest_charge"] and decoded["confirm"] == ["true"]
    assert {k[9:-1]: v[0] for k, v in decoded.items() if k.startswith("metadata[")} == meta


# -- v1.1: money, meaning kept ---------------------------------------------------------------------


@pytest.mark.parametrize("call", ["capture", "refund"])
def test_an_amount_in_another_currency_is_400_after_one_lookup_and_no_money_call(call) -> None:
    eur = Money(minor=500, currency="EUR")
    exchange = (
        stripe.capture("pi_1", CaptureRequest(amount=eur), context(creds, BASE))
        if call == "capture"
        else stripe.refund("pi_1", RefundRequest(amount=eur), context(creds, BASE))
    )
    sent = []
    with pytest.raises(SidecarError) as e:
        drive(exchange, lambda r: sent.append(r) or json_response(200, intent(currency="usd")))
    assert [(r.method, urlsplit(r.url).path) for r in sent] == [("GET", "/v1/payment_intents/pi_1")]
    assert e.value.type is ErrorType.INVALID_REQUEST and e.value.details[0].path == "amount.currency"
    assert "USD, not EUR" in e.value.message


def test_no_lookup_without_an_amount() -> None:
    _, sent = drive(stripe.capture("pi_1", CaptureRequest(), context(creds, BASE)), answering(intent("succeeded")))
    assert [urlsplit(r.url).path for r in sent] == ["/v1/payment_intents/pi_1/capture"]


def test_an_amount_stripe_cannot_hold_is_400_before_any_call() -> None:
    exchange = stripe.capture("pi_1", CaptureRequest(amount=Money(minor=1005, currency="KWD")), context(creds, BASE))
    with pytest.raises(SidecarError) as e:
        next(exchange)
    assert e.value.details[0].path == "amount.minor" and "multiples of 0.010 KWD" in e.value.message


def test_refund_keeps_free_text_and_the_payments_reference_and_refuses_a_capture_id() -> None:
    amount = Money(minor=300, currency="USD")
    _, (_, r) = drive(
        stripe.refund("pi_1", RefundRequest(amount=amount, reason="item arrived broken"), context(creds, BASE)),
        answering({"id": "re_1", "status": "succeeded", "amount": 300, "currency": "usd"}),
    )
    form = parse_qs(r.body.decode())
    assert "reason" not in form and form["metadata[sidecar_reason]"] == ["item arrived broken"]
    assert form["metadata[sidecar_reference]"] == ["order-1"]  # the payment's, read in the lookup
    _, (r,) = drive(
        stripe.refund("pi_1", RefundRequest(reason="duplicate", reference="rf-9"), context(creds, BASE)),
        lambda _r: json_response(200, {"id": "re_1", "status": "succeeded", "amount": 300, "currency": "usd"}),
    )
    form = parse_qs(r.body.decode())
    assert form["reason"] == ["duplicate"] and form["metadata[sidecar_reference]"] == ["rf-9"]
    with pytest.raises(SidecarError) as e:
        next(stripe.refund("pi_1", RefundRequest(capture_id="ch_1"), context(creds, BASE)))
    assert e.value.details[0].path == "capture_id"


def test_customer_ids_go_where_stripe_takes_them(sample_payment_request) -> None:
    def sent_intent(customer_id: str) -> dict:
        req = sample_payment_request.model_copy(update={"customer": Customer(id=customer_id, phone="+1 415-555-0123")})
        _, (pm, pi) = drive(
            stripe.authorize(req, context(creds, BASE)),
            lambda r: json_response(200, {"id": "pm_1"} if r.url.endswith("payment_methods") else intent()),
        )
        assert parse_qs(pm.body.decode())["billing_details[phone]"] == ["+14155550123"]
        return parse_qs(pi.body.decode())

    own = sent_intent("cus_Nx81")
    assert own["customer"] == ["cus_Nx81"] and "metadata[sidecar_customer_id]" not in own
    foreign = sent_intent("crm-1234")
    assert "customer" not in foreign and foreign["metadata[sidecar_customer_id]"] == ["crm-1234"]


def test_payments_made_before_the_namespace_still_report_their_reference() -> None:
    payment, _ = drive(
        stripe.sync("pi_1", context(creds, BASE)),
        lambda _r: json_response(200, intent(metadata={"reference": "old-order"})),
    )
    assert payment.reference == "old-order"
    payment, _ = drive(
        stripe.sync("pi_1", context(creds, BASE)),
        lambda _r: json_response(200, intent(metadata={"reference": "the app's key", "sidecar_reference": "order-2"})),
    )
    assert payment.reference == "order-2"


@pytest.mark.parametrize(
    "status, charge, refunded",
    [
        # A void releases the whole authorization: Stripe shows it as refunded, nothing was.
        ("canceled", {"amount": 1000, "amount_captured": 0, "captured": False, "amount_refunded": 1000}, None),
        # A partial capture of 600 releases 400 the same way; then 200 of the 600 are refunded.
        ("succeeded", {"amount": 1000, "amount_captured": 600, "captured": True, "amount_refunded": 600}, 200),
        ("succeeded", {"amount": 1000, "amount_captured": 1000, "captured": True, "amount_refunded": 0}, None),
    ],
)
def test_refunded_counts_refunds_only_never_released_authorizations(status, charge, refunded) -> None:
    received = charge["amount_captured"]
    payment, _ = drive(
        stripe.sync("pi_1", context(creds, BASE)),
        lambda _r: json_response(200, intent(status, amount_received=received, latest_charge=charge)),
    )
    assert payment.refunded == (Money(minor=refunded, currency="USD") if refunded else None)
    if status == "canceled":
        assert payment.status is PaymentStatus.VOIDED and payment.captured is None


def test_a_non_card_payment_error_keeps_its_own_code() -> None:
    failed = intent(
        "requires_payment_method",
        last_payment_error={
            "type": "invalid_request_error",
            "code": "payment_intent_authentication_failure",
            "message": "The provided PaymentMethod has failed authentication.",
        },
    )
    payment, _ = drive(stripe.sync("pi_1", context(creds, BASE)), lambda _r: json_response(200, failed))
    assert payment.error.code == "authentication_failed"  # never card_declined: it is no card refusal
    assert payment.error.connector_code == "payment_intent_authentication_failure"
    no_code = intent("requires_payment_method", last_payment_error={"type": "api_error", "message": "x"})
    payment, _ = drive(stripe.sync("pi_1", context(creds, BASE)), lambda _r: json_response(200, no_code))
    assert (payment.error.code, payment.error.connector_code) == ("processing_error", "api_error")
    assert payment.status is PaymentStatus.AUTHORIZATION_FAILED


@pytest.mark.parametrize("descriptor", ["12345", "JO'S SHOP", "SHOP*1", "Café"])
def test_statement_descriptors_stripe_refuses_are_400_before_any_call(sample_payment_request, descriptor) -> None:
    req = sample_payment_request.model_copy(update={"statement_descriptor": descriptor})
    with pytest.raises(SidecarError) as e:
        next(stripe.authorize(req, context(creds, BASE)))
    assert e.value.details[0].path == "statement_descriptor"


# --- completion after 3-D Secure ---------------------------------------------------------------------


def completing(*answers: dict):
    """Answers a completion's calls in order: the PaymentIntent read, then (if it waits) its confirmation."""
    it = iter(answers)
    return lambda _request: json_response(200, next(it))


def test_complete_reads_the_payment_intent_and_never_trusts_the_return() -> None:
    req = CompleteRequest(details={"payment_intent": "pi_1", "payment_intent_client_secret": "pi_1_secret_x"})
    payment, sent = drive(stripe.complete(req, context(creds, BASE, "key-1")), completing(intent("requires_capture")))
    assert (payment.id, payment.status) == ("pi_1", PaymentStatus.AUTHORIZED)
    (read,) = sent
    check(read)
    assert (read.method, urlsplit(read.url).path) == ("GET", "/v1/payment_intents/pi_1")
    # "succeeded" on the return is the browser's word: a PaymentIntent that failed authentication is a decline.
    failure = {"code": "payment_intent_authentication_failure", "type": "invalid_request_error"}
    lied = CompleteRequest(payment_id="pi_1", details={"redirect_status": "succeeded"})
    failed, _ = drive(
        stripe.complete(lied, context(creds, BASE)),
        completing(intent("requires_payment_method", last_payment_error=failure)),
    )
    assert (
        failed.status is PaymentStatus.AUTHORIZATION_FAILED and failed.error.code == DeclineCode.AUTHENTICATION_FAILED
    )


def test_complete_confirms_where_stripe_waits_for_the_server() -> None:
    ctx = context(creds, BASE, "key-1")
    payment, sent = drive(
        stripe.complete(CompleteRequest(payment_id="pi_1"), ctx),
        completing(intent("requires_confirmation"), intent("requires_capture")),
    )
    assert payment.status is PaymentStatus.AUTHORIZED
    read, confirm = sent
    for request in sent:
        check(request)
    assert (confirm.method, urlsplit(confirm.url).path) == ("POST", "/v1/payment_intents/pi_1/confirm")
    assert (
        confirm.headers["Idempotency-Key"] == gateway_key("key-1", 255, "confirm")
        and "Idempotency-Key" not in read.headers
    )


def test_a_decline_at_confirmation_is_a_payment_with_error() -> None:
    error = {
        "type": "card_error",
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "payment_intent": intent("requires_payment_method"),
    }
    answers = iter([json_response(200, intent("requires_confirmation")), json_response(402, {"error": error})])
    payment, _ = drive(
        stripe.complete(CompleteRequest(payment_id="pi_1"), context(creds, BASE)), lambda _r: next(answers)
    )
    assert payment.status is PaymentStatus.AUTHORIZATION_FAILED and payment.error.code == DeclineCode.INSUFFICIENT_FUNDS


@pytest.mark.parametrize(
    "req, path",
    [
        (CompleteRequest(), "payment_id"),
        (CompleteRequest(details={"redirect_status": "succeeded"}), "payment_id"),
        (CompleteRequest(payment_id="ch_1"), "payment_id"),
        (CompleteRequest(payment_id="pi_1", details={"payment_intent": "pi_2"}), "details.payment_intent"),
        (CompleteRequest(payment_id="pi_1", details={"redirectResult": "x"}), "details.redirectResult"),
    ],
)
def test_a_completion_that_names_no_payment_intent_is_400_before_any_call(req, path) -> None:
    sent: list = []
    with pytest.raises(SidecarError) as refused:
        drive(stripe.complete(req, context(creds, BASE)), lambda r: sent.append(r))
    assert (refused.value.status, refused.value.details[0].path, sent) == (400, path, [])


def test_apps_get_the_sdk_action_with_the_client_secret_their_sdk_needs(sample_payment_request) -> None:
    req = sample_payment_request.model_copy(update={"channel": Channel.IOS})
    action = {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": "https://x"}}
    pending = intent("requires_action", next_action=action, client_secret="pi_1_secret_abc")
    answers = iter([json_response(200, {"id": "pm_1"}), json_response(200, pending)])
    payment, (_, created) = drive(stripe.authorize(req, context(creds, BASE)), lambda _r: next(answers))
    assert parse_qs(created.body.decode())["use_stripe_sdk"] == ["true"]
    assert payment.next_action.type == "sdk"
    assert payment.next_action.data == {**action, "client_secret": "pi_1_secret_abc"}
