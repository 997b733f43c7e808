"""Canonical calls as an app makes them, shared by the end-to-end tests."""

from __future__ import annotations

import httpx

VISA = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"}


def payment(card: dict, capture: str = "manual", minor: int = 1000, currency: str = "USD", **extra) -> dict:
    return {
        "reference": "order-42",
        "amount": {"minor": minor, "currency": currency},
        "capture": capture,
        "payment_method": {"type": "card", "card": dict(card)},
        **extra,
    }


def post(client: httpx.Client, connector: str, path: str, body: dict | None = None, **headers: str) -> httpx.Response:
    return client.post(path, json=body if body is not None else {}, headers={"X-Connector": connector, **headers})
