from conformance import SidecarConformance

from connectors.paypal import PayPal


class TestPayPal(SidecarConformance):
    connector = PayPal
