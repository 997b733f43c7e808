"""Gateways' webhooks (API.md v1.1, "Webhooks") as plain request -> response, free of mitmproxy: the
webhook addon hands each one over and puts the answer back.

`POST /v1/webhooks/{connector}[/{account}]`: the connector verifies the webhook with each account in
turn (or the one the path names) until one verifies, and translates its events; a batch verifies
whole or not at all. Each event, its payload masked, is POSTed to the app (sidecar.delivery) in order;
the gateway gets its success answer only once the app answered 2xx to every one within
`deliver_timeout`, else 503, and the gateway's own retry is the queue: the sidecar keeps nothing.
Without a `webhooks` section there is no app to deliver to: the answer is the events themselves.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import orjson
import structlog
from pydantic import BaseModel

from connectors.kit.connector import CallContext, GatewayResponse
from connectors.kit.errors import ErrorType, SidecarError
from connectors.kit.models import WebhookEvent
from connectors.kit.webhooks import RefusalReason, WebhookRefused, WebhookRequest, most_telling
from sidecar import logs, metrics
from sidecar.api import ApiRequest, ApiResponse, CallLabels, MethodNotAllowed, error_response, request_id_of
from sidecar.audit import Audit
from sidecar.config import WebhookSettings
from sidecar.delivery import AppDelivery, Undelivered
from sidecar.dispatch import BoundConnector, Dispatcher
from sidecar.masking import Masker

log = structlog.get_logger("sidecar.webhooks")

PREFIX = "/v1/webhooks/"
_PATH = re.compile(r"/v1/webhooks/(?P<connector>[^/]{1,64})(?:/(?P<account>[^/]{1,64}))?")
OPERATION = "webhook"
_net = Masker()
# Refusals that no other account could lift: the body is no webhook, or it carries no signature at all.
_ANY_ACCOUNT = (RefusalReason.MALFORMED, RefusalReason.UNSIGNED)


class WebhookService:
    def __init__(
        self,
        dispatcher: Dispatcher,
        audit: Audit,
        settings: WebhookSettings | None,
        delivery: AppDelivery | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dispatcher = dispatcher
        self.audit = audit
        self.settings = settings
        self.delivery = delivery
        self.clock = clock
        self.in_flight = 0

    async def handle(self, req: ApiRequest) -> ApiResponse:
        request_id = request_id_of(req.headers.get("x-request-id"))
        started = time.perf_counter()
        connector, account, error, count = "-", None, None, 0
        self.in_flight += 1
        token = logs.bind(request_id=request_id, operation=OPERATION)
        try:
            try:
                match = _PATH.fullmatch(req.path.split("?", 1)[0])
                if match is None:
                    raise SidecarError(ErrorType.NOT_FOUND, "no such endpoint")
                if req.method != "POST":
                    raise MethodNotAllowed(["POST"])
                connector = self.dispatcher.known_name(match["connector"])
                metrics.WEBHOOKS_RECEIVED.labels(connector).inc()
                bound = self.dispatcher.bind(match["connector"])
                if len(req.body) > self.dispatcher.settings.max_body_bytes:
                    raise SidecarError(ErrorType.PAYLOAD_TOO_LARGE, "body over the configured limit")
                account, events = await self._verified(bound, req, match["account"], request_id)
                count = len(events)
                resp = await self._answer(bound, account, events, request_id)
            except WebhookRefused as e:
                metrics.WEBHOOKS_REFUSED.labels(connector, e.reason.value).inc()
                error = e
            except SidecarError as e:
                error = e
            except Exception:
                log.exception("internal error", path=_net.url(req.path))
                error = SidecarError(ErrorType.INTERNAL, "internal error; it has been logged")
            finally:
                self.in_flight -= 1
            if error is not None:
                error.connector = error.connector or (connector if connector != "-" else None)
                resp = error_response(error, request_id)
            resp.headers["X-Request-Id"] = request_id
            await self.audit.info(
                "webhook",
                connector=connector,
                account=account,
                path=_net.url(req.path),
                status_code=resp.status,
                events=count,
                refusal=error.reason.value if isinstance(error, WebhookRefused) else None,
                error_type=error.type.value if error else None,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
            )
            return replace(resp, labels=CallLabels(connector, OPERATION, error.type.value if error else "ok"))
        finally:
            logs.unbind(token)

    async def _verified(
        self, bound: BoundConnector, req: ApiRequest, only: str | None, request_id: str
    ) -> tuple[str, list[WebhookEvent]]:
        """The account that verified the webhook and its events, payloads masked; else WebhookRefused."""
        name = bound.connector.name
        accounts: Mapping[str, BaseModel] = bound.accounts if only is None else _only(bound.accounts, only)
        if not accounts:
            raise WebhookRefused(RefusalReason.NOT_CONFIGURED, f"no such {name} account")
        webhook = WebhookRequest({k.lower(): v for k, v in req.headers.items()}, req.body, self.clock())
        refusals: list[WebhookRefused] = []
        for account, credentials in accounts.items():
            ctx = CallContext(bound.base_url, credentials, request_id, account=account)
            try:
                events = await self.dispatcher.run(bound, ctx, bound.connector.webhook(webhook, ctx), OPERATION)
            except WebhookRefused as e:
                if e.reason in _ANY_ACCOUNT:
                    raise
                refusals.append(e)
                continue
            metrics.WEBHOOKS_VERIFIED.labels(name).inc()
            for event in events:
                metrics.WEBHOOK_EVENTS.labels(name, event.type.value).inc()
            masked = [_masked(e, account, bound.masker) for e in events]
            return account, masked
        raise most_telling(refusals)

    async def _answer(
        self, bound: BoundConnector, account: str, events: list[WebhookEvent], request_id: str
    ) -> ApiResponse:
        if self.settings is None or self.delivery is None:  # verify and translate only, for local use
            body = orjson.dumps({"events": [e.model_dump(mode="json", exclude_none=True) for e in events]})
            return ApiResponse(200, body, {"Content-Type": "application/json"})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.deliver_timeout
        for event in events:
            await self._deliver(bound, account, event, request_id, deadline - loop.time())
        ack = bound.connector.webhook_accepted
        return ApiResponse(ack.status, ack.body, {"Content-Type": ack.content_type})

    async def _deliver(
        self, bound: BoundConnector, account: str, event: WebhookEvent, request_id: str, timeout: float
    ) -> None:
        """One event to the app; a SidecarError (503 to the gateway) unless it answered 2xx in time."""
        assert self.delivery is not None
        name = bound.connector.name
        body = event.model_dump_json(exclude_none=True).encode()
        request = self.delivery.request(body, request_id, self.clock(), step=event.connector_event)
        response: GatewayResponse | None = None
        error: Undelivered | None = None
        started, wall = time.perf_counter(), time.time()
        try:
            response = await self.delivery.send(request, timeout)
        except Undelivered as e:
            error = e
        latency = time.perf_counter() - started
        await self.audit.delivery(
            bound.masker,
            request_id=request_id,
            connector=name,
            account=account,
            request=request,
            response=response,
            error=error,
            started=wall,
            latency=latency,
        )
        metrics.WEBHOOK_DELIVERY_LATENCY.labels(name).observe(latency)
        if response is not None and 200 <= response.status < 300:
            metrics.WEBHOOK_DELIVERIES.labels(name, "delivered").inc()
            return
        outcome = error.reason if error is not None else "app_error"
        metrics.WEBHOOK_DELIVERIES.labels(name, outcome).inc()
        why = error.message if error is not None else f"the app answered HTTP {response.status if response else '-'}"
        raise SidecarError(
            ErrorType.WEBHOOK_UNDELIVERED, f"{why}; the event was not delivered: send it again", connector=name
        )


def _only(accounts: Mapping[str, BaseModel], name: str) -> Mapping[str, BaseModel]:
    return {name: accounts[name]} if name in accounts else {}


def _masked(event: WebhookEvent, account: str, masker: Masker) -> WebhookEvent:
    payload: dict[str, Any] = masker.json_value(event.payload, gateway_ids=True)
    return event.model_copy(update={"account": account, "payload": payload})
