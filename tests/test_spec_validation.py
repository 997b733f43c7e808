"""The conformance kit's spec validation itself (connectors/kit/testing/validation.py): a green
connector test only means something if these hold.

Known-good requests must pass, known-bad ones must fail naming the field, and no violation message
may carry a card number or a CVC.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.adyen import Adyen
from connectors.kit.connector import GatewayRequest
from connectors.kit.testing import (
    SpecViolation,
    load_spec,
    mask_sensitive,
    requires_spec,
    specs_dir,
    validator_for,
)
from connectors.stripe import Stripe

STRIPE_SPEC, ADYEN_SPEC = Stripe.conformance.spec, Adyen.conformance.spec
SPEC_FILES = (STRIPE_SPEC.file, ADYEN_SPEC.file)
pytestmark = requires_spec(*SPEC_FILES)

CARD = "4242424242424242"
CARD_MASKED = "424242****4242"
ADYEN_CARD = "4111111111111111"
CVC = "987"


def validate_stripe_request(method: str, path: str, body: bytes | None, query: str = "") -> None:
    validator_for(STRIPE_SPEC).check(method, path, body, query)


def validate_adyen_request(method: str, path: str, body: bytes | None) -> None:
    """`path` relative to Adyen's base URL, which carries the version (/v71)."""
    validator_for(ADYEN_SPEC).check(method, path, body)


def stripe_violation(method: str, path: str, body: bytes | None, query: str = "") -> SpecViolation:
    with pytest.raises(SpecViolation) as caught:
        validate_stripe_request(method, path, body, query)
    return caught.value


def adyen_violation(method: str, path: str, body: bytes | None) -> SpecViolation:
    with pytest.raises(SpecViolation) as caught:
        validate_adyen_request(method, path, body)
    return caught.value


def adyen_json(document: Any) -> bytes:
    return json.dumps(document).encode()


def adyen_payment(**overrides: Any) -> dict[str, Any]:
    payment: dict[str, Any] = {
        "amount": {"currency": "EUR", "value": 1000},
        "reference": "order-1",
        "merchantAccount": "TestMerchant",
        "returnUrl": "https://shop.example/return",
        "paymentMethod": {
            "type": "scheme",
            "number": ADYEN_CARD,
            "expiryMonth": "03",
            "expiryYear": "2030",
            "cvc": "737",
            "holderName": "Jo Doe",
        },
    }
    payment.update(overrides)
    return payment


def test_specs_are_read_from_shared_beside_the_repository() -> None:
    # The project keeps no copy: ../shared/specs is the one source (in CI, a missing file fails here).
    repo = Path(__file__).resolve().parents[1]
    assert specs_dir() == repo.parent / "shared" / "specs"
    assert not (repo / "tests" / "specs").exists()
    missing = [name for name in SPEC_FILES if not (specs_dir() / name).is_file()]
    assert not missing, f"missing from {specs_dir()}: {missing}"
    assert load_spec("stripe.openapi.json")["openapi"].startswith("3.0")
    assert load_spec("adyen-checkout-v71.openapi.json")["openapi"].startswith("3.1")


# --------------------------------------------------------------------------------------------------
# Stripe: known good


