"""Masking of everything the sidecar writes down (DESIGN.md, "Masking"; PCI DSS v4 3.3.1, 3.4.1).

Two layers. The first masks by name: the fields and headers a connector declares, plus the common
ones every gateway uses. The second is a safety net over the resulting text: Luhn-valid runs of 13-19
digits and known credential patterns, wherever they hide (an error message, a URL, an unknown field).
What the net catches is counted, so a connector that forgot to declare a field shows up.
Masking only ever works on copies: what is forwarded or returned is never altered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode
from xml.etree import ElementTree

import orjson
from defusedxml import ElementTree as SafeElementTree

from sidecar.models import luhn_valid


class Sensitivity(StrEnum):
    PAN = "pan"  # keep at most the first 6 and last 4 digits
    DROP = "drop"  # CVC, track data, PIN: never written at all
    SECRET = "secret"  # credentials and tokens: ***
    PERSONAL = "personal"  # email, phone, name, address lines: *** unless allowlisted


MASK = "***"
DROPPED = "[removed]"

COMMON_FIELDS: dict[str, Sensitivity] = {
    "number": Sensitivity.PAN,
    "card_number": Sensitivity.PAN,
    "pan": Sensitivity.PAN,
    "cvc": Sensitivity.DROP,
    "cvv": Sensitivity.DROP,
    "cvv2": Sensitivity.DROP,
    "cvc2": Sensitivity.DROP,
    "track1": Sensitivity.DROP,
    "track2": Sensitivity.DROP,
    "pin": Sensitivity.DROP,
    "password": Sensitivity.SECRET,
    "secret": Sensitivity.SECRET,
    "api_key": Sensitivity.SECRET,
    "client_secret": Sensitivity.SECRET,
    "email": Sensitivity.PERSONAL,
    "phone": Sensitivity.PERSONAL,
    "name": Sensitivity.PERSONAL,
    "holder_name": Sensitivity.PERSONAL,
    "line1": Sensitivity.PERSONAL,
    "line2": Sensitivity.PERSONAL,
}

COMMON_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie", "x-connector-auth"}
)

# 13-19 digits in a run, or grouped as cards are printed (4-4-4-x, Amex 4-6-5) by spaces or dashes;
# grouped forms need clean edges so UUIDs (8-4-4-4-12) are not mistaken for them.
_DIGIT_RUN = re.compile(
    r"(?<![0-9])[0-9]{13,19}(?![0-9])"
    r"|(?<![0-9A-Za-z-])"
    r"(?:[0-9]{4}(?:[ -][0-9]{4}){2}[ -][0-9]{1,7}|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})"
    r"(?![0-9A-Za-z-])"
)
_KEY_PATTERNS = re.compile(
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{6,}"  # Stripe secret, restricted, publishable keys
    r"|\bwhsec_[A-Za-z0-9]{6,}"  # Stripe webhook secrets
    r"|\bAQE[A-Za-z0-9+/=._-]{20,}"  # Adyen API keys
    r"|(?i:\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"  # credentials quoted from a header
    r"|(?i:[?&](?:api_?key|key|token|secret|password|access_token)=)[^&\s\"']+"
)
_CVC_NAME = r"(?i:\b(?:cvc2?|cvv2?|security[ _]code))\W{1,3}"
# All three in one pattern: one scan of each string instead of three.
_SAFETY_NET = re.compile(
    f"(?P<pan>{_DIGIT_RUN.pattern})|(?P<key>{_KEY_PATTERNS.pattern})|(?P<cvc>{_CVC_NAME})[0-9]{{3,4}}\\b"
)


class Masked(str):
    """A string that has been through masking; the log's last pass need not scan it again."""

    __slots__ = ()


def mask_pan(digits: str) -> str:
    only = "".join(ch for ch in digits if ch.isdigit())
    return only[:6] + "*" * (len(only) - 10) + only[-4:]


