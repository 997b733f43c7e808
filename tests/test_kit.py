"""The connector kit's small pieces: metadata limits, phone numbers and names, one-meaning JSON, ids and
path segments. Each is a rule a gateway or API.md states; the test names the rule."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.adyen.connector import Adyen
from connectors.kit.connector import segment
from connectors.kit.contact import e164, split_name
from connectors.kit.errors import ErrorType, SidecarError
from connectors.kit.metadata import MetadataError
from connectors.stripe.connector import Stripe
from sidecar.strict_json import DuplicateKey, loads_unique

stripe, adyen = Stripe(), Adyen()


def metadata_error(connector, app, own=None) -> str:
    with pytest.raises(SidecarError) as e:
        connector.metadata(app, own or {})
    assert e.value.type is ErrorType.INVALID_REQUEST and e.value.details[0].path == "metadata"
    return e.value.message


def test_stripe_metadata_counts_the_sidecars_own_keys() -> None:
    app = {f"k{i}": "v" for i in range(49)}
    merged = stripe.metadata(app, {"sidecar_reference": "order-1"})
    assert len(merged) == 50 and merged["sidecar_reference"] == "order-1"
    message = metadata_error(stripe, {**app, "k49": "v"}, {"sidecar_reference": "order-1"})
    assert message == "stripe takes at most 50 metadata keys; this payment would have 51, 1 of them the sidecar's own"


@pytest.mark.parametrize(
    "app, rule",
    [
        ({"k" * 41: "v"}, "stripe takes metadata keys of at most 40 characters"),
        ({"a[b]": "v"}, "stripe takes no [ or ] in metadata keys"),
        ({"k": "v" * 501}, "stripe takes metadata values of at most 500 characters"),
        ({"sidecar_reference": "mine"}, "metadata keys starting with 'sidecar_' are the sidecar's own"),
    ],
)
def test_stripe_metadata_rules(app, rule) -> None:
    assert metadata_error(stripe, app) == rule


@pytest.mark.parametrize(
    "app, rule",
    [
        ({f"k{i}": "v" for i in range(21)}, "adyen takes at most 20 metadata keys; this payment would have 21"),
        ({"k" * 21: "v"}, "adyen takes metadata keys of at most 20 characters"),
        ({"k": "v" * 81}, "adyen takes metadata values of at most 80 characters"),
    ],
)
def test_adyen_metadata_rules(app, rule) -> None:
    assert metadata_error(adyen, app) == rule


def test_metadata_within_the_limits_passes_unchanged_and_the_apps_reference_key_is_the_apps() -> None:
    app = {f"k{i:02}": "v" * 80 for i in range(20)}
    assert adyen.metadata(app, {}) == app
    assert stripe.metadata({"reference": "app's own"}, {"sidecar_reference": "r"}) == {
        "reference": "app's own",
        "sidecar_reference": "r",
    }
    assert issubclass(MetadataError, ValueError)


@pytest.mark.parametrize(
    "phone, country, expected",
    [
        ("+1 (415) 555-0123", None, "+14155550123"),
        ("+44 20 7946 0958", "US", "+442079460958"),  # a country code wins over the billing country
        ("020 7946 0958", "GB", "+442079460958"),
        ("(415) 555-0123", "US", "+14155550123"),
    ],
)
def test_phones_go_out_in_e164(phone, country, expected) -> None:
    assert e164(phone, country) == expected


@pytest.mark.parametrize("phone, country", [("020 7946 0958", None), ("+999 1234567", None), ("12", "US")])
def test_a_phone_that_cannot_be_one_is_refused_without_quoting_it(phone, country) -> None:
    with pytest.raises(ValueError) as e:
        e164(phone, country)
    assert phone not in str(e.value)


@pytest.mark.parametrize(
    "name, parts",
    [("Ludwig van Beethoven", ("Ludwig", "van Beethoven")), ("  Jo   Doe ", ("Jo", "Doe")), ("Cher", None)],
)
def test_names_split_in_two_or_not_at_all(name, parts) -> None:
    assert split_name(name) == parts


@pytest.mark.parametrize(
    "body",
    [
        b'{"amount": {"minor": 1000, "currency": "USD", "minor": 99999}}',
        b'{"a": 1, "a": 1}',
        b'{"metadata": [{"x": {"k": "1", "k": "2"}}]}',
    ],
)
def test_a_duplicate_key_anywhere_is_found(body) -> None:
    with pytest.raises(DuplicateKey):
        loads_unique(body)


@given(st.recursive(st.none() | st.integers() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)))
def test_json_without_duplicates_reads_as_the_standard_library_reads_it(value) -> None:
    import json

    assert loads_unique(json.dumps(value)) == value


@pytest.mark.parametrize("value", ["", ".", ".."])
def test_dot_segments_never_reach_a_gateway_url(value) -> None:
    with pytest.raises(SidecarError):
        segment(value)


def test_segments_are_encoded_whole() -> None:
    assert segment("a/b?c#d%") == "a%2Fb%3Fc%23d%25"


@pytest.mark.parametrize(
    "connector, kind, good, bad",
    [
        (
            stripe,
            "payment",
            ["pi_3Nx9", "pi_1"],
            [".", "..", "pi_", "pi_1.2", "re_1", "pi_1/capture", "4242424242424242"],
        ),
        (stripe, "refund", ["re_3Nx9"], ["pi_1", "re_%31", "re_1:2"]),
        (adyen, "payment", ["QFQTPCQ8HXSKGK82", "8815167485763261"], ["ABC", "QFQTPCQ8HXSKGK8.", "QFQTPCQ8HXSKGK821"]),
    ],
)
def test_ids_are_the_gateways_charset_only(connector, kind, good, bad) -> None:
    for value in good:
        assert connector.check_id(kind, value) == value
    for value in bad:
        with pytest.raises(SidecarError) as e:
            connector.check_id(kind, value)
        assert e.value.details[0].path == "id" and value not in e.value.message
        assert re.fullmatch(r"\w+ id not in \w+'s format", e.value.message)
