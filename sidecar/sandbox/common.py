"""Pieces shared by the sandbox gateways: the response type (the connector kit's, where codecs build it),
bounded state, card helpers, ids.

Nothing here knows about HTTP servers; the simulators are plain classes so they can be tested
by calling ``handle`` directly and hosted by any server (see ``server.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import secrets
import string
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from connectors.kit.sandbox import SLOW_TEST_CARD, SLOW_TEST_SECONDS, SandboxResponse

__all__ = [
    "DEFAULT_MAX_OBJECTS",
    "SLOW_CARD",
    "SLOW_SECONDS",
    "NOTHING_PENDING_HTML",
    "canonical_fingerprint",
    "random_upper_token",
    "add_headers",
    "append_query",
    "three_ds_page_html",
    "BoundedStore",
    "SandboxResponse",
    "card_brand",
    "card_fingerprint",
    "html_response",
    "json_response",
    "lower_headers",
    "luhn_valid",
    "random_digits",
    "random_token",
    "redirect_response",
    "safe_redirect_url",
]

# One simulator keeps at most this many objects of each kind; the oldest are forgotten first so
# a long-running sandbox cannot grow without bound.
DEFAULT_MAX_OBJECTS = 100_000

SLOW_CARD, SLOW_SECONDS = SLOW_TEST_CARD, SLOW_TEST_SECONDS  # every sandbox's, from the kit

_ALNUM = string.ascii_letters + string.digits
_UPPER_ALNUM = string.ascii_uppercase + string.digits


class BoundedStore[K, V]:
    """A dict that forgets its oldest entries beyond ``max_size``.

    Eviction is by insertion order, not use: the sandbox only needs to stay bounded, and the
    oldest payments are the least likely to be touched again.
    """

    def __init__(self, max_size: int = DEFAULT_MAX_OBJECTS) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self._max_size = max_size
        self._items: OrderedDict[K, V] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def get(self, key: K) -> V | None:
        return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        if key in self._items:
            self._items[key] = value
            return
        self._items[key] = value
        while len(self._items) > self._max_size:
            self._items.popitem(last=False)


def random_token(length: int, alphabet: str = _ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def random_upper_token(length: int) -> str:
    return random_token(length, _UPPER_ALNUM)


def random_digits(length: int) -> str:
    # The first digit is never 0 so the value keeps its length when read as a number.
    return secrets.choice("123456789") + random_token(length - 1, string.digits)


def luhn_valid(number: str) -> bool:
    """True for a 12-19 digit string whose Luhn check digit is right."""
    if not number.isascii() or not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_brand(number: str) -> str:
    """The card network by IIN range, in Stripe's words (``visa``, ``mastercard``, ...)."""
    if number.startswith("4"):
        return "visa"
    two, four = int(number[:2] or 0), int(number[:4] or 0)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if number.startswith("6011") or number.startswith("65") or 644 <= int(number[:3] or 0) <= 649:
        return "discover"
    if two in (36, 38, 39) or 300 <= int(number[:3] or 0) <= 305:
        return "diners"
    if 3528 <= four <= 3589:
        return "jcb"
    if two == 62:
        return "unionpay"
    return "unknown"


# A per-process secret so fingerprints are stable within a run but say nothing about the number.
_FINGERPRINT_KEY = secrets.token_bytes(32)


def card_fingerprint(number: str) -> str:
    digest = hmac.new(_FINGERPRINT_KEY, number.encode(), hashlib.sha256).digest()
    return "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:16])


_HOST_RE = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def origin(base_url: str | None, headers: Mapping[str, str]) -> str:
    """Where the sandbox is reachable, for the links it hands out: its known URL, else the Host header."""
    if base_url:
        return base_url
    host = headers.get("host", "")
    return f"http://{host}" if _HOST_RE.match(host) else "http://127.0.0.1"


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased, so lookups work whatever mapping the caller passed."""
    return {str(name).lower(): str(value) for name, value in headers.items()}


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return SandboxResponse(status, body, "application/json", dict(headers or {}))


def html_response(status: int, html: str) -> SandboxResponse:
    return SandboxResponse(status, html.encode(), "text/html; charset=utf-8", {})


NOTHING_PENDING_HTML = "<!doctype html><title>3D Secure</title><p>No authentication is pending here.</p>"


def redirect_response(location: str) -> SandboxResponse:
    return SandboxResponse(
        status=302, body=b"", content_type="text/plain; charset=utf-8", headers={"Location": location}
    )


# Schemes a browser would run as code rather than navigate to; never put them in a Location.
_UNSAFE_SCHEMES = frozenset({"javascript", "data", "vbscript", "file"})


def safe_redirect_url(url: str) -> bool:
    """True when ``url`` is absolute and safe to send a browser to (app schemes allowed)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.scheme or parts.scheme.lower() in _UNSAFE_SCHEMES:
        return False
    if parts.scheme.lower() in ("http", "https") and not parts.netloc:
        return False
    return not any(ch in url for ch in "\r\n\t ")


def canonical_fingerprint(*parts: Any) -> str:
    """A digest of request parts that ignores key order, to compare idempotent retries."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def add_headers(response: SandboxResponse, extra: Mapping[str, str]) -> SandboxResponse:
    """A copy of ``response`` with more headers (the dataclass is frozen so saved answers stay intact)."""
    return replace(response, headers={**response.headers, **extra})


def append_query(url: str, extra: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode(extra)}" if parts.query else urlencode(extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def three_ds_page_html(payment_id: str, amount_text: str) -> str:
    """The simulated issuer page: two buttons that post the outcome back to the same URL."""
    pid = html.escape(payment_id)
    amount = html.escape(amount_text)
    forms = "".join(
        f"<form method='post' action='/3ds/{pid}'><input type='hidden' name='outcome' value='{outcome}'>"
        f"<button type='submit'>{label}</button></form>"
        for outcome, label in (("complete", "Complete authentication"), ("fail", "Fail authentication"))
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>3D Secure test page</title></head><body>"
        f"<h1>3D Secure test page</h1><p>Payment {pid} of {amount} (minor units) needs authentication.</p>"
        f"{forms}</body></html>"
    )
