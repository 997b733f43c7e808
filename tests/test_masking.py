"""The masking module: declared fields first, then the safety net, which counts what it catches."""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import parse_qs

from hostile import hostile_bodies
from hypothesis import given, settings
from strategies import card_numbers

from connectors.adyen.connector import Adyen
from connectors.stripe.connector import Stripe
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


# -- fail closed: whatever the input --------------------------------------------------------------

PAN, CVC = "4242424242424242", "314"


def test_json_is_masked_as_json_whatever_the_content_type() -> None:
    body = json.dumps({"card": {"number": PAN, "cvc": CVC}, "email": "jane@example.com"}).encode()
    for ctype in ("application/x-www-form-urlencoded", "text/plain", None, "application/octet-stream"):
        m, _ = masker()
        out = json.loads(m.body(ctype, body))
        assert out == {"card": {"number": "424242******4242", "cvc": DROPPED}, "email": MASK}, ctype


def test_bodies_that_do_not_parse_are_withheld_and_counted() -> None:
    whole = json.dumps({"card": {"number": PAN, "cvc": CVC}, "name": "Jane Roe"}).encode()
    for body in (
        whole[:-3],  # truncated
        whole.replace(b"{", b'{"x": NaN, ', 1),
        whole.replace(b"Jane", b"J\xffane"),  # a stray byte that is not UTF-8
        b"<html><p>card " + PAN.encode() + b" cvc " + CVC.encode(),  # not well-formed
        b"hello world, cvc " + CVC.encode(),  # text with spaces: neither a form nor JSON
        b"--xYzZY\r\nContent-Disposition: form-data; name=cvc\r\n\r\n314",  # multipart cut short
    ):
        m, caught = masker()
        out = m.body("multipart/form-data; boundary=xYzZY" if body.startswith(b"--") else "application/json", body)
        assert out == f"<{len(body)} bytes withheld: unparsed body>", out
        assert caught == Counter({"unparsed_body": 1})


def test_forms_are_masked_by_decoded_names_and_values() -> None:
    m, caught = masker()
    body = b"card%5Bnumber%5D=" + PAN.encode() + b"&card%5Bcvc%5D=314&metadata%5B" + PAN.encode() + b"%5D=x&amount=100"
    out = m.body("application/x-www-form-urlencoded", body)
    assert PAN not in out and "314" not in out
    assert parse_qs(out) == {
        "card[number]": ["424242******4242"],
        "card[cvc]": [DROPPED],
        "metadata[424242******4242]": ["x"],
        "amount": ["100"],
    }
    assert caught["pan"] == 1  # the key: the number's own field is declared


def test_cvc_names_in_any_style() -> None:
    m, _ = masker()
    doc = {name: CVC for name in ("card_cvc", "cardCvv2", "security-code", "securityCode", "cvn", "CID", "card_cid")}
    assert set(json.loads(m.body("application/json", json.dumps(doc).encode())).values()) == {DROPPED}
    assert json.loads(m.body(None, b'{"incident": "314", "decided": "314"}')) == {"incident": "314", "decided": "314"}
    for text in ("card_cvc=314", '"cardCvv": "314"', "security code: 314", "CID 314", "cvc%5D%3D314"):
        assert CVC not in m.text(text), text


def test_card_numbers_behind_encodings_are_found() -> None:
    m, caught = masker()
    for hidden in (
        f"?q=%22{PAN}%22",
        "%34%32%34%32%34%32%34%32%34%32%34%32%34%32%34%32",
        "%2534%2532%2534%2532%2534%2532%2534%2532%2534%2532%2534%2532%2534%2532%2534%2532",
        "".join(f"\\u{ord(c):04x}" for c in PAN),
        "4242+4242+4242+4242",
    ):
        out = m.text(hidden)
        assert PAN not in out.replace(" ", "").replace("+", "") and "424242******4242" in out, hidden
    assert caught["pan"] == 5


def test_urls_are_masked_part_by_part() -> None:
    m, caught = masker()
    url = f"https://user:pa55word@gw.example/v1/payments/{PAN}/capture?note=%22{PAN}%22&card[cvc]=314&limit=3#x"
    out = m.url(url)
    assert PAN not in out and "pa55word" not in out and "314" not in out
    assert out.startswith("https://user:***@gw.example/v1/payments/424242******4242/capture?") and out.endswith(
        "&limit=3#x"
    )
    assert m.url("https://gw.example/v1/payment_intents/pi_123?expand[]=latest_charge") == (
        "https://gw.example/v1/payment_intents/pi_123?expand[]=latest_charge"
    )  # nothing to mask: nothing re-encoded


def test_headers_names_and_values() -> None:
    m, _ = masker()
    out = m.headers(
        [(f"X-{PAN}", "1"), ("X-Note", f"card {PAN}"), ("X-Card-Cvc", CVC), ("Stripe-Signature", "t=1,v1=ab")]
    )
    assert PAN not in json.dumps(out) and out["X-Card-Cvc"] == DROPPED and out["Stripe-Signature"] == MASK


def test_multipart_is_masked_part_by_part() -> None:
    m, _ = masker()
    body = (
        b'--xYzZY\r\nContent-Disposition: form-data; name="number"\r\n\r\n' + PAN.encode() + b"\r\n"
        b'--xYzZY\r\nContent-Disposition: form-data; name="card_cvc"\r\n\r\n314\r\n'
        b'--xYzZY\r\nContent-Disposition: form-data; name="f"; filename="a.json"\r\n'
        b"Content-Type: application/json\r\n\r\n"
        b'{"pan": "' + PAN.encode() + b'"}\r\n--xYzZY--\r\n'
    )
    out = m.body("multipart/form-data; boundary=xYzZY", body)
    assert PAN not in out and "\r\n314\r\n" not in out and out.count("424242******4242") == 2 and DROPPED in out


def test_gateway_ids_are_kept_in_gateway_answers_only() -> None:
    m, caught = masker(fields=Adyen.sensitive_fields)
    psp = "4111111111111111"  # an id that happens to pass Luhn, as a tenth of Adyen's do
    answer = json.dumps({"pspReference": psp, "note": psp}).encode()
    assert json.loads(m.body("application/json", answer, gateway_ids=True)) == {
        "pspReference": psp,
        "note": "411111******1111",
    }
    assert caught == Counter({"gateway_id": 1, "pan": 1})
    # In what the app or the sidecar sends, the same field is only a field.
    assert json.loads(m.body("application/json", answer))["pspReference"] == "411111******1111"
    # Only a bare token is an id: anything else in the field is masked as usual.
    assert PAN not in m.body("application/json", json.dumps({"pspReference": f"x {PAN}"}).encode(), gateway_ids=True)


@settings(max_examples=500, deadline=None)
@given(example=hostile_bodies())
def test_no_card_number_or_cvc_survives_any_body(example) -> None:
    secret, ctype, body = example
    m, _ = masker()
    out = m.body(ctype, body)
    assert secret.leaked_in(out) == [], (ctype, body[:200], out[:300])


def test_mitmweb_event_log_is_masked() -> None:
    """mitmproxy's own warnings reach mitmweb's event log; the same net runs over them."""
    import asyncio

    from mitmproxy import log

    from sidecar.web import MaskedEventStore

    async def record() -> list[str]:
        store = MaskedEventStore()
        store._add_log(log.LogEntry(f"Addon error: card {PAN} cvc: {CVC} refused", "error"))
        store.done()
        return [e.msg for e in store.data]

    assert asyncio.run(record()) == ["Addon error: card 424242******4242 cvc: [removed] refused"]
