"""Hypothesis strategies for canonical calls (the conformance kit's, connectors/kit/testing/strategies.py),
and helpers that run a connector's exchange on recorded gateway answers (no network: connectors are pure)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from connectors.kit.connector import CallContext, Exchange, GatewayRequest, GatewayResponse
from connectors.kit.testing import drive
from connectors.kit.testing.strategies import (
    captures,
    card_numbers,
    gateway_ids,
    idempotency_keys,
    money,
    payment_requests,
    payment_requests_with,
    refunds,
    voids,
    whole_addresses,
)

__all__ = [
    "captures",
    "card_numbers",
    "context",
    "drive",
    "gateway_ids",
    "idempotency_keys",
    "json_response",
    "money",
    "payment_requests",
    "payment_requests_with",
    "refunds",
    "requests_of",
    "voids",
    "whole_addresses",
]


def json_response(status: int, body: Any) -> GatewayResponse:
    return GatewayResponse(status, {"content-type": "application/json"}, json.dumps(body).encode())


def requests_of(exchange: Exchange[Any], answers: Iterable[GatewayResponse]) -> list[GatewayRequest]:
    it = iter(answers)
    _, sent = drive(exchange, lambda _req: next(it))
    return sent


def context(credentials: Any, base_url: str, key: str | None = None) -> CallContext:
    return CallContext(base_url=base_url, credentials=credentials, request_id="req-test", idempotency_key=key)
