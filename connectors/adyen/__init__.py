"""Adyen Checkout v71 (https://docs.adyen.com/api-explorer/Checkout/71). Registered as the `adyen`
entry point of `sidecar.connectors`."""

from connectors.adyen.connector import Adyen

__all__ = ["Adyen"]
