"""Built-in local simulators of the Stripe API, Adyen's Checkout API v71, Checkout.com's Payments API and
PayPal's REST API: "the sandbox".

They let the sidecar run with no credentials and no network: each behaves like its gateway on the
wire for the calls the sidecar makes, keeps in-memory state so authorize -> capture -> refund ->
sync flows work, and refuses what the gateway would refuse with the gateway's own error body and
HTTP status. Each is a :class:`SimulatedGateway`: its gateway's codec (``connectors/<gateway>/sandbox.py``,
where the documented test rules are) over the shared engine (``engine.py``).

:func:`start_sandbox` serves them over HTTP with aiohttp inside a running event loop, and
``python -m sidecar.sandbox.server`` runs them standalone.
"""

from typing import TYPE_CHECKING, Any

from connectors.adyen.sandbox import ADYEN_SANDBOX_KEY, ADYEN_SANDBOX_MERCHANT, AdyenCodec
from connectors.checkout.sandbox import CHECKOUT_SANDBOX_KEY, CheckoutCodec
from connectors.kit.sandbox import SandboxResponse
from connectors.paypal.sandbox import (
    PAYPAL_SANDBOX_CLIENT_ID,
    PAYPAL_SANDBOX_SECRET,
    PAYPAL_SANDBOX_WEBHOOK_ID,
    PayPalCodec,
)
from connectors.stripe.sandbox import STRIPE_SANDBOX_KEY, StripeCodec

from .gateway import SimulatedGateway

if TYPE_CHECKING:
    from .server import Sandbox, start_sandbox

__all__ = [
    "SANDBOX_RETURN_URL",
    "SANDBOX_ACCOUNTS",
    "ADYEN_SANDBOX_KEY",
    "ADYEN_SANDBOX_MERCHANT",
    "CHECKOUT_SANDBOX_KEY",
    "STRIPE_SANDBOX_KEY",
    "AdyenCodec",
    "CheckoutCodec",
    "PayPalCodec",
    "Sandbox",
    "SandboxResponse",
    "SimulatedGateway",
    "StripeCodec",
    "start_sandbox",
]


SANDBOX_RETURN_URL = "https://shop.example/return"


# The sandbox accounts' webhook secrets: the sandbox signs its webhooks with them, the sidecar's sandbox
# accounts verify with them.
STRIPE_SANDBOX_WEBHOOK_SECRET = "whsec_sidecarSandboxWebhookSecret0001"
ADYEN_SANDBOX_HMAC_KEY = "5a1dec0ffee0b5e55ed5a1dbadc0ffee0ddba11f00d5eed1dea5a1dec0ffee01"
CHECKOUT_SANDBOX_WEBHOOK_SECRET = "sidecar-sandbox-checkout-signature-key"

# The account the sidecar uses for each connector that runs on the sandbox, its webhook secret with it;
# a connector not named here (a plug-in's) has no simulator and runs only with accounts of its own.
SANDBOX_ACCOUNTS: dict[str, dict[str, str]] = {
    "stripe": {"api_key": STRIPE_SANDBOX_KEY, "webhook_secret": STRIPE_SANDBOX_WEBHOOK_SECRET},
    "adyen": {
        "api_key": ADYEN_SANDBOX_KEY,
        "merchant_account": ADYEN_SANDBOX_MERCHANT,
        "return_url": SANDBOX_RETURN_URL,
        "hmac_key": ADYEN_SANDBOX_HMAC_KEY,
    },
    "checkout": {
        "secret_key": CHECKOUT_SANDBOX_KEY,
        "billing_descriptor_city": "Sandbox City",
        "webhook_secret": CHECKOUT_SANDBOX_WEBHOOK_SECRET,
    },
    "paypal": {
        "client_id": PAYPAL_SANDBOX_CLIENT_ID,
        "client_secret": PAYPAL_SANDBOX_SECRET,
        "webhook_id": PAYPAL_SANDBOX_WEBHOOK_ID,
    },
}


def __getattr__(name: str) -> Any:
    # The server is imported on first use: ``python -m sidecar.sandbox.server`` must not find it
    # already imported, and callers that only need the simulators do not pay for aiohttp.
    if name in ("Sandbox", "start_sandbox"):
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
