from __future__ import annotations

import json

import pytest

from sidecar.models import PaymentRequest


@pytest.fixture
def sample_payment_request() -> PaymentRequest:
    return PaymentRequest.model_validate_json(json.dumps({
        "reference": "order-1",
        "amount": {"minor": 1000, "currency": "USD"},
        "capture": "manual",
        "payment_method": {"type": "card", "card": {"number": "4242424242424242", "exp_month": 12,
                                                     "exp_year": 2030, "cvc": "123"}},
    }))
