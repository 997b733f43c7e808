"""The connector registry: every gateway the sidecar can speak, by the name apps use in X-Connector."""

from connectors.adyen import Adyen
from connectors.base import CallContext, Connector, Exchange, GatewayRequest, GatewayResponse, PublicApi
from connectors.stripe import Stripe

REGISTRY: dict[str, type[Connector]] = {c.name: c for c in (Stripe, Adyen)}

__all__ = ["REGISTRY", "CallContext", "Connector", "Exchange", "GatewayRequest", "GatewayResponse", "PublicApi"]
