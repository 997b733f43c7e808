"""The error types of API.md, one exception that carries them, and the mapping to HTTP statuses."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import ValidationError

from connectors.kit.models import ErrorDetail, Outcome


class ErrorType(StrEnum):
    INVALID_REQUEST = "invalid_request"
    UNKNOWN_CONNECTOR = "unknown_connector"
    UNSUPPORTED_OPERATION = "unsupported_operation"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CREDENTIALS_MISSING = "credentials_missing"
    FORBIDDEN = "forbidden"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    GATEWAY_AUTHENTICATION = "gateway_authentication"
    GATEWAY_REJECTED = "gateway_rejected"
    GATEWAY_ERROR = "gateway_error"
    GATEWAY_UNREACHABLE = "gateway_unreachable"
    GATEWAY_TIMEOUT = "gateway_timeout"
    GATEWAY_RATE_LIMITED = "gateway_rate_limited"
    REQUEST_IN_PROGRESS = "request_in_progress"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    PROXY_ERROR = "proxy_error"
    WEBHOOK_UNVERIFIED = "webhook_unverified"
    WEBHOOK_UNDELIVERED = "webhook_undelivered"
    INTERNAL = "internal"


HTTP_STATUS: dict[ErrorType, int] = {
    ErrorType.INVALID_REQUEST: 400,
    ErrorType.UNKNOWN_CONNECTOR: 404,
    ErrorType.UNSUPPORTED_OPERATION: 501,
    ErrorType.NOT_FOUND: 404,
    ErrorType.METHOD_NOT_ALLOWED: 405,
    ErrorType.CREDENTIALS_MISSING: 401,
    ErrorType.FORBIDDEN: 403,
    ErrorType.PAYLOAD_TOO_LARGE: 413,
    ErrorType.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorType.GATEWAY_AUTHENTICATION: 502,
    ErrorType.GATEWAY_REJECTED: 422,
    ErrorType.GATEWAY_ERROR: 502,
    ErrorType.GATEWAY_UNREACHABLE: 502,
    ErrorType.GATEWAY_TIMEOUT: 504,
    ErrorType.GATEWAY_RATE_LIMITED: 503,
    ErrorType.REQUEST_IN_PROGRESS: 409,
    ErrorType.IDEMPOTENCY_CONFLICT: 409,
    ErrorType.PROXY_ERROR: 502,
    ErrorType.WEBHOOK_UNVERIFIED: 401,
    ErrorType.WEBHOOK_UNDELIVERED: 503,
    ErrorType.INTERNAL: 500,
}


class SidecarError(Exception):
    """A call that ends in one of API.md's error types rather than a Payment or Refund."""

    def __init__(
        self,
        type: ErrorType,
        message: str,
        *,
        details: list[ErrorDetail] | None = None,
        outcome: Outcome | None = None,
        connector: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.details = details
        self.outcome = outcome
        self.connector = connector
        self.retry_after = retry_after  # the gateway's Retry-After, passed on to the app

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.type]


def invalid_request(message: str, *, path: str, detail: str, type: str = "value_error") -> SidecarError:
    return SidecarError(ErrorType.INVALID_REQUEST, message, details=[ErrorDetail(path=path, message=detail, type=type)])


def validation_details(exc: ValidationError, prefix: str = "") -> list[ErrorDetail]:
    """Field paths and reasons, never the rejected input: it may be a card number or a CVC."""
    details = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        path = ".".join(str(part) for part in err["loc"])
        details.append(
            ErrorDetail(
                path=prefix + path if path else prefix.rstrip(".") or "body",
                message=err["msg"].removeprefix("Value error, "),
                type=err["type"],
            )
        )
    return details


# Statuses that say what happened whatever the body (even one that broke off): our credentials, a proxy on
# the way, a rate limit. Each means the gateway did nothing with the call.
STATUS_DECIDES = frozenset({401, 403, 407, 429})

# RFC 9110 Retry-After: delay-seconds or an IMF-fixdate. Anything else from a gateway is not passed on.
_RETRY_AFTER = re.compile(r"[0-9]{1,10}|[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT")


def parse_retry_after(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if _RETRY_AFTER.fullmatch(value) else None


def gateway_status_error(
    status: int,
    message: str,
    connector: str,
    details: list[ErrorDetail] | None = None,
    *,
    retry_after: str | None = None,
) -> SidecarError:
    """The API.md error for a gateway's answer that is not a result, by its HTTP status alone.

    A 4xx says the gateway did nothing (`not_processed`): a refused request, our credentials (401/403,
    whatever the body), a rate limit (429: limiters run before anything else). Any other status after a
    send leaves the outcome `unknown`: a 5xx may come after the money moved.
    """
    outcome: Outcome = "not_processed"
    if status in (401, 403):
        kind = ErrorType.GATEWAY_AUTHENTICATION
    elif status == 404:
        kind = ErrorType.NOT_FOUND
    elif status == 407:
        # A proxy on the way refused to forward the call: it never reached the gateway.
        kind, outcome = ErrorType.PROXY_ERROR, "not_sent"
    elif status == 429:
        kind = ErrorType.GATEWAY_RATE_LIMITED
    elif 400 <= status < 500:
        kind = ErrorType.GATEWAY_REJECTED
    else:
        kind, outcome = ErrorType.GATEWAY_ERROR, "unknown"
    return SidecarError(
        kind,
        message,
        connector=connector,
        details=details,
        outcome=outcome,
        retry_after=retry_after if kind is ErrorType.GATEWAY_RATE_LIMITED else None,
    )
