"""3-D Secure in a real browser, through the real `sidecar run` on its sandboxes. A small shop of the
test's own (a local HTTP server: its checkout page, and its server side that calls the sidecar) takes
the Payment's `next_action`: it sends the browser to the sandbox's page, or, for Adyen's native flow,
loads the issuer's method URL and challenge in frames as adyen-web does. Headless Chromium (Debian's,
under playwright) walks the pages; the shopper completes, fails or cancels; the return lands on the
shop, whose server calls `POST /v1/payments/complete`; the page shows the Payment it got back."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from harness import CHROMIUM_FLAGS, SidecarProcess, ensure_installed

# What the shopper presses on the sandbox's challenge page, and what the app then gets.
BUTTONS = {"complete": "Complete authentication", "fail": "Fail authentication", "cancel": "Cancel"}
STRIPE_3DS2, ADYEN_3DS2, FRICTIONLESS = "4000000000003220", "5454545454545454", "4242000000003103"

CHECKOUT = """<!doctype html><html><head><meta charset="utf-8"><title>Shop checkout</title></head><body>
<h1>Checkout</h1><pre id="result"></pre>
<script>
const order = ORDER;
async function call(path, body) {
  const answer = await fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                                    body: JSON.stringify({...body, connector: order.connector})});
  return answer.json();
}
function frame(name, shown) {
  const f = document.createElement("iframe");
  f.name = f.id = name;
  if (shown) { f.width = 500; f.height = 600; } else { f.style.display = "none"; }
  document.body.appendChild(f);
  return f;
}
function post(url, target, fields) {
  const form = document.createElement("form");
  form.method = "POST"; form.action = url; form.target = target;
  for (const [name, value] of Object.entries(fields)) {
    const input = document.createElement("input");
    input.type = "hidden"; input.name = name; input.value = value;
    form.appendChild(input);
  }
  document.body.appendChild(form);
  form.submit();
}
function message(type, from) {  // the issuer's pages tell this page through postMessage
  return new Promise(resolve => window.addEventListener("message", function heard(event) {
    if (event.origin === new URL(from).origin && event.data && event.data.type === type) {
      window.removeEventListener("message", heard);
      resolve(event.data.result);
    }
  }));
}
async function handle(payment) {
  const action = payment.next_action;
  if (payment.status !== "authentication_pending" || !action) {
    document.getElementById("result").textContent = JSON.stringify(payment);
    return;
  }
  if (action.type === "redirect") {
    if (action.method === "POST") { post(action.url, "_self", action.form || {}); } else { location.href = action.url; }
    return;
  }
  const token = JSON.parse(atob(action.data.token));
  if (action.type === "threeds_fingerprint") {
    const heard = message("fingerPrintResult", token.threeDSMethodUrl);
    frame("threeDSMethod", false);
    const methodData = {threeDSServerTransID: token.threeDSServerTransID,
                        threeDSMethodNotificationURL: token.threeDSMethodNotificationURL};
    post(token.threeDSMethodUrl, "threeDSMethod", {threeDSMethodData: btoa(JSON.stringify(methodData))});
    const result = await heard;
    const details = {threeDSResult: btoa(JSON.stringify({threeDSCompInd: result.threeDSCompInd})),
                     paymentData: action.data.paymentData};
    return handle(await call("/details", {details}));
  }
  if (action.type === "threeds_challenge") {
    const heard = message("challengeResult", token.acsURL);
    frame("challenge", true);
    const creq = {threeDSServerTransID: token.threeDSServerTransID, acsTransID: token.acsTransID,
                  messageVersion: token.messageVersion, messageType: "CReq", challengeWindowSize: "05"};
    post(token.acsURL, "challenge", {creq: btoa(JSON.stringify(creq))});
    const result = await heard;
    const details = {threeDSResult: btoa(JSON.stringify({transStatus: result.transStatus,
                                                         authorisationToken: action.data.authorisationToken}))};
    return handle(await call("/details", {details}));
  }
  document.getElementById("result").textContent = "cannot handle " + action.type;
}
const browser = {user_agent: navigator.userAgent, accept_header: order.accept, language: navigator.language,
  color_depth: screen.colorDepth, screen_height: screen.height, screen_width: screen.width,
  time_zone_offset: new Date().getTimezoneOffset(), java_enabled: navigator.javaEnabled()};
