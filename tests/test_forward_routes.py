"""The forward proxy's routing, without a process: which (scheme, host, port) it opens, for which
connector, and which URL a legacy call leaves with (each connector's path declaration)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connectors.adyen.connector import Adyen
from connectors.stripe.connector import Stripe
from sidecar.audit import Audit
from sidecar.config import ForwardSettings, Settings
from sidecar.dispatch import Dispatcher
from sidecar.forward import ForwardProxy
from sidecar.outbound import OutboundPool

ADYEN_LIVE = "https://1797a841fbb37ca7-acme-checkout-live.adyenpayments.com/checkout/v71"
STRIPE_ACCOUNT = {"default": {"api_key": "sk_test_unit"}}
ADYEN_ACCOUNT = {"default": {"api_key": "adyen_unit", "merchant_account": "M"}}


def proxy(connectors: dict[str, Any], sandbox_urls: dict[str, str] | None = None) -> ForwardProxy:
    settings = Settings(connectors=connectors)
    return ForwardProxy(Dispatcher(settings, OutboundPool(), Audit(), sandbox_urls or {}))


def sent_to(fp: ForwardProxy, url: str) -> tuple[str, str] | None:
    """(connector, URL the call leaves with) for an app's call to `url`, or None: refused."""
    scheme, rest = url.split("://", 1)
    authority, _, path = rest.partition("/")
    host, _, port = authority.rpartition(":") if ":" in authority else (authority, "", "")
    port_number = int(port) if port else {"http": 80, "https": 443}[scheme]
    route = fp.route(scheme, host, port_number)
    return None if route is None else (route.bound.connector.name, route.url(scheme, host, port_number, "/" + path))


def test_connectors_declare_what_of_a_base_url_path_public_paths_lack() -> None:
    assert Stripe.public_api.mount("") == ""  # Stripe's paths carry their version: /v1/...
    assert Stripe.public_api.mount("/egress/stripe") == "/egress/stripe"
    assert Adyen.public_api.mount("/v71") == ""  # checkout-test.adyen.com/v71
    assert Adyen.public_api.mount("/checkout/v71") == "/checkout"  # live
    assert Adyen.public_api.mount("/checkout/v70/") == "/checkout"


def test_adyen_live_base_url_takes_public_paths_under_its_prefix() -> None:
    fp = proxy({"adyen": {"base_url": ADYEN_LIVE, "accounts": ADYEN_ACCOUNT}})
    live = ADYEN_LIVE.removesuffix("/v71")
    # The SDK's test host and path: mapped onto the live base URL's /checkout.
    assert sent_to(fp, "https://checkout-test.adyen.com/v71/payments") == ("adyen", live + "/v71/payments")
    # A legacy call keeps its own API version.
    assert sent_to(fp, "https://checkout-test.adyen.com/v70/payments?x=1") == ("adyen", live + "/v70/payments?x=1")
    # The base URL's own host with its full path: nothing added twice.
    assert sent_to(fp, ADYEN_LIVE + "/payments") == ("adyen", ADYEN_LIVE + "/payments")
    assert sent_to(fp, "https://other-checkout-live.adyenpayments.com/checkout/v71/payments") == (
        "adyen",
        ADYEN_LIVE + "/payments",
    )
    assert sent_to(fp, "https://checkout-test.adyen.com/checkoutx/v71") == ("adyen", live + "/checkoutx/v71")


def test_default_base_urls_send_public_paths_unchanged() -> None:
    fp = proxy({"stripe": {"accounts": STRIPE_ACCOUNT}, "adyen": {"accounts": ADYEN_ACCOUNT}})
    assert sent_to(fp, "https://api.stripe.com/v1/payment_intents?expand[]=x") == (
        "stripe",
        "https://api.stripe.com/v1/payment_intents?expand[]=x",
    )
    assert sent_to(fp, "https://checkout-test.adyen.com/v71/payments") == (
        "adyen",
        "https://checkout-test.adyen.com/v71/payments",
    )


