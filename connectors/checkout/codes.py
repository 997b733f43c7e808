"""Checkout.com's payment statuses, response codes and error types, mapped to the canonical vocabulary.

Every table is exhaustive over the values its source lists: a payment status no table knows is the named
error `UnmappedStatus` (never a guess at success); a response code no table knows is still a decline, counted
by the runtime (`sidecar_unmapped_declines`) so that a gap shows in metrics.

Sources, each cited beside its table:
- statuses: the `status` enums of `PaymentDetails` and `PaymentResponse` in Checkout.com's own API reference
  (`../shared/specs/checkout-com.openapi.json`, checkout/checkout-api-reference `nas_spec` @ 2fc946cd22e9);
- response codes: https://www.checkout.com/docs/resources/codes/http-response-codes (ranges, 10xxx, 20001-20003),
  https://support.checkout.com/hc/en-us/articles/24416729620626-Common-response-codes-to-test (20005-20183) and
  the sandbox's test-card table, https://www.checkout.com/docs/developer-resources/testing/test-cards (July
  2023 and July 2024 copies: 200N7, 200R3, 20012, 20063, 20068, 20082, 20154, 30015, 30041, 30043);
- error types: `ErrorResponse.error_type` of the same API reference, and `ValidationError`'s `request_invalid`.
"""

from __future__ import annotations

from connectors.kit.declines import DeclineCode as D
from connectors.kit.declines import decline
from connectors.kit.errors import ErrorType, SidecarError
from connectors.kit.models import DeclineInfo, PaymentStatus, RefundStatus

NAME = "checkout"

# PaymentDetails.status (GET /payments/{id}) and PaymentResponse.status (POST /payments). `Pending` is refined by
# the answer (a redirect is 3-D Secure waiting for the shopper), the captured states by the payment's balances
# (connector.py): Checkout.com keeps a payment `Partially Refunded` whether or not all of it was captured.
PAYMENT_STATUS: dict[str, PaymentStatus] = {
    "Pending": PaymentStatus.PENDING,
    "Authorized": PaymentStatus.AUTHORIZED,
    "Card Verified": PaymentStatus.AUTHORIZED,  # a zero-amount card check: nothing to capture
    "Voided": PaymentStatus.VOIDED,
    "Partially Captured": PaymentStatus.PARTIALLY_CHARGED,
    "Captured": PaymentStatus.CHARGED,
    "Partially Refunded": PaymentStatus.CHARGED,
    "Refunded": PaymentStatus.CHARGED,
    "Declined": PaymentStatus.AUTHORIZATION_FAILED,
    "Canceled": PaymentStatus.FAILURE,  # "an end user cancels the payment through the provider's interface"
    "Expired": PaymentStatus.FAILURE,  # "the customer fails to access [a payment link] to complete the payment"
    "Paid": PaymentStatus.CHARGED,
}

# PaymentAction.approved (GET /payments/{id}/actions): an action not yet processed carries none.
REFUND_STATUS: dict[bool | None, RefundStatus] = {
    True: RefundStatus.SUCCEEDED,
    False: RefundStatus.FAILED,
    None: RefundStatus.PENDING,
}

# The five-digit `response_code` (with its `response_summary`): 10xxx approved, 20xxx soft decline ("subsequent
# attempts may be successful"), 30xxx hard decline ("require the issuer or cardholder to rectify the outstanding
# issue(s)"), 40xxx a risk response. The 20xxx range holds codes that are final all the same (20014, 20054): the
# code decides, not the range.
APPROVED_RANGE = "1"

RESPONSE_CODES: dict[str, tuple[str, D]] = {
    "20001": ("Refer to card issuer", D.CARD_DECLINED),
    "20002": ("Refer to card issuer - Special conditions", D.CARD_DECLINED),
    "20003": ("Invalid merchant or service provider", D.PROCESSING_ERROR),  # "a technical issue"
    "20005": ("Declined - Do Not Honour", D.CARD_DECLINED),
    "20012": ("Invalid transaction", D.NOT_PERMITTED),
    "20014": ("Invalid card number", D.INCORRECT_NUMBER),
    "20051": ("Insufficient funds", D.INSUFFICIENT_FUNDS),
    "20054": ("Expired card", D.EXPIRED_CARD),
    "20057": ("Transaction not permitted to cardholder", D.NOT_PERMITTED),
    "20059": ("Suspected fraud", D.FRAUD_SUSPECTED),
    "20061": ("Activity amount limit exceeded", D.LIMIT_EXCEEDED),
    "20062": ("Restricted card", D.RESTRICTED_CARD),
    "20063": ("Security violation", D.CARD_DECLINED),
    "20068": ("Response received too late / timeout", D.TRY_AGAIN_LATER),
    "20078": ("Blocked, first use", D.RESTRICTED_CARD),  # the card was not properly unblocked
    "20082": ("No security model", D.CARD_DECLINED),
    "200N7": ("Decline for CVV2 failure", D.INCORRECT_CVC),
    "200R3": ("Issuer initiated a stop payment (revocation order) for all authorizations", D.DO_NOT_RETRY),
    "20154": ("3DS authentication required", D.AUTHENTICATION_REQUIRED),
    "20179": ("Lifecycle", D.CARD_DECLINED),
    "20182": ("Policy", D.CARD_DECLINED),
    "20183": ("Security", D.CARD_DECLINED),
    "30015": ("No such issuer", D.INCORRECT_NUMBER),
    "30041": ("Lost card - pick up", D.LOST_OR_STOLEN),
    "30043": ("Stolen card - pick up", D.LOST_OR_STOLEN),
}

