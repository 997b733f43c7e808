"""The sandboxes' shopper's side of 3-D Secure: the shared pages (a fingerprint that posts itself, a
challenge the shopper completes, fails or cancels, the method URL), Stripe's redirect and its manual
confirmation, Adyen's redirect and native fingerprint then challenge, frictionless flows, and the test
cards that pick each path and each result. The simulators' ``handle`` directly; tests/test_e2e_three_ds.py
walks the same pages in a real browser through the real process."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from connectors.kit.sandbox import SandboxResponse
from connectors.kit.sandbox_wire import notify_page
from sidecar.sandbox import (
    ADYEN_SANDBOX_KEY,
    ADYEN_SANDBOX_MERCHANT,
    STRIPE_SANDBOX_KEY,
    AdyenCodec,
    SimulatedGateway,
    StripeCodec,
)

FIXED_NOW = datetime(2030, 6, 15, tzinfo=UTC).timestamp()
BASE = "http://sandbox.test"
SHOP = "https://shop.test"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# The project's own 3-D Secure cards (connectors/kit/sandbox.py THREE_DS_TEST_CARDS), on both sandboxes.
THREE_DS_2, FRICTIONLESS, FRICTIONLESS_FAILS = "4242000000003004", "4242000000003103", "4242000000003202"
ALWAYS_FAILS, ALWAYS_ABANDONED = "4242000000003301", "4242000000003400"


@pytest.fixture
def stripe() -> SimulatedGateway:
    return SimulatedGateway(StripeCodec(), BASE, clock=lambda: FIXED_NOW)


@pytest.fixture
def adyen() -> SimulatedGateway:
    return SimulatedGateway(AdyenCodec(), BASE, clock=lambda: FIXED_NOW)


def page_step(page: SandboxResponse) -> str | None:
    """The step a 3-D Secure page shows (its forms name it), or None for any other answer."""
    found = re.search(rb"name='step' value='(\w+)'", page.body) if page.status == 200 else None
    return found[1].decode() if found else None


def browse(sb: SimulatedGateway, url: str, outcome: str) -> SandboxResponse:
    """The shopper on the pages: the fingerprint's form posts itself, the challenge is answered `outcome`."""
    path = urlsplit(url).path
    page = sb.handle("GET", path, urlsplit(url).query, {}, b"")
    for _ in range(3):
        step = page_step(page)
        if step is None:
            return page
        answer = "complete" if step == "fingerprint" else outcome
        page = sb.handle("POST", path, "", FORM, urlencode({"outcome": answer, "step": step}).encode())
    raise AssertionError("the pages did not end")


def returned(answer: SandboxResponse) -> dict[str, str]:
    assert answer.status == 302, answer.body
    return {k: v[0] for k, v in parse_qs(urlsplit(answer.headers["Location"]).query).items()}


# --- Stripe --------------------------------------------------------------------------------------


def s_post(sb: SimulatedGateway, path: str, params: dict[str, str]) -> SandboxResponse:
    headers = {"Authorization": f"Bearer {STRIPE_SANDBOX_KEY}", **FORM}
    return sb.handle("POST", path, "", headers, urlencode(params).encode())


def s_intent(sb: SimulatedGateway, pi_id: str) -> dict[str, Any]:
    return sb.handle(
        "GET", f"/v1/payment_intents/{pi_id}", "", {"Authorization": f"Bearer {STRIPE_SANDBOX_KEY}"}, b""
    ).json()


def s_pay(sb: SimulatedGateway, number: str, **extra: str) -> dict[str, Any]:
    card = {"type": "card", "card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2034"}
    pm = s_post(sb, "/v1/payment_methods", card).json()["id"]
    params = {"amount": "1000", "currency": "usd", "payment_method": pm, "confirm": "true"}
    answer = s_post(sb, "/v1/payment_intents", params | {"return_url": f"{SHOP}/back"} | extra).json()
    return answer["error"]["payment_intent"] if "error" in answer else answer


