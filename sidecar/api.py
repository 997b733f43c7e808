"""The canonical API (shared/API.md) as plain request -> response, free of mitmproxy so it can be
tested and reasoned about alone. The canonical addon is the only thing that calls it."""

from __future__ import annotations

import base64
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import structlog
from pydantic import BaseModel, ValidationError

from connectors.kit.connector import CallContext, Connector, Exchange, IdKind
from connectors.kit.errors import ErrorType, SidecarError, invalid_request, validation_details
from connectors.kit.models import (
    CaptureRequest,
    CompleteRequest,
    ErrorBody,
    ErrorInfo,
    Payment,
    PaymentRequest,
    Refund,
    RefundRequest,
    VoidRequest,
)
from sidecar import logs, metrics
from sidecar.dispatch import Dispatcher
from sidecar.masking import Masked, Masker, is_utf8
from sidecar.strict_json import DuplicateKey, loads_unique

log = structlog.get_logger("sidecar.api")

# Any one path segment: whether it is an id is the connector's to say (its gateway's id charset), so that
# `.`, `..`, `%2F` and the like are a 400 naming the rule, not a 404.
_ID = r"(?P<id>[^/]{1,255})"
_REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_error_net = Masker()


# base64url with its digits traded for letters: an id of letters, `-` and `_` holds no digit run the
# safety net could take for a card number, nor anything else it looks for, so it needs no scan.
_NO_DIGITS = str.maketrans("0123456789", "GHJKMNPQRS")


def new_request_id() -> Masked:
    # Not a secret: the non-cryptographic generator is enough, and cheaper.
    return Masked(base64.urlsafe_b64encode(random.getrandbits(120).to_bytes(15)).decode().translate(_NO_DIGITS))


def request_id_of(given: str | None) -> Masked:
    """The app's X-Request-Id if it is a plain id the masking safety net leaves as it is, else a fresh
    one: an id is echoed and written in every log line and flow, so one holding a card number or a key
    is neither echoed nor stored. Checked once here, it is Masked: the log lines do not scan it again."""
    if given and _REQUEST_ID.fullmatch(given) and _error_net.text(given) == given:
        return Masked(given)
    return new_request_id()


@dataclass(frozen=True, slots=True)
class ApiRequest:
    method: str
    path: str
    headers: Mapping[str, str]  # looked up by lower-case name (mitmproxy's Headers, or a dict of lower-case names)
    body: bytes
    # The path and every header name and value as received, apart, when the caller has them
    # (mitmproxy does): checked for UTF-8 in one decode rather than field by field.
    raw_head: bytes | None = None


class CallLabels(NamedTuple):
    """What a call was, as its metrics count it; the masked copy in mitmweb shows it too."""

    connector: str
    operation: str
    outcome: str  # "ok" or the error type


@dataclass(frozen=True, slots=True)
class ApiResponse:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    labels: CallLabels | None = None


