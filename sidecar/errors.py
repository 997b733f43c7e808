"""The error types of API.md, one exception that carries them, and the mapping to HTTP statuses."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import ValidationError

from sidecar.models import ErrorDetail

Outcome = Literal["unknown", "not_sent"]


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
    PROXY_ERROR = "proxy_error"
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
    ErrorType.PROXY_ERROR: 502,
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
    ) -> None:
        super().__init__(message)
        self.type = type
        self.message = message
        self.details = details
        self.outcome = outcome
        self.connector = connector

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


def gateway_status_error(
    status: int, message: str, connector: str, details: list[ErrorDetail] | None = None
) -> SidecarError:
    """The API.md error for a gateway's non-2xx answer that is not a decline."""
    if status in (401, 403):
        kind = ErrorType.GATEWAY_AUTHENTICATION
    elif status == 404:
        kind = ErrorType.NOT_FOUND
    elif status == 407:
        kind = ErrorType.PROXY_ERROR
    elif 400 <= status < 500:
        kind = ErrorType.GATEWAY_REJECTED
    else:
        kind = ErrorType.GATEWAY_ERROR
    return SidecarError(kind, message, connector=connector, details=details)
