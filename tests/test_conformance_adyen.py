"""Adyen through the conformance kit (connectors/kit/testing), on its in-process sandbox."""

from conformance import SidecarConformance

from connectors.adyen import Adyen


class TestAdyen(SidecarConformance):
    connector = Adyen