@pytest.mark.parametrize(
    ("method", "path", "body", "query"),
    [
        pytest.param(
            "POST",
            "/v1/payment_methods",
            f"type=card&card[number]={CARD}&card[exp_month]=12&card[exp_year]=2030&card[cvc]=123",
            "",
            id="create-card-payment-method",
        ),
        pytest.param(
            "POST",
            "/v1/payment_intents",
            "amount=1000&currency=eur&payment_method=pm_card_visa&confirm=true&capture_method=manual"
            "&payment_method_types[]=card&metadata[reference]=r1&expand[]=latest_charge",
            "",
            id="create-payment-intent",
        ),
        pytest.param(
            "POST",
            "/v1/payment_intents",
            # Stripe's own SDKs index arrays instead of using [].
            "amount=1000&currency=eur&payment_method_types[0]=card&expand[0]=latest_charge",
            "",
            id="create-payment-intent-indexed-arrays",
        ),
        pytest.param("POST", "/v1/payment_intents/pi_1/capture", "amount_to_capture=500", "", id="capture"),
        pytest.param(
            "POST",
            "/v1/payment_intents/pi_1/cancel",
            "cancellation_reason=requested_by_customer",
            "",
            id="cancel",
        ),
        pytest.param(
            "POST",
            "/v1/refunds",
            "payment_intent=pi_1&amount=300&reason=requested_by_customer&metadata[reference]=r1"
            "&metadata[refund_id]=rf_9",
            "",
            id="refund",
        ),
        pytest.param("POST", "/v1/payment_intents/pi_1", "metadata=&description=", "", id="empty-string-unsets"),
        pytest.param(
            "POST",
            "/v1/subscriptions",
            "customer=cus_1&items[0][price]=price_1&items[1][price]=price_2&items[1][quantity]=2",
            "",
            id="array-of-objects",
        ),
        pytest.param("GET", "/v1/payment_intents/pi_1", None, "expand[]=latest_charge", id="retrieve-intent"),
        pytest.param("GET", "/v1/payment_intents/pi_1?expand[]=latest_charge", None, "", id="inline-query"),
        pytest.param("GET", "/v1/refunds/re_1", None, "", id="retrieve-refund"),
        pytest.param("GET", "/v1/payment_intents", None, "limit=3&created[gte]=1700000000", id="list"),
    ],
)
def test_stripe_accepts_known_good(method: str, path: str, body: str | None, query: str) -> None:
    validate_stripe_request(method, path, None if body is None else body.encode(), query)


def test_stripe_literal_path_beats_parameter() -> None:
    # /v1/payment_intents/search is its own GET operation, not intent "search"; it requires `query`.
    violation = stripe_violation("GET", "/v1/payment_intents/search", None)
    assert "query query: required parameter missing" in violation.problems


# --------------------------------------------------------------------------------------------------
# Stripe: known bad, each naming the parameter at fault


@pytest.mark.parametrize(
    ("method", "path", "body", "query", "expected"),
    [
        pytest.param(
            "POST",
            "/v1/payment_intents",
            "amount=1000&currency=eur&colour=red",
            "",
            "body colour: unknown parameter",
            id="unknown-parameter",
        ),
        pytest.param(
            "POST",
            "/v1/payment_methods",
            f"type=card&card[number]={CARD}&card[exp_month]=12&card[exp_year]=2030&card[colour]=red",
            "",
            "card[colour]: unknown parameter",
            id="unknown-nested-parameter",
        ),
        pytest.param(
            "POST",
            "/v1/payment_intents",
            "amount=abc&currency=eur",
            "",
            "body amount: 'abc' is not of type 'integer'",
            id="amount-not-integer",
        ),
        pytest.param(
            "POST",
            "/v1/payment_intents",
            "amount=10.5&currency=eur",
            "",
            "body amount: '10.5' is not of type 'integer'",
            id="amount-fractional",
        ),
        pytest.param(
            "POST",
            "/v1/payment_intents",
            "amount=1000&currency=eur&confirm=yes",
            "",
            "body confirm: 'yes' is not of type 'boolean'",
            id="boolean-not-true-false",
        ),
        pytest.param(
            "POST",
            "/v1/payment_intents",
            "amount=1000&currency=eur&capture_method=sometimes",
            "",
            "body capture_method: 'sometimes' is not one of",
            id="enum",
        ),
        pytest.param(
            "POST",
            "/v1/payment_intents",
            "currency=eur",
            "",
            "body amount: required parameter missing",
            id="missing-amount",
        ),
        pytest.param(
            "POST",
            "/v1/payment_intents",
            "amount=1000&currency=eur&metadata=",
            "",
            "body metadata: '' is not of type 'object'",
            id="empty-string-where-create-has-no-unset",
        ),
        pytest.param(
            "POST",
            "/v1/refunds",
            "payment_intent=pi_1&reason=changed_mind",
            "",
            "body reason: 'changed_mind' is not one of",
            id="refund-reason",
        ),
        pytest.param(
            "POST",
            "/v1/payment_intents/pi_1/capture",
            "amount_to_capture=1&amount_to_capture=2",
            "",
            "body amount_to_capture: sent more than once",
            id="duplicate-parameter",
        ),
        pytest.param(
            "POST",
            "/v1/subscriptions",
            "customer=cus_1&items[0][price]=p1&items[2][price]=p2",
            "",
            "body items: array indexes must run 0..n-1 without gaps (got 0, 2)",
            id="array-index-gap",
        ),
        pytest.param(
            "GET",
            "/v1/payment_intents/pi_1",
            None,
            "expand[]=latest_charge&colour=red",
            "query colour: unknown parameter",
            id="unknown-query-parameter",
        ),
        pytest.param(
            "GET",
            "/v1/refunds/re_1",
            b"amount=1",
            "",
            "body amount: unknown parameter",
            id="body-on-get",
        ),
        pytest.param(
            "GET",
            "/v1/payment_intents/" + "x" * 5001,
            None,
            "",
            "path intent: ",
            id="path-parameter-too-long",
        ),
        pytest.param(
            "POST",
            "/v1/payment_intents/pi_1/explode",
            "",
            "",
            "no path in the spec matches",
            id="unknown-path",
        ),
        pytest.param(
            "POST",
            "/v2/payment_intents",
            "",
            "",
            "no path in the spec matches",
            id="unknown-version",
        ),
        pytest.param(
            "GET",
            "/v1/payment_intents/pi_1/capture",
            None,
            "",
            "has no GET operation (allowed: POST)",
            id="wrong-method",
        ),
        pytest.param(
            "DELETE",
            "/v1/refunds/re_1",
            None,
            "",
            "has no DELETE operation",
            id="wrong-method-delete",
        ),
    ],
)
def test_stripe_rejects_known_bad(method: str, path: str, body: str | bytes | None, query: str, expected: str) -> None:
    raw = body.encode() if isinstance(body, str) else body
    violation = stripe_violation(method, path, raw, query)
    assert any(expected in problem for problem in violation.problems), str(violation)


