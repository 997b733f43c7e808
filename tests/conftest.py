from __future__ import annotations

import json

import pytest
from harness import SidecarProcess

from connectors.kit.models import PaymentRequest


@pytest.fixture
def sample_payment_request() -> PaymentRequest:
    return PaymentRequest.model_validate_json(
        json.dumps(
            {
                "reference": "order-1",
                "amount": {"minor": 1000, "currency": "USD"},
                "capture": "manual",
                "payment_method": {
                    "type": "card",
                    "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
                },
            }
        )
    )


@pytest.fixture(scope="session")
def sandbox_sidecar(tmp_path_factory):
    """The real `sidecar run` with the default configuration: both connectors on the sandbox."""
    proc = SidecarProcess(tmp_path_factory.mktemp("sandbox"), {}).start()
    yield proc
    assert proc.stop() == 0, proc.output()[-3000:]


@pytest.fixture
def client(sandbox_sidecar):
    with sandbox_sidecar.client() as c:
        yield c
