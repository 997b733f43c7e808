"""Stripe through the conformance kit (connectors/kit/testing), on its in-process sandbox."""

from conformance import SidecarConformance

from connectors.stripe import Stripe


class TestStripe(SidecarConformance):
    connector = Stripe
