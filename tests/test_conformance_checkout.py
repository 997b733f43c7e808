"""The conformance kit on Checkout.com's connector and its sandbox (connectors/kit/testing)."""

from conformance import SidecarConformance

from connectors.checkout import Checkout


class TestCheckout(SidecarConformance):
    connector = Checkout
