"""What the duplicate-key check (sidecar/strict_json.py) costs per canonical call, beside what parsing
and validating the same body cost anyway: `uv run python bench/duplicate_keys.py`."""

from __future__ import annotations

import json
import timeit

import orjson

from connectors.kit.models import PaymentRequest
from sidecar.strict_json import loads_unique

BODY = json.dumps(
    {
        "reference": "order-1001",
        "amount": {"minor": 1000, "currency": "USD"},
        "capture": "manual",
        "payment_method": {
            "type": "card",
            "card": {
                "number": "4242424242424242",
                "exp_month": 12,
                "exp_year": 2030,
                "cvc": "123",
                "holder_name": "Jo Doe",
            },
        },
        "customer": {"id": "c-1", "email": "jo@example.com", "name": "Jo Doe", "phone": "+14155550123"},
        "billing_address": {"line1": "1 Main St", "line2": "4", "city": "SF", "postal_code": "94105", "country": "US"},
        "description": "two books",
        "metadata": {f"key{i}": "value" for i in range(10)},
    }
).encode()


def per_call_us(fn, number: int = 20_000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def main() -> None:
    print(f"payment body: {len(BODY)} bytes")
    for name, fn in [
        ("duplicate-key check (loads_unique)", lambda: loads_unique(BODY)),
        ("pydantic model_validate_json", lambda: PaymentRequest.model_validate_json(BODY)),
        ("orjson.loads, for scale", lambda: orjson.loads(BODY)),
    ]:
        print(f"{name:36} {per_call_us(fn):6.2f} us/call")


if __name__ == "__main__":
    main()
