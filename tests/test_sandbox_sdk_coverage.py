"""What the official SDKs commonly call, on the sandbox gateways' ``handle``: Stripe's Customers,
PaymentMethods attached to them, PaymentIntents made from ``payment_method_data``, updated and listed,
Refund lists and SetupIntents; Adyen's /paymentMethods; and what is not simulated, which says so in the
gateway's own error. Every answer here is checked against the gateway's official OpenAPI spec."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from connectors.kit.testing import SpecValidator, need_spec
from sidecar.sandbox import (
    ADYEN_SANDBOX_KEY,
    ADYEN_SANDBOX_MERCHANT,
    STRIPE_SANDBOX_KEY,
    AdyenCodec,
    SandboxResponse,
    SimulatedGateway,
    StripeCodec,
)

FIXED_NOW = datetime(2030, 6, 15, tzinfo=UTC).timestamp()
# Fields of Stripe's API (version 2024-06-20, the sandbox's) newer than the spec snapshot in
# ../shared/specs, which the sandbox renders as the API does: left out before validating, nothing else.
NEWER_THAN_SPEC = {
    "allow_redisplay": "PaymentMethod, https://docs.stripe.com/api/payment_methods/object",
    "display_brand": "PaymentMethod card, https://docs.stripe.com/api/payment_methods/object",
    "destination_details": "Refund, https://docs.stripe.com/api/refunds/object",
    "source": "PaymentIntent, https://docs.stripe.com/api/payment_intents/object",
}
CARD = {"card[number]": "4242424242424242", "card[exp_month]": "12", "card[exp_year]": "2034", "card[cvc]": "123"}
# The same card as payment_method_data, which a PaymentIntent or SetupIntent turns into a PaymentMethod.
CARD_DATA = {"payment_method_data[type]": "card"} | {f"payment_method_data[card]{k[4:]}": v for k, v in CARD.items()}


class Clock:
    def __init__(self) -> None:
        self.now = FIXED_NOW

    def __call__(self) -> float:
        return self.now


class Stripe:
    """The Stripe sandbox, every answer checked against Stripe's spec."""

    def __init__(self, clock: Clock) -> None:
        self.gateway = SimulatedGateway(StripeCodec(), "http://sandbox.test", clock=clock)
        self.spec = SpecValidator("stripe.openapi.json", closed_objects=True)
        self.headers = {"Authorization": f"Bearer {STRIPE_SANDBOX_KEY}"}

    def post(self, path: str, params: dict[str, str] | None = None, key: str | None = None) -> SandboxResponse:
        headers = self.headers | {"Content-Type": "application/x-www-form-urlencoded"}
        headers |= {"Idempotency-Key": key} if key else {}
        return self._checked("POST", path, "", headers, urlencode(params or {}).encode())

    def get(self, path: str, **query: str) -> SandboxResponse:
        return self._checked("GET", path, urlencode(query), self.headers, b"")

    def _checked(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> SandboxResponse:
        answer = self.gateway.handle(method, path, query, headers, body)
        if answer.status != 404:  # a path the spec may not have
            document = _without(json.loads(answer.body), NEWER_THAN_SPEC)
            self.spec.check_response(method, path, answer.status, json.dumps(document).encode())
        return answer


def _without(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: _without(item, names) for key, item in value.items() if key not in names}
    return [_without(item, names) for item in value] if isinstance(value, list) else value


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stripe(clock: Clock) -> Stripe:
    need_spec("stripe.openapi.json")
    return Stripe(clock)


def ok(answer: SandboxResponse) -> dict[str, Any]:
    assert answer.status == 200, answer.body
    return answer.json()


def error(answer: SandboxResponse, status: int) -> dict[str, Any]:
    assert answer.status == status, answer.body
    return answer.json()["error"]


def customer(stripe: Stripe, **params: str) -> dict[str, Any]:
    return ok(stripe.post("/v1/customers", params))


def payment_method(stripe: Stripe, number: str = "4242424242424242") -> str:
    return ok(stripe.post("/v1/payment_methods", {"type": "card", **CARD, "card[number]": number}))["id"]


def intent(stripe: Stripe, **params: str) -> dict[str, Any]:
    return ok(stripe.post("/v1/payment_intents", {"amount": "1000", "currency": "usd", **params}))


# --- Customers -----------------------------------------------------------------------------------


def test_customers_are_created_retrieved_updated_and_unset_as_at_stripe(stripe: Stripe) -> None:
    created = customer(
        stripe,
        email="jane@example.com",
        name="Jane Doe",
        **{"metadata[plan]": "gold", "metadata[team]": "a", "address[line1]": "1 Main St", "shipping[name]": "J"},
    )
    assert created["id"].startswith("cus_") and created["object"] == "customer"
    assert created["address"]["line1"] == "1 Main St" and created["address"]["city"] is None
    assert created["shipping"]["name"] == "J" and created["metadata"] == {"plan": "gold", "team": "a"}
    assert ok(stripe.get(f"/v1/customers/{created['id']}")) == created
    changes = {"metadata[plan]": "", "metadata[region]": "eu", "name": "", "phone": "+441234567890", "address": ""}
    updated = ok(stripe.post(f"/v1/customers/{created['id']}", changes))
    assert updated["metadata"] == {"team": "a", "region": "eu"}
    assert (updated["name"], updated["phone"], updated["address"]) == (None, "+441234567890", None)
    assert updated["email"] == "jane@example.com"
    assert ok(stripe.post(f"/v1/customers/{created['id']}", {"metadata": ""}))["metadata"] == {}
    default = {"invoice_settings[default_payment_method]": "pm_card_visa"}
    assert ok(stripe.post(f"/v1/customers/{created['id']}", default))["invoice_settings"]["default_payment_method"]
    footer = ok(stripe.post(f"/v1/customers/{created['id']}", {"invoice_settings[footer]": "Thanks"}))
    assert footer["invoice_settings"]["default_payment_method"] == "pm_card_visa"  # the footer is not kept
    nested = error(stripe.post("/v1/customers", {"address[line1][x]": "1"}), 400)
    assert nested["param"] == "address[line1]"


def test_customers_unknown_or_with_a_payment_method_are_refused(stripe: Stripe) -> None:
    missing = error(stripe.get("/v1/customers/cus_nosuchcustomer"), 404)
    assert (missing["code"], missing["param"]) == ("resource_missing", "customer")
    assert error(stripe.post("/v1/customers/cus_nosuchcustomer", {"name": "x"}), 404)["code"] == "resource_missing"
    attached = error(stripe.post("/v1/customers", {"payment_method": "pm_card_visa"}), 400)
    assert "does not simulate" in attached["message"] and attached["param"] == "payment_method"
    assert error(stripe.post("/v1/customers", {"tax_idd": "x"}), 400)["code"] == "parameter_unknown"
    shipping = error(stripe.post("/v1/customers", {"shipping[phone]": "1"}), 400)
    assert (shipping["code"], shipping["param"]) == ("parameter_missing", "shipping[name]")


def test_customers_idempotency_key_replays_the_first_customer(stripe: Stripe) -> None:
    first = stripe.post("/v1/customers", {"email": "a@example.com"}, key="cust-1")
    again = stripe.post("/v1/customers", {"email": "a@example.com"}, key="cust-1")
    assert again.body == first.body and again.headers["Idempotent-Replayed"] == "true"
    other = error(stripe.post("/v1/customers", {"email": "b@example.com"}, key="cust-1"), 400)
    assert other["type"] == "idempotency_error"
    assert len(ok(stripe.get("/v1/customers"))["data"]) == 1


# --- PaymentMethods ------------------------------------------------------------------------------


def test_payment_methods_attach_to_a_customer_once_and_are_listed_by_it(stripe: Stripe) -> None:
    jane, other = customer(stripe)["id"], customer(stripe)["id"]
    first, second = payment_method(stripe), payment_method(stripe, "5555555555554444")
    payment_method(stripe)  # never attached
    attached = ok(stripe.post(f"/v1/payment_methods/{first}/attach", {"customer": jane}))
    assert attached["id"] == first and attached["customer"] == jane
    assert ok(stripe.get(f"/v1/payment_methods/{first}"))["customer"] == jane
    again = error(stripe.post(f"/v1/payment_methods/{first}/attach", {"customer": other}), 400)
    assert "already been attached" in again["message"]
    ok(stripe.post(f"/v1/payment_methods/{second}/attach", {"customer": jane}))
    listed = ok(stripe.get(f"/v1/customers/{jane}/payment_methods"))
    assert [pm["id"] for pm in listed["data"]] == [second, first]  # newest first
    assert listed["url"] == f"/v1/customers/{jane}/payment_methods" and listed["has_more"] is False
    by_query = ok(stripe.get("/v1/payment_methods", customer=jane, type="card"))
    assert [pm["id"] for pm in by_query["data"]] == [second, first]
    assert ok(stripe.get("/v1/payment_methods", customer=jane, type="sepa_debit"))["data"] == []
    assert ok(stripe.get(f"/v1/customers/{other}/payment_methods"))["data"] == []


def test_attaching_to_or_listing_for_an_unknown_customer_is_resource_missing(stripe: Stripe) -> None:
    pm = payment_method(stripe)
    unknown = error(stripe.post(f"/v1/payment_methods/{pm}/attach", {"customer": "cus_nobody"}), 400)
    assert (unknown["code"], unknown["param"], unknown["message"]) == (
        "resource_missing",
        "customer",
        "No such customer: 'cus_nobody'",
    )
    assert error(stripe.get("/v1/customers/cus_nobody/payment_methods"), 404)["code"] == "resource_missing"
    assert error(stripe.post(f"/v1/payment_methods/{pm}/attach", {}), 400)["code"] == "parameter_missing"
    no_pm = error(stripe.post("/v1/payment_methods/pm_nosuch/attach", {"customer": customer(stripe)["id"]}), 404)
    assert no_pm["code"] == "resource_missing"


# --- PaymentIntents ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        CARD_DATA,
        {"payment_method_data[type]": "card", "payment_method_data[card][token]": "tok_visa"},
    ],
    ids=["card", "token"],
)
def test_payment_intents_take_a_card_in_payment_method_data(stripe: Stripe, data: dict[str, str]) -> None:
    paid = intent(stripe, confirm="true", **data, **{"payment_method_data[billing_details][name]": "Jane"})
    assert paid["status"] == "succeeded" and paid["payment_method"].startswith("pm_")
    method = ok(stripe.get(f"/v1/payment_methods/{paid['payment_method']}"))
    assert method["card"]["last4"] == "4242" and method["billing_details"]["name"] == "Jane"