def test_stripe_3ds2_card_fingerprints_then_challenges_on_one_page(stripe: SimulatedGateway) -> None:
    pi = s_pay(stripe, "4000000000003220")
    url = pi["next_action"]["redirect_to_url"]["url"]
    first = stripe.handle("GET", urlsplit(url).path, "", {}, b"")
    assert page_step(first) == "fingerprint" and b"document.forms[0].submit()" in first.body  # nobody is asked
    challenge = stripe.handle("POST", urlsplit(url).path, "", FORM, b"outcome=complete&step=fingerprint")
    assert page_step(challenge) == "challenge"
    assert [b"Complete authentication", b"Fail authentication", b"Cancel"] == re.findall(
        rb"<button type='submit'>([^<]+)</button>", challenge.body
    )
    # A page answered again for a step already passed shows the current one.
    stale = stripe.handle("POST", urlsplit(url).path, "", FORM, b"outcome=complete&step=fingerprint")
    assert page_step(stale) == "challenge"
    back = returned(stripe.handle("POST", urlsplit(url).path, "", FORM, b"outcome=complete&step=challenge"))
    assert (back["payment_intent"], back["redirect_status"]) == (pi["id"], "succeeded")
    assert s_intent(stripe, pi["id"])["status"] == "succeeded"


@pytest.mark.parametrize(
    "number, outcome, status, code",
    [
        ("4000002760003184", "complete", "succeeded", None),
        ("4000002760003184", "fail", "failed", "payment_intent_authentication_failure"),
        ("4000002760003184", "cancel", "failed", "payment_intent_authentication_failure"),
        (FRICTIONLESS, "never asked", "succeeded", None),
        (FRICTIONLESS_FAILS, "never asked", "failed", "payment_intent_authentication_failure"),
        (ALWAYS_FAILS, "complete", "failed", "payment_intent_authentication_failure"),
        (ALWAYS_ABANDONED, "complete", "failed", "payment_intent_authentication_failure"),
        ("4000008400001629", "complete", "failed", "card_declined"),  # authenticated, then declined
        ("4000008260003178", "complete", "failed", "card_declined"),
    ],
)
def test_stripe_each_path_and_result(stripe: SimulatedGateway, number: str, outcome: str, status: str, code) -> None:
    pi = s_pay(stripe, number)
    assert pi["status"] == "requires_action"
    back = returned(browse(stripe, pi["next_action"]["redirect_to_url"]["url"], outcome))
    assert back["redirect_status"] == status
    final = s_intent(stripe, pi["id"])
    error = final["last_payment_error"]
    assert (final["status"], error and error["code"]) == (
        "succeeded" if code is None else "requires_payment_method",
        code,
    )


def test_stripe_manual_confirmation_waits_for_the_server_after_the_sdk(stripe: SimulatedGateway) -> None:
    pi = s_pay(stripe, THREE_DS_2, confirmation_method="manual", use_stripe_sdk="true", capture_method="manual")
    action = pi["next_action"]
    assert action["type"] == "use_stripe_sdk" and action["use_stripe_sdk"]["type"] == "three_d_secure_redirect"
    back = returned(browse(stripe, action["use_stripe_sdk"]["stripe_js"], "complete"))
    assert back["redirect_status"] == "succeeded"
    waiting = s_intent(stripe, pi["id"])
    assert (waiting["status"], waiting["next_action"]) == ("requires_confirmation", None)
    confirmed = s_post(stripe, f"/v1/payment_intents/{pi['id']}/confirm", {}).json()
    assert confirmed["status"] == "requires_capture" and confirmed["amount_capturable"] == 1000
    # A failed authentication has nothing to confirm: the PaymentIntent wants another payment method at once.
    failed = s_pay(stripe, THREE_DS_2, confirmation_method="manual", use_stripe_sdk="true")
    assert (
        returned(browse(stripe, failed["next_action"]["use_stripe_sdk"]["stripe_js"], "fail"))["redirect_status"]
        == "failed"
    )
    assert s_intent(stripe, failed["id"])["status"] == "requires_payment_method"


# --- Adyen ---------------------------------------------------------------------------------------


def a_post(sb: SimulatedGateway, path: str, body: dict[str, Any]) -> SandboxResponse:
    return sb.handle(
        "POST",
        path,
        "",
        {"X-API-Key": ADYEN_SANDBOX_KEY, "Content-Type": "application/json"},
        json.dumps(body).encode(),
    )


