"""The app's Idempotency-Key in each gateway's own limit (API.md v1.1, "Idempotency")."""

from __future__ import annotations

import base64
import hashlib

# Keys the sidecar derives or shortens start with this; an app's key that does too is hashed as well,
# so a key the app chose can never equal one the sidecar made from another.
_DERIVED = "sidecar-"


def gateway_key(key: str, limit: int, step: str = "") -> str:
    """The gateway's idempotency key for the app's `key` (1-255 printable ASCII): the key itself where it
    fits the gateway's `limit`, else a hash of it; for a `step` of a call that makes several (or a call
    the gateway must not confuse with another under the same key), a hash of both. Deterministic, so the
    app's retry with the same key reaches the gateway with the same key. `limit` is at least 51."""
    if not step and len(key) <= limit and not key.startswith(_DERIVED):
        return key
    # The app's key is printable ASCII: no newline, so (step, key) pairs hash apart.
    digest = hashlib.sha256(f"{step}\n{key}".encode()).digest()
    return _DERIVED + base64.urlsafe_b64encode(digest).decode().rstrip("=")  # 51 characters
