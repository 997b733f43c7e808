"""TinyPay, the connector of a package of its own (tests/plugins/tinypay), through the conformance kit on
its sandbox codec (tests/tinypay_codec.py) over the sandbox engine: a gateway the kit was not written
from, with no official spec, passes the same lifecycle, secret and money checks."""

from conformance import SidecarConformance
from sidecar_tinypay import TinyPay
from tinypay_codec import TinyPayCodec

from connectors.kit.connector import GatewayRequest, GatewayResponse
from connectors.kit.sandbox import SandboxPolicy
from connectors.kit.testing import SandboxDriver
from sidecar.sandbox.gateway import SimulatedGateway


def tinypay_sandbox() -> SandboxDriver:
    """In process; captures and refunds settle within the call (the codec's default waits two seconds)."""
    gateway = SimulatedGateway(TinyPayCodec(SandboxPolicy()), "http://sandbox.invalid")

    def send(request: GatewayRequest) -> GatewayResponse:
        path, _, query = request.url.removeprefix(gateway.base_url).partition("?")
        answer = gateway.handle(request.method, path, query, request.headers, request.body or b"")
        return GatewayResponse(answer.status, {"content-type": answer.content_type, **answer.headers}, answer.body)

    return SandboxDriver(gateway.base_url, TinyPay.Credentials(api_key="tp_alpha"), send)


class TestTinyPay(SidecarConformance):
    connector = TinyPay

    def sandbox(self) -> SandboxDriver:
        return tinypay_sandbox()
