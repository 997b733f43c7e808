"""README "Legacy apps" recipes, each run as a legacy app would run: a separate process with only the
settings the README gives (the proxy and the CA in the environment, the one SDK setting the README
names), calling the gateway's real host through the forward proxy of the real sidecar on the sandbox.
The official SDKs at their defaults: stripe-python, the Adyen Python SDK (Checkout v72) with
`requests` and, with `requests` hidden, on urllib; `requests`, `httpx`, curl; Node.js (NODE_EXTRA_CA_CERTS)
and the JVM (a truststore, https.proxyHost) where they are installed. Adyen Checkout v68-v72 all pass."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from harness import SIDECAR, SidecarProcess

README = Path(__file__).resolve().parent.parent / "README.md"
# A legacy app's interpreter hides `requests` (and pycurl) from imports, as if not installed.
WITHOUT_REQUESTS = "import sys; sys.modules['requests'] = sys.modules['pycurl'] = None\n"

STRIPE_APP = """
import json, os, stripe
stripe.api_key = "sk_test_appholdsnosecret"  # the sidecar puts the account's key in its place
stripe.ca_bundle_path = os.environ["REQUESTS_CA_BUNDLE"]  # stripe-python trusts its own bundle alone otherwise
card = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "314"}
method = stripe.PaymentMethod.create(type="card", card=card)
intent = stripe.PaymentIntent.create(amount=2000, currency="usd", payment_method=method.id, confirm=True,
                                     capture_method="manual", payment_method_types=["card"])
captured = stripe.PaymentIntent.capture(intent.id, amount_to_capture=1500)
refund = stripe.Refund.create(payment_intent=intent.id, amount=500)
other = stripe.PaymentIntent.create(amount=900, currency="usd", payment_method="pm_card_visa", confirm=True,
                                    capture_method="manual", payment_method_types=["card"])
canceled = stripe.PaymentIntent.cancel(other.id)
client = type(stripe.default_http_client or stripe.new_default_http_client()).__name__
print(json.dumps({"client": client, "intent": intent.status, "captured": captured.amount_received,
                  "refund": [refund.status, refund.amount], "canceled": canceled.status}))
"""

ADYEN_APP = """
import json, os, Adyen
adyen = Adyen.Adyen(xapikey="app-holds-no-adyen-key", platform="test")  # the sidecar injects the key
if os.environ.get("CHECKOUT_VERSION"):
    adyen.client.api_checkout_version = int(os.environ["CHECKOUT_VERSION"])
merchant = "SidecarSandboxECOM"
amount = {"value": 1500, "currency": "EUR"}
card = {"type": "scheme", "number": "4111111111111111", "expiryMonth": "03", "expiryYear": "2030", "cvc": "737",
        "holderName": "J Smith"}
def pay():
    return adyen.checkout.payments_api.payments(request={
        "amount": amount, "reference": "legacy-1", "merchantAccount": merchant, "paymentMethod": card,
        "returnUrl": "https://shop.example/return", "additionalData": {"manualCapture": "true"}})
payment = pay()
psp = payment.message["pspReference"]
mods = adyen.checkout.modifications_api
modification = {"merchantAccount": merchant, "amount": amount}
capture = mods.capture_authorised_payment(request=modification, paymentPspReference=psp)
refund = mods.refund_captured_payment(request=modification, paymentPspReference=psp)
cancel = mods.cancel_authorised_payment_by_psp_reference(request={"merchantAccount": merchant},
                                                         paymentPspReference=pay().message["pspReference"])
print(json.dumps({"client": adyen.client.http_client.request.__name__, "payment": payment.message["resultCode"],
                  "capture": capture.message["status"], "refund": refund.message["status"],
                  "cancel": cancel.message["status"]}))
