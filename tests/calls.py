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


def flow_labels(flow: dict) -> dict[str, str]:
    """A mitmweb flow's labels, from its comment (sidecar/flows.py): connector, operation, outcome,
    request, and call ("app" or "gateway")."""
    words = flow["comment"].split()
    return {**dict(word.split("=", 1) for word in words[:4]), "call": words[4]}


def post(client: httpx.Client, connector: str, path: str, body: dict | None = None, **headers: str) -> httpx.Response:
    return client.post(path, json=body if body is not None else {}, headers={"X-Connector": connector, **headers})
