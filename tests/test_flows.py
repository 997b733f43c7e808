"""The masked copy of an app's call (sidecar/flows.py), built from a live mitmproxy flow: what mitmweb
shows and the saved-flows file holds."""

from __future__ import annotations

import gzip
import json

from calls import VISA as CARD
from mitmproxy import http
from mitmproxy.proxy.mode_specs import ProxyMode
from mitmproxy.test import tflow

from sidecar.flows import masked_app_flow
from sidecar.masking import Masker

VISA = CARD["number"]
CARD_BODY = json.dumps({"payment_method": {"card": {"number": VISA, "cvc": "737"}}, "note": "x"}).encode()


def live_flow(headers: list[tuple[bytes, bytes]], content: bytes) -> http.HTTPFlow:
    f = tflow.tflow(resp=True)
    f.request.method = "POST"
    f.request.headers = http.Headers(headers)
    f.request.raw_content = content
    f.response.headers = http.Headers([(b"Content-Type", b"application/json")])
    f.response.raw_content = json.dumps({"echo": VISA}).encode()
    return f


def test_a_json_body_and_its_headers_are_masked_and_every_header_field_is_kept_in_order() -> None:
    f = live_flow(
        [(b"Content-Type", b"application/json"), (b"X-Note", b"one"), (b"x-note", b"two"), (b"X-Card", VISA.encode())],
        CARD_BODY,
    )
    copy = masked_app_flow(f, Masker())
    text = copy.request.get_text()
    assert VISA not in text and "737" not in text and '"note":"x"' in text.replace(" ", "")
    assert copy.request.headers.get_all("x-note") == ["one", "two"]
    assert VISA not in copy.request.headers["x-card"]
    assert copy.request.headers["content-length"] == str(len(copy.request.raw_content or b""))
    assert VISA not in (copy.response.get_text() or "")
    assert copy.id != f.id and copy.request is not f.request


def test_a_compressed_body_is_decoded_and_masked_not_withheld() -> None:
    f = live_flow([(b"Content-Type", b"application/json"), (b"Content-Encoding", b"gzip")], gzip.compress(CARD_BODY))
    copy = masked_app_flow(f, Masker())
    text = copy.request.get_text()
    assert VISA not in text and '"note"' in text  # parsed, so masked field by field
    assert "content-encoding" not in copy.request.headers  # the copy's body is the decoded text


def test_with_two_content_types_a_card_number_in_a_body_neither_describes_is_still_never_shown() -> None:
    f = live_flow([(b"Content-Type", b"application/json"), (b"Content-Type", b"text/plain")], b"card " + VISA.encode())
    copy = masked_app_flow(f, Masker())
    assert VISA not in (copy.request.get_text() or "")


def test_header_bytes_that_are_not_utf8_survive_the_copy_as_mitmproxy_decodes_them() -> None:
    f = live_flow([(b"Content-Type", b"application/json"), (b"X-Raw", b"caf\xe9")], b"{}")
    copy = masked_app_flow(f, Masker())
    assert copy.request.headers.fields[1] == (b"X-Raw", b"caf\xe9")


def test_a_card_number_in_the_path_or_query_is_masked_and_the_rest_of_the_address_is_kept() -> None:
    f = live_flow([(b"Content-Type", b"application/json")], b"{}")
    f.request.path = f"/v1/payments/{VISA}?ref=a&card={VISA}#{VISA}"
    copy = masked_app_flow(f, Masker())
    assert VISA not in copy.request.url and VISA not in copy.request.path
    assert copy.request.path.startswith("/v1/payments/") and "ref=a" in copy.request.path
    assert (copy.request.scheme, copy.request.host, copy.request.port) == (
        f.request.scheme,
        f.request.host,
        f.request.port,
    )


def test_a_call_to_a_reverse_listener_shows_the_address_the_app_called_and_the_host_it_sent() -> None:
    f = live_flow([(b"Host", b"sidecar:8080"), (b"Content-Type", b"application/json")], b"{}")
    f.client_conn.proxy_mode = ProxyMode.parse("reverse:http://127.0.0.1:1")
    f.client_conn.sockname = ("127.0.0.1", 8080)
    copy = masked_app_flow(f, Masker())
    assert (copy.request.host, copy.request.port) == ("127.0.0.1", 8080)
    assert copy.request.headers["host"] == "sidecar:8080"
    assert (copy.request.timestamp_start, copy.request.timestamp_end) == (
        f.request.timestamp_start,
        f.request.timestamp_end,
    )
