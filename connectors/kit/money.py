"""Money between the canonical API and a gateway: ISO 4217 minor units in, the gateway's own units out,
exactly or not at all.

The canonical API counts amounts in ISO 4217 minor units (JPY 0 decimals, USD 2, KWD 3). Gateways do
not always: Adyen counts CLP and ISK in hundredths and CVE and IDR in whole units, Stripe counts ISK
and UGX in hundredths that must make whole units, and takes three-decimal amounts only in tens. Each
connector declares its gateway's table (`GatewayCurrencies`), taken from the gateway's own currency
page; this module converts both ways and refuses, never rounds, what the other side cannot hold.

Pure: the standard library and the maintained ISO 4217 table (`iso4217`), nothing of the runtime.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

import iso4217

# Active ISO 4217 codes and their minor units. Codes whose minor unit is "N.A." (XXX "no currency",
# XTS "testing", precious metals, SDR and other units of account) are not money a card can move.
ISO_EXPONENTS: Mapping[str, int] = {
    code: int(entry["CcyMnrUnts"])
    for code, entry in iso4217.raw_table.items()
    if code and (entry["CcyMnrUnts"] or "").isdigit()
}
ISO_TABLE_PUBLISHED = iso4217.__published__
# A non-negative decimal amount as gateways write one ("10.05", "1005").
_DECIMAL = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,12})?")


def is_active(currency: str) -> bool:
    return currency in ISO_EXPONENTS


class MoneyError(ValueError):
    """An amount one side cannot hold exactly. `field` names the part of the amount at fault."""

    def __init__(self, message: str, field: Literal["minor", "currency"]) -> None:
        super().__init__(message)
        self.field = field


def major(minor: int, exponent: int) -> Decimal:
    """An amount in minor units as a decimal number of major units (1005, 3 -> 1.005)."""
    return Decimal(minor).scaleb(-exponent)


@dataclass(frozen=True, slots=True)
class GatewayCurrencies:
    """The currencies one gateway takes, each with the number of decimals the gateway counts it in
    (its minor units on the wire), and where the gateway asks for it, the multiple a wire amount must be."""

    gateway: str
    exponents: Mapping[str, int]
    steps: Mapping[str, int] = field(default_factory=dict)

    def to_gateway(self, minor: int, currency: str) -> int:
        """The gateway's value for `minor` ISO minor units of `currency`; MoneyError when it has none."""
        exponent = self._exponent(currency)
        shift = exponent - ISO_EXPONENTS[currency]
        if shift >= 0:
            value = minor * 10**shift
        else:
            value, rest = divmod(minor, 10**-shift)
            if rest:
                raise MoneyError(
                    f"{self.gateway} counts {currency} in {self._unit(currency)}: "
                    f"{self._show(minor, currency)} is not a whole number of them, and amounts are never rounded",
                    "minor",
                )
        step = self.steps.get(currency, 1)
        if value % step:
            raise MoneyError(
                f"{self.gateway} takes {currency} only in multiples of {self._show_step(currency)}: "
                f"{self._show(minor, currency)} cannot be sent exactly, and amounts are never rounded",
                "minor",
            )
        return value

    def from_gateway(self, value: int, currency: str) -> int:
        """ISO minor units for a value the gateway gave in its own units; MoneyError when ISO has none."""
        exponent = self._exponent(currency)
        shift = exponent - ISO_EXPONENTS[currency]
        if shift <= 0:
            return value * 10**-shift
        minor, rest = divmod(value, 10**shift)
        if rest:
            raise MoneyError(
                f"{self.gateway} answered {major(value, exponent)} {currency}, "
                f"finer than {currency}'s ISO 4217 minor unit",
                "minor",
            )
        return minor

    def decimal(self, value: int, currency: str) -> str:
        """A value in the gateway's units as the decimal string of gateways that take one (PayPal: 1005 USD
        cents are "10.05", 1005 yen "1005")."""
        return f"{major(value, self._exponent(currency)):f}"

    def units(self, text: str, currency: str) -> int:
        """The gateway's units in one of its decimal strings; MoneyError when it is no amount or finer than them."""
        if not _DECIMAL.fullmatch(text):
            raise MoneyError(f"{self.gateway} answered a {currency} amount that is no decimal: {text[:40]!r}", "minor")
        value = Decimal(text).scaleb(self._exponent(currency))
        if value != value.to_integral_value():
            raise MoneyError(f"{self.gateway} answered {text} {currency}, finer than it counts {currency} in", "minor")
        return int(value)

    def _exponent(self, currency: str) -> int:
        exponent = self.exponents.get(currency)
        if exponent is None or currency not in ISO_EXPONENTS:
            raise MoneyError(f"{self.gateway} does not take {currency}", "currency")
        return exponent

    def _unit(self, currency: str) -> str:
        exponent = self.exponents[currency]
        return "whole units" if exponent == 0 else f"units of {major(1, exponent)}"

    def _show(self, minor: int, currency: str) -> str:
        return f"{major(minor, ISO_EXPONENTS[currency])} {currency}"

    def _show_step(self, currency: str) -> str:
        return f"{major(self.steps[currency], self.exponents[currency])} {currency}"
