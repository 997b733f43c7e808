"""PayPal through the real `sidecar run` on its sandbox: the canonical lifecycle on orders, authorizations and
captures; refunds per capture, never split; 3-D Secure finished through /v1/payments/complete; and PayPal's
official Python SDK (paypal-server-sdk) as a legacy app through the forward proxy, holding no credential."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from calls import VISA, payment, post
from harness import SIDECAR, SidecarProcess

from connectors.paypal.sandbox import PAYPAL_SANDBOX_CLIENT_ID, PAYPAL_SANDBOX_SECRET

USD = "USD"

SDK_APP = """
import json
from paypalserversdk.paypal_serversdk_client import PaypalServersdkClient
from paypalserversdk.http.auth.o_auth_2 import ClientCredentialsAuthCredentials
from paypalserversdk.configuration import Environment
from paypalserversdk.models.amount_with_breakdown import AmountWithBreakdown
from paypalserversdk.models.capture_request import CaptureRequest
from paypalserversdk.models.card_request import CardRequest
from paypalserversdk.models.checkout_payment_intent import CheckoutPaymentIntent
from paypalserversdk.models.money import Money
from paypalserversdk.models.order_request import OrderRequest
from paypalserversdk.models.payment_source import PaymentSource
from paypalserversdk.models.purchase_unit_request import PurchaseUnitRequest
from paypalserversdk.models.refund_request import RefundRequest

# The app holds no credential: the sidecar answers its token call and puts the account's token on its calls.
credentials = ClientCredentialsAuthCredentials(o_auth_client_id="app-id", o_auth_client_secret="app-holds-no-secret")
client = PaypalServersdkClient(client_credentials_auth_credentials=credentials, environment=Environment.SANDBOX)
card = CardRequest(number="4111111111111111", expiry="2031-12", security_code="123")
unit = PurchaseUnitRequest(amount=AmountWithBreakdown(currency_code="USD", value="20.00"))
order = client.orders.create_order({
    "body": OrderRequest(intent=CheckoutPaymentIntent.AUTHORIZE, payment_source=PaymentSource(card=card),
                         purchase_units=[unit]),
    "paypal_request_id": "legacy-order-1", "prefer": "return=representation"}).body
authorization = order.purchase_units[0].payments.authorizations[0]
capture = client.payments.capture_authorized_payment({
    "authorization_id": authorization.id, "paypal_request_id": "legacy-capture-1", "prefer": "return=representation",
    "body": CaptureRequest(amount=Money(currency_code="USD", value="15.00"), final_capture=True)}).body
refund = client.payments.refund_captured_payment({
    "capture_id": capture.id, "paypal_request_id": "legacy-refund-1", "prefer": "return=representation",
    "body": RefundRequest(amount=Money(currency_code="USD", value="5.00"))}).body
again = client.orders.get_order({"id": order.id}).body
print(json.dumps({"order": order.status, "authorization": authorization.status,
                  "capture": [capture.status, capture.amount.value], "refund": [refund.status, refund.amount.value],
                  "later": again.purchase_units[0].payments.authorizations[0].status}))
