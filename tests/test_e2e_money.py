"""API.md v1.1 money rules, ids and meaning, end to end: the real `sidecar run` on its sandbox gateways.
What is refused is refused before any gateway call (no `connector call` line for its request id) or,
where the gateway had to be asked, moved no money (the sandbox shows none)."""

from __future__ import annotations

import http.client
import json

import pytest
from calls import VISA, payment, post

ADYEN_CARD = {"number": "4111111111111111", "exp_month": 3, "exp_year": 2034, "cvc": "737"}


def gateway_calls(proc, request_id: str) -> list[dict]:
    return [
        json.loads(line)
        for line in proc.stdout_path.read_text().splitlines()
        if '"connector call"' in line and f'"request_id":"{request_id}"' in line
    ]


def refused(proc, r, path: str, kind: str = "invalid_request") -> dict:
    """A 400 naming `path`, with no gateway call made for it."""
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["type"] == kind and error["details"][0]["path"] == path, error
    assert gateway_calls(proc, r.headers["X-Request-Id"]) == []
    return error


def raw(proc, method: str, path: str, body: bytes = b"", connector: str = "stripe") -> tuple[int, dict, str]:
    """One request with its path exactly as given (as `curl --path-as-is` sends it): no client normalizes it."""
    conn = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"X-Connector": connector, "Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read().decode()
    finally:
        conn.close()


def test_stripe_capture_or_refund_in_another_currency_is_400_and_moves_no_money(sandbox_sidecar, client) -> None:
    p = post(client, "stripe", "/v1/payments", payment(VISA)).json()
    r = post(client, "stripe", f"/v1/payments/{p['id']}/capture", {"amount": {"minor": 1000, "currency": "EUR"}})
    assert r.status_code == 400 and r.json()["error"]["details"][0]["path"] == "amount.currency"
    # One lookup of the payment's currency, and no capture.
    assert [c["method"] for c in gateway_calls(sandbox_sidecar, r.headers["X-Request-Id"])] == ["GET"]
    synced = client.get(f"/v1/payments/{p['id']}", headers={"X-Connector": "stripe"}).json()
    assert synced["status"] == "authorized" and "captured" not in synced

    assert post(client, "stripe", f"/v1/payments/{p['id']}/capture").json()["status"] == "charged"
    r = post(client, "stripe", f"/v1/payments/{p['id']}/refunds", {"amount": {"minor": 100, "currency": "GBP"}})
    assert r.status_code == 400 and r.json()["error"]["details"][0]["path"] == "amount.currency"
    synced = client.get(f"/v1/payments/{p['id']}", headers={"X-Connector": "stripe"}).json()
    assert synced["captured"] == {"minor": 1000, "currency": "USD"} and "refunded" not in synced


def test_adyen_capture_or_refund_in_another_currency_is_400_and_moves_no_money(client) -> None:
    p = post(client, "adyen", "/v1/payments", payment(ADYEN_CARD, currency="EUR")).json()
    r = post(client, "adyen", f"/v1/payments/{p['id']}/capture", {"amount": {"minor": 1000, "currency": "USD"}})
    assert r.status_code == 400 and r.json()["error"]["details"][0]["path"] == "amount.currency", r.text
    # Nothing was captured: the whole amount still can be, once.
    r = post(client, "adyen", f"/v1/payments/{p['id']}/capture", {"amount": {"minor": 1000, "currency": "EUR"}})
    assert r.status_code == 200 and r.json()["status"] == "capture_initiated"
    r = post(client, "adyen", f"/v1/payments/{p['id']}/refunds", {"amount": {"minor": 1000, "currency": "USD"}})
    assert r.status_code == 400 and r.json()["error"]["details"][0]["path"] == "amount.currency"
    r = post(client, "adyen", f"/v1/payments/{p['id']}/refunds", {"amount": {"minor": 1000, "currency": "EUR"}})
    assert r.status_code == 200 and r.json()["amount"] == {"minor": 1000, "currency": "EUR"}


def test_amounts_reach_the_gateway_in_its_own_units_or_not_at_all(sandbox_sidecar, client) -> None:
    # Adyen counts CLP in hundredths: 1,000 CLP is 100000 on the wire, and 1,000 CLP again in the answer.
    r = post(client, "adyen", "/v1/payments", payment(ADYEN_CARD, minor=1000, currency="CLP"))
    assert r.status_code == 200 and r.json()["amount"] == {"minor": 1000, "currency": "CLP"}, r.text
    (call,) = gateway_calls(sandbox_sidecar, r.headers["X-Request-Id"])
    assert json.loads(call["request_body"])["amount"] == {"value": 100000, "currency": "CLP"}
    # Adyen counts CVE in whole escudos: 1,500.50 CVE cannot be sent.
    r = post(client, "adyen", "/v1/payments", payment(ADYEN_CARD, minor=150050, currency="CVE"))
    assert "never rounded" in refused(sandbox_sidecar, r, "amount.minor")["message"]
    # Stripe takes three-decimal amounts only in tens: KWD 1.005 cannot be sent.
    r = post(client, "stripe", "/v1/payments", payment(VISA, minor=1005, currency="KWD"))
    refused(sandbox_sidecar, r, "amount.minor")
    r = post(client, "stripe", "/v1/payments", payment(VISA, minor=1010, currency="KWD"))
    assert r.status_code == 200 and r.json()["amount"] == {"minor": 1010, "currency": "KWD"}


@pytest.mark.parametrize("currency", ["ZZZ", "XXX", "usd"])
def test_currencies_that_are_not_active_iso_codes_are_400(sandbox_sidecar, client, currency) -> None:
    refused(
        sandbox_sidecar, post(client, "stripe", "/v1/payments", payment(VISA, currency=currency)), "amount.currency"
    )