def test_payment_method_data_is_checked_like_a_payment_method(stripe: Stripe) -> None:
    declined = error(intent_answer(stripe, "4000000000000002"), 402)
    assert declined["decline_code"] == "generic_decline"
    wrong = error(
        stripe.post(
            "/v1/payment_intents",
            {"amount": "100", "currency": "usd", "confirm": "true", "payment_method_data[type]": "sepa_debit"},
        ),
        400,
    )
    assert wrong["param"] == "payment_method_data[type]"
    token = {"payment_method_data[type]": "card", "payment_method_data[card][token]": "tok_nosuch"}
    unknown = error(stripe.post("/v1/payment_intents", {"amount": "100", "currency": "usd", **token}), 400)
    assert (unknown["code"], unknown["param"]) == ("resource_missing", "payment_method_data[card][token]")


def intent_answer(stripe: Stripe, number: str) -> SandboxResponse:
    params = {"amount": "1000", "currency": "usd", "confirm": "true", **CARD_DATA}
    params["payment_method_data[card][number]"] = number
    return stripe.post("/v1/payment_intents", params)


def test_payment_intents_keep_their_customer_and_refuse_an_unknown_one(stripe: Stripe) -> None:
    jane = customer(stripe)["id"]
    paid = intent(stripe, customer=jane, payment_method="pm_card_visa", confirm="true")
    assert paid["customer"] == jane
    unknown = error(stripe.post("/v1/payment_intents", {"amount": "100", "currency": "usd", "customer": "cus_x"}), 400)
    assert (unknown["code"], unknown["param"]) == ("resource_missing", "customer")


