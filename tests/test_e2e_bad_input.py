"""Bad input against the real process: each a 4xx with the API.md error type, field paths in
`details`, and no card number, CVC or credential anywhere in what comes back."""

from __future__ import annotations

import json

import pytest
from calls import VISA, payment

PAN = "4242424242424242"
CVC = "987"
CARD = {**VISA, "cvc": CVC}


def assert_clean(text: str) -> None:
    for secret in (PAN, "4242424242424241", "4000000000000002", "sk_test_sandbox", "sandbox_api_key"):
        assert secret not in text
    assert f'"{CVC}"' not in text and f":{CVC}" not in text


def error_of(r, status: int, kind: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert_clean(r.text)
    error = r.json()["error"]
    assert error["type"] == kind and error["request_id"] == r.headers["X-Request-Id"]
    return error


def paths(error: dict) -> set[str]:
    return {d["path"] for d in error.get("details") or []}


def test_malformed_json(client) -> None:
    r = client.post(
        "/v1/payments",
        content=b'{"reference": "x", "amount": ' + PAN.encode(),
        headers={"X-Connector": "stripe", "Content-Type": "application/json"},
    )
    error_of(r, 400, "invalid_request")


def test_missing_fields_are_listed_by_path(client) -> None:
    body = payment(CARD)
    del body["amount"], body["payment_method"]["card"]["exp_month"]
    error = error_of(client.post("/v1/payments", json=body, headers={"X-Connector": "stripe"}), 400, "invalid_request")
    assert paths(error) == {"amount", "payment_method.card.exp_month"}


def test_wrong_types(client) -> None:
    body = payment(CARD)
    body["amount"]["minor"] = "1000"
    body["capture"] = "sometimes"
    body["payment_method"]["card"]["exp_month"] = 13
    error = error_of(client.post("/v1/payments", json=body, headers={"X-Connector": "adyen"}), 400, "invalid_request")
    assert paths(error) == {"amount.minor", "capture", "payment_method.card.exp_month"}


def test_luhn_failure_does_not_echo_the_number(client) -> None:
    body = payment({**CARD, "number": "4242424242424241"})
    error = error_of(client.post("/v1/payments", json=body, headers={"X-Connector": "stripe"}), 400, "invalid_request")
    assert paths(error) == {"payment_method.card.number"}
    assert "Luhn" in error["details"][0]["message"]


def test_bad_cvc_and_unknown_field_do_not_echo(client) -> None:
    body = payment({**CARD, "cvc": "12a45"})
    body[PAN] = CVC  # an unknown field whose name is a card number
    error = error_of(client.post("/v1/payments", json=body, headers={"X-Connector": "stripe"}), 400, "invalid_request")
    assert "payment_method.card.cvc" in paths(error)
    assert "12a45" not in json.dumps(error)


def test_unknown_payment_method_type(client) -> None:
    body = payment(CARD)
    body["payment_method"]["type"] = "crypto"
    error = error_of(client.post("/v1/payments", json=body, headers={"X-Connector": "stripe"}), 400, "invalid_request")
    assert paths(error) == {"payment_method.type"}


def test_unknown_connector(client) -> None:
    error_of(
        client.post("/v1/payments", json=payment(CARD), headers={"X-Connector": "worldpay"}), 404, "unknown_connector"
    )


def test_missing_connector_without_default(client) -> None:
    error_of(client.post("/v1/payments", json=payment(CARD)), 404, "unknown_connector")


def test_unknown_account(client) -> None:
    r = client.post("/v1/payments", json=payment(CARD), headers={"X-Connector": "stripe", "X-Connector-Account": "eu"})
    error_of(r, 401, "credentials_missing")


def test_per_request_credentials_refused_by_default(client) -> None:
    r = client.post(
        "/v1/payments",
        json=payment(CARD),
        headers={"X-Connector": "stripe", "X-Connector-Auth": '{"api_key": "sk_test_sandbox"}'},
    )
    error_of(r, 403, "forbidden")


@pytest.mark.parametrize(
    "method, path",
    [("GET", "/v2/payments"), ("POST", "/v1/charges"), ("GET", "/"), ("POST", "/v1/payments/../../etc/passwd/capture")],
)
def test_unknown_path(client, method, path) -> None:
    error_of(client.request(method, path, headers={"X-Connector": "stripe"}), 404, "not_found")


def test_wrong_method(client) -> None:
    r = client.delete("/v1/payments", headers={"X-Connector": "stripe"})
    error_of(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "POST"


def test_body_over_the_limit(client) -> None:
    r = client.post(
        "/v1/payments",
        content=b"{" + b" " * 300_000 + b"}",
        headers={"X-Connector": "stripe", "Content-Type": "application/json"},
    )
    assert r.status_code == 413


def test_bad_idempotency_key(client) -> None:
    r = client.post("/v1/payments", json=payment(CARD), headers={"X-Connector": "stripe", "Idempotency-Key": "a b"})
    assert "headers.Idempotency-Key" in paths(error_of(r, 400, "invalid_request"))


def test_sidecar_still_serves(client) -> None:
    r = client.post("/v1/payments", json=payment(VISA), headers={"X-Connector": "stripe"})
    assert r.status_code == 200 and r.json()["status"] == "authorized"
