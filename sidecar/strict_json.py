"""JSON with one meaning: a key twice in one object is refused, where orjson, pydantic and the standard
library all keep the last one (`{"minor": 1000, "minor": 99999}` would authorize 999.99).

The standard library's C scanner with an `object_pairs_hook` finds them in one more parse of a body
that already validated: about 7 us for a 650-byte payment body, as much as pydantic's validation of it
(`bench/duplicate_keys.py`), against a sidecar call's overhead of about a millisecond.
"""

from __future__ import annotations

import json
from typing import Any


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key[:40]!r} appears twice in one object")
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return obj


_decoder = json.JSONDecoder(object_pairs_hook=_unique)


def loads_unique(data: str | bytes) -> Any:
    """`json.loads` that raises DuplicateKey for a key repeated in any object, at any depth."""
    return _decoder.decode(data.decode() if isinstance(data, bytes) else data)