call("/pay", {card: order.card, native: order.native, browser}).then(handle);
</script></body></html>"""


class Shop:
    """The merchant: its checkout page, and its server side that calls the sidecar (the browser never
    talks to the sidecar). Every Payment it got from /v1/payments/complete is kept, in order."""

    def __init__(self, sidecar: SidecarProcess) -> None:
        shop = self
        self.completed: list[dict[str, Any]] = []
        self.orders = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = dict(parse_qsl(url.query))
                if url.path == "/checkout":
                    order = {**query, "native": query.get("native") == "1", "accept": self.headers["Accept"]}
                    page = CHECKOUT.replace("ORDER", json.dumps(order).replace("<", "\\u003c"))
                    self.answer(200, page.encode(), "text/html; charset=utf-8")
                elif url.path == "/return":  # the gateway sends the shopper back here
                    connector = query.pop("connector")
                    payment = shop.complete(connector, query)
                    page = f"<!doctype html><title>Order</title><pre id='result'>{json.dumps(payment)}</pre>"
                    self.answer(200, page.encode(), "text/html; charset=utf-8")
                else:
                    self.answer(404, b"no such page", "text/plain")

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/pay":
                    payment = shop.pay(body["connector"], body["card"], body["native"], body["browser"])
                else:  # /details: what Adyen's component gave
                    payment = shop.complete(body["connector"], body["details"])
                self.answer(200, json.dumps(payment).encode(), "application/json")

            def answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.sidecar = sidecar.client()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def pay(self, connector: str, card: str, native: bool, browser: dict[str, Any]) -> dict[str, Any]:
        self.orders += 1
        request = {
            "reference": f"order-{self.orders}",
            "amount": {"minor": 1000, "currency": "EUR"},
            "capture": "manual",
            "payment_method": {
                "type": "card",
                "card": {"number": card, "exp_month": 12, "exp_year": date.today().year + 2, "cvc": "737"},
            },
            "return_url": f"{self.url}/return?connector={connector}",
            "browser": browser,
            "shopper_ip": "127.0.0.1",
        }
        if native:  # the page runs the authentication itself: Adyen's native 3-D Secure 2
            request |= {"channel": "web", "origin": self.url}
        return self.call(connector, "/v1/payments", request)

    def complete(self, connector: str, details: dict[str, str]) -> dict[str, Any]:
        payment = self.call(connector, "/v1/payments/complete", {"details": details})
        self.completed.append(payment)
        return payment

    def call(self, connector: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.sidecar.post(path, json=body, headers={"X-Connector": connector})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def close(self) -> None:
        self.sidecar.close()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Iterator[Shop]:
    sidecar = SidecarProcess(tmp_path_factory.mktemp("three-ds"), {}).start()
    shop = Shop(sidecar)
    yield shop
    shop.close()
    assert sidecar.stop() == 0, sidecar.output()[-3000:]
    assert sidecar.error_lines() == []


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = ensure_installed("chromium", "chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


def checkout(chromium: Any, shop: Shop, connector: str, card: str, answer: str | None, native: bool = False) -> dict:
    """The shopper's checkout in a fresh browser: the sandbox's pages answered `answer` (None: nobody is
    asked), the Payment the shop's page shows at the end."""
    # The sandbox serves HTTPS with a test CA made at start-up, which this browser does not know.
    context = chromium.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        page.goto(f"{shop.url}/checkout?connector={connector}&card={card}&native={int(native)}")
        if answer is not None:
            # Adyen's native challenge is in the shop's frame; a redirect's is the whole page.
            where = page.frame_locator("#challenge") if native else page
            where.get_by_role("button", name=BUTTONS[answer]).click(timeout=30_000)
        result = page.locator("#result")
        result.filter(has_text='"status"').wait_for(timeout=30_000)
        assert page.url.startswith(shop.url)  # the shopper is back at the shop
        return json.loads(result.inner_text())
    finally:
        context.close()


def shown(payment: dict) -> str:
    error = payment.get("error") or {}
    return f"{payment['status']} {error.get('code', '')} {error.get('connector_code', '')}".strip()


