"""The runtime's part of the conformance kit (connectors/kit/testing): each connector's sandbox, in
process, through the simulators' own `handle`, and the masking engine's rules as the runtime applies them."""

from __future__ import annotations

from urllib.parse import urlsplit

from connectors.adyen.sandbox import AdyenCodec
from connectors.checkout.sandbox import CheckoutCodec
from connectors.kit.connector import GatewayRequest, GatewayResponse
from connectors.kit.masking import Sensitivity
from connectors.kit.testing import ConformanceSuite, SandboxDriver
from connectors.paypal.sandbox import PayPalCodec
from connectors.stripe.sandbox import StripeCodec
from sidecar.masking import MASK, Masker
from sidecar.sandbox import SANDBOX_ACCOUNTS, SimulatedGateway

SIMULATORS = {
    "stripe": lambda: SimulatedGateway(StripeCodec()),
    "adyen": lambda: SimulatedGateway(AdyenCodec()),
    "checkout": lambda: SimulatedGateway(CheckoutCodec()),
    "paypal": lambda: SimulatedGateway(PayPalCodec()),
}


def in_process(name: str, base_path: str) -> SandboxDriver:
    """A fresh sandbox of the gateway, called without sockets; the connector's base URL keeps its path."""
    simulator = SIMULATORS[name]()
    origin = "http://sandbox.invalid"

    def send(request: GatewayRequest) -> GatewayResponse:
        url = urlsplit(request.url)
        answer = simulator.handle(request.method, url.path, url.query, request.headers, request.body or b"")
        return GatewayResponse(answer.status, {"content-type": answer.content_type, **answer.headers}, answer.body)

    return SandboxDriver(origin + base_path, SANDBOX_ACCOUNTS[name], send)


class SidecarConformance(ConformanceSuite):
    def sandbox(self) -> SandboxDriver:
        c = self.connector
        driver = in_process(c.name, urlsplit(c.default_base_url).path.rstrip("/"))
        driver.credentials = c.Credentials.model_validate(driver.credentials)
        return driver

    def masking_rule(self, name: str) -> Sensitivity | None:
        return Masker(self.connector.sensitive_fields, self.connector.secret_headers).rule(name)

    def masks_header(self, name: str) -> bool:
        masked = Masker(self.connector.sensitive_fields, self.connector.secret_headers).headers([(name, "value")])
        return masked[name] == MASK