def a_pay(sb: SimulatedGateway, number: str, native: bool = True, **extra: Any) -> dict[str, Any]:
    body = {
        "amount": {"value": 1000, "currency": "EUR"},
        "reference": "order-1",
        "merchantAccount": ADYEN_SANDBOX_MERCHANT,
        "returnUrl": f"{SHOP}/back",
        "paymentMethod": {"type": "scheme", "number": number, "expiryMonth": "03", "expiryYear": "2032", "cvc": "737"},
        "additionalData": {"manualCapture": "true"},
        "channel": "Web",
        "origin": SHOP,
    }
    if native:
        body["authenticationData"] = {"threeDSRequestData": {"nativeThreeDS": "preferred"}}
    answer = a_post(sb, "/v71/payments", body | extra)
    assert answer.status == 200, answer.body
    return answer.json()


def b64(document: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def token(action: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(action["token"]))


def posted_message(page: SandboxResponse) -> tuple[dict[str, Any], str]:
    """What a page posts to the page framing it, and to which origin."""
    found = re.search(rb"window\.parent\.postMessage\((.*), (\"[^\"]*\")\);", page.body)
    assert page.status == 200 and found, page.body
    return json.loads(found[1]), json.loads(found[2])


def fingerprint(sb: SimulatedGateway, answer: dict[str, Any]) -> dict[str, Any]:
    """What adyen-web does with IdentifyShopper: the method URL in a hidden frame, then /payments/details."""
    action = answer["action"]
    method = urlsplit(token(action)["threeDSMethodUrl"])
    message, target = posted_message(sb.handle("POST", method.path, method.query, FORM, b"threeDSMethodData=x"))
    assert (message, target) == ({"type": "fingerPrintResult", "result": {"threeDSCompInd": "Y"}}, SHOP)
    result = b64({"threeDSCompInd": "Y"})
    return a_post(
        sb, "/v71/payments/details", {"details": {"threeDSResult": result}, "paymentData": action["paymentData"]}
    ).json()


@pytest.mark.parametrize(
    "outcome, trans_status, result, reason, code",
    [
        ("complete", "Y", "Authorised", None, None),
        ("fail", "N", "Refused", "3D Not Authenticated", "11"),
        ("cancel", "U", "Refused", "Shopper Cancelled", "16"),
    ],
)
def test_adyen_native_fingerprint_then_challenge(
    adyen: SimulatedGateway, outcome, trans_status, result, reason, code
) -> None:
    identify = a_pay(adyen, "5454545454545454")
    # An action before any transaction: no pspReference, the reference is the handle.
    assert identify["resultCode"] == "IdentifyShopper" and "pspReference" not in identify
    assert (identify["action"]["type"], identify["action"]["subtype"]) == ("threeDS2", "fingerprint")
    assert identify["merchantReference"] == "order-1"
    challenge = fingerprint(adyen, identify)
    assert challenge["resultCode"] == "ChallengeShopper" and challenge["action"]["subtype"] == "challenge"
    acs = urlsplit(token(challenge["action"])["acsURL"])
    page = adyen.handle("POST", acs.path, "", FORM, b"creq=x")  # adyen-web posts the CReq in a frame
    assert page_step(page) == "challenge"
    answered = adyen.handle("POST", acs.path, "", FORM, f"outcome={outcome}&step=challenge".encode())
    message, target = posted_message(answered)
    assert (message, target) == ({"type": "challengeResult", "result": {"transStatus": trans_status}}, SHOP)
    # adyen-web's threeDSResult; the issuer's record decides, not the transStatus the page passes on.
    claimed = b64({"transStatus": "Y", "authorisationToken": challenge["action"]["authorisationToken"]})
    final = a_post(adyen, "/v71/payments/details", {"details": {"threeDSResult": claimed}}).json()
    assert (final["resultCode"], final.get("refusalReason"), final.get("refusalReasonCode")) == (result, reason, code)
    assert re.fullmatch("[A-Z0-9]{16}", final["pspReference"])


@pytest.mark.parametrize("number, result", [(FRICTIONLESS, "Authorised"), (FRICTIONLESS_FAILS, "Refused")])
def test_adyen_native_frictionless_ends_at_the_fingerprint(adyen: SimulatedGateway, number: str, result: str) -> None:
    identify = a_pay(adyen, number)
    assert identify["resultCode"] == "IdentifyShopper"
    assert fingerprint(adyen, identify)["resultCode"] == result


@pytest.mark.parametrize(
    "number, native, outcome, result",
    [
        ("5454545454545454", False, "complete", "Authorised"),  # 3-D Secure 2 on Adyen's page
        ("371449635398431", False, "cancel", "Refused"),
        ("4212345678901237", True, "complete", "Authorised"),  # the issuer redirects, whatever was asked
        (FRICTIONLESS, False, "never asked", "Authorised"),
        (ALWAYS_FAILS, False, "complete", "Refused"),
        (ALWAYS_ABANDONED, False, "complete", "Refused"),
    ],
)
def test_adyen_redirect_paths(adyen: SimulatedGateway, number: str, native: bool, outcome: str, result: str) -> None:
    redirect = a_pay(adyen, number, native=native)
    assert redirect["resultCode"] == "RedirectShopper" and redirect["action"]["type"] == "redirect"
    back = returned(browse(adyen, redirect["action"]["url"], outcome))
    final = a_post(adyen, "/v71/payments/details", {"details": {"redirectResult": back["redirectResult"]}}).json()
    assert (final["resultCode"], final["pspReference"]) == (result, redirect["pspReference"])


def test_adyen_refuses_what_adyen_would(adyen: SimulatedGateway) -> None:
    partial = {"userAgent": "Mozilla/5.0", "acceptHeader": "*/*", "language": "en", "javaEnabled": False}
    body = {"browserInfo": partial}
    refused = a_post(adyen, "/v71/payments", {**_base_payment(), **body})
    assert (refused.status, refused.json()["message"]) == (
        422,
        "Required field 'browserInfo.colorDepth' is not provided.",
    )
    for result in (
        "not base64!",
        b64({"threeDSCompInd": "Y"}),
        b64({"transStatus": "Y", "authorisationToken": "x" * 48}),
    ):
        answer = a_post(adyen, "/v71/payments/details", {"details": {"threeDSResult": result}, "paymentData": "y" * 48})
        assert (answer.status, answer.json()["message"]) == (422, "Invalid threeDSResult"), result
    # A challenge result before the shopper answered: the payment as it stands, waiting for the challenge.
    challenge = fingerprint(adyen, a_pay(adyen, THREE_DS_2))
    early = b64({"transStatus": "Y", "authorisationToken": challenge["action"]["authorisationToken"]})
    again = a_post(adyen, "/v71/payments/details", {"details": {"threeDSResult": early}}).json()
    assert again["resultCode"] == "ChallengeShopper"


def _base_payment() -> dict[str, Any]:
    return {
        "amount": {"value": 1000, "currency": "EUR"},
        "reference": "order-1",
        "merchantAccount": ADYEN_SANDBOX_MERCHANT,
        "returnUrl": f"{SHOP}/back",
        "paymentMethod": {"type": "scheme", "number": "4111111111111111", "expiryMonth": "03", "expiryYear": "2032"},
    }


# --- the shared pages ----------------------------------------------------------------------------


def test_pages_post_messages_only_as_data_and_only_to_an_origin() -> None:
    message, target = posted_message(notify_page({"text": "</script><script>alert(1)"}, "https://shop.test:8443"))
    assert (message, target) == ({"text": "</script><script>alert(1)"}, "https://shop.test:8443")
    assert b"</script><script>" not in notify_page({"text": "</script><script>"}, "x").body
    for not_an_origin in ("javascript:alert(1)", "https://shop.test/path", "", 'https://a"b'):
        assert posted_message(notify_page({}, not_an_origin))[1] == "*"


def test_nothing_pending_is_404_and_the_method_url_needs_no_payment(stripe: SimulatedGateway) -> None:
    assert stripe.handle("GET", "/3ds/pi_nothing", "", {}, b"").status == 404
    message, target = posted_message(stripe.handle("GET", "/3ds/anything/method", "", {}, b""))
    assert (message["type"], target) == ("fingerPrintResult", "*")
