"""Hypothesis strategies for canonical calls: what apps may send, within the API's own rules."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import strategies as st

from connectors.kit.models import (
    Address,
    Browser,
    CaptureMethod,
    CaptureRequest,
    Card,
    CardPaymentMethod,
    Channel,
    Customer,
    Money,
    PaymentRequest,
    RefundRequest,
    VoidRequest,
)


def luhn_complete(partial: str) -> str:
    """Appends the check digit that makes `partial` Luhn-valid."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return partial + str((10 - total % 10) % 10)


card_numbers = (
    st.integers(min_value=12, max_value=18)
    .flatmap(lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n))
    .map(luhn_complete)
)

# Currencies every connector counts as ISO 4217 does (tests/test_money.py covers all the others).
COMMON_CURRENCIES = ("USD", "EUR", "GBP", "JPY", "SEK", "BRL", "INR")


def money_in(currencies: Iterable[str]) -> st.SearchStrategy[Money]:
    return st.builds(
        Money, minor=st.integers(min_value=1, max_value=99_999_999), currency=st.sampled_from(sorted(currencies))
    )


currencies = st.sampled_from(COMMON_CURRENCIES)
money = money_in(COMMON_CURRENCIES)
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40)
refs = st.from_regex(r"\A[A-Za-z0-9_-]{1,40}\Z")
customer_ids = st.from_regex(r"\A[A-Za-z0-9_-]{3,40}\Z")  # Adyen's shopperReference takes 3 or more
# As apps send them: with a country code, or national and read in the billing country.
phones = st.sampled_from(
    ["+14155550123", "+1 (415) 555-0123", "+49 151 12345678", "+31 20 123 4567", "+44 20 7946 0958"]
)
statement_descriptors = st.from_regex(r"\A[A-Za-z][A-Za-z0-9 .-]{0,21}\Z")
metadata = st.dictionaries(
    st.from_regex(r"\A[a-z_]{1,20}\Z").filter(lambda k: not k.startswith("sidecar_")), st.text(max_size=60), max_size=5
)

cards = st.builds(
    Card,
    number=card_numbers,
    exp_month=st.integers(1, 12),
    exp_year=st.integers(2026, 2040),
    cvc=st.from_regex(r"\A[0-9]{3,4}\Z"),
    holder_name=st.none() | text,
)
postal_codes = st.from_regex(r"\A[A-Z0-9 -]{3,10}\Z")
countries = st.sampled_from(["US", "DE", "GB", "NL", "BR"])
addresses = st.builds(
    Address,
    line1=st.none() | text,
    line2=st.none() | text,
    city=st.none() | text,
    state=st.none() | text,
    postal_code=st.none() | postal_codes,
    country=st.none() | countries,
)
# Every part Adyen requires of a billing address.
whole_addresses = st.builds(
    Address, line1=text, line2=text, city=text, state=st.none() | text, postal_code=postal_codes, country=countries
)
customers = st.builds(
    Customer,
    id=st.none() | customer_ids,
    email=st.none() | st.emails().filter(lambda e: len(e) <= 254),
    name=st.none() | text,
    phone=st.none() | phones,
)

# What 3-D Secure 2 asks of the shopper's device, as browsers report it.
browsers = st.builds(
    Browser,
    user_agent=text,
    accept_header=st.sampled_from(["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "*/*"]),
    language=st.sampled_from(["en-US", "de-DE", "nl", "pt-BR"]),
    color_depth=st.sampled_from([1, 4, 8, 15, 16, 24, 30, 32, 48]),
    screen_height=st.integers(1, 10_000),
    screen_width=st.integers(1, 10_000),
    time_zone_offset=st.integers(-840, 840),
    java_enabled=st.booleans(),
)
# The widest is over Adyen's 80 characters: refused there before any call.
origins = st.sampled_from(["https://shop.example", "http://127.0.0.1:8080", f"https://{'a' * 90}.example"])


def payment_requests_with(
    address: st.SearchStrategy[Address], amounts: st.SearchStrategy[Money] = money
) -> st.SearchStrategy[PaymentRequest]:
    return st.builds(
        PaymentRequest,
        reference=refs,
        amount=amounts,
        capture=st.sampled_from(list(CaptureMethod)),
        payment_method=st.builds(CardPaymentMethod, type=st.just("card"), card=cards),
        customer=st.none() | customers,
        billing_address=st.none() | address,
        three_ds=st.none() | st.booleans(),
        return_url=st.none() | st.just("https://shop.example/return?order=1"),
        description=st.none() | text,
        statement_descriptor=st.none() | statement_descriptors,
        browser=st.none() | browsers,
        shopper_ip=st.none() | st.ip_addresses(),
        origin=st.none() | origins,
        channel=st.none() | st.sampled_from(list(Channel)),
        metadata=st.none() | metadata,
    )


payment_requests = payment_requests_with(addresses)
captures = st.builds(CaptureRequest, amount=st.none() | money, reference=st.none() | refs)
voids = st.builds(
    VoidRequest,
    reason=st.none() | st.sampled_from(["requested_by_customer", "duplicate", "fraud?", "changed mind"]),
    reference=st.none() | refs,
)
refunds = st.builds(
    RefundRequest,
    amount=st.none() | money,
    reason=st.none() | st.sampled_from(["requested_by_customer", "duplicate", "fraudulent", "other"]),
    reference=st.none() | refs,
)
gateway_ids = st.from_regex(r"\A[A-Za-z0-9_]{4,40}\Z")
# API.md v1.1: any key of 1-255 printable ASCII characters.
idempotency_keys = st.none() | st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=255
)