"""


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paypal")
    proc = SidecarProcess(tmp, {}).start()  # every connector on the sandbox
    proc.ca_file = tmp / "sidecar-ca.pem"
    proc.ca_file.write_bytes(
        subprocess.run([SIDECAR, "ca", "--config", str(proc.config_path)], capture_output=True, check=True).stdout
    )
    yield proc
    assert proc.stop() == 0
    output = proc.output()
    basic = base64.b64encode(f"{PAYPAL_SANDBOX_CLIENT_ID}:{PAYPAL_SANDBOX_SECRET}".encode()).decode()
    # Neither the account's secret nor any token it bought is ever written down; nor a card number.
    assert PAYPAL_SANDBOX_SECRET not in output and basic not in output and "A21AA" not in output
    assert "4111111111111111" not in output and "4242424242424242" not in output
    assert not proc.error_lines()


@pytest.fixture
def client(sidecar):
    with sidecar.client() as c:
        yield c


def money(minor: int) -> dict:
    return {"minor": minor, "currency": USD}


def test_authorize_capture_in_parts_refund_per_capture_sync_and_void(client) -> None:
    paid = post(client, "paypal", "/v1/payments", payment(VISA, minor=1000)).json()
    assert (paid["status"], paid["connector_status"]) == ("authorized", "CREATED"), paid
    first = post(client, "paypal", f"/v1/payments/{paid['id']}/capture", {"amount": money(600)}).json()
    second = post(client, "paypal", f"/v1/payments/{paid['id']}/capture", {"amount": money(300)}).json()
    assert (first["status"], first["captured"]) == ("partially_charged", money(600)), first
    assert (second["status"], second["captured"]) == ("partially_charged", money(900)), second
    assert first["operation_id"] != second["operation_id"]

    # No single capture has 700 left: the app must name one, and a refund is never split.
    split = post(client, "paypal", f"/v1/payments/{paid['id']}/refunds", {"amount": money(700)})
    assert split.status_code == 400 and split.json()["error"]["details"][0]["path"] == "capture_id", split.text
    # 400 fits only the first capture; 250 of the second, named.
    refund = post(client, "paypal", f"/v1/payments/{paid['id']}/refunds", {"amount": money(400)}).json()
    named = {"amount": money(250), "capture_id": second["operation_id"]}
    other = post(client, "paypal", f"/v1/payments/{paid['id']}/refunds", named).json()
    assert (refund["status"], other["status"]) == ("succeeded", "succeeded")
    foreign = {"amount": money(10), "capture_id": "NOTACAPTUREOFIT"}
    assert post(client, "paypal", f"/v1/payments/{paid['id']}/refunds", foreign).status_code == 400

    synced = client.get(f"/v1/payments/{paid['id']}", headers={"X-Connector": "paypal"}).json()
    assert (synced["captured"], synced["refunded"]) == (money(900), money(650)), synced
    assert client.get(f"/v1/refunds/{other['id']}", headers={"X-Connector": "paypal"}).json()["amount"] == money(250)

    # The rest of the authorization is released by a void; the payment keeps what was captured.
    voided = post(client, "paypal", f"/v1/payments/{paid['id']}/void").json()
    assert voided["status"] == "partially_charged" and voided["connector_status"] == "VOIDED", voided
    again = post(client, "paypal", f"/v1/payments/{paid['id']}/void")  # PREVIOUSLY_VOIDED: as it stands
    assert again.status_code == 200 and again.json()["status"] == "partially_charged", again.text


def test_money_in_paypals_own_units(client) -> None:
    huf = post(client, "paypal", "/v1/payments", payment(VISA, minor=150_000, currency="HUF")).json()
    assert huf["amount"] == {"minor": 150_000, "currency": "HUF"}, huf  # sent as "1500": no decimals at PayPal
    fraction = post(client, "paypal", "/v1/payments", payment(VISA, minor=150_050, currency="HUF"))
    assert fraction.status_code == 400 and fraction.json()["error"]["details"][0]["type"] == "not_representable"
    assert post(client, "paypal", "/v1/payments", payment(VISA, currency="KWD")).status_code == 400


def test_declines_carry_paypals_processor_response(client) -> None:
    refused = dict(VISA, number="4000000000000002")
    declined = post(client, "paypal", "/v1/payments", payment(refused)).json()
    assert (declined["status"], declined["error"]["code"]) == ("authorization_failed", "card_declined"), declined
    funds = dict(VISA, number="4012888888881881", holder_name="CCREJECT-IF")  # PayPal's rejection trigger
    automatic = post(client, "paypal", "/v1/payments", payment(funds, capture="automatic")).json()
    assert automatic["error"] == {**automatic["error"], "code": "insufficient_funds", "connector_code": "5120"}


@pytest.mark.parametrize(
    ("card", "outcome", "status"),
    [
        ("4242424242424242", "complete", "authorized"),
        ("4868719796782421", "complete", "authorization_failed"),  # PayPal's 3DS card that fails authentication
        ("4242424242424242", "fail", "authorization_failed"),
    ],
)
def test_three_ds_payer_action_then_complete(client, card, outcome, status) -> None:
    body = payment(dict(VISA, number=card), three_ds=True, return_url="https://shop.example/back")
    pending = post(client, "paypal", "/v1/payments", body).json()
    assert pending["status"] == "authentication_pending", pending
    action = pending["next_action"]
    assert action["type"] == "redirect" and action["data"]["rel"] == "payer-action"
    early = post(client, "paypal", "/v1/payments/complete", {"payment_id": pending["id"]}).json()
    assert early["status"] == "authentication_pending"  # the payer has not acted yet: nothing is sent
    page = httpx.get(action["url"], params={"outcome": outcome}, verify=False, timeout=10)
    assert page.status_code == 302 and page.headers["location"].endswith(f"token={pending['id']}")
    done = post(client, "paypal", "/v1/payments/complete", {"details": {"token": pending["id"]}}).json()
    assert done["status"] == status, done
    if status == "authorization_failed":
        assert done["error"]["code"] in ("authentication_failed", "card_declined"), done


def test_the_official_sdk_through_the_forward_proxy_holding_no_credential(sidecar) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/"),
        "HTTPS_PROXY": sidecar.proxy_url,  # requests' own proxy setting: the SDK's session trusts the environment
        "REQUESTS_CA_BUNDLE": str(sidecar.ca_file),
    }
    done = subprocess.run([sys.executable, "-c", SDK_APP], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "order": "COMPLETED",
        "authorization": "CREATED",
        "capture": ["COMPLETED", "15.00"],
        "refund": ["COMPLETED", "5.00"],
        "later": "CAPTURED",
    }
    lines = [json.loads(line) for line in Path(sidecar.stdout_path).read_text().splitlines() if '"forward"' in line]
    calls = [line for line in lines if line.get("connector") == "paypal" and "url" in line]
    assert not [
        line for line in calls if line["url"].endswith("/v1/oauth2/token") and line.get("step") != "access token"
    ]
    assert "app-holds-no-secret" not in Path(sidecar.stdout_path).read_text()
