"""What the official SDKs commonly call, each SDK run as a legacy app with the README's settings (its own
process, the proxy and the CA in its environment) against the gateways' real host names, through the real
sidecar's forward proxy to the sandbox: stripe-python's Customers, PaymentMethods, PaymentIntents,
Refunds and SetupIntents, pages of lists included; the Adyen Python SDK's /paymentMethods at its default
Checkout version. What the sandbox does not simulate reaches each SDK as its gateway's own error, saying so."""

from __future__ import annotations

import json
import subprocess

import pytest
from detector import Detector, gateway_ids
from harness import SIDECAR, SidecarProcess
from test_e2e_sdk_recipes import WITHOUT_REQUESTS, clean_env, python_app

STRIPE_APP = """
import json, os, stripe
stripe.api_key = "sk_test_appholdsnosecret"  # the sidecar puts the account's key in its place
stripe.ca_bundle_path = os.environ["REQUESTS_CA_BUNDLE"]
out = {}
card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "314"}

customer = stripe.Customer.create(email="jane@example.com", name="Jane", metadata={"plan": "gold", "team": "a"})
customer = stripe.Customer.modify(customer.id, name="Jane Doe", metadata={"plan": ""})
customer = stripe.Customer.retrieve(customer.id)
out["customer"] = [customer.object, customer.name, customer.email, customer.metadata.to_dict()]
out["customers"] = [c.id == customer.id for c in stripe.Customer.list(email="jane@example.com", limit=1).data]

method = stripe.PaymentMethod.create(type="card", card=card)
attached = stripe.PaymentMethod.attach(method.id, customer=customer.id)
out["attached"] = [attached.customer == customer.id, stripe.PaymentMethod.retrieve(method.id).card.last4]
out["customer_methods"] = [m.id == method.id for m in stripe.Customer.list_payment_methods(customer.id).data]
out["methods"] = [m.id == method.id for m in stripe.PaymentMethod.list(customer=customer.id, type="card").data]

setup = stripe.SetupIntent.create(customer=customer.id, usage="off_session")
try:
    stripe.SetupIntent.confirm(setup.id, payment_method="pm_card_chargeDeclined")
except stripe.CardError as declined:
    out["setup_declined"] = [declined.code, declined.json_body["error"]["setup_intent"]["status"]]
setup = stripe.SetupIntent.modify(setup.id, metadata={"flow": "signup"})
setup = stripe.SetupIntent.confirm(setup.id, payment_method="pm_card_mastercard")
setup = stripe.SetupIntent.retrieve(setup.id, expand=["payment_method"])
saved = setup.payment_method
out["setup"] = [setup.status, setup.usage, saved.card.brand, saved.customer == customer.id]
other = stripe.SetupIntent.cancel(stripe.SetupIntent.create().id, cancellation_reason="abandoned")
out["setup_canceled"] = other.status
out["setups"] = [s.id == setup.id for s in stripe.SetupIntent.list(customer=customer.id).data]

by_data = stripe.PaymentIntent.create(amount=2000, currency="usd", customer=customer.id, confirm=True,
                                      payment_method_data={"type": "card", "card": {"token": "tok_visa"}},
                                      payment_method_types=["card"])
raw = stripe.PaymentIntent.create(amount=1000, currency="usd", confirm=True, capture_method="manual",
                                  payment_method_data={"type": "card", "card": card})
saved_card = stripe.PaymentIntent.create(amount=900, currency="eur", customer=customer.id,
                                         payment_method=saved.id, off_session=True, confirm=True)
later = stripe.PaymentIntent.create(amount=500, currency="usd", payment_method="pm_card_visa")
later = stripe.PaymentIntent.modify(later.id, amount=700, metadata={"order": "7"}, description="updated")
confirmed = stripe.PaymentIntent.confirm(later.id)
canceled = stripe.PaymentIntent.cancel(stripe.PaymentIntent.create(amount=300, currency="usd").id)
out["intents"] = [by_data.status, by_data.customer == customer.id, raw.status, saved_card.status,
                  [confirmed.status, confirmed.amount_received, confirmed.metadata.to_dict()], canceled.status]
out["retrieved"] = stripe.PaymentIntent.retrieve(raw.id).amount_capturable
mine = [canceled.id, later.id, saved_card.id, raw.id, by_data.id]  # newest first
page = stripe.PaymentIntent.list(limit=2)
paged = [intent.id for intent in stripe.PaymentIntent.list(limit=2).auto_paging_iter()]
out["list"] = [len(page.data), page.has_more, [i for i in paged if i in mine] == mine, len(paged) == len(set(paged))]
out["by_customer"] = [i.id for i in stripe.PaymentIntent.list(customer=customer.id).data] == [saved_card.id, by_data.id]

refund = stripe.Refund.create(payment_intent=by_data.id, amount=500)
second = stripe.Refund.create(payment_intent=by_data.id)
out["refund"] = [stripe.Refund.retrieve(refund.id).amount, second.amount]
out["refunds"] = [r.id for r in stripe.Refund.list(payment_intent=by_data.id).data] == [second.id, refund.id]

for name, call in (("charges", lambda: stripe.Charge.list()),
                   ("delete_customer", lambda: stripe.Customer.delete(customer.id))):
    try:
        call()
    except stripe.InvalidRequestError as refused:
        out[name] = [refused.http_status, "does not simulate" in refused.user_message]
print(json.dumps(out))
"""

