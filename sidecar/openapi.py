"""OpenAPI 3.1 for the canonical API, generated from the route table and the pydantic models, so the
published contract cannot drift from what the code validates."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from connectors.kit.errors import HTTP_STATUS, ErrorType
from connectors.kit.models import ErrorBody, Health, WebhookEvent
from sidecar.api import ROUTES

REF = "#/components/schemas/{model}"

HEADERS: list[dict[str, Any]] = [
    {
        "name": "X-Connector",
        "in": "header",
        "schema": {"type": "string"},
        "description": "Connector name, e.g. stripe or adyen. Required unless a default connector is configured.",
    },
    {
        "name": "X-Connector-Account",
        "in": "header",
        "schema": {"type": "string", "default": "default"},
        "description": "Which configured credential set of the connector to use.",
    },
    {
        "name": "X-Connector-Auth",
        "in": "header",
        "schema": {"type": "string"},
        "description": "Per-request credentials as a JSON object; 403 unless the config allows them. Never logged.",
    },
    {
        "name": "Idempotency-Key",
        "in": "header",
        "schema": {"type": "string", "maxLength": 255},
        "description": "Passed to the gateway in its native form; "
        "a retry with the same key and body returns the first result.",
    },
    {
        "name": "X-Request-Id",
        "in": "header",
        "schema": {"type": "string", "maxLength": 128},
        "description": "Echoed back; generated when absent; in every log line of the call.",
    },
]

ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,255}$"},
    "description": "The gateway's id as returned in `id`, in that gateway's own id charset "
    "(Stripe `pi_...` and `re_...`, Adyen 16 letters and digits); any other id is 400 before any gateway call.",
}

ERROR_STATUSES = sorted({HTTP_STATUS[t] for t in ErrorType})


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


def _webhook_paths() -> dict[str, Any]:
    """The gateways' side: their own bodies in, their own success answers out (API.md v1.1, "Webhooks")."""
    connector = {
        "name": "connector",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "The connector whose gateway sends the webhook (stripe, adyen).",
    }
    account = {
        "name": "account",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "Verify with this account's secret only; without it every account is tried.",
    }
    paths = {}
    for path, parameters in (
        ("/v1/webhooks/{connector}", [connector]),
        ("/v1/webhooks/{connector}/{account}", [connector, account]),
    ):
        paths[path] = {
            "post": {
                "operationId": "webhook" if len(parameters) == 1 else "webhook_for_account",
                "summary": "Verify a gateway's webhook, translate its events and deliver them to `webhooks.deliver_to`",
                "description": "Served on the webhook listener and, for local use, on the canonical one. The "
                "gateway's success answer (Adyen `[accepted]`) comes only once the app answered 2xx to every "
                'event; without a `webhooks` section the answer is `{"events": [WebhookEvent...]}`.',
                "parameters": parameters,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"description": "The gateway's own body, unchanged."}}},
                },
                "responses": {
                    "200": {"description": "Every event verified and delivered; the gateway's own success answer."},
                    "400": {"$ref": "#/components/responses/Error"},
                    "401": {"$ref": "#/components/responses/Error"},
                    "404": {"$ref": "#/components/responses/Error"},
                    "413": {"$ref": "#/components/responses/Error"},
                    "503": {"$ref": "#/components/responses/Error"},
                },
            }
        }
    return paths


# What the sidecar POSTs to `webhooks.deliver_to`: OpenAPI 3.1's own place for calls the API makes.
DELIVERY = {
    "post": {
        "operationId": "deliver_webhook_event",
        "summary": "One verified gateway event, POSTed to `webhooks.deliver_to`",
        "parameters": [
            {
                "name": "X-Sidecar-Signature",
                "in": "header",
                "required": True,
                "schema": {"type": "string"},
                "description": '`t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`, one `v1` per '
                "`webhooks.signing_secret`.",
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model="WebhookEvent")}}},
        },
        "responses": {"200": {"description": "Any 2xx within `deliver_timeout`: taken. Anything else: sent again."}},
    }
}


def build() -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorBody, Health, WebhookEvent}
    for route in ROUTES:
        models.add(route.response)
        if route.body:
            models.add(route.body)
    _, schema = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        op: dict[str, Any] = {
            "operationId": route.operation,
            "summary": route.summary,
            "parameters": ([ID_PARAM] if "{id}" in route.path else []) + HEADERS,
            "responses": {
                "200": _json(
                    route.response, f"The gateway answered: a {route.response.__name__}, approved or declined."
                ),
                **{str(s): {"$ref": "#/components/responses/Error"} for s in ERROR_STATUSES},
            },
        }
        if route.body:
            op["requestBody"] = {
                "required": route.body.__name__ == "PaymentRequest",
                "content": {"application/json": {"schema": {"$ref": REF.format(model=route.body.__name__)}}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = op
    for path, what in (("/healthz", "Liveness"), ("/readyz", "Readiness: config loaded, listeners up")):
        paths[path] = {
            "get": {
                "operationId": path.strip("/"),
                "summary": what,
                "responses": {"200": _json(Health, what), "503": _json(Health, "Not ready")},
            }
        }
    paths.update(_webhook_paths())
    paths["/openapi.json"] = {
        "get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": {
                "200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": {"type": "object"}}}}
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Payment sidecar canonical API",
            "version": "1",
            "description": "Canonical payment calls, translated to each gateway by its connector.",
        },
        "paths": paths,
        "webhooks": {"webhookEvent": DELIVERY},
        "components": {
            "schemas": schema["$defs"],
            "responses": {"Error": _json(ErrorBody, "An error of one of the documented types (see `error.type`).")},
        },
    }


@cache
def document() -> bytes:
    return json.dumps(build(), separators=(",", ":")).encode()
