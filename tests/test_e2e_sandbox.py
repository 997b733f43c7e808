"""End to end against the real `sidecar run` process with its default configuration: the sandbox
gateways. Every operation on both connectors, the service endpoints, and a clean SIGTERM."""

from __future__ import annotations

import json

from calls import VISA, payment, post
from openapi_spec_validator import validate


def test_stripe_manual_capture_partial_then_partial_refund_and_syncs(client) -> None:
    r = post(client, "stripe", "/v1/payments", payment(VISA))
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["status"], p["connector"], p["connector_status"]) == ("authorized", "stripe", "requires_capture")
    assert p["amount"] == {"minor": 1000, "currency": "USD"} and p["reference"] == "order-42"
    assert p["card"]["last4"] == "4242" and p["card"]["brand"] == "visa"

    r = post(client, "stripe", f"/v1/payments/{p['id']}/capture", {"amount": {"minor": 600, "currency": "USD"}})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "partially_charged" and r.json()["captured"]["minor"] == 600

    r = post(
        client,
        "stripe",
        f"/v1/payments/{p['id']}/refunds",
        {"amount": {"minor": 200, "currency": "USD"}, "reason": "requested_by_customer"},
    )
    assert r.status_code == 200, r.text
    refund = r.json()
    assert (refund["status"], refund["payment_id"], refund["amount"]["minor"]) == ("succeeded", p["id"], 200)

    r = client.get(f"/v1/payments/{p['id']}", headers={"X-Connector": "stripe"})
    assert r.status_code == 200 and r.json()["refunded"]["minor"] == 200 and r.json()["captured"]["minor"] == 600

    r = client.get(f"/v1/refunds/{refund['id']}", headers={"X-Connector": "stripe"})
    assert r.status_code == 200 and r.json()["id"] == refund["id"] and r.json()["status"] == "succeeded"


def test_stripe_automatic_capture_full_refund(client) -> None:
    p = post(client, "stripe", "/v1/payments", payment(VISA, capture="automatic", minor=2500, currency="EUR")).json()
    assert p["status"] == "charged" and p["captured"] == {"minor": 2500, "currency": "EUR"}
    refund = post(client, "stripe", f"/v1/payments/{p['id']}/refunds").json()
    assert refund["status"] == "succeeded" and refund["amount"]["minor"] == 2500
    # Nothing left to refund: the gateway refuses, and the app is told so.
    r = post(client, "stripe", f"/v1/payments/{p['id']}/refunds")
    assert r.status_code == 422 and r.json()["error"]["type"] == "gateway_rejected"


def test_stripe_void(client) -> None:
    p = post(client, "stripe", "/v1/payments", payment(VISA)).json()
    r = post(client, "stripe", f"/v1/payments/{p['id']}/void", {"reason": "requested_by_customer"})
    assert r.status_code == 200 and r.json()["status"] == "voided"
    # A voided payment cannot be captured.
    r = post(client, "stripe", f"/v1/payments/{p['id']}/capture")
    assert r.status_code == 422 and r.json()["error"]["connector"] == "stripe"


def test_stripe_decline_is_200_with_error(client) -> None:
    r = post(client, "stripe", "/v1/payments", payment({**VISA, "number": "4000000000000002"}))
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["status"] == "authorization_failed" and p["error"]["code"] == "card_declined"
    assert p["error"]["decline_code"] == "generic_decline"


