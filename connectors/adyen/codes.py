"""Adyen's refusal reasons (`refusalReasonCode`, `refusalReason`), mapped to the canonical decline codes.

Source: https://docs.adyen.com/development-resources/refusal-reasons. Only codes 0-18 could be read on
Adyen's own page (and its test page,
https://docs.adyen.com/development-resources/testing/result-codes/classic-api, agrees on 0-16). Codes
19-46 come from copies of that table outside Adyen (https://devzone.nayax.com/docs/ecom-sdk/ecom-decline-reason-codes
for 19-22; https://docs.rs/adyen/latest/adyen/enum.RefusalReason.html and others for the names up to 46):
they are applied only when Adyen's `refusalReason` text is the name the copies give, so a number that
means something else at Adyen falls back to `card_declined` and is counted, never mislabelled.
Several of them (17-19, 33-37, 40, 41, 43-45) occur only at points of sale.
"""

from __future__ import annotations

from connectors.kit.declines import DeclineCode as D

# Read on Adyen's page: code -> (its name, canonical code). 0 comes only with Authorised ("ignore the refusal
# reason code"); 13 is not a refusal (Received).
_CONFIRMED: dict[str, tuple[str, D]] = {
    "2": ("Refused", D.CARD_DECLINED),
    "3": ("Referral", D.CARD_DECLINED),
    "4": ("Acquirer Error", D.PROCESSING_ERROR),
    "5": ("Blocked Card", D.RESTRICTED_CARD),
    "6": ("Expired Card", D.EXPIRED_CARD),
    "7": ("Invalid Amount", D.INVALID_AMOUNT),
    "8": ("Invalid Card Number", D.INCORRECT_NUMBER),
    "9": ("Issuer Unavailable", D.TRY_AGAIN_LATER),
    "10": ("Not supported", D.NOT_PERMITTED),
    "11": ("3D Not Authenticated", D.AUTHENTICATION_REQUIRED),  # not executed, or not successfully
    "12": ("Not enough balance", D.INSUFFICIENT_FUNDS),
    "14": ("Acquirer Fraud", D.FRAUD_SUSPECTED),
    "15": ("Cancelled", D.CARD_DECLINED),
    "16": ("Shopper Cancelled", D.SHOPPER_CANCELLED),
    "17": ("Invalid Pin", D.INCORRECT_PIN),
    "18": ("Pin tries exceeded", D.PIN_TRIES_EXCEEDED),
}
REFUSAL_REASONS: dict[str, D] = {code: canonical for code, (_, canonical) in _CONFIRMED.items()}

# Not confirmed on Adyen's page: code -> (the name third-party copies give, canonical code).
UNCONFIRMED_REFUSAL_REASONS: dict[str, tuple[str, D]] = {
    "19": ("Pin validation not possible", D.PROCESSING_ERROR),
    "20": ("FRAUD", D.FRAUD_SUSPECTED),  # Adyen's own risk checks
    "21": ("Not Submitted", D.PROCESSING_ERROR),
    "22": ("FRAUD-CANCELLED", D.FRAUD_SUSPECTED),
    "23": ("Transaction Not Permitted", D.NOT_PERMITTED),
    "24": ("CVC Declined", D.INCORRECT_CVC),
    "25": ("Restricted Card", D.RESTRICTED_CARD),
    "26": ("Revocation Of Auth", D.DO_NOT_RETRY),
    "27": ("Declined Non Generic", D.CARD_DECLINED),
    "28": ("Withdrawal amount exceeded", D.LIMIT_EXCEEDED),
    "29": ("Withdrawal count exceeded", D.LIMIT_EXCEEDED),
    "31": ("Issuer Suspected Fraud", D.FRAUD_SUSPECTED),
    "32": ("AVS Declined", D.INCORRECT_ADDRESS),
    "33": ("Card requires online pin", D.PIN_REQUIRED),
    "34": ("No checking account available on Card", D.NOT_PERMITTED),
    "35": ("No savings account available on Card", D.NOT_PERMITTED),
    "36": ("Mobile pin required", D.PIN_REQUIRED),
    "37": ("Contactless fallback", D.TRY_AGAIN_LATER),  # retry with the chip
    "38": ("Authentication required", D.AUTHENTICATION_REQUIRED),
    "39": ("RReq not received from DS", D.AUTHENTICATION_FAILED),
    "40": ("Current AID is in Penalty Box", D.TRY_AGAIN_LATER),
    "41": ("CVM Required Restart Payment", D.PIN_REQUIRED),
    "42": ("3DS Authentication Error", D.AUTHENTICATION_FAILED),
    "43": ("Online PIN required", D.PIN_REQUIRED),
    "44": ("Try another interface", D.TRY_AGAIN_LATER),
    "45": ("Chip downgrade mode", D.TRY_AGAIN_LATER),
    "46": ("Transaction blocked by Adyen to prevent excessive retry fees", D.DO_NOT_RETRY),
}

# Every reason's name by its code, as Adyen's answers give it (the sandbox answers with them).
REFUSAL_NAMES = {code: name for code, (name, _) in (_CONFIRMED | UNCONFIRMED_REFUSAL_REASONS).items()}


def _name(text: str) -> str:
    return text.strip().rstrip(".").casefold()


def refusal_code(code: str, reason: str | None) -> D | None:
    """The canonical code for Adyen's refusal reason, or None where the table does not know it."""
    if code in REFUSAL_REASONS:
        return REFUSAL_REASONS[code]
    unconfirmed = UNCONFIRMED_REFUSAL_REASONS.get(code)
    if unconfirmed and reason and _name(reason) == _name(unconfirmed[0]):
        return unconfirmed[1]
    return None
