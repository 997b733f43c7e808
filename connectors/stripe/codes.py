"""Stripe's decline codes and card error codes, mapped to the canonical decline codes.

Decline codes: every code on https://docs.stripe.com/declines/codes (47 codes, read from a 2024-era
copy of the page). Stripe has since moved the retry guidance of some of them to `advice_code` and marks
them deprecated; which ones could not be read, so all 47 stay here (a deprecated code still maps right).
Card error codes (`error.code` of a `card_error` that carries no `decline_code`): the card-related codes
on https://docs.stripe.com/error-codes.
"""

from __future__ import annotations

from connectors.kit.declines import DeclineCode as D

# `error.decline_code` (or `last_payment_error.decline_code`): the issuer's reason, as Stripe names it.
DECLINE_CODES: dict[str, D] = {
    "authentication_required": D.AUTHENTICATION_REQUIRED,
    "approve_with_id": D.TRY_AGAIN_LATER,  # "attempt the payment again"
    "call_issuer": D.CARD_DECLINED,
    "card_not_supported": D.NOT_PERMITTED,
    "card_velocity_exceeded": D.LIMIT_EXCEEDED,
    "currency_not_supported": D.CURRENCY_NOT_SUPPORTED,
    "do_not_honor": D.CARD_DECLINED,
    "do_not_try_again": D.DO_NOT_RETRY,
    "duplicate_transaction": D.DUPLICATE_TRANSACTION,
    "expired_card": D.EXPIRED_CARD,
    "fraudulent": D.FRAUD_SUSPECTED,
    "generic_decline": D.CARD_DECLINED,
    "incorrect_number": D.INCORRECT_NUMBER,
    "incorrect_cvc": D.INCORRECT_CVC,
    "incorrect_pin": D.INCORRECT_PIN,
    "incorrect_zip": D.INCORRECT_ADDRESS,
    "insufficient_funds": D.INSUFFICIENT_FUNDS,
    "invalid_account": D.RESTRICTED_CARD,
    "invalid_amount": D.INVALID_AMOUNT,
    "invalid_cvc": D.INCORRECT_CVC,
    "invalid_expiry_month": D.INVALID_EXPIRY,
    "invalid_expiry_year": D.INVALID_EXPIRY,
    "invalid_number": D.INCORRECT_NUMBER,
    "invalid_pin": D.INCORRECT_PIN,
    "issuer_not_available": D.TRY_AGAIN_LATER,
    "lost_card": D.LOST_OR_STOLEN,
    "merchant_blacklist": D.FRAUD_SUSPECTED,  # the Stripe user's own block list
    "new_account_information_available": D.RESTRICTED_CARD,
    "no_action_taken": D.CARD_DECLINED,
    "not_permitted": D.NOT_PERMITTED,
    "offline_pin_required": D.PIN_REQUIRED,
    "online_or_offline_pin_required": D.PIN_REQUIRED,
    "pickup_card": D.LOST_OR_STOLEN,  # "possible it was reported lost or stolen"
    "pin_try_exceeded": D.PIN_TRIES_EXCEEDED,
    "processing_error": D.PROCESSING_ERROR,
    "reenter_transaction": D.TRY_AGAIN_LATER,
    "restricted_card": D.RESTRICTED_CARD,
    "revocation_of_all_authorizations": D.DO_NOT_RETRY,  # the card holder stopped all such payments
    "revocation_of_authorization": D.DO_NOT_RETRY,
    "security_violation": D.CARD_DECLINED,
    "service_not_allowed": D.NOT_PERMITTED,
    "stolen_card": D.LOST_OR_STOLEN,
    "stop_payment_order": D.DO_NOT_RETRY,
    "testmode_decline": D.NOT_PERMITTED,  # a test card in live mode
    "transaction_not_allowed": D.NOT_PERMITTED,
    "try_again_later": D.TRY_AGAIN_LATER,
    "withdrawal_count_limit_exceeded": D.LIMIT_EXCEEDED,
}

# `error.code` of a card error without a decline code (the card was refused as entered, or by Stripe).
CARD_ERROR_CODES: dict[str, D] = {
    "card_declined": D.CARD_DECLINED,
    "expired_card": D.EXPIRED_CARD,
    "incorrect_cvc": D.INCORRECT_CVC,
    "invalid_cvc": D.INCORRECT_CVC,
    "incorrect_number": D.INCORRECT_NUMBER,
    "invalid_number": D.INCORRECT_NUMBER,
    "invalid_expiry_month": D.INVALID_EXPIRY,
    "invalid_expiry_year": D.INVALID_EXPIRY,
    "incorrect_zip": D.INCORRECT_ADDRESS,
    "incorrect_address": D.INCORRECT_ADDRESS,
    "insufficient_funds": D.INSUFFICIENT_FUNDS,
    "processing_error": D.PROCESSING_ERROR,
    "authentication_required": D.AUTHENTICATION_REQUIRED,
    "payment_intent_authentication_failure": D.AUTHENTICATION_FAILED,
    "card_decline_rate_limit_exceeded": D.TRY_AGAIN_LATER,  # "try again after 24 hours"
    "payment_method_provider_decline": D.CARD_DECLINED,
}
