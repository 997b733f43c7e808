"""Runs one canonical call against one gateway: pick the connector and account, drive the
connector's exchange through the outbound pool, log each gateway call masked."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError

from connectors import REGISTRY, Connector, Exchange, GatewayRequest, GatewayResponse
from sidecar.config import ConnectorSettings, Settings
from sidecar.errors import ErrorType, SidecarError, validation_details
from sidecar.masking import Masker
from sidecar.outbound import OutboundPool
from sidecar.sandbox import sandbox_credentials

log = structlog.get_logger("sidecar.gateway")


@dataclass(frozen=True)
class BoundConnector:
    """A connector with its configuration: where it sends, with which accounts, how it masks."""

    connector: Connector
    settings: ConnectorSettings
    base_url: str
    accounts: Mapping[str, BaseModel]
    masker: Masker


class Dispatcher:
    def __init__(self, settings: Settings, pool: OutboundPool, sandbox_urls: Mapping[str, str]) -> None:
        self.settings = settings
        self.pool = pool
        self.connectors: dict[str, BoundConnector] = {}
        for name, conf in settings.connectors.items():
            connector = REGISTRY[name]()
            if conf.uses_sandbox:
                base_url = sandbox_urls[name]
                accounts: Mapping[str, BaseModel] = {
                    "default": connector.Credentials.model_validate(sandbox_credentials(name))
                }
            else:
                base_url = conf.base_url or connector.default_base_url
                accounts = conf.credentials
            masker = Masker(connector.sensitive_fields, connector.secret_headers)
            self.connectors[name] = BoundConnector(connector, conf, base_url, accounts, masker)

    def bind(self, name: str | None) -> BoundConnector:
        name = name or self.settings.default_connector
        if not name:
            raise SidecarError(ErrorType.UNKNOWN_CONNECTOR, "no X-Connector header and no default connector configured")
        bound = self.connectors.get(name)
        if bound is None:
            configured = ", ".join(sorted(self.connectors))
            raise SidecarError(
                ErrorType.UNKNOWN_CONNECTOR, f"no connector named {name[:40]!r} is configured (configured: {configured})"
            )
        return bound

    def credentials(self, bound: BoundConnector, account: str, per_request: str | None) -> BaseModel:
        name = bound.connector.name
        if per_request is not None:
            if not self.settings.allow_request_credentials:
                raise SidecarError(
                    ErrorType.FORBIDDEN, "per-request credentials (X-Connector-Auth) are not allowed", connector=name
                )
            try:
                return bound.connector.Credentials.model_validate(json.loads(per_request))
            except (ValueError, ValidationError) as e:
                details = validation_details(e, "X-Connector-Auth.") if isinstance(e, ValidationError) else None
                raise SidecarError(
                    ErrorType.INVALID_REQUEST,
                    "X-Connector-Auth is not a valid credentials object",
                    details=details,
                    connector=name,
                ) from None
        creds = bound.accounts.get(account)
        if creds is None:
            raise SidecarError(
                ErrorType.CREDENTIALS_MISSING, f"no credentials for {name} account {account!r}", connector=name
            )
        return creds

    async def run[T](self, bound: BoundConnector, exchange: Exchange[T], operation: str) -> T:
        """Drives the connector's exchange: each request it yields goes out once; the answer goes back in."""
        name = bound.connector.name
        try:
            request = next(exchange)
            while True:
                started = time.perf_counter()
                try:
                    response = await self.pool.send(request, bound.settings, name)
                except SidecarError as e:
                    self._log_call(bound, request, None, started, operation, e)
                    raise
                self._log_call(bound, request, response, started, operation, None)
                request = exchange.send(response)
        except StopIteration as done:
            return done.value
        except ValidationError:
            # The gateway's answer parsed but did not fit the canonical model (e.g. a negative amount).
            raise SidecarError(
                ErrorType.GATEWAY_ERROR, f"{name} answered with values the sidecar cannot represent", connector=name
            ) from None

    def _log_call(
        self,
        bound: BoundConnector,
        request: GatewayRequest,
        response: GatewayResponse | None,
        started: float,
        operation: str,
        error: SidecarError | None,
    ) -> None:
        m = bound.masker
        fields: dict[str, Any] = {
            "connector": bound.connector.name,
            "operation": operation,
            "step": request.step or None,
            "method": request.method,
            "url": m.url(request.url),
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "request_bytes": len(request.body or b""),
            "request_headers": m.headers(request.headers.items()),
            "request_body": m.body(request.headers.get("Content-Type"), request.body),
        }
        if response is not None:
            fields.update(
                status_code=response.status,
                outcome="answered",
                response_bytes=len(response.body),
                response_headers=m.headers(response.headers.items()),
                response_body=m.body(response.headers.get("content-type"), response.body),
            )
        else:
            fields.update(outcome=error.outcome if error else None, error_type=error.type.value if error else None)
        log.info("connector call", **fields)