"""

FORM = {
    "amount": "1200",
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "confirm": "true",
    "payment_method_types[]": "card",
}

REQUESTS_APP = f"""
import json, requests
r = requests.post("https://api.stripe.com/v1/payment_intents", data={FORM!r}, auth=("sk_test_app", ""), timeout=30)
print(json.dumps({{"status": r.status_code, "intent": r.json()["status"]}}))
"""

HTTPX_APP = f"""
import json, httpx
r = httpx.post("https://api.stripe.com/v1/payment_intents", data={FORM!r}, auth=("sk_test_app", ""), timeout=30)
print(json.dumps({{"status": r.status_code, "intent": r.json()["status"]}}))
"""

# Node.js 20 has no proxy support of its own (NODE_USE_ENV_PROXY came later): this is what a proxy agent
# (https-proxy-agent, undici's ProxyAgent) does, a CONNECT tunnel with TLS in it, verified against
# Node's roots and NODE_EXTRA_CA_CERTS.
NODE_APP = """
const http = require("node:http"), https = require("node:https"), tls = require("node:tls");
const proxy = new URL(process.env.HTTPS_PROXY);
const body = "amount=1200&currency=usd&payment_method=pm_card_visa&confirm=true&payment_method_types[]=card";
const fail = (e) => { console.error(e.message || e); process.exit(1); };
http.request({host: proxy.hostname, port: proxy.port, method: "CONNECT", path: "api.stripe.com:443"})
  .on("connect", (res, socket) => {
    if (res.statusCode !== 200) fail(`CONNECT ${res.statusCode}`);
    https.request({host: "api.stripe.com", path: "/v1/payment_intents", method: "POST",
                   createConnection: () => tls.connect({socket, servername: "api.stripe.com"}),
                   headers: {"content-type": "application/x-www-form-urlencoded",
                             "authorization": "Bearer sk_test_app"}},
      (r) => { let data = ""; r.on("data", (c) => data += c);
               r.on("end", () => { console.log(JSON.stringify({status: r.statusCode, intent: JSON.parse(data).status}));
                                   socket.destroy(); }); })
      .on("error", fail).end(body);
  }).on("error", fail).end();
"""

# The JVM's own HTTP client, as stripe-java uses it: the proxy from https.proxyHost and https.proxyPort,
# trust from javax.net.ssl.trustStore.
JAVA_APP = """
import java.net.*; import java.io.*; import java.nio.charset.StandardCharsets;
public class Recipe {
  public static void main(String[] args) throws Exception {
    byte[] body = "amount=1200&currency=usd&payment_method=pm_card_visa&confirm=true&payment_method_types[]=card"
        .getBytes(StandardCharsets.UTF_8);
    HttpURLConnection c = (HttpURLConnection) new URL("https://api.stripe.com/v1/payment_intents").openConnection();
    c.setRequestMethod("POST"); c.setDoOutput(true);
    c.setRequestProperty("Authorization", "Bearer sk_test_app");
    c.setRequestProperty("Content-Type", "application/x-www-form-urlencoded");
    try (OutputStream out = c.getOutputStream()) { out.write(body); }
    String answer = new String(c.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    System.out.println("{\\"status\\": " + c.getResponseCode() + ", \\"usingProxy\\": " + c.usingProxy()
        + ", \\"answer\\": " + answer + "}");
  }
}
"""


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("recipes")
    proc = SidecarProcess(tmp, {}).start()  # both connectors on the sandbox
    # README: `sidecar ca > sidecar-ca.pem`
    proc.ca_file = tmp / "sidecar-ca.pem"
    proc.ca_file.write_bytes(
        subprocess.run([SIDECAR, "ca", "--config", str(proc.config_path)], capture_output=True, check=True).stdout
    )
    yield proc
    assert proc.stop() == 0


def clean_env(**settings: str) -> dict[str, str]:
    """A legacy app's environment: nothing of the test runner's but PATH and HOME, then the recipe's settings."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), **settings}


def run_app(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def python_app(code: str, env: dict[str, str]) -> dict[str, Any]:
    done = run_app([sys.executable, "-c", code], env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_stripe_python_with_its_ca_bundle_path(sidecar) -> None:
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, REQUESTS_CA_BUNDLE=str(sidecar.ca_file))
    assert python_app(STRIPE_APP, env) == {
        "client": "RequestsClient",
        "intent": "requires_capture",
        "captured": 1500,
        "refund": ["succeeded", 500],
        "canceled": "canceled",
    }


def test_stripe_python_without_its_ca_bundle_path_trusts_only_its_own_bundle(sidecar) -> None:
    """Why the README names `stripe.ca_bundle_path`: REQUESTS_CA_BUNDLE alone does not reach it."""
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, REQUESTS_CA_BUNDLE=str(sidecar.ca_file))
    code = STRIPE_APP.replace('stripe.ca_bundle_path = os.environ["REQUESTS_CA_BUNDLE"]', "")
    done = run_app([sys.executable, "-c", code], env)
    assert done.returncode != 0 and "stripe._error.APIConnectionError" in done.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr


def test_stripe_python_without_requests_on_urllib(sidecar) -> None:
    # As in the pod: both variables set; urllib verifies with SSL_CERT_FILE.
    ca = str(sidecar.ca_file)
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, SSL_CERT_FILE=ca, REQUESTS_CA_BUNDLE=ca)
    result = python_app(WITHOUT_REQUESTS + STRIPE_APP, env)
    assert result["client"] == "UrllibClient" and result["refund"] == ["succeeded", 500]