def test_payment_intents_are_updated_while_they_wait_then_only_their_details(stripe: Stripe) -> None:
    created = intent(stripe, **{"metadata[order]": "1", "metadata[temp]": "x"})
    assert created["status"] == "requires_payment_method"
    changes = {"amount": "2500", "payment_method": "pm_card_visa", "metadata[temp]": "", "description": "two"}
    updated = ok(stripe.post(f"/v1/payment_intents/{created['id']}", changes))
    assert (updated["amount"], updated["status"], updated["description"]) == (2500, "requires_confirmation", "two")
    assert updated["metadata"] == {"order": "1"}
    confirmed = ok(stripe.post(f"/v1/payment_intents/{created['id']}/confirm"))
    assert (confirmed["status"], confirmed["amount_received"]) == ("succeeded", 2500)
    late = error(stripe.post(f"/v1/payment_intents/{created['id']}", {"amount": "3000"}), 400)
    assert late["code"] == "payment_intent_unexpected_state" and late["payment_intent"]["amount"] == 2500
    noted = ok(stripe.post(f"/v1/payment_intents/{created['id']}", {"metadata[shipped]": "yes"}))
    assert noted["metadata"] == {"order": "1", "shipped": "yes"} and noted["status"] == "succeeded"
    assert error(stripe.post("/v1/payment_intents/pi_nosuch", {"amount": "1"}), 404)["code"] == "resource_missing"


