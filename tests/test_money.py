"""Money is exact: every active ISO 4217 currency on every connector either reaches the gateway as exactly
the app's amount, in the gateway's own units, and comes back as exactly that amount, or is refused with a
400 before any gateway call. Never rounded.

The expectations are written here from the gateways' own currency pages, apart from the connectors'
tables, so that a wrong table cannot agree with itself.
"""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from strategies import context, drive

from connectors.adyen.connector import Adyen, AdyenAccount
from connectors.kit.connector import Connector, GatewayResponse
from connectors.kit.errors import ErrorType, SidecarError
from connectors.kit.models import CaptureRequest, Money, PaymentRequest, PaymentStatus, RefundRequest
from connectors.kit.money import ISO_EXPONENTS, GatewayCurrencies, MoneyError
from connectors.stripe.connector import Stripe, StripeCredentials
from sidecar.sandbox import (
    ADYEN_SANDBOX_KEY,
    ADYEN_SANDBOX_MERCHANT,
    STRIPE_SANDBOX_KEY,
    AdyenCodec,
    SimulatedGateway,
    StripeCodec,
)

ACTIVE = sorted(ISO_EXPONENTS)

# https://docs.stripe.com/currencies: #zero-decimal, #three-decimal, #special-cases (ISK, UGX: two decimals,
# whole units only).
STRIPE_EXPONENTS = {
    **dict.fromkeys("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF".split(), 0),
    "ISK": 2,
    "UGX": 2,
}
STRIPE_STEPS = {**dict.fromkeys("BHD JOD KWD OMR TND".split(), 10), "ISK": 100, "UGX": 100}
# https://docs.adyen.com/development-resources/currency-codes: "For CLP, CVE, IDR, and ISK the standard has a
# different number of decimals than shown in our currency codes table"
ADYEN_EXPONENTS = {"CLP": 2, "ISK": 2, "CVE": 0, "IDR": 0}

GATEWAYS = {
    "stripe": (Stripe(), STRIPE_EXPONENTS, STRIPE_STEPS),
    "adyen": (Adyen(), ADYEN_EXPONENTS, {}),
}
SANDBOXES = {"stripe": SimulatedGateway(StripeCodec()), "adyen": SimulatedGateway(AdyenCodec())}
CONTEXTS = {
    "stripe": context(StripeCredentials(api_key=STRIPE_SANDBOX_KEY), "http://sandbox"),
    "adyen": context(
        AdyenAccount(
            api_key=ADYEN_SANDBOX_KEY, merchant_account=ADYEN_SANDBOX_MERCHANT, return_url="https://shop.example/r"
        ),
        "http://sandbox/v71",
    ),
}
CARDS = {
    "stripe": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
    "adyen": {"number": "4111111111111111", "exp_month": 3, "exp_year": 2034, "cvc": "737"},
}


def expected_wire(gateway: str, minor: int, currency: str) -> int | None:
    """What the gateway must receive for `minor` ISO minor units, or None where it cannot hold them."""
    connector, exponents, steps = GATEWAYS[gateway]
    if currency not in connector.currencies.exponents:
        return None
    value = Decimal(minor).scaleb(exponents.get(currency, ISO_EXPONENTS[currency]) - ISO_EXPONENTS[currency])
    if value != value.to_integral_value() or int(value) % steps.get(currency, 1):
        return None
    return int(value)


def through(gateway: str, exchange):
    """Drives a connector's exchange against the in-process sandbox of its gateway; result and requests."""
    sandbox = SANDBOXES[gateway]

    def answer(request):
        url = urlsplit(request.url)
        r = sandbox.handle(request.method, url.path, url.query, request.headers, request.body or b"")
        return GatewayResponse(r.status, {"content-type": r.content_type, **r.headers}, r.body)

    return drive(exchange, answer)


def wire_amount(gateway: str, request, stripe_name: str = "amount") -> int:
    if gateway == "stripe":
        return int(parse_qs(request.body.decode())[stripe_name][0])
    return json.loads(request.body)["amount"]["value"]


@pytest.mark.parametrize("gateway", sorted(GATEWAYS))
def test_tables_differ_from_iso_only_where_the_gateway_says(gateway) -> None:
    connector, exponents, steps = GATEWAYS[gateway]
    table: GatewayCurrencies = connector.currencies
    for currency in ACTIVE:
        if currency in table.exponents:
            assert table.exponents[currency] == exponents.get(currency, ISO_EXPONENTS[currency]), currency
            assert table.steps.get(currency, 1) == steps.get(currency, 1), currency


