"""What a connector declares for the conformance kit (`connectors.kit.testing`): the facts about its
gateway that its code cannot show by itself. Plain data, so declaring them costs a connector nothing at
run time; only the kit, a test-time extra, reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_NONE: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class ApiSpec:
    """The gateway's official API description, in the folder of specs beside the repository
    (`../shared/specs/`, never copied into the project), and the part of it the connector speaks.

    Every request the connector builds is routed by its method and its path (relative to the base URL)
    to one operation of the spec, which must be one of `operations`, and validated against that
    operation's parameters and request body, in the body's own encoding (JSON, or form-encoded with
    bracket keys). OpenAPI 3.0 and 3.1 are understood.
    """

    file: str  # the file's name in the specs folder
    operations: frozenset[str]  # the spec's operationIds the connector calls (in any of `files`)
    # operationId -> the schema (under components/schemas) to check its body against instead of the
    # operation's own: where the body is a choice the kit cannot make (Checkout.com's oneOf of a payment
    # and a payout, told apart by a discriminator jsonschema ignores).
    schemas: Mapping[str, str] = field(default=_NONE)
    # Reject keys a nested object does not list. Stripe's spec closes only each body's top level, yet
    # Stripe refuses unknown nested keys too ("Received unknown parameter: card[foo]").
    closed_objects: bool = False
    # Request fields whose names look secret but are not, each with the reason (a price's `lookup_key`
    # is the merchant's own label). Every other secret-looking field in the spec's request schemas must
    # be masked by the connector's `sensitive_fields` or the masking engine's own rules.
    not_secret: Mapping[str, str] = field(default=_NONE)
    # More files of the same API, where the gateway publishes it in parts (PayPal: Orders, and Payments for
    # authorizations, captures and refunds): each request is checked against the file that has its path.
    also: tuple[str, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        return (self.file, *self.also)


@dataclass(frozen=True)
class Conformance:
    """A connector's declarations for the conformance kit."""

    spec: ApiSpec | None  # None only for a gateway that publishes no API description
    # A test card the gateway's sandbox asks 3-D Secure for; None: the canonical `three_ds: true` asks.
    three_ds_card: str | None = None
    # Whether the gateway can read a payment and a refund back (sync, refund_sync). A gateway without
    # (Adyen's Checkout API) answers both 501 unsupported_operation and sends nothing.
    lookups: bool = True