def test_a_declined_payment_intent_takes_a_new_card_by_update(stripe: Stripe) -> None:
    declined = error(
        stripe.post(
            "/v1/payment_intents",
            {"amount": "700", "currency": "usd", "confirm": "true", "payment_method": "pm_card_chargeDeclined"},
        ),
        402,
    )
    pid = declined["payment_intent"]["id"]
    updated = ok(stripe.post(f"/v1/payment_intents/{pid}", {"payment_method": "pm_card_visa"}))
    assert updated["status"] == "requires_confirmation"
    assert ok(stripe.post(f"/v1/payment_intents/{pid}/confirm"))["status"] == "succeeded"


def test_payment_intents_are_listed_newest_first_by_page(stripe: Stripe, clock: Clock) -> None:
    jane = customer(stripe)["id"]
    ids = []
    for index in range(5):
        clock.now = FIXED_NOW + index
        ids.append(intent(stripe, **({"customer": jane} if index % 2 else {}))["id"])
    newest = ids[::-1]
    first = ok(stripe.get("/v1/payment_intents", limit="2"))
    assert ([i["id"] for i in first["data"]], first["has_more"], first["url"]) == (
        newest[:2],
        True,
        "/v1/payment_intents",
    )
    second = ok(stripe.get("/v1/payment_intents", limit="2", starting_after=newest[1]))
    assert ([i["id"] for i in second["data"]], second["has_more"]) == (newest[2:4], True)
    last = ok(stripe.get("/v1/payment_intents", limit="2", starting_after=newest[3]))
    assert ([i["id"] for i in last["data"]], last["has_more"]) == (newest[4:], False)
    before = ok(stripe.get("/v1/payment_intents", limit="2", ending_before=newest[3]))
    assert ([i["id"] for i in before["data"]], before["has_more"]) == (newest[1:3], True)
    assert [i["id"] for i in ok(stripe.get("/v1/payment_intents", customer=jane))["data"]] == [ids[3], ids[1]]
    recent = ok(stripe.get("/v1/payment_intents", **{"created[gte]": str(int(FIXED_NOW) + 3)}))
    assert [i["id"] for i in recent["data"]] == newest[:2]
    exact = ok(stripe.get("/v1/payment_intents", created=str(int(FIXED_NOW) + 1)))
    assert [i["id"] for i in exact["data"]] == [ids[1]]
    assert len(ok(stripe.get("/v1/payment_intents"))["data"]) == 5  # 10 by default