@pytest.mark.parametrize(
    "connector, card, native, answer, status, code",
    [
        ("stripe", STRIPE_3DS2, False, "complete", "authorized", None),
        ("stripe", STRIPE_3DS2, False, "fail", "authorization_failed", "authentication_failed"),
        ("stripe", STRIPE_3DS2, False, "cancel", "authorization_failed", "authentication_failed"),
        ("adyen", ADYEN_3DS2, False, "complete", "authorized", None),
        ("adyen", ADYEN_3DS2, False, "fail", "authorization_failed", "authentication_required"),
        ("adyen", ADYEN_3DS2, False, "cancel", "authorization_failed", "shopper_cancelled"),
        ("adyen", ADYEN_3DS2, True, "complete", "authorized", None),
        ("adyen", ADYEN_3DS2, True, "fail", "authorization_failed", "authentication_required"),
        ("adyen", ADYEN_3DS2, True, "cancel", "authorization_failed", "shopper_cancelled"),
        ("adyen", FRICTIONLESS, True, None, "authorized", None),
    ],
)
def test_the_shopper_authenticates_in_a_browser_and_the_app_completes(
    chromium, shop, connector, card, native, answer, status, code
) -> None:
    before = len(shop.completed)
    payment = checkout(chromium, shop, connector, card, answer, native)
    flow = "native" if native else "redirect"
    print(f"\n{connector} {flow} {answer or 'frictionless'}: {shown(payment)}")
    assert (payment["status"], (payment.get("error") or {}).get("code")) == (status, code)
    assert payment["connector"] == connector and payment["id"]
    # What the page shows is what /v1/payments/complete answered: the last of the order's completions.
    assert shop.completed[-1] == payment and len(shop.completed) > before
    if status == "authorized":  # and it is: the payment captures
        captured = shop.sidecar.post(
            f"/v1/payments/{payment['id']}/capture",
            json={"amount": {"minor": 1000, "currency": "EUR"}},
            headers={"X-Connector": connector},
        )
        assert captured.status_code == 200 and captured.json()["status"] in ("charged", "capture_initiated")


_BROWSER = {
    "user_agent": "Mozilla/5.0",
    "accept_header": "text/html",
    "language": "en",
    "color_depth": 24,
    "screen_height": 900,
    "screen_width": 1400,
    "time_zone_offset": 0,
    "java_enabled": False,
}


def test_a_payment_the_shopper_left_is_still_pending_when_completed(shop) -> None:
    """The shopper closed the page: Stripe's PaymentIntent still waits for them, and says so."""
    pending = shop.pay("stripe", STRIPE_3DS2, False, _BROWSER)
    assert pending["status"] == "authentication_pending" and pending["next_action"]["type"] == "redirect"
    again = shop.call("stripe", "/v1/payments/complete", {"payment_id": pending["id"]})
    assert (again["status"], again["next_action"]["url"]) == ("authentication_pending", pending["next_action"]["url"])
    with httpx.Client(verify=False) as browser:  # the sandbox's own test CA
        assert browser.get(pending["next_action"]["url"]).status_code == 200


def test_completions_that_cannot_be_made_say_why(shop) -> None:
    def complete(connector: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = shop.sidecar.post("/v1/payments/complete", json=body, headers={"X-Connector": connector})
        return {"status": answer.status_code, **answer.json()["error"]}

    missing = complete("stripe", {"details": {"redirect_status": "succeeded"}})
    assert (missing["status"], missing["type"], missing["details"][0]["path"]) == (400, "invalid_request", "payment_id")
    unknown = complete("stripe", {"payment_id": "pi_3NoSuchPaymentIntent"})
    assert (unknown["status"], unknown["type"], unknown["outcome"]) == (404, "not_found", "not_processed")
    stale = complete("adyen", {"details": {"redirectResult": "X" * 48}})
    assert (stale["status"], stale["type"], stale["outcome"]) == (422, "gateway_rejected", "not_processed")
    empty = complete("adyen", {"payment_id": "PSP0000000000001", "details": {}})
    assert (empty["status"], empty["details"][0]["path"]) == (400, "details")
