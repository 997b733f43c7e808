"""Adyen through the conformance kit (connectors/kit/testing), on its in-process sandbox."""

import pytest
from conformance import SidecarConformance

from connectors.adyen import Adyen


class TestAdyen(SidecarConformance):
    connector = Adyen

    @pytest.mark.xfail(
        strict=True,
        reason="the Adyen simulator approves every Luhn-valid Visa; its codec on the sandbox engine (issue 13, "
        "item 4) declines 4000000000000002 as every sandbox must: then this override goes",
    )
    def test_the_shared_declining_card_is_a_decline(self) -> None:
        super().test_the_shared_declining_card_is_a_decline()