def test_list_paging_refuses_what_stripe_refuses(stripe: Stripe) -> None:
    intent(stripe)
    cursor = error(stripe.get("/v1/payment_intents", starting_after="pi_nosuch"), 400)
    assert (cursor["code"], cursor["param"]) == ("resource_missing", "starting_after")
    too_many = error(stripe.get("/v1/payment_intents", limit="101"), 400)
    assert (too_many["code"], too_many["param"]) == ("parameter_invalid_integer", "limit")
    assert error(stripe.get("/v1/payment_intents", limit="0"), 400)["param"] == "limit"
    both = error(stripe.get("/v1/payment_intents", starting_after="a", ending_before="b"), 400)
    assert both["param"] == "ending_before"
    assert error(stripe.get("/v1/payment_intents", expand="latest_charge"), 400)["param"] == "expand"
    expanded = ok(stripe.get("/v1/payment_intents", **{"expand[]": "data.payment_method"}))
    assert expanded["data"][0]["payment_method"] is None


# --- Refunds -------------------------------------------------------------------------------------


def test_refunds_are_listed_newest_first_and_by_payment(stripe: Stripe, clock: Clock) -> None:
    one = intent(stripe, payment_method="pm_card_visa", confirm="true")
    two = intent(stripe, payment_method="pm_card_visa", confirm="true")
    refunds = []
    for index, paid in enumerate((one, two, one)):
        clock.now = FIXED_NOW + 10 + index
        refunds.append(ok(stripe.post("/v1/refunds", {"payment_intent": paid["id"], "amount": "100"}))["id"])
    assert [r["id"] for r in ok(stripe.get("/v1/refunds"))["data"]] == refunds[::-1]
    of_one = ok(stripe.get("/v1/refunds", payment_intent=one["id"]))
    assert [r["id"] for r in of_one["data"]] == [refunds[2], refunds[0]]
    by_charge = ok(stripe.get("/v1/refunds", charge=two["latest_charge"], **{"expand[]": "data.payment_intent"}))
    assert [r["id"] for r in by_charge["data"]] == [refunds[1]]
    assert by_charge["data"][0]["payment_intent"]["id"] == two["id"]
    assert ok(stripe.get(f"/v1/refunds/{refunds[1]}"))["amount"] == 100


# --- SetupIntents --------------------------------------------------------------------------------


def test_setup_intents_confirm_a_card_and_attach_it_to_their_customer(stripe: Stripe) -> None:
    jane = customer(stripe)["id"]
    created = ok(stripe.post("/v1/setup_intents", {"customer": jane, "metadata[flow]": "signup"}))
    assert created["id"].startswith("seti_") and created["client_secret"].startswith(created["id"] + "_secret_")
    assert (created["status"], created["usage"], created["payment_method"]) == (
        "requires_payment_method",
        "off_session",
        None,
    )
    declined = error(
        stripe.post(
            f"/v1/setup_intents/{created['id']}/confirm", {"payment_method": "pm_card_chargeDeclinedInsufficientFunds"}
        ),
        402,
    )
    assert (declined["type"], declined["decline_code"]) == ("card_error", "insufficient_funds")
    assert declined["setup_intent"]["status"] == "requires_payment_method"
    waiting = ok(stripe.get(f"/v1/setup_intents/{created['id']}"))
    assert waiting["last_setup_error"]["decline_code"] == "insufficient_funds" and waiting["payment_method"] is None
    pm = payment_method(stripe)
    confirmed = ok(
        stripe.post(f"/v1/setup_intents/{created['id']}/confirm", {"payment_method": pm, "expand[]": "payment_method"})
    )
    assert confirmed["status"] == "succeeded" and confirmed["payment_method"]["id"] == pm
    assert confirmed["last_setup_error"] is None and confirmed["metadata"] == {"flow": "signup"}
    assert [m["id"] for m in ok(stripe.get(f"/v1/customers/{jane}/payment_methods"))["data"]] == [pm]
    paid = intent(stripe, customer=jane, payment_method=pm, confirm="true", off_session="true")
    assert paid["status"] == "succeeded"
    late = error(stripe.post(f"/v1/setup_intents/{created['id']}/cancel"), 400)
    assert late["code"] == "setup_intent_unexpected_state" and "status of succeeded" in late["message"]
    assert (
        error(stripe.post(f"/v1/setup_intents/{created['id']}/confirm"), 400)["code"] == "setup_intent_unexpected_state"
    )


