"""Metadata an app attaches to a payment, checked against one gateway's limits before any call.

The sidecar's own keys (the payment's reference, a customer id the gateway has no field for) live in
the same metadata: they count in the limits, and they carry a prefix no app key may use, so an app's
`reference` key is the app's and is never overwritten.

Pure: the standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

SIDECAR_PREFIX = "sidecar_"


class MetadataError(ValueError):
    """Metadata the gateway would refuse; the message names the rule, never a key or value."""


@dataclass(frozen=True, slots=True)
class MetadataLimits:
    gateway: str
    max_pairs: int
    max_key_length: int
    max_value_length: int
    forbidden_key_chars: str = ""

    def merge(self, app: Mapping[str, str] | None, own: Mapping[str, str]) -> dict[str, str]:
        """The app's metadata with the sidecar's own keys added, or MetadataError naming the rule broken."""
        app = app or {}
        if any(key.startswith(SIDECAR_PREFIX) for key in app):
            raise MetadataError(f"metadata keys starting with {SIDECAR_PREFIX!r} are the sidecar's own")
        merged = {**app, **own}
        if len(merged) > self.max_pairs:
            extra = f", {len(own)} of them the sidecar's own" if own else ""
            raise MetadataError(
                f"{self.gateway} takes at most {self.max_pairs} metadata keys; this payment would have "
                f"{len(merged)}{extra}"
            )
        if any(len(key) > self.max_key_length for key in merged):
            raise MetadataError(f"{self.gateway} takes metadata keys of at most {self.max_key_length} characters")
        if self.forbidden_key_chars and any(ch in key for key in merged for ch in self.forbidden_key_chars):
            shown = " or ".join(self.forbidden_key_chars)
            raise MetadataError(f"{self.gateway} takes no {shown} in metadata keys")
        if any(len(value) > self.max_value_length for value in merged.values()):
            raise MetadataError(f"{self.gateway} takes metadata values of at most {self.max_value_length} characters")
        return merged
