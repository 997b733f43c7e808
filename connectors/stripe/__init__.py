"""Stripe: PaymentIntents and Refunds (https://docs.stripe.com/api). Registered as the `stripe`
entry point of `sidecar.connectors`."""

from connectors.stripe.connector import Stripe

__all__ = ["Stripe"]