def test_setup_intents_at_creation_update_and_cancel(stripe: Stripe) -> None:
    at_once = ok(
        stripe.post("/v1/setup_intents", {"payment_method": "pm_card_visa", "confirm": "true", "usage": "on_session"})
    )
    assert (at_once["status"], at_once["usage"]) == ("succeeded", "on_session")
    later = ok(stripe.post("/v1/setup_intents", CARD_DATA))
    assert later["status"] == "requires_confirmation" and later["payment_method"].startswith("pm_")
    updated = ok(stripe.post(f"/v1/setup_intents/{later['id']}", {"description": "card for later"}))
    assert updated["description"] == "card for later" and updated["status"] == "requires_confirmation"
    canceled = ok(stripe.post(f"/v1/setup_intents/{later['id']}/cancel", {"cancellation_reason": "abandoned"}))
    assert (canceled["status"], canceled["cancellation_reason"]) == ("canceled", "abandoned")
    assert (
        error(stripe.post(f"/v1/setup_intents/{later['id']}", {"description": "x"}), 400)["code"]
        == "setup_intent_unexpected_state"
    )
    missing = error(stripe.post("/v1/setup_intents", {"confirm": "true"}), 400)
    assert (missing["code"], missing["param"]) == ("parameter_missing", "payment_method")
    empty = ok(stripe.post("/v1/setup_intents"))
    assert error(stripe.post(f"/v1/setup_intents/{empty['id']}/confirm"), 400)["param"] == "payment_method"
    assert error(stripe.get("/v1/setup_intents/seti_nosuch"), 404)["code"] == "resource_missing"
    assert error(stripe.post("/v1/setup_intents", {"usage": "sometimes"}), 400)["param"] == "usage"


def test_setup_intents_do_not_simulate_3d_secure_and_say_so(stripe: Stripe) -> None:
    answer = error(
        stripe.post("/v1/setup_intents", {"payment_method": "pm_card_authenticationRequired", "confirm": "true"}), 402
    )
    assert answer["code"] == "authentication_required" and "does not simulate 3-D Secure" in answer["message"]
    assert answer["setup_intent"]["status"] == "requires_payment_method"


def test_setup_intents_are_listed_by_customer_and_payment_method(stripe: Stripe) -> None:
    jane = customer(stripe)["id"]
    pm = payment_method(stripe)
    mine = ok(stripe.post("/v1/setup_intents", {"customer": jane, "payment_method": pm}))["id"]
    other = ok(stripe.post("/v1/setup_intents"))["id"]
    assert [s["id"] for s in ok(stripe.get("/v1/setup_intents"))["data"]] == [other, mine]
    assert [s["id"] for s in ok(stripe.get("/v1/setup_intents", customer=jane))["data"]] == [mine]
    assert [s["id"] for s in ok(stripe.get("/v1/setup_intents", payment_method=pm))["data"]] == [mine]
    listed = ok(stripe.get("/v1/customers", limit="1"))
    assert [c["id"] for c in listed["data"]] == [jane] and listed["has_more"] is False


