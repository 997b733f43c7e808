"""Webhooks in the kit: what a connector's verification gets from the runtime and gives back, and the
signing every gateway scheme is built from (API.md v1.1, "Webhooks"; DESIGN.md, "How a webhook travels").

A connector verifies a gateway's webhook by that gateway's own documented scheme and translates each
event into a canonical `WebhookEvent`; the runtime tries each configured account, masks the payload,
delivers the events and answers the gateway. Refusals are `WebhookRefused` with a reason the runtime
counts. Comparisons of secrets and signatures are constant-time (`same`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import BeforeValidator, SecretStr

from connectors.kit.errors import ErrorType, SidecarError
from connectors.kit.models import Money
from connectors.kit.money import GatewayCurrencies, MoneyError


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A gateway's webhook as it arrived: the body unchanged, header names lower case."""

    headers: Mapping[str, str]
    body: bytes
    now: float  # the runtime's clock (Unix seconds): connectors have none, and some gateways sign a time


class RefusalReason(StrEnum):
    """Why a webhook was refused: the label of the refusal counter. In this order, the one that says most
    about a webhook that every account refused."""

    MALFORMED = "malformed"  # not the gateway's webhook body at all (400)
    UNSIGNED = "unsigned"  # no signature at all
    STALE = "stale"  # a good signature over a time outside the gateway's tolerance
    BASIC_AUTH = "basic_auth"  # the endpoint's own credentials missing or wrong (Adyen)
    BAD_SIGNATURE = "bad_signature"  # a signature that no secret gives
    NOT_CONFIGURED = "not_configured"  # the account has no webhook secret


class WebhookRefused(SidecarError):
    """A webhook not taken: 401 `webhook_unverified`, or 400 for a body that is no webhook of the gateway.
    The message never quotes a signature or a secret."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        kind = ErrorType.INVALID_REQUEST if reason is RefusalReason.MALFORMED else ErrorType.WEBHOOK_UNVERIFIED
        super().__init__(kind, message)
        self.reason = reason


def most_telling(refusals: Iterable[WebhookRefused]) -> WebhookRefused:
    """Of the refusals of every account tried, the one to answer with (the first in `RefusalReason`'s order)."""
    order = list(RefusalReason)
    return min(refusals, key=lambda r: order.index(r.reason))


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """What the gateway's webhook endpoint answers once every event was delivered."""

    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class WebhookMessage:
    """A webhook as a gateway sends it (the sandboxes make these): the body and the headers that sign it."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, (str, SecretStr)) else value


# A secret, or a list of them while one is being rotated out: every one of them is accepted.
Secrets = Annotated[tuple[SecretStr, ...], BeforeValidator(_one_or_many)]


def json_event(body: bytes, type_field: str, what: str) -> dict[str, Any]:
    """A webhook body that is one JSON object with a string `id` and a string `type_field`; anything
    else is refused as malformed, `what` saying what it should have been ("a Stripe event")."""
    try:
        event = orjson.loads(body)
    except orjson.JSONDecodeError:
        event = None
    if not (isinstance(event, dict) and isinstance(event.get("id"), str) and isinstance(event.get(type_field), str)):
        raise WebhookRefused(RefusalReason.MALFORMED, f"the body is not {what}")
    return event


def same(a: str | bytes, b: str | bytes) -> bool:
    """Constant-time equality of two signatures or secrets, text compared as UTF-8 (a header's bytes that are
    not, kept by the HTTP layer as surrogates, compare as what they were)."""
    return hmac.compare_digest(_bytes(a), _bytes(b))


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


# -- the timestamped scheme: Stripe-Signature, and the sidecar's own X-Sidecar-Signature -----------------


def timestamped_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Lower-case hex HMAC-SHA256 keyed with the secret's UTF-8 bytes over `<timestamp>.<body>`."""
    return hmac.new(secret.encode(), b"%d.%s" % (timestamp, body), hashlib.sha256).hexdigest()


def signature_header(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    """`t=<timestamp>,v1=<hex>[,v1=<hex>...]`, one `v1` per secret, so that a receiver holding any of
    them (the old or the new while one is rotated) can verify."""
    return ",".join([f"t={timestamp}", *(f"v1={timestamped_signature(s, timestamp, body)}" for s in secrets)])


def parse_signature_header(value: str) -> tuple[int, list[str]]:
    """The timestamp and the `v1` signatures of a `t=...,v1=...` header; ValueError when it has no
    integer `t`. Items of other schemes (`v0`) are ignored, as gateways add them."""
    timestamp, signatures = None, []
    for item in value.split(","):
        key, sep, text = item.strip().partition("=")
        if not sep:
            continue
        if key == "t" and timestamp is None:
            timestamp = int(text)
        elif key == "v1":
            signatures.append(text)
    if timestamp is None:
        raise ValueError("no timestamp")
    return timestamp, signatures


def amount_of(currencies: GatewayCurrencies, value: Any, currency: Any) -> Money | None:
    """An event's amount in ISO minor units, or None where it is not money the gateway's table knows:
    an event is delivered whatever its amount, never dropped for it."""
    if not isinstance(value, int) or isinstance(value, bool) or not isinstance(currency, str):
        return None
    try:
        return Money(minor=currencies.from_gateway(value, currency.upper()), currency=currency.upper())
    except (MoneyError, ValueError):
        return None