def test_nothing_but_the_gateways_https_addresses_is_opened() -> None:
    fp = proxy({"stripe": {"accounts": STRIPE_ACCOUNT}, "adyen": {"accounts": ADYEN_ACCOUNT}})
    for url in (
        "https://api.stripe.com:22/",
        "https://api.stripe.com:8443/v1/charges",
        "http://api.stripe.com/v1/charges",  # port 80, plain HTTP
        "https://files.stripe.com/v1/files",
        "https://api.stripe.com.evil.example/v1/charges",
        "https://checkout-test.adyen.com:80/v71/payments",
        "https://acme-pal-live.adyenpayments.com/pal/servlet/Payment/v68/authorise",  # not Checkout
        "https://a.b-checkout-live.adyenpayments.com/checkout/v71/payments",  # the wildcard is one label
        "https://adyenpayments.com/checkout/v71/payments",
    ):
        assert sent_to(fp, url) is None, url
    assert sent_to(fp, "https://API.Stripe.com./v1/charges") == ("stripe", "https://api.stripe.com/v1/charges")


def test_two_sandboxes_on_one_host_are_told_apart_by_port() -> None:
    sandbox = {"stripe": "https://127.0.0.1:41001", "adyen": "https://127.0.0.1:41002/v71"}
    fp = proxy({"stripe": {}, "adyen": {}}, sandbox)
    assert sent_to(fp, "https://127.0.0.1:41002/v71/payments") == ("adyen", "https://127.0.0.1:41002/v71/payments")
    assert sent_to(fp, "https://127.0.0.1:41001/v1/refunds") == ("stripe", "https://127.0.0.1:41001/v1/refunds")
    assert sent_to(fp, "https://127.0.0.1:41003/") is None  # another local port: mitmweb, ops, anything
    assert sent_to(fp, "http://127.0.0.1:41001/v1/refunds") is None  # the sandbox's port, but not HTTPS
    assert sent_to(fp, "https://api.stripe.com/v1/refunds") == ("stripe", "https://127.0.0.1:41001/v1/refunds")
    assert sent_to(fp, "https://checkout-test.adyen.com/v71/payments") == (
        "adyen",
        "https://127.0.0.1:41002/v71/payments",
    )


def test_extra_hosts_are_https_addresses_sent_to_themselves() -> None:
    forward = {"extra_hosts": ["uploads.stripe.com", "egress.example:8443", "[::1]:9443"]}
    fp = proxy({"stripe": {"accounts": STRIPE_ACCOUNT, "forward": forward}})
    assert sent_to(fp, "https://uploads.stripe.com/v1/files") == ("stripe", "https://uploads.stripe.com/v1/files")
    assert sent_to(fp, "https://egress.example:8443/x") == ("stripe", "https://egress.example:8443/x")
    assert fp.route("https", "::1", 9443) is not None
    assert sent_to(fp, "https://egress.example/x") is None
    assert sent_to(fp, "http://egress.example:8443/x") is None


def test_an_address_two_connectors_send_to_is_refused_but_their_public_hosts_still_route() -> None:
    egress = "https://egress.example"
    fp = proxy(
        {
            "stripe": {"base_url": egress + "/stripe", "accounts": STRIPE_ACCOUNT},
            "adyen": {"base_url": egress + "/adyen/checkout/v71", "accounts": ADYEN_ACCOUNT},
        }
    )
    assert sent_to(fp, egress + "/stripe/v1/refunds") is None  # whose key would it get? Neither's.
    assert sent_to(fp, "https://api.stripe.com/v1/refunds") == ("stripe", egress + "/stripe/v1/refunds")
    assert sent_to(fp, "https://checkout-test.adyen.com/v71/payments") == (
        "adyen",
        egress + "/adyen/checkout/v71/payments",
    )


@pytest.mark.parametrize("entry", ["https://api.example", "api.example/v1", "*.example", "api.example:0", "a b", ""])
def test_extra_hosts_refuse_anything_but_host_port(entry: str) -> None:
    with pytest.raises(ValidationError, match="is not host\\[:port\\]"):
        ForwardSettings(extra_hosts=[entry])