# Not read on a Checkout.com page (third-party copies of its table, e.g. slickerhq.com/tools/decline-codes/checkout):
# code -> (the response_summary those copies give, canonical code). Applied only when Checkout.com's own
# `response_summary` says the same, so a number that means something else there falls back and is counted.
UNCONFIRMED_RESPONSE_CODES: dict[str, tuple[str, D]] = {
    "20150": ("Card not 3D Secure enabled", D.AUTHENTICATION_FAILED),
    "20151": ("Cardholder failed 3DS authentication", D.AUTHENTICATION_FAILED),
    "30004": ("Pick up card (No fraud)", D.LOST_OR_STOLEN),
    "30007": ("Pick up card - Special conditions", D.LOST_OR_STOLEN),
}

# ErrorResponse.error_type (and ValidationError's `request_invalid`) of a 4xx answer: what it says of the call.
# A 5xx says nothing certain whatever its body; 401 and 429 decide by themselves (connector.py).
ERROR_TYPES: dict[str, ErrorType] = {
    "request_invalid": ErrorType.GATEWAY_REJECTED,
    "unprocessable_entity": ErrorType.GATEWAY_REJECTED,
    "operation_not_allowed": ErrorType.GATEWAY_REJECTED,  # "not allowed by business rules"
    "not_implemented": ErrorType.GATEWAY_REJECTED,
    "conflict": ErrorType.GATEWAY_REJECTED,  # "the resource already exists"
    "not_found": ErrorType.NOT_FOUND,
    "forbidden": ErrorType.GATEWAY_AUTHENTICATION,  # "you do not have permissions for the requested operation"
    "duplicate_requests_detected": ErrorType.REQUEST_IN_PROGRESS,  # "currently being processed"
    "callback_failed": ErrorType.GATEWAY_ERROR,
    "internal_server_error": ErrorType.GATEWAY_ERROR,
    "service_not_available": ErrorType.GATEWAY_ERROR,
}


class UnmappedStatus(SidecarError):
    """A status word none of the tables knows: the payment's state is not guessed, the call's outcome is unknown."""

    def __init__(self, kind: str, value: object) -> None:
        shown = str(value)[:40] if isinstance(value, str) else type(value).__name__
        super().__init__(
            ErrorType.GATEWAY_ERROR,
            f"checkout.com answered a {kind} status the connector does not know ({shown!r})",
            connector=NAME,
            outcome="unknown",
        )


def payment_status(value: object) -> PaymentStatus:
    if not isinstance(value, str) or value not in PAYMENT_STATUS:
        raise UnmappedStatus("payment", value)
    return PAYMENT_STATUS[value]


def refund_status(approved: object) -> RefundStatus:
    if approved is not None and not isinstance(approved, bool):
        raise UnmappedStatus("refund", approved)
    return REFUND_STATUS[approved]


def response_decline(code: str, summary: str | None) -> DeclineInfo:
    """The DeclineInfo of a declined payment's response code (empty where the answer carries none: a `Declined`
    payment read back by its id). Every code outside the approved range is a refusal by the issuer or risk rules."""
    known = RESPONSE_CODES[code][1] if code in RESPONSE_CODES else None
    unconfirmed = UNCONFIRMED_RESPONSE_CODES.get(code)
    if known is None and unconfirmed and summary and _name(summary) == _name(unconfirmed[0]):
        known = unconfirmed[1]
    refusal = not code.startswith(APPROVED_RANGE)
    return decline(code, known, refusal=refusal, connector_message=summary, connector_code=code or None)


def summary(code: str) -> str:
    """The `response_summary` Checkout.com gives with a response code (the sandbox answers with it)."""
    if code.startswith(APPROVED_RANGE):
        return "Approved"
    found = RESPONSE_CODES.get(code) or UNCONFIRMED_RESPONSE_CODES.get(code)
    return found[0] if found else "Declined"


def _name(text: str) -> str:
    return " ".join(text.replace("–", "-").split()).casefold()