ADYEN_APP = """
import json, Adyen
adyen = Adyen.Adyen(xapikey="app-holds-no-adyen-key", platform="test")  # the sidecar injects the key
checkout = adyen.checkout.payments_api
merchant = "SidecarSandboxECOM"
methods = checkout.payment_methods(request={"merchantAccount": merchant, "countryCode": "NL", "channel": "Web",
                                            "amount": {"value": 1000, "currency": "EUR"}})
(cards,) = methods.message["paymentMethods"]
blocked = checkout.payment_methods(request={"merchantAccount": merchant, "blockedPaymentMethods": ["scheme"]})
try:
    checkout.sessions(request={"merchantAccount": merchant, "amount": {"value": 1000, "currency": "EUR"},
                               "reference": "s-1", "returnUrl": "https://shop.example/return"})
except Adyen.AdyenAPICommunicationError as refused:
    error = json.loads(refused.raw_response)
    not_simulated = [refused.status_code, error["errorCode"], "does not simulate" in error["message"]]
print(json.dumps({"version": checkout.baseUrl.rsplit("/", 1)[1], "cards": [cards["type"], cards["name"],
                  sorted(set(cards["brands"]) & {"visa", "mc", "amex"})], "blocked": blocked.message,
                  "sessions": not_simulated}))
"""


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sdk-coverage")
    proc = SidecarProcess(tmp, {}).start()  # both connectors on the sandbox
    proc.ca_file = tmp / "sidecar-ca.pem"
    proc.ca_file.write_bytes(
        subprocess.run([SIDECAR, "ca", "--config", str(proc.config_path)], capture_output=True, check=True).stdout
    )
    yield proc
    assert proc.stop() == 0


EXPECTED_STRIPE = {
    "customer": ["customer", "Jane Doe", "jane@example.com", {"team": "a"}],
    "customers": [True],
    "attached": [True, "4242"],
    "customer_methods": [True],
    "methods": [True],
    "setup_declined": ["card_declined", "requires_payment_method"],
    "setup": ["succeeded", "off_session", "mastercard", True],
    "setup_canceled": "canceled",
    "setups": [True],
    "intents": ["succeeded", True, "requires_capture", "succeeded", ["succeeded", 700, {"order": "7"}], "canceled"],
    "retrieved": 1000,
    "list": [2, True, True, True],
    "by_customer": True,
    "refund": [500, 1500],
    "refunds": True,
    "charges": [404, True],
    "delete_customer": [404, True],
}


def test_stripe_python_customers_payment_methods_intents_refunds_and_setup_intents(sidecar) -> None:
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, REQUESTS_CA_BUNDLE=str(sidecar.ca_file))
    assert python_app(STRIPE_APP, env) == EXPECTED_STRIPE


def test_stripe_python_on_urllib_makes_the_same_calls(sidecar) -> None:
    ca = str(sidecar.ca_file)
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, SSL_CERT_FILE=ca, REQUESTS_CA_BUNDLE=ca)
    assert python_app(WITHOUT_REQUESTS + STRIPE_APP, env) == EXPECTED_STRIPE


def test_the_sdks_calls_are_logged_masked(sidecar) -> None:
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, REQUESTS_CA_BUNDLE=str(sidecar.ca_file))
    python_app(STRIPE_APP, env)
    output = sidecar.stdout_path.read_text()
    calls = [json.loads(line) for line in output.splitlines() if '"connector call"' in line]
    paths = {line["url"].split("/v1/", 1)[-1].split("/")[0] for line in calls if line["operation"] == "forward"}
    assert {"customers", "payment_methods", "setup_intents", "payment_intents", "refunds", "charges"} <= paths
    created = [line for line in calls if line["url"].endswith("/v1/customers") and line["method"] == "POST"]
    assert created and all("email=" in line["request_body"] for line in created)  # logged, its values masked
    for personal in ("jane@example.com", "Jane Doe"):  # the customer's, in requests and answers
        assert personal not in output
    detector = Detector(
        secrets=["sk_test_sandbox", "sk_test_appholdsnosecret"], cvcs=["314"], allowed=gateway_ids(output)
    )
    detector.scan("stdout", output)
    detector.scan("stderr", sidecar.stderr_path.read_text())
    assert detector.findings == [], "\n".join(map(str, detector.findings))


EXPECTED_ADYEN = {
    "version": "v72",  # the SDK's default
    "cards": ["scheme", "Cards", ["amex", "mc", "visa"]],
    "blocked": {"paymentMethods": []},
    "sessions": [404, "000", True],
}


def test_adyen_python_sdk_payment_methods_at_its_default_version(sidecar) -> None:
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, REQUESTS_CA_BUNDLE=str(sidecar.ca_file))
    assert python_app(ADYEN_APP, env) == EXPECTED_ADYEN


def test_adyen_python_sdk_on_urllib_makes_the_same_calls(sidecar) -> None:
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, SSL_CERT_FILE=str(sidecar.ca_file))
    assert python_app(WITHOUT_REQUESTS + ADYEN_APP, env) == EXPECTED_ADYEN