def test_stripe_reports_every_error_at_once() -> None:
    body = b"amount=abc&currency=eur&capture_method=sometimes&colour=red"
    problems = stripe_violation("POST", "/v1/payment_intents", body).problems
    assert len(problems) == 3, problems
    assert {p.split(":")[0] for p in problems} == {"body amount", "body capture_method", "body colour"}


def test_stripe_anyof_failure_points_at_the_meant_branch() -> None:
    body = f"type=card&card[number]={CARD}&card[exp_month]=twelve&card[exp_year]=2030".encode()
    (problem,) = stripe_violation("POST", "/v1/payment_methods", body).problems
    assert "closest is card_details_params" in problem
    assert "card[exp_month]: 'twelve' is not of type 'integer'" in problem


# --------------------------------------------------------------------------------------------------
# Adyen: known good


def test_adyen_accepts_card_payment() -> None:
    validate_adyen_request("POST", "/payments", adyen_json(adyen_payment()))


def test_adyen_plain_card_matches_exactly_one_payment_method_form() -> None:
    # paymentMethod is a oneOf of 58 forms; an ambiguous card would fail oneOf even when valid.
    components = load_spec("adyen-checkout-v71.openapi.json")["components"]
    branches = components["schemas"]["PaymentRequest"]["properties"]["paymentMethod"]["oneOf"]
    card = adyen_payment()["paymentMethod"]
    matching = [
        b["$ref"]
        for b in branches
        if jsonschema.Draft202012Validator({"$ref": b["$ref"], "components": components}).is_valid(card)
    ]
    assert matching == ["#/components/schemas/CardDetails"]


MERCHANT = {"merchantAccount": "TestMerchant"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(
            "/payments/ABC123/captures",
            {"amount": {"currency": "EUR", "value": 1000}, "reference": "c1", **MERCHANT},
            id="capture",
        ),
        pytest.param("/payments/ABC123/cancels", {"reference": "x1", **MERCHANT}, id="cancel"),
        pytest.param(
            "/payments/ABC123/refunds",
            {"amount": {"currency": "EUR", "value": 500}, "reference": "r1", **MERCHANT},
            id="refund",
        ),
    ],
)
def test_adyen_accepts_modifications(path: str, body: dict[str, Any]) -> None:
    validate_adyen_request("POST", path, adyen_json(body))


