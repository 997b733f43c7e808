"""Checkout.com through the real `sidecar run` on its sandbox: the canonical calls (asynchronous actions answered
`*_initiated` and `pending` with the action id, a refund read back, 3-D Secure finished by `complete` with the
`cko-session-id` of the shopper's return), and the official `checkout-sdk` package, unchanged, as a legacy app
through the forward proxy with no secret of its own."""

from __future__ import annotations

import subprocess
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from calls import VISA, payment, post
from harness import SIDECAR, SidecarProcess

# checkout-sdk insists on a key of Checkout.com's shape (^sk_(sbox_)?[a-z2-7]{26}.$); the sidecar replaces it.
APP_PLACEHOLDER_KEY = "sk_sbox_appholdsnocheckoutsecretkey"


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("checkout")
    proc = SidecarProcess(tmp, {"connectors": {"checkout": {"sandbox": True}}}).start()
    proc.ca_file = tmp / "sidecar-ca.pem"
    proc.ca_file.write_bytes(
        subprocess.run([SIDECAR, "ca", "--config", str(proc.config_path)], capture_output=True, check=True).stdout
    )
    yield proc
    assert proc.stop() == 0, proc.output()[-3000:]
    assert proc.error_lines() == []


def test_capture_refund_and_void_answer_initiated_with_checkout_coms_action_ids(sidecar) -> None:
    with sidecar.client() as client:
        authorized = post(client, "checkout", "/v1/payments", payment(VISA)).json()
        assert (authorized["status"], authorized["connector_status"]) == ("authorized", "Authorized")
        pid = authorized["id"]
        captured = post(
            client, "checkout", f"/v1/payments/{pid}/capture", {"amount": {"minor": 600, "currency": "USD"}}
        )
        assert captured.json()["status"] == "capture_initiated" and captured.json()["operation_id"].startswith("act_")
        refund = post(client, "checkout", f"/v1/payments/{pid}/refunds", {"amount": {"minor": 250, "currency": "USD"}})
        assert refund.json()["status"] == "pending" and refund.json()["id"] == f"{pid}~{refund.json()['operation_id']}"
        synced = client.get(f"/v1/refunds/{refund.json()['id']}", headers={"X-Connector": "checkout"}).json()
        assert (synced["status"], synced["amount"]) == ("succeeded", {"minor": 250, "currency": "USD"})
        read = client.get(f"/v1/payments/{pid}", headers={"X-Connector": "checkout"}).json()
        assert (read["status"], read["captured"]["minor"], read["refunded"]["minor"]) == ("partially_charged", 600, 250)
        other = post(client, "checkout", "/v1/payments", payment(VISA)).json()
        voided = post(client, "checkout", f"/v1/payments/{other['id']}/void", {})
        assert voided.json()["status"] == "void_initiated"
        gone = post(client, "checkout", f"/v1/payments/{other['id']}/capture", {})
        assert (gone.status_code, gone.json()["error"]["type"]) == (502, "gateway_authentication")  # its 403


def test_3d_secure_is_finished_by_complete_with_the_session_of_the_shoppers_return(sidecar) -> None:
    with sidecar.client() as client:
        pending = post(
            client, "checkout", "/v1/payments", payment(VISA, three_ds=True, return_url="https://shop.example/back")
        ).json()
        assert pending["status"] == "authentication_pending" and pending["next_action"]["type"] == "redirect"
        # The shopper's browser on the sandbox's own page (its certificate is the sandbox's throwaway one).
        page = httpx.get(pending["next_action"]["url"], params={"outcome": "complete"}, verify=False)
        assert page.status_code == 302
        back = urlsplit(page.headers["location"])
        assert (back.netloc, back.path) == ("shop.example", "/back")
        session = parse_qs(back.query)["cko-session-id"][0]
        done = post(client, "checkout", "/v1/payments/complete", {"details": {"cko-session-id": session}}).json()
        assert (done["id"], done["status"]) == (pending["id"], "authorized")


def test_the_official_checkout_sdk_works_through_the_forward_proxy(sidecar, monkeypatch) -> None:
    from checkout_sdk.checkout_sdk import CheckoutSdk
    from checkout_sdk.environment import Environment
    from checkout_sdk.exception import CheckoutApiException
    from checkout_sdk.payments.payments import CaptureRequest, PaymentRequest, PaymentRequestCardSource, RefundRequest

    monkeypatch.setenv("HTTPS_PROXY", sidecar.proxy_url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sidecar.ca_file))
    # The merchant-specific host checkout-sdk 4 calls: sidecarshop.api.sandbox.checkout.com.
    api = (
        CheckoutSdk.builder()
        .secret_key(APP_PLACEHOLDER_KEY)
        .environment(Environment.sandbox())
        .environment_subdomain("sidecarshop")
        .build()
    )
    source = PaymentRequestCardSource()
    source.number, source.expiry_month, source.expiry_year, source.cvv = "4242424242424242", 12, 2034, "100"
    request = PaymentRequest()
    request.source, request.amount, request.currency, request.capture = source, 1500, "EUR", False
    request.reference = "sdk-order-1"
    payment = api.payments.request_payment(request, idempotency_key="sdk-order-1")
    assert (payment.http_metadata.status_code, payment.status, payment.approved) == (201, "Authorized", True)
    again = api.payments.request_payment(request, idempotency_key="sdk-order-1")
    assert again.id == payment.id  # the same key: Checkout.com's first answer again
    capture = CaptureRequest()
    capture.amount = 1000
    captured = api.payments.capture_payment(payment.id, capture)
    assert captured.http_metadata.status_code == 202 and captured.action_id.startswith("act_")
    refund = RefundRequest()
    refund.amount = 400
    assert api.payments.refund_payment(payment.id, refund).http_metadata.status_code == 202
    details = api.payments.get_payment_details(payment.id)
    assert (details.status, details.balances.total_captured, details.balances.total_refunded) == (
        "Partially Refunded",
        1000,
        400,
    )
    actions = api.payments.get_payment_actions(payment.id)
    assert [a.type for a in actions.items] == ["Refund", "Capture", "Authorization"]
    declined = PaymentRequest()
    declined.source, declined.amount, declined.currency = source, 900, "EUR"
    source.number = "4544249167673670"  # Checkout.com's test card for 20051
    refused = api.payments.request_payment(declined)
    assert (refused.status, refused.response_code) == ("Declined", "20051")
    with pytest.raises(CheckoutApiException) as unknown:
        api.payments.get_payment_details("pay_" + "q" * 26)
    assert unknown.value.http_metadata.status_code == 404
