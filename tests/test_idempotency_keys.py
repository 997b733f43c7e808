"""The mapping of an app's Idempotency-Key into a gateway's limit (API.md v1.1): deterministic, within
the limit, and never the same gateway key for two different (key, step) pairs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from connectors.kit.idempotency import gateway_key

keys = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=255)
steps = st.sampled_from(["", "payment_method", "capture", "cancel", "refund"])
limits = st.sampled_from([64, 255])  # Adyen's and Stripe's


@given(key=keys, step=steps, limit=limits)
def test_a_key_maps_the_same_way_every_time_and_fits(key, step, limit) -> None:
    mapped = gateway_key(key, limit, step)
    assert mapped == gateway_key(key, limit, step)
    assert 1 <= len(mapped) <= limit and mapped.isascii() and mapped.isprintable()
    if not step and len(key) <= limit and not key.startswith("sidecar-"):
        assert mapped == key  # readable at the gateway wherever it can be


@given(a=st.tuples(keys, steps), b=st.tuples(keys, steps), limit=limits)
def test_different_keys_or_steps_never_meet(a, b, limit) -> None:
    if a != b:
        assert gateway_key(a[0], limit, a[1]) != gateway_key(b[0], limit, b[1])


def test_an_app_key_cannot_pose_as_a_derived_one() -> None:
    derived = gateway_key("order-1", 255, "payment_method")
    # The app sending the derived form itself gets a key of its own, not the derived call's.
    assert gateway_key(derived, 255) != derived
    long_key = "k" * 200
    assert gateway_key(long_key, 64) != gateway_key(gateway_key(long_key, 64), 64)