def _spec_examples(template: str) -> list[Any]:
    spec = load_spec("adyen-checkout-v71.openapi.json")
    content = spec["paths"][template]["post"]["requestBody"]["content"]["application/json"]
    examples = []
    for name, example in content.get("examples", {}).items():
        if "$ref" in example:
            example = spec["components"]["examples"][example["$ref"].rsplit("/", 1)[-1]]
        examples.append(pytest.param(example["value"], id=name))
    return examples


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/payments", "/payments"),
        ("/payments/ABC123/captures", "/payments/{paymentPspReference}/captures"),
        ("/payments/ABC123/cancels", "/payments/{paymentPspReference}/cancels"),
        ("/payments/ABC123/refunds", "/payments/{paymentPspReference}/refunds"),
    ],
)
def test_adyen_accepts_the_specs_own_examples(path: str, template: str) -> None:
    examples = _spec_examples(template)
    assert examples, f"the spec carries no examples for {template}"
    for example in examples:
        validate_adyen_request("POST", path, adyen_json(example.values[0]))


# --------------------------------------------------------------------------------------------------
# Adyen: known bad


def _without(document: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != key}


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        pytest.param(
            "POST",
            "/payments",
            adyen_json(_without(adyen_payment(), "merchantAccount")),
            "body merchantAccount: required parameter missing",
            id="payment-missing-merchant",
        ),
        pytest.param(
            "POST",
            "/payments",
            adyen_json(adyen_payment(amount={"currency": "EUR", "value": "abc"})),
            "body amount.value: 'abc' is not of type 'integer'",
            id="amount-value-string",
        ),
        pytest.param(
            "POST",
            "/payments",
            adyen_json(adyen_payment(colour="red")),
            "body colour: unknown parameter",
            id="unknown-field",
        ),
        pytest.param(
            "POST",
            "/payments",
            adyen_json(adyen_payment(paymentMethod={**adyen_payment()["paymentMethod"], "colour": "red"})),
            "closest is CardDetails, where: body paymentMethod.colour: unknown parameter",
            id="unknown-card-field",
        ),
        pytest.param(
            "POST",
            "/payments/ABC123/captures",
            adyen_json({"amount": {"currency": "EUR", "value": 1}}),
            "body merchantAccount: required parameter missing",
            id="capture-missing-merchant",
        ),
        pytest.param(
            "POST",
            "/payments/ABC123/refunds",
            adyen_json({"merchantAccount": "TestMerchant"}),
            "body amount: required parameter missing",
            id="refund-missing-amount",
        ),
        pytest.param(
            "POST",
            "/payments/ABC123/cancels",
            adyen_json({}),
            "body merchantAccount: required parameter missing",
            id="cancel-missing-merchant",
        ),
        pytest.param(
            "POST",
            "/payments/ABC123/cancels",
            None,
            "body: missing",
            id="no-body",
        ),
        pytest.param(
            "POST",
            "/payments",
            b"{not json",
            "body: not valid JSON",
            id="not-json",
        ),
        pytest.param(
            "POST",
            "/payments/ABC123/explode",
            adyen_json({}),
            "no path in the spec matches",
            id="unknown-path",
        ),
        pytest.param(
            "GET",
            "/payments",
            None,
            "has no GET operation (allowed: POST)",
            id="wrong-method",
        ),
    ],
)
def test_adyen_rejects_known_bad(method: str, path: str, body: bytes | None, expected: str) -> None:
    violation = adyen_violation(method, path, body)
    assert any(expected in problem for problem in violation.problems), str(violation)


def test_a_request_outside_the_base_url_is_refused() -> None:
    # Adyen's version is in its base URL: a connector that put another in its paths would send /v71/v70/...
    request = GatewayRequest("POST", "https://checkout-test.adyen.com/v70/payments", {}, adyen_json(adyen_payment()))
    with pytest.raises(SpecViolation) as caught:
        validator_for(ADYEN_SPEC).check_request(request, "https://checkout-test.adyen.com/v71")
    assert caught.value.problems == ["not under the base URL https://checkout-test.adyen.com/v71"]


def test_a_body_in_another_encoding_than_the_operation_takes_is_refused() -> None:
    request = GatewayRequest(
        "POST", "https://api.stripe.com/v1/refunds", {"Content-Type": "application/json"}, b'{"payment_intent": "pi_1"}'
    )
    with pytest.raises(SpecViolation) as caught:
        validator_for(STRIPE_SPEC).check_request(request, "https://api.stripe.com")
    assert caught.value.problems == [
        "body: sent as application/json; the operation takes application/x-www-form-urlencoded"
    ]


# --------------------------------------------------------------------------------------------------
# No card data in violation messages


