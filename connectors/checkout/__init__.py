"""Checkout.com: the Payments API of current ("NAS") accounts (https://api-reference.checkout.com). Registered as
the `checkout` entry point of `sidecar.connectors`."""

from connectors.checkout.connector import Checkout

__all__ = ["Checkout"]
