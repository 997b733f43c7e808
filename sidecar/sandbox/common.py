"""What the sandbox runtime keeps beside the engine: bounded state, request fingerprints, card
fingerprints, where the sandbox is reachable. The wire pieces codecs share are in
``connectors.kit.sandbox_wire``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

from connectors.kit.sandbox_wire import ALNUM

__all__ = [
    "DEFAULT_MAX_OBJECTS",
    "BoundedStore",
    "canonical_fingerprint",
    "card_fingerprint",
    "lower_headers",
    "origin",
]

# One simulator keeps at most this many objects of each kind; the oldest are forgotten first so
# a long-running sandbox cannot grow without bound.
DEFAULT_MAX_OBJECTS = 100_000


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

    def newest_first(self) -> Iterator[V]:
        """The values, the last put first (an update keeps its place)."""
        return reversed(self._items.values())

    def put(self, key: K, value: V) -> None:
        if key in self._items:
            self._items[key] = value
            return
        self._items[key] = value
        while len(self._items) > self._max_size:
            self._items.popitem(last=False)


# A per-process secret so fingerprints are stable within a run but say nothing about the number.
_FINGERPRINT_KEY = secrets.token_bytes(32)


def card_fingerprint(number: str) -> str:
    digest = hmac.new(_FINGERPRINT_KEY, number.encode(), hashlib.sha256).digest()
    return "".join(ALNUM[b % len(ALNUM)] for b in digest[:16])


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


def canonical_fingerprint(*parts: Any) -> str:
    """A digest of request parts that ignores key order, to compare idempotent retries. Keyed like card
    fingerprints: the parts may hold a card number and CVC (a Stripe PaymentMethod's parameters)."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hmac.new(_FINGERPRINT_KEY, blob.encode(), hashlib.sha256).hexdigest()
