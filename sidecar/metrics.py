"""Prometheus metrics, in a registry of their own (served at GET /metrics).

Label values come from fixed sets (configured connector names, route operations, error types), never
from raw request input, so an app cannot blow up their cardinality."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

disable_created_metrics()  # the *_created series only double what a scraper already knows
REGISTRY = CollectorRegistry(auto_describe=True)

CALLS = Counter(
    "sidecar_calls",
    "Canonical calls answered, by connector, operation and outcome (ok or an API error type).",
    ["connector", "operation", "outcome"],
    registry=REGISTRY,
)
ERRORS = Counter(
    "sidecar_errors",
    "Errors returned to apps, by API error type and connector.",
    ["type", "connector"],
    registry=REGISTRY,
)
GATEWAY_CALLS = Counter(
    "sidecar_gateway_calls",
    "Calls to gateways, by connector, operation and outcome (success, client_error, server_error, not_sent, unknown).",
    ["connector", "operation", "outcome"],
    registry=REGISTRY,
)
GATEWAY_LATENCY = Histogram(
    "sidecar_gateway_latency_seconds",
    "Time from sending a gateway call to having its whole answer (or the fault).",
    ["connector", "operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
MASKING_CATCHES = Counter(
    "sidecar_masking_safety_net_catches",
    "Sensitive values the generic masking pass caught after the declared fields were masked, by kind and source. "
    "Non-zero for a connector means it forgot to declare a field.",
    ["kind", "source"],
    registry=REGISTRY,
)
FORWARD_REFUSED = Counter(
    "sidecar_forward_refused",
    "Forward-proxy connections and calls refused, by reason: destination (an address no connector sends to), "
    "not_tls (a CONNECT tunnel that does not start TLS), not_http (anything but HTTP where HTTP is due).",
    ["reason"],
    registry=REGISTRY,
)
UNMAPPED_DECLINES = Counter(
    "sidecar_unmapped_declines",
    "Declines whose gateway code is in none of the connector's tables (answered as card_declined or "
    "processing_error), by connector and the gateway's code. Non-zero means a table has a gap.",
    ["connector", "code"],
    registry=REGISTRY,
)
POOL_CONNECTIONS = Gauge(
    "sidecar_pool_open_connections",
    "Open connections in the outbound (gateway) client pools.",
    registry=REGISTRY,
)
AUDIT_PENDING = Gauge(
    "sidecar_audit_pending",
    "Masked log lines and flow copies of answered calls still to be written (sidecar/audit.py); "
    "calls wait for room at its bound.",
    registry=REGISTRY,
)

CLIENT_CONNECTIONS = Gauge(
    "sidecar_client_connections",
    "Open client connections to the canonical, forward-proxy and ops listeners.",
    registry=REGISTRY,
)
CLIENT_CONNECTIONS_REFUSED = Counter(
    "sidecar_client_connections_refused",
    "Client connections closed at once because their listeners' cap was reached: app (client_connections.max_open, "
    "the canonical and forward-proxy listeners) or ops (ops.max_open).",
    ["listeners"],
    registry=REGISTRY,
)
CLIENT_CONNECTIONS_TIMED_OUT = Counter(
    "sidecar_client_connections_timed_out",
    "Client connections closed by a timeout: header (no request head in time) or idle (kept alive, unused).",
    ["timeout"],
    registry=REGISTRY,
)

WEBHOOKS_RECEIVED = Counter(
    "sidecar_webhooks_received",
    "Gateways' webhook requests received, by connector (`-`: a path naming no configured connector).",
    ["connector"],
    registry=REGISTRY,
)
WEBHOOKS_VERIFIED = Counter(
    "sidecar_webhooks_verified",
    "Webhook requests whose signatures verified (a whole batch), by connector.",
    ["connector"],
    registry=REGISTRY,
)
WEBHOOKS_REFUSED = Counter(
    "sidecar_webhooks_refused",
    "Webhook requests refused, nothing delivered, by connector and reason: unsigned, bad_signature, stale, "
    "basic_auth, not_configured, malformed.",
    ["connector", "reason"],
    registry=REGISTRY,
)
WEBHOOK_EVENTS = Counter(
    "sidecar_webhook_events",
    "Verified events, by connector and canonical type (`unknown`: a gateway event type no table has).",
    ["connector", "type"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "sidecar_webhook_deliveries",
    "Events POSTed to the app, by connector and outcome: delivered (2xx), app_error (another status), "
    "timeout (no answer within deliver_timeout), unreachable (no connection, or it broke).",
    ["connector", "outcome"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERY_LATENCY = Histogram(
    "sidecar_webhook_delivery_latency_seconds",
    "Time from POSTing an event to the app to its whole answer (or the fault).",
    ["connector"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


@functools.cache
def labelled(metric: Any, *values: str) -> Any:
    """`metric.labels(*values)`, looked up in a dict after the first time: `labels` checks and
    converts the values and takes a lock on every call, which per call was three times the update.
    As bounded as the labels themselves (fixed sets, see above)."""
    return metric.labels(*values)


def catch_counter(source: str) -> Callable[[str], None]:
    """The masking safety net's `on_catch` for one source (a connector name, or `log`, `canonical`)."""
    return lambda kind: MASKING_CATCHES.labels(kind, source).inc()


# A gateway's code becomes a label: only a short plain token, so that an odd answer cannot flood the registry.
_CODE_LABEL = re.compile(r"[A-Za-z0-9_.-]{1,40}")


def unmapped_decline(connector: str, code: str) -> None:
    UNMAPPED_DECLINES.labels(connector, code if _CODE_LABEL.fullmatch(code) else "other").inc()


def render() -> bytes:
    return generate_latest(REGISTRY)
