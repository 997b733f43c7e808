"""Runs one canonical call against one gateway: pick the connector and account, drive the
connector's exchange through the outbound pool, have each gateway call written down masked."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog
from pydantic import BaseModel, ValidationError

from connectors.kit.connector import (
    AccessToken,
    CallContext,
    Connector,
    Exchange,
    GatewayRequest,
    GatewayResponse,
    TokenStep,
)
from connectors.kit.errors import ErrorType, SidecarError, validation_details
from sidecar import metrics
from sidecar.audit import Audit
from sidecar.config import ConnectorSettings, Settings
from sidecar.masking import Masker
from sidecar.outbound import OutboundPool
from sidecar.registry import REGISTRY
from sidecar.sandbox import SANDBOX_ACCOUNTS
from sidecar.strict_json import loads_unique
from sidecar.tokens import AccessTokens

log = structlog.get_logger("sidecar.dispatch")


@dataclass(frozen=True)
class BoundConnector:
    """A connector with its configuration: where it sends, with which accounts, how it masks."""

    connector: Connector
    settings: ConnectorSettings
    base_url: str
    accounts: Mapping[str, BaseModel]
    masker: Masker


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        pool: OutboundPool,
        audit: Audit,
        sandbox_urls: Mapping[str, str],
        sandbox_ca: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.audit = audit
        self.tokens = AccessTokens(clock)
        self.connectors: dict[str, BoundConnector] = {}
        for name, conf in settings.connectors.items():
            connector = REGISTRY[name]()
            if conf.uses_sandbox:
                base_url = sandbox_urls[name]
                conf = conf.model_copy(update={"ca_bundle": sandbox_ca})
                accounts: Mapping[str, BaseModel] = {
                    "default": connector.Credentials.model_validate(SANDBOX_ACCOUNTS[name])
                }
            else:
                base_url = conf.base_url or connector.default_base_url
                accounts = conf.credentials
            masker = Masker(
                connector.sensitive_fields,
                connector.secret_headers,
                settings.masking.allow_personal,
                metrics.catch_counter(name),
            )
            self.connectors[name] = BoundConnector(connector, conf, base_url, accounts, masker)

    def known_name(self, name: str | None) -> str:
        """The connector a call names (or the default), if configured; else "-"."""
        name = name or self.settings.default_connector
        return name if name in self.connectors else "-"

    def bind(self, name: str | None) -> BoundConnector:
        name = name or self.settings.default_connector
        if not name:
            raise SidecarError(ErrorType.UNKNOWN_CONNECTOR, "no X-Connector header and no default connector configured")
        bound = self.connectors.get(name)
        if bound is None:
            configured = ", ".join(sorted(self.connectors))
            raise SidecarError(
                ErrorType.UNKNOWN_CONNECTOR,
                f"no connector named {name[:40]!r} is configured (configured: {configured})",
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
                return bound.connector.Credentials.model_validate(loads_unique(per_request))
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

    async def run[T](self, bound: BoundConnector, ctx: CallContext, exchange: Exchange[T], operation: str) -> T:
        """Drives the connector's exchange: each request it yields goes out once; the answer goes back in; a
        token step gets the account's access token. Whatever goes wrong once a gateway has answered, the app
        is told the call's outcome is unknown."""
        name = bound.connector.name
        answered = False
        try:
            request = next(exchange)
            while True:
                answer: GatewayResponse | AccessToken
                if isinstance(request, TokenStep):
                    answer = await self.token(bound, ctx, request, operation)
                else:
                    answer = await self.send(bound, ctx, request, operation)
                    answered = True
                request = exchange.send(answer)
        except StopIteration as done:
            return done.value
        except SidecarError:
            raise
        except ValidationError:
            if not answered:
                raise
            # The gateway's answer parsed but did not fit the canonical model (e.g. a negative amount).
            raise SidecarError(
                ErrorType.GATEWAY_ERROR,
                f"{name} answered with values the sidecar cannot represent",
                connector=name,
                outcome="unknown",
            ) from None
        except Exception:
            if not answered:
                raise
            log.exception("connector failed on the gateway's answer", operation=operation)
            raise SidecarError(
                ErrorType.INTERNAL,
                "internal error on the gateway's answer; it has been logged. The call may have been processed",
                connector=name,
                outcome="unknown",
            ) from None

    async def token(self, bound: BoundConnector, ctx: CallContext, step: TokenStep, operation: str) -> AccessToken:
        """The account's access token, cached; a token call goes out like any gateway call, written down masked."""
        return await self.tokens.get(step, lambda request: self.send(bound, ctx, request, operation))

    async def send(
        self, bound: BoundConnector, ctx: CallContext, request: GatewayRequest, operation: str
    ) -> GatewayResponse:
        """One gateway call through the pool, written down masked whatever happens."""
        started, wall = time.perf_counter(), time.time()
        response, error = None, None
        try:
            response = await self.pool.send(request, bound.settings, bound.connector.name)
            return response
        except SidecarError as e:
            error = e
            raise
        finally:
            await self.audit.gateway_call(
                bound.masker,
                request_id=ctx.request_id,
                connector=bound.connector.name,
                account=ctx.account,
                operation=operation,
                request=request,
                response=response,
                error=error,
                started=wall,
                latency=time.perf_counter() - started,
            )
