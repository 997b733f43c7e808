"""The canonical decline codes (`DeclineInfo.code`) every connector maps its gateway's own codes to.

An app decides on these alone (ask for another card, retry later, authenticate, never retry); the
gateway's own code and text stay beside them in `connector_code`, `connector_message`, `decline_code`.
"""

from __future__ import annotations

from enum import StrEnum

from connectors.kit.models import DeclineInfo


class DeclineCode(StrEnum):
    CARD_DECLINED = "card_declined"  # refused, no reason given (or none we know)
    INSUFFICIENT_FUNDS = "insufficient_funds"
    LIMIT_EXCEEDED = "limit_exceeded"  # the card's amount or count limits
    EXPIRED_CARD = "expired_card"
    INVALID_EXPIRY = "invalid_expiry"
    INCORRECT_CVC = "incorrect_cvc"
    INCORRECT_NUMBER = "incorrect_number"
    INCORRECT_ADDRESS = "incorrect_address"  # postal code or address verification
    INCORRECT_PIN = "incorrect_pin"
    PIN_REQUIRED = "pin_required"
    PIN_TRIES_EXCEEDED = "pin_tries_exceeded"
    LOST_OR_STOLEN = "lost_or_stolen"
    RESTRICTED_CARD = "restricted_card"  # blocked, or the account is invalid
    FRAUD_SUSPECTED = "fraud_suspected"
    NOT_PERMITTED = "not_permitted"  # this card may not be used for this kind of payment
    CURRENCY_NOT_SUPPORTED = "currency_not_supported"
    AUTHENTICATION_REQUIRED = "authentication_required"
    AUTHENTICATION_FAILED = "authentication_failed"
    SHOPPER_CANCELLED = "shopper_cancelled"
    TRY_AGAIN_LATER = "try_again_later"  # the issuer could not be reached or asks for a retry
    DO_NOT_RETRY = "do_not_retry"  # retrying is against the scheme's rules (and fined)
    DUPLICATE_TRANSACTION = "duplicate_transaction"
    INVALID_AMOUNT = "invalid_amount"
    PROCESSING_ERROR = "processing_error"  # an error on the way, not a refusal


def decline(
    code: str,
    known: DeclineCode | None,
    *,
    refusal: bool,
    connector_message: str | None,
    connector_code: str | None = None,
    decline_code: str | None = None,
) -> DeclineInfo:
    """The DeclineInfo for the gateway's `code`, `known` being what its table says. A code the table
    lacks (or none) is `card_declined` only when the gateway said it is a refusal, else
    `processing_error`; a code the table lacks is marked for the sidecar to count."""
    fallback = DeclineCode.CARD_DECLINED if refusal else DeclineCode.PROCESSING_ERROR
    return DeclineInfo(
        code=known or fallback,
        message=connector_message or ("the card was declined" if refusal else "the payment could not be processed"),
        connector_code=connector_code,
        connector_message=connector_message,
        decline_code=decline_code,
        unmapped=code if code and not known else None,
    )