@pytest.mark.parametrize(
    "gateway, minor, currency, wire",
    [
        # The cases: Adyen counts CLP and ISK in hundredths, CVE and IDR in units.
        ("adyen", 1000, "CLP", 100_000),
        ("adyen", 150_000, "CVE", 1500),
        ("adyen", 150_050, "CVE", None),
        ("adyen", 2_500_000, "IDR", 25_000),
        ("adyen", 2_500_001, "IDR", None),
        ("adyen", 5, "ISK", 500),
        ("adyen", 1005, "KWD", 1005),
        # Stripe: three-decimal amounts only in tens, ISK and UGX in hundreds, MGA in whole ariary.
        ("stripe", 1005, "KWD", None),
        ("stripe", 1010, "KWD", 1010),
        ("stripe", 5, "ISK", 500),
        ("stripe", 5, "UGX", 500),
        ("stripe", 1000, "MGA", 10),
        ("stripe", 1050, "MGA", None),
        ("stripe", 1000, "CLP", 1000),
        ("stripe", 1045, "HUF", 1045),  # HUF and TWD charge with two decimals
        ("stripe", 80_045, "TWD", 80_045),
        ("stripe", 150_050, "CVE", 150_050),  # Stripe counts CVE as ISO does, unlike Adyen
    ],
)
def test_documented_conversions(gateway, minor, currency, wire) -> None:
    connector: Connector = GATEWAYS[gateway][0]
    money = Money(minor=minor, currency=currency)
    assert expected_wire(gateway, minor, currency) == wire
    if wire is None:
        with pytest.raises(SidecarError) as e:
            connector.to_gateway(money, "amount")
        assert e.value.type is ErrorType.INVALID_REQUEST and e.value.details[0].path == "amount.minor"
        assert "never rounded" in e.value.message
    else:
        assert connector.to_gateway(money, "amount") == wire
        assert connector.from_gateway(wire, currency) == money


@pytest.mark.parametrize("currency", ["XXX", "XTS", "XAU", "ZZZ", "usd", "US", "BGN"])
def test_inactive_or_unknown_currencies_are_refused_by_the_api(currency) -> None:
    # BGN left ISO 4217's active list when Bulgaria took the euro (the table of 2026-01-01).
    with pytest.raises(ValidationError):
        Money(minor=100, currency=currency)


def test_a_currency_the_gateway_does_not_take_is_400_naming_the_currency() -> None:
    with pytest.raises(SidecarError) as e:
        Stripe().to_gateway(Money(minor=100, currency="CLF"), "amount")  # a unit of account, ISO active
    assert e.value.details[0].path == "amount.currency" and "does not take CLF" in e.value.message


def test_an_answer_finer_than_iso_is_a_gateway_error_not_a_rounding() -> None:
    with pytest.raises(SidecarError) as e:
        Adyen().from_gateway(100_050, "CLP")  # 1000.50 CLP: CLP has no minor unit
    assert e.value.type is ErrorType.GATEWAY_ERROR
    with pytest.raises(MoneyError):
        GatewayCurrencies("x", {"CLP": 2}).from_gateway(1, "CLP")


@pytest.mark.parametrize("currency", ACTIVE)
@pytest.mark.parametrize("gateway", sorted(GATEWAYS))
@settings(max_examples=25, deadline=None)
@given(minor=st.integers(min_value=1, max_value=999_999) | st.sampled_from([1, 5, 10, 100, 1005, 1010, 150_050]))
def test_every_active_currency_reaches_the_sandbox_and_comes_back_exactly(gateway, currency, minor) -> None:
    """Authorize, capture all and refund all through the gateway's sandbox: at every step the gateway got
    exactly the app's amount in its own units and the app got back exactly its amount, or the call was
    refused with a 400 before anything was sent."""
    connector: Connector = GATEWAYS[gateway][0]
    ctx = CONTEXTS[gateway]
    app = Money(minor=minor, currency=currency)
    wire = expected_wire(gateway, minor, currency)
    req = PaymentRequest.model_validate_json(
        json.dumps(
            {
                "reference": "money-prop",
                "amount": app.model_dump(),
                "capture": "manual",
                "payment_method": {"type": "card", "card": CARDS[gateway]},
            }
        )
    )
    try:
        payment, sent = through(gateway, connector.authorize(req, ctx))
    except SidecarError as e:
        assert wire is None, e.message
        assert e.type is ErrorType.INVALID_REQUEST and e.details[0].path in ("amount.minor", "amount.currency")
        return
    assert wire is not None and wire_amount(gateway, sent[-1]) == wire
    assert payment.amount == app
    if payment.status is PaymentStatus.AUTHORIZATION_FAILED:  # the Adyen sandbox refuses 12345 on purpose
        return
    assert payment.status is PaymentStatus.AUTHORIZED

    captured, sent = through(gateway, connector.capture(payment.id, CaptureRequest(amount=app), ctx))
    assert wire_amount(gateway, sent[-1], "amount_to_capture") == wire
    assert (captured.captured if gateway == "stripe" else captured.amount) == app
    refund, sent = through(gateway, connector.refund(payment.id, RefundRequest(amount=app), ctx))
    assert wire_amount(gateway, sent[-1]) == wire
    assert refund.amount == app
    if gateway == "stripe":
        synced, _ = through(gateway, connector.sync(payment.id, ctx))
        assert (synced.amount, synced.captured, synced.refunded) == (app, app, app)
