"""Tests of the sandbox gateways: the simulators' ``handle`` directly, then over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from connectors.kit.sandbox import SLOW_TEST_CARD as SLOW_CARD
from connectors.kit.sandbox import SLOW_TEST_SECONDS as SLOW_SECONDS
from connectors.kit.sandbox_wire import form_fields as parse_form
from connectors.kit.sandbox_wire import luhn_valid
from sidecar.sandbox import (
    ADYEN_SANDBOX_KEY,
    ADYEN_SANDBOX_MERCHANT,
    STRIPE_SANDBOX_KEY,
    AdyenCodec,
    SandboxResponse,
    SimulatedGateway,
    StripeCodec,
    start_sandbox,
)
from sidecar.sandbox.common import BoundedStore

# Every test runs "in June 2030" so expiry rules do not depend on the day the suite runs.
FIXED_NOW = datetime(2030, 6, 15, tzinfo=UTC).timestamp()
PROJECT_ROOT = Path(__file__).resolve().parents[1]


# --- Stripe helpers ------------------------------------------------------------------------------

STRIPE_HEADERS = {
    "Authorization": f"Bearer {STRIPE_SANDBOX_KEY}",
    "Content-Type": "application/x-www-form-urlencoded",
}


@pytest.fixture
def stripe() -> SimulatedGateway:
    return SimulatedGateway(StripeCodec(), "http://sandbox.test", clock=lambda: FIXED_NOW)


def s_post(
    sb: SimulatedGateway, path: str, params: dict[str, str] | str, idempotency_key: str | None = None
) -> SandboxResponse:
    body = params if isinstance(params, str) else urlencode(params)
    headers = dict(STRIPE_HEADERS)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return sb.handle("POST", path, "", headers, body.encode())


def s_get(sb: SimulatedGateway, path: str, query: str = "") -> SandboxResponse:
    return sb.handle("GET", path, query, STRIPE_HEADERS, b"")


def card_params(number: str = "4242424242424242", **extra: str) -> dict[str, str]:
    return {
        "type": "card",
        "card[number]": number,
        "card[exp_month]": "12",
        "card[exp_year]": "2034",
        "card[cvc]": "123",
        **extra,
    }


def create_pm(sb: SimulatedGateway, number: str = "4242424242424242") -> str:
    response = s_post(sb, "/v1/payment_methods", card_params(number))
    assert response.status == 200, response.body
    return response.json()["id"]


def create_pi(sb: SimulatedGateway, number: str = "4242424242424242", **extra: str) -> SandboxResponse:
    params = {"amount": "1000", "currency": "USD", "payment_method": create_pm(sb, number), "confirm": "true"}
    return s_post(sb, "/v1/payment_intents", {**params, **extra})


# --- Stripe: auth, routing, parameters -----------------------------------------------------------


def test_stripe_rejects_missing_and_wrong_keys_without_echoing_them(stripe: SimulatedGateway) -> None:
    missing = stripe.handle("GET", "/v1/payment_intents/pi_x", "", {}, b"")
    assert missing.status == 401
    assert missing.json()["error"]["type"] == "invalid_request_error"

    secret = "sk_test_" + "a" * 40 + "WXYZ"
    wrong = stripe.handle("GET", "/v1/payment_intents/pi_x", "", {"Authorization": f"Bearer {secret}"}, b"")
    assert wrong.status == 401
    error = wrong.json()["error"]
    assert error["message"].startswith("Invalid API Key provided: sk_test_****")
    assert secret not in wrong.body.decode()


def test_stripe_accepts_basic_auth_with_the_key_as_user(stripe: SimulatedGateway) -> None:
    token = base64.b64encode(f"{STRIPE_SANDBOX_KEY}:".encode()).decode()
    response = stripe.handle(
        "POST", "/v1/payment_methods", "", {"Authorization": f"Basic {token}"}, urlencode(card_params()).encode()
    )
    assert response.status == 200
    assert response.headers["Request-Id"].startswith("req_")


def test_stripe_404_shapes(stripe: SimulatedGateway) -> None:
    unknown_url = s_get(stripe, "/v1/x")
    assert unknown_url.status == 404
    assert unknown_url.json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/x)")

    missing_pi = s_get(stripe, "/v1/payment_intents/pi_nope").json()["error"]
    assert missing_pi == {
        "code": "resource_missing",
        "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
        "message": "No such payment_intent: 'pi_nope'",
        "param": "intent",
        "type": "invalid_request_error",
    }
    missing_refund = s_get(stripe, "/v1/refunds/re_nope")
    assert missing_refund.status == 404
    assert missing_refund.json()["error"]["param"] == "refund"


@pytest.mark.parametrize(
    ("params", "code", "param"),
    [
        ("amount=100&currency=usd&shoe_size=9", "parameter_unknown", "shoe_size"),
        ("amount=100", "parameter_missing", "currency"),
        ("amount=ten&currency=usd", "parameter_invalid_integer", "amount"),
        ("amount=0&currency=usd", "parameter_invalid_integer", "amount"),
        ("amount=100&currency=usd&payment_method=pm_missing", "resource_missing", "payment_method"),
    ],
)
def test_stripe_parameter_errors(stripe: SimulatedGateway, params: str, code: str, param: str) -> None:
    response = s_post(stripe, "/v1/payment_intents", params)
    assert response.status == 400
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", code, param)
    if code == "parameter_unknown":
        assert error["message"] == "Received unknown parameter: shoe_size"


def test_stripe_unknown_nested_parameter_names_the_bracket_path(stripe: SimulatedGateway) -> None:
    response = s_post(stripe, "/v1/payment_methods", card_params(**{"card[colour]": "red"}))
    assert response.status == 400
    assert response.json()["error"]["param"] == "card[colour]"


def test_stripe_ignores_a_json_body(stripe: SimulatedGateway) -> None:
    body = json.dumps({"amount": 100, "currency": "usd"}).encode()
    headers = {**STRIPE_HEADERS, "Content-Type": "application/json"}
    response = stripe.handle("POST", "/v1/payment_intents", "", headers, body)
    assert response.status == 400
    assert response.json()["error"]["code"] == "parameter_missing"


def test_parse_form_handles_brackets_arrays_and_indexes() -> None:
    parsed = parse_form(
        "card[number]=4242&billing_details[address][city]=Paris&expand[]=a&expand[]=b"
        "&payment_method_types[0]=card&metadata[0]=zero"
    )
    assert parsed == {
        "card": {"number": "4242"},
        "billing_details": {"address": {"city": "Paris"}},
        "expand": ["a", "b"],
        "payment_method_types": ["card"],
        "metadata": {"0": "zero"},
    }


# --- Stripe: cards and payment flows -------------------------------------------------------------


def test_stripe_payment_method_validation(stripe: SimulatedGateway) -> None:
    bad_luhn = s_post(stripe, "/v1/payment_methods", card_params("4242424242424241"))
    assert bad_luhn.status == 402
    assert bad_luhn.json()["error"] == {
        "code": "incorrect_number",
        "doc_url": "https://stripe.com/docs/error-codes/incorrect-number",
        "message": "Your card number is incorrect.",
        "param": "number",
        "type": "card_error",
    }
    expired_year = s_post(stripe, "/v1/payment_methods", card_params(**{"card[exp_year]": "2029"}))
    assert expired_year.json()["error"]["code"] == "invalid_expiry_year"
    expired_month = s_post(
        stripe, "/v1/payment_methods", card_params(**{"card[exp_year]": "2030", "card[exp_month]": "5"})
    )
    assert expired_month.json()["error"]["code"] == "invalid_expiry_month"
    bad_cvc = s_post(stripe, "/v1/payment_methods", card_params(**{"card[cvc]": "12a"}))
    assert (bad_cvc.status, bad_cvc.json()["error"]["code"]) == (402, "invalid_cvc")


def test_stripe_payment_method_never_returns_the_number(stripe: SimulatedGateway) -> None:
    response = s_post(stripe, "/v1/payment_methods", card_params("5555555555554444"))
    body = response.json()
    assert body["id"].startswith("pm_") and body["object"] == "payment_method"
    assert body["card"]["brand"] == "mastercard" and body["card"]["last4"] == "4444"
    assert body["livemode"] is False
    assert "5555555555554444" not in response.body.decode()


def test_stripe_approved_automatic_capture(stripe: SimulatedGateway) -> None:
    response = create_pi(stripe, **{"expand[]": "latest_charge", "metadata[reference]": "order-1"})
    assert response.status == 200
    pi = response.json()
    assert pi["status"] == "succeeded"
    assert (pi["amount"], pi["amount_received"], pi["amount_capturable"]) == (1000, 1000, 0)
    assert pi["currency"] == "usd" and pi["metadata"] == {"reference": "order-1"}
    assert pi["client_secret"].startswith(pi["id"] + "_secret_")
    charge = pi["latest_charge"]
    assert charge["object"] == "charge" and charge["captured"] is True and charge["amount_captured"] == 1000
    card = charge["payment_method_details"]["card"]
    assert card["brand"] == "visa" and card["last4"] == "4242"
    assert len(card["network_transaction_id"]) == 15 and card["network_transaction_id"].isdigit()
    assert charge["outcome"]["type"] == "authorized"


@pytest.mark.parametrize(
    ("number", "code", "decline_code"),
    [
        ("4000000000000002", "card_declined", "generic_decline"),
        ("4000000000009995", "card_declined", "insufficient_funds"),
        ("4000000000000069", "expired_card", "expired_card"),
        ("4000000000000127", "incorrect_cvc", "incorrect_cvc"),
        ("4000000000000119", "processing_error", "processing_error"),
    ],
)
def test_stripe_declining_test_cards(stripe: SimulatedGateway, number: str, code: str, decline_code: str) -> None:
    response = create_pi(stripe, number)
    assert response.status == 402
    error = response.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", code, decline_code)
    assert error["charge"].startswith("ch_")
    assert error["payment_method"]["card"]["last4"] == number[-4:]
    pi = error["payment_intent"]
    assert pi["status"] == "requires_payment_method"
    assert pi["last_payment_error"]["decline_code"] == decline_code
    synced = s_get(stripe, f"/v1/payment_intents/{pi['id']}", "expand[]=latest_charge").json()
    assert synced["latest_charge"]["status"] == "failed"


def test_stripe_manual_capture_partial_then_refunds(stripe: SimulatedGateway) -> None:
    pi = create_pi(stripe, capture_method="manual").json()
    assert (pi["status"], pi["amount_capturable"], pi["amount_received"]) == ("requires_capture", 1000, 0)

    too_much = s_post(stripe, f"/v1/payment_intents/{pi['id']}/capture", {"amount_to_capture": "1001"})
    assert (too_much.status, too_much.json()["error"]["code"]) == (400, "amount_too_large")

    captured = s_post(
        stripe, f"/v1/payment_intents/{pi['id']}/capture", {"amount_to_capture": "600", "expand[]": "latest_charge"}
    ).json()
    assert captured["status"] == "succeeded"
    assert (captured["amount_received"], captured["amount_capturable"]) == (600, 0)
    assert captured["latest_charge"]["amount_captured"] == 600
    # Stripe releases the 400 not captured and counts it as refunded ("any additional amount will be
    # automatically refunded", https://docs.stripe.com/api/payment_intents/capture).
    assert (captured["latest_charge"]["amount_refunded"], captured["latest_charge"]["refunded"]) == (400, False)

    again = s_post(stripe, f"/v1/payment_intents/{pi['id']}/capture", {})
    assert again.json()["error"]["code"] == "payment_intent_unexpected_state"

    beyond = s_post(stripe, "/v1/refunds", {"payment_intent": pi["id"], "amount": "700"})
    assert beyond.status == 400
    assert beyond.json()["error"]["code"] == "amount_too_large"

    refund = s_post(stripe, "/v1/refunds", {"payment_intent": pi["id"], "amount": "200", "reason": "duplicate"})
    assert refund.status == 200
    body = refund.json()
    assert (body["object"], body["amount"], body["status"]) == ("refund", 200, "succeeded")
    assert body["reason"] == "duplicate"
    assert s_get(stripe, f"/v1/refunds/{body['id']}").json() == body

    rest = s_post(stripe, "/v1/refunds", {"payment_intent": pi["id"]}).json()
    assert rest["amount"] == 400
    done = s_post(stripe, "/v1/refunds", {"payment_intent": pi["id"]})
    assert done.json()["error"]["code"] == "charge_already_refunded"
    synced = s_get(stripe, f"/v1/payment_intents/{pi['id']}", "expand[0]=latest_charge").json()
    charge = synced["latest_charge"]
    assert (charge["amount_refunded"], charge["refunded"]) == (1000, True)  # 400 released, 600 refunded


def test_stripe_refund_of_1337_is_pending(stripe: SimulatedGateway) -> None:
    pi = create_pi(stripe).json()
    refund = s_post(stripe, "/v1/refunds", {"payment_intent": pi["id"], "amount": "1337"})
    assert refund.status == 400  # more than the 1000 captured
    big = s_post(
        stripe,
        "/v1/payment_intents",
        {"amount": "5000", "currency": "usd", "payment_method": "pm_card_visa", "confirm": "true"},
    ).json()
    pending = s_post(stripe, "/v1/refunds", {"payment_intent": big["id"], "amount": "1337"}).json()
    assert pending["status"] == "pending"


def test_stripe_cancel(stripe: SimulatedGateway) -> None:
    pi = create_pi(stripe, capture_method="manual").json()
    path = f"/v1/payment_intents/{pi['id']}/cancel"
    canceled = s_post(stripe, path, {"cancellation_reason": "abandoned"}).json()
    assert (canceled["status"], canceled["cancellation_reason"]) == ("canceled", "abandoned")
    again = s_post(stripe, path, {})
    assert (again.status, again.json()["error"]["code"]) == (400, "payment_intent_unexpected_state")
    refund = s_post(stripe, "/v1/refunds", {"payment_intent": pi["id"]})
    assert refund.status == 400


def test_stripe_three_d_secure_redirect_then_complete(stripe: SimulatedGateway) -> None:
    pi = create_pi(stripe, "4000002760003184", return_url="https://shop.test/back").json()
    assert pi["status"] == "requires_action"
    action = pi["next_action"]
    assert action["type"] == "redirect_to_url"
    assert action["redirect_to_url"] == {
        "return_url": "https://shop.test/back",
        "url": f"http://sandbox.test/3ds/{pi['id']}",
    }
    page = stripe.handle("GET", f"/3ds/{pi['id']}", "", {}, b"")
    assert page.status == 200 and page.content_type.startswith("text/html")
    done = stripe.handle("GET", f"/3ds/{pi['id']}", "outcome=complete", {}, b"")
    assert done.status == 302
    location = urlsplit(done.headers["Location"])
    assert parse_qs(location.query)["redirect_status"] == ["succeeded"]
    assert s_get(stripe, f"/v1/payment_intents/{pi['id']}").json()["status"] == "succeeded"


def test_stripe_three_d_secure_requested_and_failed(stripe: SimulatedGateway) -> None:
    pi = create_pi(stripe, **{"payment_method_options[card][request_three_d_secure]": "any"}).json()
    assert pi["status"] == "requires_action"
    stripe.handle("POST", f"/3ds/{pi['id']}", "", {}, b"outcome=fail")
    synced = s_get(stripe, f"/v1/payment_intents/{pi['id']}").json()
    assert synced["status"] == "requires_payment_method"
    assert synced["last_payment_error"]["code"] == "payment_intent_authentication_failure"


def test_stripe_idempotent_replay_and_conflict(stripe: SimulatedGateway) -> None:
    pm = create_pm(stripe)
    params = {"amount": "1000", "currency": "usd", "payment_method": pm, "confirm": "true"}
    first = s_post(stripe, "/v1/payment_intents", params, "k1")
    replay = s_post(stripe, "/v1/payment_intents", params, "k1")
    assert (replay.status, replay.body) == (first.status, first.body)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers

    conflict = s_post(stripe, "/v1/payment_intents", {**params, "amount": "999"}, "k1")
    assert conflict.status == 400
    assert conflict.json()["error"]["type"] == "idempotency_error"
    other_path = s_post(stripe, "/v1/refunds", {"payment_intent": first.json()["id"]}, "k1")
    assert other_path.json()["error"]["type"] == "idempotency_error"


class Clock:
    """A clock the test moves by hand: in-flight windows without waiting."""

    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self) -> float:
        return self.now


def test_stripe_key_of_a_running_call_is_409_in_use_then_replays() -> None:
    clock = Clock()
    sb = SimulatedGateway(StripeCodec(), "http://sandbox.test", clock=clock)
    params = {"amount": "1000", "currency": "usd", "payment_method": create_pm(sb, SLOW_CARD), "confirm": "true"}
    first = s_post(sb, "/v1/payment_intents", params, "slow-1")
    assert (first.status, first.delay, first.json()["status"]) == (200, SLOW_SECONDS, "succeeded")
    in_use = s_post(sb, "/v1/payment_intents", params, "slow-1")
    assert (in_use.status, in_use.json()["error"]["code"]) == (409, "idempotency_key_in_use")
    assert in_use.json()["error"]["type"] == "invalid_request_error" and in_use.delay == 0
    clock.now += SLOW_SECONDS
    replay = s_post(sb, "/v1/payment_intents", params, "slow-1")
    assert (replay.status, replay.body, replay.delay) == (200, first.body, 0)


def test_stripe_declines_are_replayed_but_validation_errors_are_not(stripe: SimulatedGateway) -> None:
    params = {"amount": "1000", "currency": "usd", "payment_method": "pm_card_chargeDeclined", "confirm": "true"}
    first = s_post(stripe, "/v1/payment_intents", params, "d1")
    replay = s_post(stripe, "/v1/payment_intents", params, "d1")
    assert first.status == replay.status == 402 and replay.body == first.body

    invalid = s_post(stripe, "/v1/payment_intents", {"amount": "x", "currency": "usd"}, "v1")
    fixed = s_post(stripe, "/v1/payment_intents", {"amount": "5", "currency": "usd"}, "v1")
    assert (invalid.status, fixed.status) == (400, 200)


def test_stripe_state_is_bounded() -> None:
    sb = SimulatedGateway(StripeCodec(), max_objects=3, clock=lambda: FIXED_NOW)
    ids = [create_pm(sb) for _ in range(5)]
    assert s_get(sb, f"/v1/payment_methods/{ids[0]}").status == 404
    assert s_get(sb, f"/v1/payment_methods/{ids[-1]}").status == 200


# --- Adyen helpers -------------------------------------------------------------------------------

ADYEN_HEADERS = {"X-API-Key": ADYEN_SANDBOX_KEY, "Content-Type": "application/json"}


@pytest.fixture
def adyen() -> SimulatedGateway:
    return SimulatedGateway(AdyenCodec(), "http://sandbox.test", clock=lambda: FIXED_NOW)


def a_post(sb: SimulatedGateway, path: str, body: Any, idempotency_key: str | None = None) -> SandboxResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = dict(ADYEN_HEADERS)
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return sb.handle("POST", path, "", headers, raw)


def payment_request(
    number: str = "4111111111111111", holder: str = "Jane Doe", value: int = 1000, **extra: Any
) -> dict[str, Any]:
    return {
        "amount": {"value": value, "currency": "EUR"},
        "reference": "order-1",
        "merchantAccount": ADYEN_SANDBOX_MERCHANT,
        "returnUrl": "https://shop.test/back",
        "paymentMethod": {
            "type": "scheme",
            "number": number,
            "expiryMonth": "03",
            "expiryYear": "2032",
            "cvc": "737",
            "holderName": holder,
        },
        **extra,
    }


def modification(value: int | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"merchantAccount": ADYEN_SANDBOX_MERCHANT, **extra}
    if value is not None:
        body["amount"] = {"value": value, "currency": "EUR"}
    return body


def authorise(sb: SimulatedGateway, **extra: Any) -> str:
    response = a_post(sb, "/v71/payments", payment_request(**extra))
    assert response.status == 200 and response.json()["resultCode"] == "Authorised", response.body
    return response.json()["pspReference"]


MANUAL = {"additionalData": {"manualCapture": "true"}}


# --- Adyen ---------------------------------------------------------------------------------------


def test_adyen_auth_and_merchant_errors(adyen: SimulatedGateway) -> None:
    unauthorised = adyen.handle("POST", "/v71/payments", "", {"X-API-Key": "nope"}, b"{}")
    assert unauthorised.status == 401
    assert unauthorised.json() == {
        "status": 401,
        "errorCode": "000",
        "message": "HTTP Status Response - Unauthorized",
        "errorType": "security",
    }
    wrong_merchant = a_post(adyen, "/v71/payments", payment_request(merchantAccount="OtherECOM"))
    body = wrong_merchant.json()
    assert wrong_merchant.status == 403
    assert (body["errorCode"], body["errorType"]) == ("901", "security")
    assert body["message"] == "Invalid Merchant Account"


def test_adyen_authorised_payment(adyen: SimulatedGateway) -> None:
    response = a_post(adyen, "/v71/payments", payment_request())
    body = response.json()
    assert response.status == 200
    assert body["resultCode"] == "Authorised" and body["merchantReference"] == "order-1"
    assert len(body["pspReference"]) == 16 and body["pspReference"].isalnum()
    assert body["paymentMethod"] == {"brand": "visa", "type": "scheme"}
    data = body["additionalData"]
    assert (data["cardSummary"], data["paymentMethod"], data["expiryDate"]) == ("1111", "visa", "3/2032")
    assert len(data["networkTxReference"]) == 15 and len(data["authCode"]) == 6
    assert "4111111111111111" not in response.body.decode()
    mastercard = a_post(adyen, "/v71/payments", payment_request("5555444433331111")).json()
    assert mastercard["paymentMethod"]["brand"] == "mc"


@pytest.mark.parametrize(
    ("holder", "value", "result", "reason", "code"),
    [
        ("DECLINED", 1000, "Refused", "Refused", "2"),
        ("NOT ENOUGH BALANCE", 1000, "Refused", "Not enough balance", "12"),
        ("CVC DECLINED", 1000, "Refused", "CVC Declined", "24"),
        ("BLOCK CARD", 1000, "Refused", "Blocked Card", "5"),
        ("EXPIRED CARD", 1000, "Refused", "Expired Card", "6"),
        ("ACQUIRER ERROR", 1000, "Error", "Acquirer Error", "4"),
        ("Jane Doe", 12345, "Refused", "Refused", "2"),
    ],
)
def test_adyen_refusal_rules(
    adyen: SimulatedGateway, holder: str, value: int, result: str, reason: str, code: str
) -> None:
    body = a_post(adyen, "/v71/payments", payment_request(holder=holder, value=value)).json()
    assert (body["resultCode"], body["refusalReason"], body["refusalReasonCode"]) == (result, reason, code)
    assert "authCode" not in body["additionalData"]


def test_adyen_expired_card_is_refused(adyen: SimulatedGateway) -> None:
    request = payment_request()
    request["paymentMethod"].update(expiryMonth="05", expiryYear="2030")
    body = a_post(adyen, "/v71/payments", request).json()
    assert (body["resultCode"], body["refusalReason"], body["refusalReasonCode"]) == ("Refused", "Expired Card", "6")


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        (lambda r: r["paymentMethod"].update(number="4111111111111112"), 422, "101"),
        (lambda r: r.pop("reference"), 422, "130"),
        (lambda r: r.pop("returnUrl"), 422, "14_030"),
        (lambda r: r.pop("amount"), 422, "100"),
        (lambda r: r["paymentMethod"].update(expiryMonth="13"), 422, "129"),
        (lambda r: r["paymentMethod"].update(cvc="12"), 422, "103"),
        (lambda r: r.update(shoeSize=9), 400, "702"),
    ],
)
def test_adyen_validation_errors(adyen: SimulatedGateway, mutate: Any, status: int, code: str) -> None:
    request = payment_request()
    mutate(request)
    response = a_post(adyen, "/v71/payments", request)
    body = response.json()
    assert (response.status, body["status"], body["errorCode"]) == (status, status, code)
    assert body["errorType"] == "validation"
    assert "4111111111111112" not in response.body.decode()


def test_adyen_malformed_json(adyen: SimulatedGateway) -> None:
    response = a_post(adyen, "/v71/payments", b'{"amount": ')
    assert response.status == 400
    assert response.json()["errorCode"] == "702"


def test_adyen_manual_capture_partial_refund_and_cancel(adyen: SimulatedGateway) -> None:
    psp = authorise(adyen, **MANUAL)
    nothing_captured = a_post(adyen, f"/v71/payments/{psp}/refunds", modification(100))
    assert (nothing_captured.status, nothing_captured.json()["errorCode"]) == (422, "167")

    capture = a_post(adyen, f"/v71/payments/{psp}/captures", modification(600, reference="cap-1"))
    body = capture.json()
    assert capture.status == 201
    assert (body["status"], body["paymentPspReference"], body["reference"]) == ("received", psp, "cap-1")
    assert body["amount"] == {"value": 600, "currency": "EUR"} and body["pspReference"] != psp

    over_capture = a_post(adyen, f"/v71/payments/{psp}/captures", modification(500))
    assert (over_capture.status, over_capture.json()["errorCode"]) == (422, "137")

    over_refund = a_post(adyen, f"/v71/payments/{psp}/refunds", modification(601))
    assert (over_refund.status, over_refund.json()["errorCode"]) == (422, "137")
    refund = a_post(adyen, f"/v71/payments/{psp}/refunds", modification(600, merchantRefundReason="RETURN"))
    assert refund.status == 201 and refund.json()["merchantRefundReason"] == "RETURN"
    assert a_post(adyen, f"/v71/payments/{psp}/refunds", modification(1)).status == 422

    cancel = a_post(adyen, f"/v71/payments/{psp}/cancels", modification())
    assert cancel.status == 201 and cancel.json()["status"] == "received"
    assert a_post(adyen, f"/v71/payments/{psp}/captures", modification(100)).status == 422


def test_adyen_auto_capture_is_refundable_at_once(adyen: SimulatedGateway) -> None:
    psp = authorise(adyen)
    assert a_post(adyen, f"/v71/payments/{psp}/captures", modification(100)).json()["errorCode"] == "167"
    assert a_post(adyen, f"/v71/payments/{psp}/refunds", modification(1000)).status == 201


def test_adyen_unknown_psp_and_paths(adyen: SimulatedGateway) -> None:
    unknown = a_post(adyen, "/v71/payments/ABCDEFGHIJKLMNOP/captures", modification(100))
    assert unknown.status == 422
    assert unknown.json()["message"] == "Original pspReference required for this operation"
    not_found = adyen.handle("GET", "/v71/payments/ABCDEFGHIJKLMNOP", "", ADYEN_HEADERS, b"")
    assert not_found.status == 404 and not_found.json()["status"] == 404
    wrong_method = adyen.handle("GET", "/v71/payments", "", ADYEN_HEADERS, b"")
    assert wrong_method.status == 405


def test_adyen_replays_the_first_answer_for_a_known_key(adyen: SimulatedGateway) -> None:
    first = a_post(adyen, "/v71/payments", payment_request(), "k1")
    replay = a_post(adyen, "/v71/payments", payment_request(), "k1")
    assert (replay.status, replay.body) == (first.status, first.body)
    # Adyen documents no comparison of the body: another body gets the first answer too.
    other = a_post(adyen, "/v71/payments", payment_request(value=999, reference="order-2"), "k1")
    assert (other.status, other.body) == (first.status, first.body)


def test_adyen_key_of_a_running_call_is_704_then_replays() -> None:
    clock = Clock()
    sb = SimulatedGateway(AdyenCodec(), "http://sandbox.test", clock=clock)
    first = a_post(sb, "/v71/payments", payment_request(number=SLOW_CARD), "slow-1")
    assert (first.status, first.delay, first.json()["resultCode"]) == (200, SLOW_SECONDS, "Authorised")
    running = a_post(sb, "/v71/payments", payment_request(number=SLOW_CARD), "slow-1")
    assert (running.status, running.json()) == (
        409,
        {
            "status": 409,
            "errorCode": "704",
            "message": "request already processed or in progress",
            "errorType": "validation",
        },
    )
    clock.now += SLOW_SECONDS
    replay = a_post(sb, "/v71/payments", payment_request(number=SLOW_CARD), "slow-1")
    assert (replay.status, replay.body, replay.delay) == (200, first.body, 0)


def test_adyen_three_d_secure_redirect_and_details(adyen: SimulatedGateway) -> None:
    request = payment_request(authenticationData={"attemptAuthentication": "always"}, **MANUAL)
    body = a_post(adyen, "/v71/payments", request).json()
    assert body["resultCode"] == "RedirectShopper"
    psp = body["pspReference"]
    assert body["action"] == {
        "method": "GET",
        "paymentMethodType": "scheme",
        "type": "redirect",
        "url": f"http://sandbox.test/3ds/{psp}",
    }
    assert a_post(adyen, f"/v71/payments/{psp}/captures", modification(100)).status == 422
    back = adyen.handle("POST", f"/3ds/{psp}", "", {}, b"outcome=complete")
    assert back.status == 302
    token = parse_qs(urlsplit(back.headers["Location"]).query)["redirectResult"][0]
    final = a_post(adyen, "/v71/payments/details", {"details": {"redirectResult": token}}).json()
    assert (final["resultCode"], final["pspReference"]) == ("Authorised", psp)
    assert a_post(adyen, f"/v71/payments/{psp}/captures", modification(1000)).status == 201


# --- what every sandbox shares --------------------------------------------------------------------


@pytest.mark.parametrize("number", ["4242424242424242", "4111111111111111"])
def test_every_sandbox_approves_the_shared_cards(stripe: SimulatedGateway, adyen: SimulatedGateway, number) -> None:
    assert create_pi(stripe, number).json()["status"] == "succeeded"
    assert a_post(adyen, "/v71/payments", payment_request(number)).json()["resultCode"] == "Authorised"


def test_every_sandbox_declines_the_shared_declining_card(stripe: SimulatedGateway, adyen: SimulatedGateway) -> None:
    error = create_pi(stripe, "4000000000000002").json()["error"]
    assert (error["code"], error["decline_code"]) == ("card_declined", "generic_decline")
    body = a_post(adyen, "/v71/payments", payment_request("4000000000000002")).json()
    assert (body["resultCode"], body["refusalReason"], body["refusalReasonCode"]) == ("Refused", "Refused", "2")


def test_stripe_confirms_a_declined_intent_only_with_a_payment_method_named_again(stripe: SimulatedGateway) -> None:
    params = {"amount": "1000", "currency": "usd", "payment_method": "pm_card_chargeDeclined", "confirm": "true"}
    intent = s_post(stripe, "/v1/payment_intents", params).json()["error"]["payment_intent"]
    assert intent["payment_method"] is None
    path = f"/v1/payment_intents/{intent['id']}/confirm"
    assert s_post(stripe, path, {}).json()["error"]["code"] == "parameter_missing"
    retried = s_post(stripe, path, {"payment_method": "pm_card_visa", "expand[]": "latest_charge"}).json()
    assert retried["status"] == "succeeded" and retried["latest_charge"]["status"] == "succeeded"
    assert retried["last_payment_error"] is None


def test_stripe_three_d_secure_asked_at_creation_holds_at_confirmation(stripe: SimulatedGateway) -> None:
    params = {
        "amount": "1000",
        "currency": "usd",
        "payment_method": "pm_card_visa",
        "payment_method_options[card][request_three_d_secure]": "any",
    }
    created = s_post(stripe, "/v1/payment_intents", params).json()
    assert created["status"] == "requires_confirmation"
    confirmed = s_post(stripe, f"/v1/payment_intents/{created['id']}/confirm", {}).json()
    assert confirmed["status"] == "requires_action" and confirmed["next_action"]["type"] == "redirect_to_url"


def test_stripe_refund_metadata_and_ids_of_another_kind(stripe: SimulatedGateway) -> None:
    pi = create_pi(stripe, **{"expand[]": "latest_charge"}).json()
    refund = s_post(stripe, "/v1/refunds", {"payment_intent": pi["id"], "amount": "100", "metadata[order]": "7"})
    assert refund.json()["metadata"] == {"order": "7"}
    charge = pi["latest_charge"]["id"]
    by_charge = s_post(stripe, "/v1/refunds", {"charge": charge, "amount": "100"}).json()
    assert (by_charge["charge"], by_charge["payment_intent"]) == (charge, pi["id"])
    # An id of another kind names nothing here, though it belongs to the same payment.
    assert s_get(stripe, f"/v1/payment_intents/{charge}").status == 404
    assert s_get(stripe, f"/v1/refunds/{pi['id']}").status == 404
    assert s_post(stripe, "/v1/refunds", {"payment_intent": charge}).json()["error"]["code"] == "resource_missing"


def test_stripe_a_name_both_value_and_object_is_an_invalid_hash(stripe: SimulatedGateway) -> None:
    error = s_post(stripe, "/v1/payment_methods", "type=card&card=1&card[number]=4242424242424242").json()["error"]
    assert (error["message"], error["param"]) == ("Invalid hash", "card")
    assert "4242424242424242" not in json.dumps(error)


def test_adyen_replays_the_first_answer_on_another_path_too(adyen: SimulatedGateway) -> None:
    psp = authorise(adyen, **MANUAL)
    first = a_post(adyen, f"/v71/payments/{psp}/captures", modification(300, reference="cap-1"), "k2")
    replay = a_post(adyen, f"/v71/payments/{psp}/refunds", modification(100), "k2")
    assert (replay.status, replay.body) == (first.status, first.body)
    assert a_post(adyen, f"/v71/payments/{psp}/refunds", modification(300)).status == 201  # nothing was refunded


def test_adyen_details_again_gives_the_result_and_a_token_of_nothing_is_refused(adyen: SimulatedGateway) -> None:
    request = payment_request(holder="DECLINED", authenticationData={"attemptAuthentication": "always"})
    psp = a_post(adyen, "/v71/payments", request).json()["pspReference"]
    back = adyen.handle("GET", f"/3ds/{psp}", "outcome=complete", {}, b"")
    again = adyen.handle("GET", f"/3ds/{psp}", "outcome=complete", {}, b"")
    assert again.headers["Location"] == back.headers["Location"]  # the same token, once answered
    token = parse_qs(urlsplit(back.headers["Location"]).query)["redirectResult"][0]
    for _ in range(2):
        final = a_post(adyen, "/v71/payments/details", {"details": {"redirectResult": token}}).json()
        assert (final["resultCode"], final["refusalReason"], final["pspReference"]) == ("Refused", "Refused", psp)
    for wrong in (psp, "x" * 48):
        refused = a_post(adyen, "/v71/payments/details", {"details": {"redirectResult": wrong}})
        assert (refused.status, refused.json()["message"]) == (422, "Invalid redirectResult")
    assert adyen.handle("GET", f"/3ds/{psp}", "", {}, b"").status == 404


# --- shared pieces -------------------------------------------------------------------------------


def test_bounded_store_evicts_oldest() -> None:
    store: BoundedStore[str, int] = BoundedStore(2)
    for index, key in enumerate("abc"):
        store.put(key, index)
    assert "a" not in store and store.get("c") == 2 and len(store) == 2


def test_luhn() -> None:
    assert luhn_valid("4242424242424242") and not luhn_valid("4242424242424241")
    assert not luhn_valid("42424242424242a2") and not luhn_valid("4242")


# --- over HTTP -----------------------------------------------------------------------------------


async def _http_round_trip() -> None:
    sandbox = await start_sandbox("127.0.0.1", 0, 0)
    try:
        assert sandbox.stripe_url.startswith("http://127.0.0.1:")
        async with httpx.AsyncClient(timeout=5) as client:
            pi = await client.post(
                f"{sandbox.stripe_url}/v1/payment_intents",
                headers={"Authorization": f"Bearer {STRIPE_SANDBOX_KEY}", "Idempotency-Key": "http-1"},
                data={
                    "amount": "1500",
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                    "confirm": "true",
                    "capture_method": "manual",
                },
            )
            assert pi.status_code == 200 and pi.headers["content-type"] == "application/json"
            assert pi.headers["request-id"].startswith("req_")
            assert pi.json()["status"] == "requires_capture"

            unauthorised = await client.get(f"{sandbox.stripe_url}/v1/payment_intents/{pi.json()['id']}")
            assert unauthorised.status_code == 401

            payment = await client.post(
                f"{sandbox.adyen_url}/v71/payments",
                headers={"X-API-Key": ADYEN_SANDBOX_KEY},
                json=payment_request(authenticationData={"attemptAuthentication": "always"}),
            )
            redirect_url = payment.json()["action"]["url"]
            assert redirect_url.startswith(sandbox.adyen_url + "/3ds/")
            page = await client.get(redirect_url, params={"outcome": "complete"})
            assert page.status_code == 302 and "redirectResult=" in page.headers["location"]
    finally:
        await sandbox.close()


def test_http_round_trip() -> None:
    asyncio.run(_http_round_trip())


def test_standalone_server_prints_urls_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sidecar.sandbox.server",
            "--stripe-port",
            "0",
            "--adyen-port",
            "0",
            "--paypal-port",
            "0",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        urls = json.loads(process.stdout.readline())
        assert set(urls) == {"stripe_url", "adyen_url", "checkout_url", "paypal_url"}
        response = httpx.get(f"{urls['adyen_url']}/v71/nowhere", headers={"X-API-Key": ADYEN_SANDBOX_KEY})
        assert response.status_code == 404
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- the gateways' money and field rules ----------------------------------------------------------


@pytest.mark.parametrize(
    "currency, amount, code",
    [
        ("zzz", "1000", None),  # not a currency Stripe takes
        ("kwd", "1005", "invalid_charge_amount"),  # three-decimal amounts only in tens
        ("isk", "550", "invalid_charge_amount_no_decimal_compatible"),  # whole krónur only
        ("ugx", "501", "invalid_charge_amount_no_decimal_compatible"),
    ],
)
def test_stripe_refuses_amounts_it_cannot_take(stripe: SimulatedGateway, currency, amount, code) -> None:
    r = create_pi(stripe, amount=amount, currency=currency)
    assert r.status == 400 and r.json()["error"]["param"] == ("amount" if code else "currency")
    assert r.json()["error"].get("code") == code


def test_stripe_takes_its_own_amounts_and_knows_no_customers(stripe: SimulatedGateway) -> None:
    for currency, amount in (("kwd", "1010"), ("isk", "500"), ("jpy", "5"), ("huf", "1045")):
        assert create_pi(stripe, amount=amount, currency=currency).status == 200, currency
    r = create_pi(stripe, customer="cus_123")
    assert (r.status, r.json()["error"]["code"]) == (400, "resource_missing")


def test_stripe_three_decimal_rule_holds_for_captures_and_refunds(stripe: SimulatedGateway) -> None:
    pi = create_pi(stripe, amount="2000", currency="kwd", capture_method="manual").json()
    r = s_post(stripe, f"/v1/payment_intents/{pi['id']}/capture", {"amount_to_capture": "1005"})
    assert r.json()["error"]["code"] == "invalid_charge_amount"
    assert s_post(stripe, f"/v1/payment_intents/{pi['id']}/capture", {"amount_to_capture": "1010"}).status == 200
    r = s_post(stripe, "/v1/refunds", {"payment_intent": pi["id"], "amount": "15"})
    assert r.json()["error"]["code"] == "invalid_charge_amount"


@pytest.mark.parametrize(
    "extra, code",
    [
        ({"amount": {"value": 1000, "currency": "XTS"}}, "138"),
        ({"metadata": {f"k{i}": "v" for i in range(21)}}, "177"),
        ({"metadata": {"k" * 21: "v"}}, "178"),
        (
            {
                "billingAddress": {
                    "street": "Main",
                    "houseNumberOrName": "",
                    "city": "X",
                    "postalCode": "1",
                    "country": "NL",
                }
            },
            "000",
        ),
        ({"shopperName": {"firstName": "Jo"}}, "000"),
    ],
)
def test_adyen_refuses_what_adyen_refuses(adyen: SimulatedGateway, extra, code) -> None:
    r = a_post(adyen, "/v71/payments", payment_request(**extra))
    assert (r.status, r.json()["errorCode"]) == (422, code), r.body


def test_adyen_takes_its_own_currencies_and_checks_modifications_against_the_payment(adyen: SimulatedGateway) -> None:
    clp = a_post(adyen, "/v71/payments", payment_request(amount={"value": 100_000, "currency": "CLP"}, **MANUAL))
    assert clp.json()["amount"] == {"currency": "CLP", "value": 100_000}
    psp = clp.json()["pspReference"]
    wrong = a_post(
        adyen, f"/v71/payments/{psp}/captures", {**modification(), "amount": {"value": 1, "currency": "EUR"}}
    )
    assert (wrong.status, wrong.json()["errorCode"]) == (422, "138")