type Start = Callable[[Connector, str, Any, CallContext], Exchange[Any]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # as in API.md and the OpenAPI document, e.g. /v1/payments/{id}/capture
    operation: str
    summary: str
    body: type[BaseModel] | None
    response: type[BaseModel]
    start: Start  # starts the connector's exchange for this operation
    id_kind: IdKind | None = None  # what kind of gateway id `{id}` is
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", re.compile(self.path.replace("{id}", _ID)))


ROUTES: tuple[Route, ...] = (
    Route(
        "POST",
        "/v1/payments",
        "authorize",
        "Authorize a payment; with capture=automatic also capture it",
        PaymentRequest,
        Payment,
        lambda c, _id, body, ctx: c.authorize(body, ctx),
    ),
    # Before /v1/payments/{id}: `complete` is no payment id.
    Route(
        "POST",
        "/v1/payments/complete",
        "complete",
        "Finish a payment after 3-D Secure or a redirect",
        CompleteRequest,
        Payment,
        lambda c, _id, body, ctx: c.complete(body, ctx),
    ),
    Route(
        "GET",
        "/v1/payments/{id}",
        "sync",
        "Sync the payment's state from the gateway",
        None,
        Payment,
        lambda c, id, _body, ctx: c.sync(id, ctx),
        "payment",
    ),
    Route(
        "POST",
        "/v1/payments/{id}/capture",
        "capture",
        "Capture an authorized payment, fully or partially",
        CaptureRequest,
        Payment,
        lambda c, id, body, ctx: c.capture(id, body, ctx),
        "payment",
    ),
    Route(
        "POST",
        "/v1/payments/{id}/void",
        "void",
        "Cancel an authorization",
        VoidRequest,
        Payment,
        lambda c, id, body, ctx: c.void(id, body, ctx),
        "payment",
    ),
    Route(
        "POST",
        "/v1/payments/{id}/refunds",
        "refund",
        "Refund a payment, fully or partially",
        RefundRequest,
        Refund,
        lambda c, id, body, ctx: c.refund(id, body, ctx),
        "payment",
    ),
    Route(
        "GET",
        "/v1/refunds/{id}",
        "refund_sync",
        "Sync a refund's state from the gateway",
        None,
        Refund,
        lambda c, id, _body, ctx: c.refund_sync(id, ctx),
        "refund",
    ),
)


class MethodNotAllowed(SidecarError):
    def __init__(self, allow: list[str]) -> None:
        super().__init__(ErrorType.METHOD_NOT_ALLOWED, f"method not allowed here; use {', '.join(allow)}")
        self.allow = allow


class CanonicalApi:
    def __init__(self, dispatcher: Dispatcher, openapi: Callable[[], bytes]) -> None:
        self.dispatcher = dispatcher
        self.max_body = dispatcher.settings.max_body_bytes
        self._openapi = openapi
        self.in_flight = 0

    async def handle(self, req: ApiRequest) -> ApiResponse:
        request_id = request_id_of(req.headers.get("x-request-id"))
        started = time.perf_counter()
        self.in_flight += 1
        # Known names only: these become metric labels and must not be whatever an app sends.
        connector = self.dispatcher.known_name(req.headers.get("x-connector"))
        account = req.headers.get("x-connector-account", "default")
        operation = "unknown"
        error: SidecarError | None = None
        # Bound for every log line of the call (a context manager per call costs more than this).
        token = logs.bind(request_id=request_id, connector=connector, account=account)
        try:
            _check_encoding(req)
            route, match = self._route(req)
            operation = route.operation if route else "openapi"
            if route is None:
                resp = ApiResponse(200, self._openapi(), {"Content-Type": "application/json"})
            else:
                resp = await self._call(req, route, match, request_id, account)
        except SidecarError as e:
            error = e
        except Exception:
            log.exception("internal error", path=_error_net.url(req.path))
            error = SidecarError(ErrorType.INTERNAL, "internal error; it has been logged")
        finally:
            self.in_flight -= 1
        try:
            if error is not None:
                resp = error_response(error, request_id)
                metrics.labelled(metrics.ERRORS, error.type.value, connector).inc()
            resp.headers["X-Request-Id"] = request_id
            labels = CallLabels(connector, operation, error.type.value if error else "ok")
            metrics.labelled(metrics.CALLS, *labels).inc()
            await self.dispatcher.audit.info(
                "canonical call",
                operation=operation,
                method=req.method,
                path=_error_net.url(req.path),
                status_code=resp.status,
                error_type=error.type.value if error else None,
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
            )
            return ApiResponse(resp.status, resp.body, resp.headers, labels)
        finally:
            logs.unbind(token)

    def _route(self, req: ApiRequest) -> tuple[Route | None, re.Match[str] | None]:
        path = req.path.split("?", 1)[0]
        if path == "/openapi.json" and req.method == "GET":
            return None, None
        allowed = []
        for route in ROUTES:
            match = route.pattern.fullmatch(path)
            if match:
                if route.method == req.method:
                    return route, match
                allowed.append(route.method)
        if allowed:
            raise MethodNotAllowed(allowed)
        raise SidecarError(ErrorType.NOT_FOUND, "no such endpoint")

    async def _call(
        self, req: ApiRequest, route: Route, match: re.Match[str], request_id: str, account: str
    ) -> ApiResponse:
        if len(req.body) > self.max_body:
            raise SidecarError(ErrorType.PAYLOAD_TOO_LARGE, f"body over {self.max_body} bytes")
        if req.body and _media_type(req.headers.get("content-type")) != "application/json":
            raise SidecarError(ErrorType.UNSUPPORTED_MEDIA_TYPE, "the body must be application/json")
        if req.headers.get("content-encoding", "identity").lower() != "identity":
            raise SidecarError(ErrorType.UNSUPPORTED_MEDIA_TYPE, "compressed request bodies are not accepted")
        headers = req.headers
        bound = self.dispatcher.bind(headers.get("x-connector"))
        token = logs.bind(operation=route.operation)
        try:
            body = _parse(route.body, req.body) if route.body else None
            gateway_id = match.groupdict().get("id", "")
            if route.id_kind:
                bound.connector.check_id(route.id_kind, gateway_id)
            creds = self.dispatcher.credentials(bound, account, headers.get("x-connector-auth"))
            key = headers.get("idempotency-key")
            if key is not None and not _IDEMPOTENCY_KEY.match(key):
                raise invalid_request(
                    "Idempotency-Key must be 1-255 printable characters",
                    path="headers.Idempotency-Key",
                    detail="1-255 printable ASCII characters",
                )
            ctx = CallContext(
                base_url=bound.base_url,
                credentials=creds,
                request_id=request_id,
                idempotency_key=key,
                account=account,
            )
            exchange = route.start(bound.connector, gateway_id, body, ctx)
            result = await self.dispatcher.run(bound, ctx, exchange, route.operation)
            if result.error is not None and result.error.unmapped:
                metrics.unmapped_decline(bound.connector.name, result.error.unmapped)
        except SidecarError as e:
            e.connector = e.connector or bound.connector.name
            raise
        finally:
            logs.unbind(token)
        return ApiResponse(
            200, result.model_dump_json(exclude_none=True).encode(), {"Content-Type": "application/json"}
        )


def _check_encoding(req: ApiRequest) -> None:
    """The request line and headers are UTF-8 (mitmproxy keeps other bytes as surrogates): anything
    else is refused before it reaches a gateway call, a log line or a flow."""
    if req.raw_head is not None:
        try:
            req.raw_head.decode("utf-8")
            return
        except UnicodeDecodeError:
            pass
    # One check of them all joined: a surrogate is one wherever it stands.
    elif is_utf8("".join([req.path, *(part for item in req.headers.items() for part in item)])):
        return
    raise SidecarError(ErrorType.INVALID_REQUEST, "the request line and headers must be UTF-8")


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def error_response(e: SidecarError, request_id: str) -> ApiResponse:
    """API.md's error body. Its text may quote the gateway or the app: the safety net runs over all of it."""
    request_id = request_id_of(request_id)
    info = ErrorInfo(
        type=e.type.value,
        message=e.message,
        request_id=request_id,
        connector=e.connector,
        outcome=e.outcome,
        details=e.details,
    )
    body = _error_net.text(ErrorBody(error=info).model_dump_json(exclude_none=True))
    headers = {"Content-Type": "application/json", "X-Request-Id": request_id}
    if isinstance(e, MethodNotAllowed):
        headers["Allow"] = ", ".join(e.allow)
    if e.retry_after:
        headers["Retry-After"] = e.retry_after
    return ApiResponse(e.status, body.encode(), headers)


def _parse[M: BaseModel](model: type[M], body: bytes) -> M:
    try:
        # An empty body is an empty object: capture, void and refund need no fields.
        parsed = model.model_validate_json(body if body.strip() else b"{}")
        if body.strip():
            loads_unique(body)  # valid, and with one meaning only: pydantic kept the last of a repeated key
        return parsed
    except ValidationError as e:
        raise SidecarError(
            ErrorType.INVALID_REQUEST, "the request body is not valid", details=validation_details(e)
        ) from None
    except DuplicateKey as e:
        raise invalid_request(
            "the request body is not valid", path="body", detail=str(e), type="duplicate_key"
        ) from None