def test_mask_sensitive() -> None:
    assert mask_sensitive(f"x {CARD} y") == f"x {CARD_MASKED} y"
    assert mask_sensitive("4242 4242 4242 4242") == CARD_MASKED
    assert mask_sensitive("{'number': '1', 'cvc': '987'}") == "{'number': '1', 'cvc': '<cvc dropped>'}"
    assert mask_sensitive("amount 1700000000") == "amount 1700000000"  # 10 digits: not a card number


def assert_no_card_data(violation: SpecViolation, *secrets: str) -> None:
    text = str(violation) + "\n".join(violation.problems)
    for secret in secrets:
        assert secret not in text, text


def test_stripe_card_number_as_offending_value_is_masked() -> None:
    violation = stripe_violation("POST", "/v1/payment_intents", f"amount=1&currency=eur&capture_method={CARD}".encode())
    assert_no_card_data(violation, CARD)
    assert CARD_MASKED in str(violation)


def test_stripe_object_quoted_in_message_is_masked_and_cvc_dropped() -> None:
    # A scalar parameter sent as an object makes jsonschema quote the whole object.
    body = f"amount=1&currency=eur&capture_method[number]={CARD}&capture_method[cvc]={CVC}".encode()
    violation = stripe_violation("POST", "/v1/payment_intents", body)
    assert_no_card_data(violation, CARD, CVC)
    assert "capture_method" in str(violation)


def test_adyen_card_number_and_cvc_never_quoted() -> None:
    method = {**adyen_payment()["paymentMethod"], "number": int(ADYEN_CARD), "cvc": int(CVC)}
    violation = adyen_violation("POST", "/payments", adyen_json(adyen_payment(paymentMethod=method)))
    assert_no_card_data(violation, ADYEN_CARD, CVC)
    assert "paymentMethod.number" in str(violation) and "paymentMethod.cvc" in str(violation)


card_numbers = st.from_regex(r"\A[1-9][0-9]{12,18}\Z")


@settings(deadline=None)
@given(number=card_numbers, cvc=st.from_regex(r"\A[0-9]{3,4}\Z"))
def test_no_card_number_or_cvc_in_any_stripe_violation(number: str, cvc: str) -> None:
    body = urlencode(
        {
            "amount": "1",
            "currency": "eur",
            "capture_method": number,
            "confirmation_method[number]": number,
            "confirmation_method[cvc]": cvc,
        }
    ).encode()
    violation = stripe_violation("POST", "/v1/payment_intents", body)
    assert_no_card_data(violation, number, f"'{cvc}'")


@settings(deadline=None)
@given(number=card_numbers, cvc=st.from_regex(r"\A[0-9]{3,4}\Z"))
def test_no_card_number_or_cvc_in_any_adyen_violation(number: str, cvc: str) -> None:
    method = {"type": "scheme", "number": int(number), "cvc": int(cvc), "holderName": number}
    body = adyen_payment(paymentMethod=method, reference=number, merchantAccount=int(number))
    violation = adyen_violation("POST", "/payments", adyen_json(body))
    assert_no_card_data(violation, number)
    text = str(violation)
    assert "paymentMethod.cvc: '<cvc dropped>' is not of type 'string'" in text
    assert f": {cvc} is not of type" not in text


# --------------------------------------------------------------------------------------------------
# Generated good requests pass too, and quickly enough for property tests in connector suites

metadata = st.dictionaries(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20),
    st.text(max_size=50),
    max_size=5,
)


@settings(deadline=None)
@given(amount=st.integers(min_value=0, max_value=10**12), meta=metadata)
def test_generated_stripe_captures_pass(amount: int, meta: dict[str, str]) -> None:
    fields = {"amount_to_capture": str(amount), **{f"metadata[{k}]": v for k, v in meta.items()}}
    validate_stripe_request("POST", "/v1/payment_intents/pi_1/capture", urlencode(fields).encode())


@settings(deadline=None)
@given(value=st.integers(min_value=0, max_value=2**53), currency=st.from_regex(r"\A[A-Z]{3}\Z"))
def test_generated_adyen_refunds_pass(value: int, currency: str) -> None:
    body = {"amount": {"currency": currency, "value": value}, "merchantAccount": "TestMerchant"}
    validate_adyen_request("POST", "/payments/ABC123/refunds", adyen_json(body))
