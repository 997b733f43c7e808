"""People's details in the forms gateways ask for: phone numbers in E.164, names split in two.

Pure: the standard library and `phonenumbers` (Google's libphonenumber data), nothing of the runtime.
"""

from __future__ import annotations

import phonenumbers


def e164(phone: str, country: str | None) -> str:
    """`phone` as E.164 (`+14155550123`): Adyen documents "a plus sign and a country code, followed by
    the number" and does not submit anything else for authentication; Stripe stores what it gets.
    A number without a country code is read in `country` (the billing address's). ValueError when the
    number cannot be a phone number there, with a message that does not quote it."""
    try:
        number = phonenumbers.parse(phone, None if phone.lstrip().startswith("+") else country)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        where = (
            "" if phone.lstrip().startswith("+") else " (without a + country code it is read in the billing country)"
        )
        raise ValueError(f"not a possible phone number{where}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def split_name(name: str) -> tuple[str, str] | None:
    """A full name as (first name, the rest) for gateways that want the two apart and both filled
    (Adyen's `shopperName`): "Ludwig van Beethoven" is ("Ludwig", "van Beethoven"). A single word
    cannot be split without inventing a part: None."""
    first, _, rest = " ".join(name.split()).partition(" ")
    return (first, rest) if first and rest else None


def calling_code(e164_number: str) -> tuple[str, str]:
    """An E.164 number (as `e164` gives it) as its country calling code with the plus and the national number,
    for gateways that take the two apart (Checkout.com's `PhoneNumber`): "+14155550123" is ("+1", "4155550123")."""
    number = phonenumbers.parse(e164_number, None)
    return f"+{number.country_code}", phonenumbers.national_significant_number(number)