def test_adyen_python_sdk_at_its_default_version_with_requests(sidecar) -> None:
    import Adyen

    assert "/v72" in Adyen.Adyen().checkout.payments_api.baseUrl  # the SDK's default, not the sidecar's v71
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, REQUESTS_CA_BUNDLE=str(sidecar.ca_file))
    assert python_app(ADYEN_APP, env) == {
        "client": "_requests_request",
        "payment": "Authorised",
        "capture": "received",
        "refund": "received",
        "cancel": "received",
    }


def test_adyen_python_sdk_without_requests_on_urllib(sidecar) -> None:
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, SSL_CERT_FILE=str(sidecar.ca_file))
    result = python_app(WITHOUT_REQUESTS + ADYEN_APP, env)
    assert result["client"] == "_urllib_request" and result["payment"] == "Authorised"
    assert (result["capture"], result["refund"], result["cancel"]) == ("received", "received", "received")


@pytest.mark.parametrize("version", range(68, 73))
def test_adyen_checkout_versions_68_to_72_pass_the_forward_path(sidecar, version) -> None:
    env = clean_env(
        HTTPS_PROXY=sidecar.proxy_url, REQUESTS_CA_BUNDLE=str(sidecar.ca_file), CHECKOUT_VERSION=str(version)
    )
    result = python_app(ADYEN_APP, env)
    assert (result["payment"], result["capture"], result["refund"]) == ("Authorised", "received", "received")
    sent = [json.loads(line) for line in sidecar.stdout_path.read_text().splitlines() if '"connector call"' in line]
    assert any(f"/v{version}/payments/" in line["url"] and line["url"].endswith("/captures") for line in sent)


def test_requests(sidecar) -> None:
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, REQUESTS_CA_BUNDLE=str(sidecar.ca_file))
    assert python_app(REQUESTS_APP, env) == {"status": 200, "intent": "succeeded"}


def test_httpx(sidecar) -> None:
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, SSL_CERT_FILE=str(sidecar.ca_file))
    assert python_app(HTTPX_APP, env) == {"status": 200, "intent": "succeeded"}


def test_curl(sidecar) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed (.ci/run installs it)")
    args = [arg for key, value in FORM.items() for arg in ("-d", f"{key}={value}")]
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, CURL_CA_BUNDLE=str(sidecar.ca_file))
    done = run_app([curl, "-sS", "--fail", "https://api.stripe.com/v1/payment_intents", *args], env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "succeeded"


def test_node_with_node_extra_ca_certs(sidecar) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    env = clean_env(HTTPS_PROXY=sidecar.proxy_url, NODE_EXTRA_CA_CERTS=str(sidecar.ca_file))
    done = run_app([node, "-e", NODE_APP], env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"status": 200, "intent": "succeeded"}
    # Without it, Node trusts its own roots alone.
    untrusting = run_app([node, "-e", NODE_APP], clean_env(HTTPS_PROXY=sidecar.proxy_url))
    assert untrusting.returncode != 0 and "certificate" in untrusting.stderr


def test_jvm_with_a_truststore_and_https_proxy_host(sidecar, tmp_path) -> None:
    java, keytool = shutil.which("java"), shutil.which("keytool")
    if java is None or keytool is None:
        pytest.skip("a JDK (java, keytool) is not installed")
    section = README.read_text().split("## Legacy apps", 1)[1]
    (line,) = [line for line in section.splitlines() if line.startswith("keytool ")]
    (tmp_path / "sidecar-ca.pem").write_bytes(sidecar.ca_file.read_bytes())
    done = run_app(["bash", "-c", line], clean_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (tmp_path / "Recipe.java").write_text(JAVA_APP)
    options = re.search(r"java (-Dhttps\.proxyHost.*?) -jar", section)
    assert options, "README gives the JVM's options"
    flags = options[1].replace("3128", str(sidecar.forward_port)).split()
    done = run_app([java, *flags, "Recipe.java"], clean_env(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == 200 and result["usingProxy"] is True and result["answer"]["status"] == "succeeded"