def test_stripe_unknown_payment_is_not_found(client) -> None:
    r = client.get("/v1/payments/pi_doesnotexist", headers={"X-Connector": "stripe"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"


def test_idempotency_key_returns_the_first_result(client) -> None:
    body = payment(VISA, reference="order-idem")
    first = post(client, "stripe", "/v1/payments", body, **{"Idempotency-Key": "idem-12345678"}).json()
    second = post(client, "stripe", "/v1/payments", body, **{"Idempotency-Key": "idem-12345678"}).json()
    assert first["id"] == second["id"]
    other = post(client, "stripe", "/v1/payments", body).json()
    assert other["id"] != first["id"]


def test_adyen_every_operation(client) -> None:
    card = {"number": "4111111111111111", "exp_month": 3, "exp_year": 2030, "cvc": "737", "holder_name": "J Smith"}
    r = post(client, "adyen", "/v1/payments", payment(card, currency="EUR"))
    assert r.status_code == 200, r.text
    p = r.json()
    assert (p["status"], p["connector_status"]) == ("authorized", "Authorised")
    amount = {"minor": 1000, "currency": "EUR"}
    r = post(client, "adyen", f"/v1/payments/{p['id']}/capture", {"amount": amount})
    assert r.status_code == 200 and r.json()["status"] == "capture_initiated" and r.json()["id"] == p["id"]
    r = post(client, "adyen", f"/v1/payments/{p['id']}/refunds", {"amount": {"minor": 400, "currency": "EUR"}})
    assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["payment_id"] == p["id"]

    auto = post(client, "adyen", "/v1/payments", payment(card, capture="automatic")).json()
    assert auto["status"] == "charged"

    other = post(client, "adyen", "/v1/payments", payment(card)).json()
    r = post(client, "adyen", f"/v1/payments/{other['id']}/void")
    assert r.status_code == 200 and r.json()["status"] == "void_initiated"


def test_adyen_decline_by_holder_name(client) -> None:
    card = {"number": "4111111111111111", "exp_month": 3, "exp_year": 2030, "cvc": "737", "holder_name": "DECLINED"}
    p = post(client, "adyen", "/v1/payments", payment(card)).json()
    assert p["status"] == "authorization_failed" and p["error"]["connector_message"] == "Refused"


def test_adyen_sync_is_unsupported_and_says_so(client) -> None:
    for path in ("/v1/payments/QFQTPCQ8HXSKGK82", "/v1/refunds/QFQTPCQ8HXSKGK82"):  # Adyen-shaped ids
        r = client.get(path, headers={"X-Connector": "adyen"})
        assert r.status_code == 501 and r.json()["error"]["type"] == "unsupported_operation"


def test_adyen_capture_without_amount_is_a_clear_400(client) -> None:
    r = post(client, "adyen", "/v1/payments/QFQTPCQ8HXSKGK82/capture")
    assert r.status_code == 400 and r.json()["error"]["details"][0]["path"] == "amount"


def test_health_readiness_request_id_and_openapi(client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    r = client.get("/v1/payments/pi_x", headers={"X-Connector": "stripe", "X-Request-Id": "trace-abc.1"})
    assert r.headers["X-Request-Id"] == "trace-abc.1"
    doc = client.get("/openapi.json").json()
    validate(doc)  # raises if this is not valid OpenAPI 3.1
    assert doc["openapi"].startswith("3.1")
    assert {
        "/v1/payments",
        "/v1/payments/{id}",
        "/v1/payments/{id}/capture",
        "/v1/payments/{id}/void",
        "/v1/payments/{id}/refunds",
        "/v1/refunds/{id}",
        "/healthz",
        "/readyz",
    } <= set(doc["paths"])
    card = doc["components"]["schemas"]["Card"]
    assert set(card["required"]) == {"number", "exp_month", "exp_year", "cvc"}


def test_log_lines_are_json_with_request_id(sandbox_sidecar, client) -> None:
    post(client, "stripe", "/v1/payments", payment(VISA), **{"X-Request-Id": "log-check-1"})
    lines = [json.loads(line) for line in sandbox_sidecar.stdout_path.read_text().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == "log-check-1"]
    calls = [line for line in mine if line["event"] == "connector call"]
    assert len(calls) == 2  # create payment method, create payment intent
    assert all(c["status_code"] == 200 and c["latency_ms"] > 0 for c in calls)
    assert [line for line in mine if line["event"] == "canonical call"][0]["status_code"] == 200
    assert "4242424242424242" not in sandbox_sidecar.output()