@pytest.mark.parametrize("first", ["connectors.stripe.sandbox", "connectors.stripe.sandbox_objects"])
def test_either_stripe_sandbox_module_may_be_imported_first(first: str) -> None:
    """The codec routes to sandbox_objects, which renders with the codec's helpers: each uses the other
    only inside functions."""
    code = f"import {first}\nfrom connectors.stripe.sandbox import StripeCodec\nStripeCodec().new_id('customer')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- Not simulated -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/charges"), ("DELETE", "/v1/customers/cus_123"), ("POST", "/v1/payment_methods/pm_1/detach")],
)
def test_stripe_says_what_it_does_not_simulate_in_its_own_error(stripe: Stripe, method: str, path: str) -> None:
    answer = stripe.gateway.handle(method, path, "", stripe.headers, b"")
    body = answer.json()["error"]
    assert answer.status == 404 and body["type"] == "invalid_request_error"
    assert body["message"].startswith(f"Unrecognized request URL ({method}: {path})")
    assert "does not simulate" in body["message"]


# --- Adyen /paymentMethods -----------------------------------------------------------------------


@pytest.fixture
def adyen() -> Iterator[tuple[SimulatedGateway, SpecValidator]]:
    need_spec("adyen-checkout-v71.openapi.json")
    yield SimulatedGateway(AdyenCodec(), "http://sandbox.test"), SpecValidator("adyen-checkout-v71.openapi.json")


def a_post(adyen: tuple[SimulatedGateway, SpecValidator], path: str, body: dict[str, Any]) -> SandboxResponse:
    gateway, spec = adyen
    headers = {"X-API-Key": ADYEN_SANDBOX_KEY, "Content-Type": "application/json"}
    answer = gateway.handle("POST", path, "", headers, json.dumps(body).encode())
    if answer.status != 404:
        spec.check_response("POST", "/" + path.split("/", 2)[2], answer.status, answer.body)  # past the version
    return answer


@pytest.mark.parametrize("version", ["v68", "v71", "v72"])
def test_adyen_payment_methods_offers_cards(adyen, version: str) -> None:
    answer = a_post(adyen, f"/{version}/paymentMethods", {"merchantAccount": ADYEN_SANDBOX_MERCHANT})
    assert answer.status == 200
    (cards,) = answer.json()["paymentMethods"]
    assert (cards["type"], cards["name"]) == ("scheme", "Cards") and {"visa", "mc", "amex"} <= set(cards["brands"])
    filtered = {"merchantAccount": ADYEN_SANDBOX_MERCHANT, "amount": {"value": 1000, "currency": "EUR"}}
    assert a_post(adyen, f"/{version}/paymentMethods", filtered | {"countryCode": "NL", "channel": "Web"}).status == 200
    blocked = a_post(adyen, f"/{version}/paymentMethods", filtered | {"blockedPaymentMethods": ["scheme"]})
    assert blocked.json() == {"paymentMethods": []}
    allowed = a_post(adyen, f"/{version}/paymentMethods", filtered | {"allowedPaymentMethods": ["ideal"]})
    assert allowed.json() == {"paymentMethods": []}


def test_adyen_payment_methods_refuses_what_adyen_refuses(adyen) -> None:
    assert a_post(adyen, "/v71/paymentMethods", {}).json()["errorCode"] == "000"
    wrong = a_post(adyen, "/v71/paymentMethods", {"merchantAccount": "Other"})
    assert (wrong.status, wrong.json()["errorCode"]) == (403, "901")
    unknown = a_post(adyen, "/v71/paymentMethods", {"merchantAccount": ADYEN_SANDBOX_MERCHANT, "shopperColour": "x"})
    assert (unknown.status, unknown.json()["errorCode"]) == (400, "702")
    currency = {"merchantAccount": ADYEN_SANDBOX_MERCHANT, "amount": {"value": 1, "currency": "XXX"}}
    assert a_post(adyen, "/v71/paymentMethods", currency).json()["errorCode"] == "138"


def test_adyen_says_what_it_does_not_simulate_in_its_own_error(adyen) -> None:
    answer = a_post(adyen, "/v71/sessions", {"merchantAccount": ADYEN_SANDBOX_MERCHANT})
    body = answer.json()
    assert answer.status == 404 and (body["status"], body["errorCode"]) == (404, "000")
    assert "does not simulate POST /v71/sessions" in body["message"]
