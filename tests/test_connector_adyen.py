"""Adyen connector: every request it builds validates against Adyen's official Checkout v71 spec,
for many generated canonical calls; result codes, refusals and errors map as API.md says."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from strategies import (
    context,
    drive,
    gateway_ids,
    idempotency_keys,
    json_response,
    money,
    payment_requests_with,
    refunds,
    requests_of,
    voids,
    whole_addresses,
)

from connectors.adyen.codes import REFUSAL_REASONS, UNCONFIRMED_REFUSAL_REASONS
from connectors.adyen.connector import Adyen, AdyenAccount
from connectors.kit.connector import GatewayResponse
from connectors.kit.declines import DeclineCode
from connectors.kit.errors import ErrorType, SidecarError
from connectors.kit.idempotency import gateway_key
from connectors.kit.models import (
    Address,
    CaptureMethod,
    CaptureRequest,
    CompleteRequest,
    Customer,
    Money,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    VoidRequest,
)
from connectors.kit.testing import requires_spec, validator_for

BASE = "https://checkout-test.adyen.com/v71"
SPEC = Adyen.conformance.spec
requires_specs = requires_spec(SPEC.file)
adyen = Adyen()
account = AdyenAccount(
    api_key="AQEtestkey0123456789abcdefghij", merchant_account="ShopECOM", return_url="https://shop.example/return"
)


def check(request) -> dict:
    url = urlsplit(request.url)
    assert url.netloc == "checkout-test.adyen.com"
    assert request.headers["X-API-Key"] == "AQEtestkey0123456789abcdefghij"
    validator_for(SPEC).check_request(request, BASE, SPEC.schemas)
    return json.loads(request.body)


def payment_answer(result: str = "Authorised", reference: str = "order-1", **extra) -> GatewayResponse:
    return json_response(
        200, {"pspReference": "PSP0001", "resultCode": result, "merchantReference": reference, **extra}
    )


@requires_specs
@settings(max_examples=120, deadline=None)
@given(req=payment_requests_with(whole_addresses), key=idempotency_keys)
def test_authorize_requests_validate_against_the_spec(req, key) -> None:
    exchange = adyen.authorize(req, context(account, BASE, key))
    if req.origin and len(req.origin) > 80:  # Checkout v71's limit: refused before any call
        with pytest.raises(SidecarError) as refused:
            requests_of(exchange, [])
        assert refused.value.status == 400 and refused.value.details[0].path == "origin"
        return
    (request,) = requests_of(exchange, [payment_answer(reference=req.reference)])
    body = check(request)
    assert body["merchantAccount"] == "ShopECOM"
    assert body["amount"] == {"value": req.amount.minor, "currency": req.amount.currency}
    assert body["paymentMethod"]["number"] == req.payment_method.card.number
    assert body["returnUrl"] == (req.return_url or "https://shop.example/return")
    assert (body.get("additionalData", {}).get("manualCapture") == "true") == (req.capture == "manual")
    if key:
        # Any key the app may send fits Adyen's 64 characters, the same way on every retry.
        sent = request.headers["Idempotency-Key"]
        assert sent == gateway_key(key, 64) and len(sent) <= 64
        assert sent == key or len(key) > 64 or key.startswith("sidecar-")
    else:
        assert "Idempotency-Key" not in request.headers
    assert body.get("metadata") == (req.metadata or None)
    customer = req.customer
    assert body.get("shopperReference") == (customer.id if customer else None)
    if customer and customer.phone:
        assert body["telephoneNumber"].startswith("+") and body["telephoneNumber"][1:].isdigit()
    if req.billing_address:
        assert "" not in body["billingAddress"].values()
        assert body["billingAddress"]["houseNumberOrName"] == req.billing_address.line2
    assert body.get("shopperStatement") == req.statement_descriptor
    # 3-D Secure 2: the device as Adyen names it, and the native flow where the app runs Adyen's component.
    if req.browser:
        info = body["browserInfo"]
        assert (info["userAgent"], info["colorDepth"], info["timeZoneOffset"], info["javaEnabled"]) == (
            req.browser.user_agent,
            req.browser.color_depth,
            req.browser.time_zone_offset,
            req.browser.java_enabled,
        )
    assert body.get("shopperIP") == (str(req.shopper_ip) if req.shopper_ip else None)
    assert body.get("origin") == req.origin
    assert body.get("channel") == {"web": "Web", "ios": "iOS", "android": "Android", None: None}[req.channel]
    native = req.channel in ("ios", "android") or (req.channel == "web" and req.origin is not None)
    requested = body.get("authenticationData", {}).get("threeDSRequestData", {}).get("nativeThreeDS")
    assert requested == ("preferred" if native else None)


@requires_specs
@settings(max_examples=60, deadline=None)
@given(pid=gateway_ids, amount=money, void=voids, ref=refunds, key=idempotency_keys)
def test_follow_up_requests_validate_against_the_spec(pid, amount, void, ref, key) -> None:
    ctx = context(account, BASE, key)
    answer = json_response(201, {"pspReference": "MOD1", "paymentPspReference": pid, "status": "received"})
    ref = ref.model_copy(update={"amount": ref.amount or amount})
    keys = []
    for exchange in (
        adyen.capture(pid, CaptureRequest(amount=amount), ctx),
        adyen.void(pid, void, ctx),
        adyen.refund(pid, ref, ctx),
    ):
        (request,) = requests_of(exchange, [answer])
        assert check(request)["merchantAccount"] == "ShopECOM"
        assert urlsplit(request.url).path.startswith(f"/v71/payments/{pid}/")
        keys.append(request.headers.get("Idempotency-Key"))
    if key:
        # Each modification has a key of its own: Adyen would answer a refund with a capture's result.
        assert len(set(keys)) == 3 and all(len(k) <= 64 for k in keys)


@pytest.mark.parametrize(
    "result, capture, expected",
    [
        ("Authorised", "manual", PaymentStatus.AUTHORIZED),
        ("Authorised", "automatic", PaymentStatus.CHARGED),
        ("Refused", "manual", PaymentStatus.AUTHORIZATION_FAILED),
        ("Error", "manual", PaymentStatus.FAILURE),
        ("Cancelled", "manual", PaymentStatus.VOIDED),
        ("RedirectShopper", "manual", PaymentStatus.AUTHENTICATION_PENDING),
        ("ChallengeShopper", "manual", PaymentStatus.AUTHENTICATION_PENDING),
        ("Pending", "manual", PaymentStatus.PENDING),
        ("Received", "automatic", PaymentStatus.PENDING),
        ("PartiallyAuthorised", "manual", PaymentStatus.PARTIALLY_AUTHORIZED),
        ("SomethingNew", "manual", PaymentStatus.UNRESOLVED),
    ],
)
def test_result_code_map(sample_payment_request, result, capture, expected) -> None:
    req = sample_payment_request.model_copy(update={"capture": CaptureMethod(capture)})
    payment, _ = drive(adyen.authorize(req, context(account, BASE)), lambda _r: payment_answer(result))
    assert payment.status is expected and payment.connector_status == result
    assert payment.id == "PSP0001"


def test_approved_payment_carries_card_summary(sample_payment_request) -> None:
    answer = payment_answer(
        additionalData={"cardSummary": "1111", "expiryDate": "3/2030", "networkTxReference": "987654321012345"},
        paymentMethod={"brand": "visa", "type": "scheme"},
    )
    payment, _ = drive(adyen.authorize(sample_payment_request, context(account, BASE)), lambda _r: answer)
    assert (payment.card.brand, payment.card.last4, payment.card.exp_month, payment.card.exp_year) == (
        "visa",
        "1111",
        3,
        2030,
    )
    assert payment.network_transaction_id == "987654321012345"


@pytest.mark.parametrize(
    "code, reason, canonical",
    [
        ("12", "Not enough balance", "insufficient_funds"),
        ("24", "CVC Declined", "incorrect_cvc"),
        ("2", "Refused", "card_declined"),
        ("6", "Expired Card", "expired_card"),
    ],
)
def test_refusal_fills_decline_info(sample_payment_request, code, reason, canonical) -> None:
    answer = payment_answer("Refused", refusalReason=reason, refusalReasonCode=code)
    payment, _ = drive(adyen.authorize(sample_payment_request, context(account, BASE)), lambda _r: answer)
    assert payment.status is PaymentStatus.AUTHORIZATION_FAILED
    assert payment.error.code == canonical
    assert (payment.error.connector_code, payment.error.connector_message) == (code, reason)


def test_redirect_action_becomes_redirect_and_next_action(sample_payment_request) -> None:
    answer = payment_answer(
        "RedirectShopper",
        action={
            "type": "redirect",
            "method": "POST",
            "url": "https://3ds.example/x",
            "data": {"PaReq": "abc", "MD": "def"},
        },
    )
    payment, _ = drive(adyen.authorize(sample_payment_request, context(account, BASE)), lambda _r: answer)
    assert payment.redirect.url == "https://3ds.example/x" and payment.redirect.method == "POST"
    assert payment.redirect.form == {"PaReq": "abc", "MD": "def"}
    action = payment.next_action
    assert (action.type, action.url, action.method, action.form) == (
        "redirect",
        *payment.redirect.model_dump().values(),
    )


def test_modifications_are_initiated_not_final() -> None:
    ctx = context(account, BASE)
    answer = json_response(201, {"pspReference": "MOD1", "paymentPspReference": "PSP0001", "status": "received"})
    amount = Money(minor=500, currency="EUR")
    payment, _ = drive(adyen.capture("PSP0001", CaptureRequest(amount=amount), ctx), lambda _r: answer)
    assert payment.status is PaymentStatus.CAPTURE_INITIATED and payment.id == "PSP0001"
    assert payment.operation_id == "MOD1"  # what the CAPTURE webhook will carry
    payment, _ = drive(adyen.void("PSP0001", VoidRequest(), ctx), lambda _r: answer)
    assert payment.status is PaymentStatus.VOID_INITIATED and payment.operation_id == "MOD1"
    refund, _ = drive(adyen.refund("PSP0001", RefundRequest(amount=amount), ctx), lambda _r: answer)
    assert refund.status is RefundStatus.PENDING and refund.id == "MOD1" and refund.payment_id == "PSP0001"


@pytest.mark.parametrize("call", ["capture", "refund"])
def test_amount_is_required_for_capture_and_refund(call) -> None:
    ctx = context(account, BASE)
    exchange = (
        adyen.capture("PSP1", CaptureRequest(), ctx)
        if call == "capture"
        else adyen.refund("PSP1", RefundRequest(), ctx)
    )
    with pytest.raises(SidecarError) as e:
        next(exchange)
    assert e.value.type is ErrorType.INVALID_REQUEST and e.value.details[0].path == "amount"


@pytest.mark.parametrize("call", ["sync", "refund_sync"])
def test_sync_is_unsupported_not_faked(call) -> None:
    with pytest.raises(SidecarError) as e:
        getattr(adyen, call)("PSP1", context(account, BASE))
    assert e.value.type is ErrorType.UNSUPPORTED_OPERATION and e.value.status == 501


def test_missing_return_url_is_a_clear_error(sample_payment_request) -> None:
    no_url = account.model_copy(update={"return_url": None})
    with pytest.raises(SidecarError) as e:
        next(adyen.authorize(sample_payment_request, context(no_url, BASE)))
    assert e.value.details[0].path == "return_url"


@pytest.mark.parametrize(
    "status, body, expected",
    [
        (
            401,
            {
                "status": 401,
                "errorCode": "000",
                "message": "HTTP Status Response - Unauthorized",
                "errorType": "security",
            },
            ErrorType.GATEWAY_AUTHENTICATION,
        ),
        (
            403,
            {"status": 403, "errorCode": "901", "message": "Invalid Merchant Account", "errorType": "security"},
            ErrorType.GATEWAY_AUTHENTICATION,
        ),
        (
            422,
            {
                "status": 422,
                "errorCode": "167",
                "message": "Original pspReference required for this operation",
                "errorType": "validation",
            },
            ErrorType.GATEWAY_REJECTED,
        ),
        (
            500,
            {
                "status": 500,
                "errorCode": "905",
                "message": "Payment details are not supported",
                "errorType": "configuration",
            },
            ErrorType.GATEWAY_ERROR,
        ),
        (
            409,
            {
                "status": 409,
                "errorCode": "704",
                "message": "request already processed or in progress",
                "errorType": "validation",
            },
            ErrorType.REQUEST_IN_PROGRESS,
        ),
        (
            422,
            {
                "status": 422,
                "errorCode": "704",
                "message": "request already processed or in progress",
                "errorType": "validation",
            },
            ErrorType.REQUEST_IN_PROGRESS,
        ),
        (
            429,
            {"type": "https://docs.adyen.com/errors/too-many-requests", "title": "Too many requests", "status": 429},
            ErrorType.GATEWAY_RATE_LIMITED,
        ),
    ],
)
def test_error_answers_map_to_api_errors(status, body, expected) -> None:
    with pytest.raises(SidecarError) as e:
        drive(adyen.void("PSP1", VoidRequest(), context(account, BASE)), lambda _r: json_response(status, body))
    assert e.value.type is expected
    # A 5xx, or 704 (the first call with the key may still be running), leaves the outcome unknown.
    assert e.value.outcome == ("unknown" if status >= 500 or body.get("errorCode") == "704" else "not_processed")
    if body.get("errorCode", "000") != "000":
        assert e.value.details[0].type == body["errorCode"]


@pytest.mark.parametrize("status", [200, 422, 500, 502])
def test_html_answer_is_a_gateway_error_of_unknown_outcome(sample_payment_request, status) -> None:
    html = GatewayResponse(status, {"content-type": "text/html"}, b"<html><body>Service Unavailable</body></html>")
    with pytest.raises(SidecarError) as e:
        drive(adyen.authorize(sample_payment_request, context(account, BASE)), lambda _r: html)
    assert (e.value.type, e.value.outcome) == (ErrorType.GATEWAY_ERROR, "unknown")


# -- v1.1: money, ids, meaning kept ----------------------------------------------------------------


def test_capture_cancel_and_refund_send_the_apps_references_and_report_the_modification_ids() -> None:
    ctx = context(account, BASE)
    amount = Money(minor=500, currency="EUR")
    answer = json_response(201, {"pspReference": "MOD1", "paymentPspReference": "PSP0001", "status": "received"})
    for exchange in (
        adyen.capture("PSP0001", CaptureRequest(amount=amount, reference="cap-1"), ctx),
        adyen.void("PSP0001", VoidRequest(reference="cap-1"), ctx),
        adyen.refund("PSP0001", RefundRequest(amount=amount, reference="cap-1"), ctx),
    ):
        _, (request,) = drive(exchange, lambda _r: answer)
        assert json.loads(request.body)["reference"] == "cap-1"


@pytest.mark.parametrize(
    "reason, sent", [("fraudulent", "FRAUD"), ("return", "RETURN"), ("item arrived broken", "OTHER"), (None, None)]
)
def test_refund_reasons_map_to_adyens_enum(reason, sent) -> None:
    answer = json_response(201, {"pspReference": "MOD1", "status": "received"})
    req = RefundRequest(amount=Money(minor=1, currency="EUR"), reason=reason)
    _, (request,) = drive(adyen.refund("PSP0001", req, context(account, BASE)), lambda _r: answer)
    assert json.loads(request.body).get("merchantRefundReason") == sent


def test_capture_id_is_checked_and_not_sent_for_cards() -> None:
    answer = json_response(201, {"pspReference": "MOD2", "status": "received"})
    req = RefundRequest(amount=Money(minor=1, currency="EUR"), capture_id="QFQTPCQ8HXSKGK82")
    _, (request,) = drive(adyen.refund("PSP0001", req, context(account, BASE)), lambda _r: answer)
    assert "capturePspReference" not in json.loads(request.body)
    with pytest.raises(SidecarError) as e:
        next(adyen.refund("PSP0001", req.model_copy(update={"capture_id": "ch_1"}), context(account, BASE)))
    assert e.value.details[0].path == "capture_id"


def test_a_modification_in_another_currency_is_400_not_a_rejection() -> None:
    refused = json_response(
        422, {"status": 422, "errorCode": "138", "message": "Unsupported currency specified", "errorType": "validation"}
    )
    with pytest.raises(SidecarError) as e:
        drive(
            adyen.capture("PSP0001", CaptureRequest(amount=Money(minor=1, currency="USD")), context(account, BASE)),
            lambda _r: refused,
        )
    assert e.value.type is ErrorType.INVALID_REQUEST and e.value.details[0].path == "amount.currency"


def test_shopper_name_phone_reference_and_statement(sample_payment_request) -> None:
    req = sample_payment_request.model_copy(
        update={
            "customer": Customer(id="crm-1234", name="Ludwig van Beethoven", phone="030 1234567"),
            "billing_address": Address(line1="Bonngasse", line2="20", city="Bonn", postal_code="53111", country="DE"),
            "statement_descriptor": "SHOP*ORDER 42",
        }
    )
    _, (request,) = drive(adyen.authorize(req, context(account, BASE)), lambda _r: payment_answer())
    body = json.loads(request.body)
    assert body["shopperName"] == {"firstName": "Ludwig", "lastName": "van Beethoven"}
    assert body["telephoneNumber"] == "+49301234567"  # read in the billing country, sent in E.164
    assert body["shopperReference"] == "crm-1234" and body["shopperStatement"] == "SHOP*ORDER 42"
    assert body["billingAddress"] == {
        "street": "Bonngasse",
        "houseNumberOrName": "20",
        "city": "Bonn",
        "postalCode": "53111",
        "country": "DE",
    }


@pytest.mark.parametrize(
    "update, path",
    [
        ({"billing_address": Address(line1="Bonngasse", city="Bonn", country="DE")}, "billing_address"),
        ({"customer": Customer(id="ab")}, "customer.id"),
        ({"customer": Customer(phone="+999 1234")}, "customer.phone"),
        ({"statement_descriptor": "Caf\u00e9 & Co"}, "statement_descriptor"),
        ({"metadata": {f"k{i}": "v" for i in range(21)}}, "metadata"),
        ({"amount": Money(minor=150_050, currency="CVE")}, "amount.minor"),
        ({"amount": Money(minor=100, currency="CLF")}, "amount.currency"),
    ],
)
def test_what_adyen_would_refuse_or_lose_is_400_before_any_call(sample_payment_request, update, path) -> None:
    with pytest.raises(SidecarError) as e:
        next(adyen.authorize(sample_payment_request.model_copy(update=update), context(account, BASE)))
    assert e.value.type is ErrorType.INVALID_REQUEST and e.value.details[0].path == path


@pytest.mark.parametrize(
    "status, expected", [(401, ErrorType.GATEWAY_AUTHENTICATION), (429, ErrorType.GATEWAY_RATE_LIMITED)]
)
def test_status_decides_for_non_json_auth_and_rate_limit_answers(sample_payment_request, status, expected) -> None:
    html = GatewayResponse(
        status, {"Content-Type": "text/html", "Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, b"<h1>no</h1>"
    )
    with pytest.raises(SidecarError) as e:
        drive(adyen.authorize(sample_payment_request, context(account, BASE)), lambda _r: html)
    assert (e.value.type, e.value.outcome) == (expected, "not_processed")
    assert e.value.retry_after == ("Wed, 21 Oct 2026 07:28:00 GMT" if status == 429 else None)


@pytest.mark.parametrize(
    "answer, kind, has_redirect",
    [
        # The spec's own 3DS2 example (card-3d-secure-2-web): no pspReference yet.
        (
            {
                "resultCode": "IdentifyShopper",
                "action": {
                    "type": "threeDS2",
                    "subtype": "fingerprint",
                    "token": "eyJ0",
                    "paymentMethodType": "scheme",
                },
            },
            "threeds_fingerprint",
            False,
        ),
        (
            {
                "resultCode": "ChallengeShopper",
                "pspReference": "PSP0001",
                "action": {"type": "threeDS2", "subtype": "challenge", "token": "eyJ0"},
            },
            "threeds_challenge",
            False,
        ),
        (
            {"resultCode": "RedirectShopper", "action": {"type": "redirect", "method": "GET", "url": "https://x/y"}},
            "redirect",
            True,
        ),
        (
            {
                "resultCode": "PresentToShopper",
                "pspReference": "P2",
                "action": {"type": "voucher", "downloadUrl": "https://v"},
            },
            "present_to_shopper",
            False,
        ),
        (
            {"resultCode": "PresentToShopper", "action": {"type": "qrCode", "qrCodeData": "q"}},
            "present_to_shopper",
            False,
        ),
        ({"resultCode": "IdentifyShopper"}, "threeds_fingerprint", False),
        ({"resultCode": "RedirectShopper", "action": {"type": "await", "paymentData": "x"}}, "sdk", False),
    ],
)
def test_action_answers_are_payments_with_next_action(sample_payment_request, answer, kind, has_redirect) -> None:
    payment, _ = drive(
        adyen.authorize(sample_payment_request, context(account, BASE)), lambda _r: json_response(200, answer)
    )
    assert payment.status is PaymentStatus.AUTHENTICATION_PENDING
    assert payment.id == answer.get("pspReference")  # absent before Adyen made a transaction
    assert payment.reference == sample_payment_request.reference
    assert payment.next_action.type == kind and payment.next_action.data == answer.get("action")
    assert (payment.redirect is not None) == has_redirect


def test_final_answer_without_psp_reference_is_unusable(sample_payment_request) -> None:
    with pytest.raises(SidecarError) as e:
        drive(
            adyen.authorize(sample_payment_request, context(account, BASE)),
            lambda _r: json_response(200, {"resultCode": "Authorised"}),
        )
    assert (e.value.type, e.value.outcome) == (ErrorType.GATEWAY_ERROR, "unknown")


@pytest.mark.parametrize("code", sorted(REFUSAL_REASONS, key=int))
def test_confirmed_refusal_reasons_are_mapped(sample_payment_request, code) -> None:
    answer = payment_answer("Refused", refusalReason="whatever Adyen says", refusalReasonCode=code)
    payment, _ = drive(adyen.authorize(sample_payment_request, context(account, BASE)), lambda _r: answer)
    assert payment.error.code == REFUSAL_REASONS[code] and payment.error.unmapped is None


@pytest.mark.parametrize("code", sorted(UNCONFIRMED_REFUSAL_REASONS, key=int))
def test_unconfirmed_refusal_reasons_apply_only_with_their_name(sample_payment_request, code) -> None:
    name, canonical = UNCONFIRMED_REFUSAL_REASONS[code]
    ctx = context(account, BASE)
    named = payment_answer("Refused", refusalReason=name.upper() + ".", refusalReasonCode=code)
    payment, _ = drive(adyen.authorize(sample_payment_request, ctx), lambda _r: named)
    assert payment.error.code == canonical and payment.error.connector_message == name.upper() + "."
    other = payment_answer("Refused", refusalReason="Something else", refusalReasonCode=code)
    payment, _ = drive(adyen.authorize(sample_payment_request, ctx), lambda _r: other)
    assert payment.error.code == DeclineCode.CARD_DECLINED and payment.error.unmapped == code


def test_error_without_a_code_is_a_processing_error_not_a_refusal(sample_payment_request) -> None:
    answer = payment_answer("Error", refusalReason="Acquirer Error")
    payment, _ = drive(adyen.authorize(sample_payment_request, context(account, BASE)), lambda _r: answer)
    assert payment.status is PaymentStatus.FAILURE and payment.error.code == DeclineCode.PROCESSING_ERROR
    assert payment.error.unmapped is None


def test_replayed_answer_of_another_call_is_an_idempotency_conflict(sample_payment_request) -> None:
    ctx = context(account, BASE, "key-1")
    other = payment_answer(reference="another-order")
    with pytest.raises(SidecarError) as e:
        drive(adyen.authorize(sample_payment_request, ctx), lambda _r: other)
    assert (e.value.type, e.value.outcome) == (ErrorType.IDEMPOTENCY_CONFLICT, "not_processed")
    amount = Money(minor=500, currency="EUR")
    capture = json_response(
        201,
        {
            "pspReference": "M",
            "paymentPspReference": "PSP0001",
            "status": "received",
            "amount": {"value": 700, "currency": "EUR"},
        },
    )
    with pytest.raises(SidecarError) as e:
        drive(adyen.capture("PSP0001", CaptureRequest(amount=amount), ctx), lambda _r: capture)
    assert e.value.type is ErrorType.IDEMPOTENCY_CONFLICT and "amount" in e.value.message


def test_amounts_come_back_in_iso_minor_units(sample_payment_request) -> None:
    req = sample_payment_request.model_copy(update={"amount": Money(minor=1000, currency="CLP")})
    payment, (request,) = drive(
        adyen.authorize(req, context(account, BASE)),
        lambda _r: payment_answer(amount={"value": 100_000, "currency": "CLP"}),
    )
    assert json.loads(request.body)["amount"] == {"value": 100_000, "currency": "CLP"}
    assert payment.amount == Money(minor=1000, currency="CLP")


# --- completion after 3-D Secure or a redirect -------------------------------------------------------


@requires_specs
def test_complete_sends_the_details_with_paymentdata_beside_them_under_a_key_of_its_own() -> None:
    challenge = {"type": "threeDS2", "subtype": "challenge", "token": "t", "authorisationToken": "a"}
    answer = json_response(200, {"resultCode": "ChallengeShopper", "action": challenge})
    req = CompleteRequest(details={"threeDSResult": "eyJ0aHJlZURTQ29tcEluZCI6IlkifQ==", "paymentData": "Ab02!x"})
    payment, (request,) = drive(adyen.complete(req, context(account, BASE, "key-1")), lambda _r: answer)
    assert check(request) == {"details": {"threeDSResult": "eyJ0aHJlZURTQ29tcEluZCI6IlkifQ=="}, "paymentData": "Ab02!x"}
    assert urlsplit(request.url).path == "/v71/payments/details"
    # Adyen would answer a completion under the authorization's key with the authorization's answer.
    assert request.headers["Idempotency-Key"] == gateway_key("key-1", 64, "details") != "key-1"
    assert (payment.id, payment.status, payment.next_action.type) == (
        None,
        PaymentStatus.AUTHENTICATION_PENDING,
        "threeds_challenge",
    )
    assert payment.next_action.data == challenge


@pytest.mark.parametrize(
    "answer, status, code",
    [
        ({"resultCode": "Authorised", "merchantReference": "order-1"}, PaymentStatus.AUTHORIZED, None),
        (
            {"resultCode": "Refused", "refusalReason": "Shopper Cancelled", "refusalReasonCode": "16"},
            PaymentStatus.AUTHORIZATION_FAILED,
            DeclineCode.SHOPPER_CANCELLED,
        ),
        (
            {"resultCode": "Refused", "refusalReason": "3D Not Authenticated", "refusalReasonCode": "11"},
            PaymentStatus.AUTHORIZATION_FAILED,
            DeclineCode.AUTHENTICATION_REQUIRED,
        ),
    ],
)
def test_a_completion_answers_as_an_authorization_does(answer, status, code) -> None:
    req = CompleteRequest(payment_id="V4HZ4RBFJGXXGN82", details={"redirectResult": "X6XtfGC3!Y"})
    ok = json_response(200, {"pspReference": "V4HZ4RBFJGXXGN82", **answer})
    payment, _ = drive(adyen.complete(req, context(account, BASE)), lambda _r: ok)
    # Adyen's answer says nothing of the capture mode: Authorised is authorized, its capture comes by webhook.
    decline = payment.error.code if payment.error else None
    assert (payment.id, payment.status, decline) == ("V4HZ4RBFJGXXGN82", status, code)
    assert payment.reference == answer.get("merchantReference") and payment.amount is None


@pytest.mark.parametrize(
    "req, path",
    [
        (CompleteRequest(), "details"),
        (CompleteRequest(details={"paymentData": "Ab02!x"}), "details"),
        (CompleteRequest(payment_id="pi_123", details={"redirectResult": "x"}), "payment_id"),
    ],
)
def test_a_completion_without_details_or_with_another_kind_of_id_is_400_before_any_call(req, path) -> None:
    sent: list = []
    with pytest.raises(SidecarError) as refused:
        drive(adyen.complete(req, context(account, BASE)), lambda r: sent.append(r))
    assert (refused.value.status, refused.value.details[0].path, sent) == (400, path, [])