def test_a_duplicate_key_anywhere_is_400_before_any_gateway_call(sandbox_sidecar, client) -> None:
    body = json.dumps(payment(VISA)).replace('"currency": "USD"}', '"currency": "USD", "minor": 99999}').encode()
    assert body.count(b'"minor"') == 2
    r = client.post("/v1/payments", content=body, headers={"X-Connector": "stripe", "Content-Type": "application/json"})
    assert "appears twice" in refused(sandbox_sidecar, r, "body")["details"][0]["message"]
    r = client.post(
        "/v1/payments/pi_1/refunds",
        content=b'{"reason": "duplicate", "reason": "fraudulent"}',
        headers={"X-Connector": "stripe", "Content-Type": "application/json"},
    )
    refused(sandbox_sidecar, r, "body")


@pytest.mark.parametrize(
    "method, path, connector",
    [
        ("POST", "/v1/payments/./capture", "stripe"),
        ("POST", "/v1/payments/../capture", "stripe"),
        ("POST", "/v1/payments/%2e/capture", "stripe"),
        ("POST", "/v1/payments/pi_1%2Fcapture/void", "stripe"),
        ("GET", "/v1/payments/.", "stripe"),
        ("GET", "/v1/refunds/..", "stripe"),
        ("GET", "/v1/refunds/pi_3Nx9", "stripe"),  # a payment id where a refund id belongs
        ("POST", "/v1/payments/pi_1.json/void", "stripe"),
        ("POST", "/v1/payments/ABC/capture", "adyen"),
    ],
)
def test_ids_outside_the_gateways_charset_are_400_before_any_call(sandbox_sidecar, method, path, connector) -> None:
    status, headers, text = raw(sandbox_sidecar, method, path, b"{}" if method == "POST" else b"", connector)
    assert status == 400, text
    error = json.loads(text)["error"]
    assert error["type"] == "invalid_request" and error["details"][0]["path"] == "id"
    assert gateway_calls(sandbox_sidecar, headers["X-Request-Id"]) == []


def test_metadata_limits_are_checked_per_gateway_with_the_sidecars_keys_counted(sandbox_sidecar, client) -> None:
    r = post(client, "adyen", "/v1/payments", payment(ADYEN_CARD, metadata={f"k{i}": "v" for i in range(21)}))
    assert refused(sandbox_sidecar, r, "metadata")["message"].startswith("adyen takes at most 20 metadata keys")
    r = post(client, "adyen", "/v1/payments", payment(ADYEN_CARD, metadata={"k": "v" * 81}))
    refused(sandbox_sidecar, r, "metadata")
    # Stripe takes 50 keys; the sidecar's own reference is one of them.
    r = post(client, "stripe", "/v1/payments", payment(VISA, metadata={f"k{i}": "v" for i in range(50)}))
    assert "1 of them the sidecar's own" in refused(sandbox_sidecar, r, "metadata")["message"]
    app_keys = {f"k{i}": "v" for i in range(48)} | {"reference": "the app's", "customer_id": "the app's too"}
    r = post(client, "stripe", "/v1/payments", payment(VISA, metadata=app_keys, customer={"id": "crm-77"}))
    assert r.status_code == 400  # 50 of the app's + sidecar_reference + sidecar_customer_id
    del app_keys["k0"], app_keys["k1"]
    r = post(client, "stripe", "/v1/payments", payment(VISA, metadata=app_keys, customer={"id": "crm-77"}))
    assert r.status_code == 200 and r.json()["reference"] == "order-42", r.text
    (_, intent_call) = gateway_calls(sandbox_sidecar, r.headers["X-Request-Id"])
    sent = intent_call["request_body"]
    assert "metadata[reference]=the+app%27s&" in sent and "metadata[sidecar_reference]=order-42" in sent
    assert "metadata[sidecar_customer_id]=crm-77" in sent


def test_an_expired_card_is_a_decline_not_an_error(client) -> None:
    r = post(client, "stripe", "/v1/payments", payment({**VISA, "exp_year": 2020}))
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["status"] == "authorization_failed" and "id" not in p and p["reference"] == "order-42"
    assert p["error"]["connector_code"] == "invalid_expiry_year"
    r = post(client, "adyen", "/v1/payments", payment({**ADYEN_CARD, "exp_year": 2020}))
    assert r.status_code == 200 and r.json()["error"]["code"] == "expired_card"


def test_a_void_reports_voided_with_nothing_refunded(client) -> None:
    p = post(client, "stripe", "/v1/payments", payment(VISA)).json()
    voided = post(client, "stripe", f"/v1/payments/{p['id']}/void", {"reason": "changed their mind"}).json()
    assert voided["status"] == "voided" and "refunded" not in voided and "captured" not in voided
    synced = client.get(f"/v1/payments/{p['id']}", headers={"X-Connector": "stripe"}).json()
    assert synced["status"] == "voided" and "refunded" not in synced


def test_adyen_modifications_report_their_own_ids(client) -> None:
    p = post(client, "adyen", "/v1/payments", payment(ADYEN_CARD, currency="EUR")).json()
    amount = {"minor": 400, "currency": "EUR"}
    captured = post(client, "adyen", f"/v1/payments/{p['id']}/capture", {"amount": amount, "reference": "c-1"}).json()
    assert captured["id"] == p["id"] and len(captured["operation_id"]) == 16 and captured["operation_id"] != p["id"]
    voided = post(client, "adyen", f"/v1/payments/{p['id']}/void", {"reference": "v-1"}).json()
    assert voided["status"] == "void_initiated" and voided["operation_id"] not in (p["id"], captured["operation_id"])