class Masker:
    """Masks copies of headers, bodies and text. One instance per connector (its declared fields)."""

    def __init__(
        self,
        fields: Mapping[str, Sensitivity] | None = None,
        secret_headers: Iterable[str] = (),
        personal_allowlist: Iterable[str] = (),
        on_catch: Callable[[str], None] | None = None,
    ) -> None:
        self.fields = {k.lower(): v for k, v in {**COMMON_FIELDS, **(fields or {})}.items()}
        self.secret_headers = COMMON_SECRET_HEADERS | {h.lower() for h in secret_headers}
        self.allowed_personal = frozenset(f.lower() for f in personal_allowlist)
        # Called with the kind ("pan", "cvc", "credential") of each thing the safety net had to catch.
        self.on_catch = on_catch or (lambda _kind: None)

    # -- the safety net -------------------------------------------------------------------------

    def text(self, value: str) -> Masked:
        """Catches what the named fields missed; counts each catch by kind."""
        return value if isinstance(value, Masked) else Masked(self._net(value))

    def _net(self, value: str) -> str:
        # Nothing the net looks for fits in under 6 characters, or in letters alone (but an Adyen key).
        if len(value) < 6 or (value.isalpha() and not value.startswith("AQE")):
            return value
        return _SAFETY_NET.sub(self._catch, value)

    def _catch(self, m: re.Match[str]) -> str:
        found = m.group(0)
        if m.group("pan") is not None:
            digits = found.replace(" ", "").replace("-", "")
            if not luhn_valid(digits):
                return found
            self.on_catch("pan")
            return mask_pan(digits)
        if m.group("key") is not None:
            self.on_catch("credential")
            if found[0] in "?&":
                return found.split("=", 1)[0] + "=" + MASK
            if " " in found:
                return found.split(None, 1)[0] + " " + MASK
            return MASK
        self.on_catch("cvc")
        return m.group("cvc") + DROPPED

    # -- by name ----------------------------------------------------------------------------------

    def field(self, name: str, value: Any) -> Any:
        rule = self.fields.get(_leaf(name))
        if rule is None or value is None or isinstance(value, (dict, list)):
            return value
        if rule is Sensitivity.PAN:
            s = str(value)
            return mask_pan(s) if sum(ch.isdigit() for ch in s) >= 10 else MASK
        if rule is Sensitivity.DROP:
            return DROPPED
        if rule is Sensitivity.PERSONAL and _leaf(name) in self.allowed_personal:
            return value
        return MASK

    def json_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            # Keys are text too: a card number can arrive as one.
            return {self._net(k): self.json_value(self.field(k, v)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json_value(v) for v in value]
        if isinstance(value, str):
            return self._net(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 10**12:
            # A card number sent as a JSON number is still a card number.
            masked = self._net(str(value))
            return value if masked == str(value) else masked
        return value

    def headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in headers:
            out[str(name)] = Masked(MASK) if name.lower() in self.secret_headers else self.text(value)
        return out

    def url(self, url: str) -> Masked:
        return self.text(url)

    def body(self, content_type: str | None, body: bytes | None) -> Masked:
        """A masked text rendering of a body, whatever its type; never the raw bytes."""
        if not body:
            return Masked("")
        ctype = (content_type or "").split(";")[0].strip().lower()
        if ctype.endswith("json") or (not ctype and body[:1] in (b"{", b"[")):
            try:
                return Masked(orjson.dumps(self.json_value(orjson.loads(body))).decode())
            except orjson.JSONDecodeError:
                pass
        text = body.decode("utf-8", "replace")
        if ctype == "application/x-www-form-urlencoded":
            pairs = parse_qsl(text, keep_blank_values=True)
            return Masked(urlencode([(k, self.text(str(self.field(k, v)))) for k, v in pairs], safe="[]*"))
        if ctype.endswith("xml"):
            try:
                root = SafeElementTree.fromstring(text)
            except Exception:  # defusedxml raises its own types for entity tricks too
                return self.text(text)
            for element in root.iter():
                if element.text and element.text.strip():
                    element.text = str(self.field(_xml_local(element.tag), element.text.strip()))
                for name, value in element.attrib.items():
                    element.attrib[name] = str(self.field(_xml_local(name), value))
            return self.text(ElementTree.tostring(root, encoding="unicode"))
        return self.text(text)


def _xml_local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _leaf(name: str) -> str:
    """`payment_method_data[card][number]` -> `number`: form keys are masked by their last segment."""
    if name.endswith("]"):
        name = name[name.rfind("[") + 1 : -1]
    return name.lower()
