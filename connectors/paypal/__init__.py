"""PayPal: Orders v2 and Payments v2 with OAuth 2.0 tokens (connector.py), its status and decline tables
(codes.py), webhooks verified by PayPal's own API (webhooks.py) and its sandbox codec (sandbox.py)."""

from connectors.paypal.connector import PayPal

__all__ = ["PayPal"]
