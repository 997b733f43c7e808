"""The masking module: declared fields first, then the safety net, which counts what it catches."""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import parse_qs

from hypothesis import given, settings
from strategies import card_numbers

from connectors.adyen import Adyen
from connectors.stripe import Stripe
from sidecar.masking import DROPPED, MASK, Masker, mask_pan


def masker(**kw) -> tuple[Masker, Counter[str]]:
    caught: Counter[str] = Counter()
    return Masker(on_catch=lambda kind: caught.update([kind]), **kw), caught


def test_pan_keeps_at_most_first_six_and_last_four() -> None:
    assert mask_pan("4242424242424242") == "424242******4242"
    assert mask_pan("4000 0566 5566 5556") == "400005******5556"
    assert mask_pan("3782822463100005") == "378282******0005"


@settings(max_examples=200)
@given(pan=card_numbers)
def test_no_luhn_valid_card_number_survives_in_free_text(pan: str) -> None:
    m, caught = masker()
    out = m.text(f"declined: card {pan} was refused (cvc: 123)")
    assert pan not in out and pan[:6] in out and pan[-4:] in out
    assert "cvc: 123" not in out
    assert caught["pan"] == 1 and caught["cvc"] == 1


def test_declared_fields_are_masked_without_the_net() -> None:
    m, caught = masker(fields=Stripe.sensitive_fields)
    body = b"type=card&card[number]=4242424242424242&card[cvc]=314&billing_details[email]=a@b.example&amount=1000"
    out = parse_qs(m.body("application/x-www-form-urlencoded", body))
    assert out["card[number]"] == ["424242******4242"] and out["card[cvc]"] == [DROPPED]
    assert out["billing_details[email]"] == [MASK] and out["amount"] == ["1000"]
    assert not caught  # the connector declared everything: nothing left for the net


def test_a_forgotten_field_is_caught_and_counted() -> None:
    m, caught = masker(fields=Adyen.sensitive_fields)
    body = json.dumps(
        {"paymentMethod": {"cardNo": "5555555555554444", "securityCode": "737"}, "note": "key sk_live_abcdefghijklmnop"}
    ).encode()
    out = m.body("application/json", body)
    assert "5555555555554444" not in out and "555555******4444" in out
    assert "sk_live_abcdefghijklmnop" not in out
    assert caught == Counter({"pan": 1, "credential": 1})


def test_card_number_as_a_json_number() -> None:
    m, caught = masker()
    out = m.body("application/json", b'{"x": 4242424242424242, "amount": 1000, "ts": 1795309632}')
    assert "4242424242424242" not in out and json.loads(out)["amount"] == 1000 and caught["pan"] == 1


def test_xml_is_masked_field_by_field() -> None:
    m, _ = masker(fields={"cardNumber": Stripe.sensitive_fields["number"], "cardCode": Stripe.sensitive_fields["cvc"]})
    body = (
        b'<?xml version="1.0"?><createTransactionRequest xmlns="AnetApi/xml/v1/schema/AnetApiSchema.xsd">'
        b"<merchantAuthentication><name>api-login</name><transactionKey>9aB8cD7eF6</transactionKey>"
        b"</merchantAuthentication><payment><creditCard><cardNumber>4111111111111111</cardNumber>"
        b"<cardCode>999</cardCode></creditCard></payment></createTransactionRequest>"
    )
    out = m.body("application/xml", body)
    assert "4111111111111111" not in out and "411111******1111" in out and ">999<" not in out


def test_xml_entity_expansion_is_not_expanded() -> None:
    m, _ = masker()
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><x>&b;</x>'
    assert len(m.body("text/xml", bomb)) < 500


def test_secret_headers_and_tokens_in_urls() -> None:
    m, caught = masker(secret_headers={"x-api-key"})
    headers = m.headers([("Authorization", "Bearer sk_test_123456"), ("X-API-Key", "AQEabc"), ("Accept", "*/*")])
    assert headers == {"Authorization": MASK, "X-API-Key": MASK, "Accept": "*/*"}
    assert m.url("https://gw.example/v1/x?api_key=abcdef&limit=3") == f"https://gw.example/v1/x?api_key={MASK}&limit=3"
    assert caught["credential"] == 1


def test_personal_data_masked_unless_allowlisted() -> None:
    body = json.dumps({"customer": {"email": "jane@example.com", "name": "Jane Roe", "phone": "+4912345"}}).encode()
    strict, _ = masker()
    assert json.loads(strict.body("application/json", body))["customer"] == {"email": MASK, "name": MASK, "phone": MASK}
    relaxed, _ = masker(personal_allowlist=["email"])
    assert json.loads(relaxed.body("application/json", body))["customer"]["email"] == "jane@example.com"


def test_masking_never_alters_its_input() -> None:
    m, _ = masker()
    data = {"card": {"number": "4242424242424242", "cvc": "123"}}
    m.json_value(data)
    assert data == {"card": {"number": "4242424242424242", "cvc": "123"}}


def test_non_card_digit_runs_are_left_alone() -> None:
    m, caught = masker()
    assert m.text("order 1234567890123 at 2026-11-22") == "order 1234567890123 at 2026-11-22"  # not Luhn-valid
    assert not caught
