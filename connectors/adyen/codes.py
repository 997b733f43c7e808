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

# Read on Adyen's page. 0 comes only with Authorised ("ignore the refusal reason code"); 13 is not a
# refusal (Received).
REFUSAL_REASONS: dict[str, D] = {
    "2": D.CARD_DECLINED,  # Refused
    "3": D.CARD_DECLINED,  # Referral
    "4": D.PROCESSING_ERROR,  # Acquirer Error
    "5": D.RESTRICTED_CARD,  # Blocked Card
    "6": D.EXPIRED_CARD,  # Expired Card
    "7": D.INVALID_AMOUNT,  # Invalid Amount
    "8": D.INCORRECT_NUMBER,  # Invalid Card Number
    "9": D.TRY_AGAIN_LATER,  # Issuer Unavailable
    "10": D.NOT_PERMITTED,  # Not supported
    "11": D.AUTHENTICATION_REQUIRED,  # 3D Not Authenticated: not executed, or not successfully
    "12": D.INSUFFICIENT_FUNDS,  # Not enough balance
    "14": D.FRAUD_SUSPECTED,  # Acquirer Fraud
    "15": D.CARD_DECLINED,  # Cancelled
    "16": D.SHOPPER_CANCELLED,  # Shopper Cancelled
    "17": D.INCORRECT_PIN,  # Invalid Pin
    "18": D.PIN_TRIES_EXCEEDED,  # Pin tries exceeded
}

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
