"""Masking of everything the sidecar writes down (DESIGN.md, "Masking"; PCI DSS v4 3.3.1, 3.4.1).

Two layers. The first masks by name: the fields and headers a connector declares, the common ones
every gateway uses, and any name that says CVC in whatever style. The second is a safety net over
every string that is left: Luhn-valid runs of 13-19 digits, CVCs next to a CVC name, and known
credential patterns, found in the raw text and in what it says once percent-decoded or
JSON-unescaped (a card number behind `%22` or `\\u0034` is still a card number).

It fails closed: a body is masked by what it is (JSON, form, XML, multipart), not by what its
Content-Type claims, and a body that does not fully parse as one of them is never written down.
What the net catches is counted, so a connector that forgot to declare a field shows up.
Masking only ever works on copies: what is forwarded or returned is never altered.
"""

from __future__ import annotations

import email.parser
import email.policy
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit, urlunsplit
from xml.etree import ElementTree

import orjson
from defusedxml import ElementTree as SafeElementTree

from connectors.kit.masking import Sensitivity
from connectors.kit.models import luhn_valid

MASK = "***"
DROPPED = "[removed]"

COMMON_FIELDS: dict[str, Sensitivity] = {
    "number": Sensitivity.PAN,
    "card_number": Sensitivity.PAN,
    "pan": Sensitivity.PAN,
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
# Any field or header named like a card security code, in any separator, bracket or camel style
# (`cvc`, `card[cvc]`, `card_cvc`, `cardCvv2`, `security-code`, `CID`) is dropped whatever its value.
_CVC_NAME = r"(?i:cvc|cvv|cvn|security[\W_]{0,3}code)|(?<![A-Za-z])(?i:cid)|Cid|CID"
_CVC_FIELD = re.compile(_CVC_NAME)

COMMON_SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie", "x-connector-auth"}
)
# Header names that carry credentials whoever sends them (Stripe-Signature, X-Auth-Token, ...).
_SECRET_HEADER_WORDS = ("auth", "secret", "token", "signature", "password", "api-key", "apikey", "cookie")
# Query parameters that carry credentials: masked wherever they appear, and counted as a catch.
_SECRET_QUERY_NAMES = frozenset(
    {"api_key", "apikey", "key", "token", "access_token", "secret", "client_secret", "password", "signature", "sig"}
)

# 13-19 digits in a run, or grouped as cards are printed (4-4-4-x, 4-4-4-4-x, Amex 4-6-5) by spaces or dashes;
# grouped forms need clean edges so UUIDs (8-4-4-4-12) are not mistaken for them.
_DIGIT_RUN = (
    r"(?<![0-9])[0-9]{13,19}(?![0-9])"
    r"|(?<![0-9A-Za-z-])"
    r"(?:[0-9]{4}(?:[ -][0-9]{4}){2,3}[ -][0-9]{1,7}|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})"
    r"(?![0-9A-Za-z-])"
)
_KEY_PATTERNS = (
    r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{6,}"  # Stripe secret, restricted, publishable keys
    r"|\bwhsec_[A-Za-z0-9]{6,}"  # Stripe webhook secrets
    r"|\bAQE[A-Za-z0-9+/=._-]{20,}"  # Adyen API keys
    r"|(?i:\b(?:bearer|basic)\s+)[A-Za-z0-9._~+/=-]{8,}"  # credentials quoted from a header
    r"|(?i:[?&](?:api_?key|key|token|secret|password|access_token)=)[^&\s\"']+"
)
# A CVC name, a few more name characters (`cvc2`, `cvcValue`), up to 8 separators (`": "`, `]=`).
_CVC_IN_TEXT = rf"(?:{_CVC_NAME})\w{{0,12}}?[\W_]{{1,8}}"
# All three in one pattern: one scan of each string instead of three.
_SAFETY_NET = re.compile(f"(?P<pan>{_DIGIT_RUN})|(?P<key>{_KEY_PATTERNS})|(?P<cvc>{_CVC_IN_TEXT})[0-9]{{3,4}}(?![0-9])")
_LUHN_RUN = re.compile(_DIGIT_RUN)

# What may hide a value from the net: percent-encoding (and `+` for spaces) and JSON escapes.
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}|\\|\+")
_JSON_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|([\"\\/bfnrt]))")
_JSON_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_MAX_DECODINGS = 3  # %2534 is %34 is 4: a value encoded twice over is still found

# application/x-www-form-urlencoded as clients send it: no spaces, quotes, braces or raw bytes.
_FORM = re.compile(rb"(?:[A-Za-z0-9._~*!$'(),;:@/?\[\]+=&-]|%[0-9A-Fa-f]{2})*")
_BARE_ID = re.compile(r"[A-Za-z0-9]{1,64}")
_RULE_CACHE_SIZE = 4096
# Strings the net has scanned and found nothing in, in any encoding: most of what a call writes down
# (header names and values, JSON keys, the same URL paths) recurs on every call, and a lookup costs a
# fraction of a scan. It holds nothing the net would catch, and is emptied when full: a caller may
# take a string found here as it is, without a call of `Masker.clean`.
CLEAN: set[str] = set()
_CLEAN_MAX = 8192
_CLEAN_LONGEST = 256


_UNSEEN = object()  # a field name not yet in a Masker's rule cache


class Masked(str):
    """A string that has been through masking; the log's last pass need not scan it again."""

    __slots__ = ()


class MaskedFields(dict[str, str]):
    """Names and values that have all been through masking (headers): the log's last pass skips them."""

    __slots__ = ()


def _remember(clean: str) -> None:
    if len(clean) <= _CLEAN_LONGEST:
        if len(CLEAN) >= _CLEAN_MAX:
            CLEAN.clear()
        CLEAN.add(clean)


def mask_pan(digits: str) -> str:
    only = "".join(filter(str.isdigit, digits))
    return only[:6] + "*" * (len(only) - 10) + only[-4:]


def withheld(size: int) -> Masked:
    return Masked(f"<{size} bytes withheld: unparsed body>")


def holds_card_number(text: str) -> bool:
    """Whether a Luhn-valid 13-19 digit run stands anywhere in `text` (checked as it is)."""
    runs = (m.group(0).replace(" ", "").replace("-", "") for m in _LUHN_RUN.finditer(text))
    return any(13 <= len(digits) <= 19 and luhn_valid(digits) for digits in runs)


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decoded(text: str) -> str:
    if "%" in text or "+" in text:
        text = unquote_plus(text, errors="replace")
    if "\\" in text:
        text = _JSON_ESCAPE.sub(lambda m: chr(int(m[1], 16)) if m[1] else _JSON_SIMPLE_ESCAPES[m[2]], text)
    return text


class Unparsed(ValueError):
    """A body that is not wholly one of the formats the masker can read field by field."""


class Masker:
    """Masks copies of headers, bodies, URLs and text. One instance per connector (its declared fields)."""

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
        # Called with the kind ("pan", "cvc", "credential", "gateway_id", "unparsed_body") of each thing
        # the safety net had to catch, or exempted, or withheld.
        self.on_catch = on_catch or (lambda _kind: None)
        self._rules: dict[str, Sensitivity | None] = {}
        self._secret_headers: dict[str, bool] = {}
        self._clean_urls: set[str] = set()

    # -- the safety net -------------------------------------------------------------------------

    def text(self, value: str) -> Masked:
        """Catches what the named fields missed, in every encoding; counts each catch by kind.
        Where a catch was only visible decoded, the decoded form is what is shown."""
        return value if isinstance(value, Masked) else Masked(self._text(value))

    def clean(self, value: str) -> str:
        """`text`, as a plain string, remembered in CLEAN where nothing was caught, however short: for
        what recurs from call to call (field and header names, the log lines' fields)."""
        out = self._text(value)
        if out == value:
            _remember(value)
        return out

    def _text(self, value: str) -> str:
        # Nothing the net looks for fits in under 6 characters, or in letters alone (but an Adyen key),
        # however it is encoded: decoding only ever shortens a string.
        if len(value) < 6 or (value.isalpha() and not value.startswith("AQE")) or value in CLEAN:
            return value
        out = self._scan(value)
        if out == value:
            _remember(value)
        return out

    def _scan(self, value: str) -> str:
        out = seen = _SAFETY_NET.sub(self._catch, value)
        for _ in range(_MAX_DECODINGS):
            if not _ENCODED.search(seen):
                break
            decoded = _decoded(seen)
            if decoded == seen:
                break
            seen = self._net(decoded)
            if seen != decoded:
                out = seen
        return out

    def _net(self, value: str) -> str:
        # Nothing the net looks for fits in under 6 characters, or in letters alone (but an Adyen key).
        if len(value) < 6 or (value.isalpha() and not value.startswith("AQE")):
            return value
        return _SAFETY_NET.sub(self._catch, value)

    def _catch(self, m: re.Match[str]) -> str:
        found = m.group(0)
        if m.group("pan") is not None:
            digits = found.replace(" ", "").replace("-", "")
            if not (13 <= len(digits) <= 19 and luhn_valid(digits)):
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

    def rule(self, name: str) -> Sensitivity | None:
        try:
            return self._rules[name]
        except KeyError:
            pass
        leaf = _leaf(name)
        rule = self.fields.get(leaf.lower())
        if rule is None and _CVC_FIELD.search(leaf):
            rule = Sensitivity.DROP
        if len(self._rules) < _RULE_CACHE_SIZE:  # names come from requests: the cache stays bounded
            self._rules[name] = rule
        return rule

    def field(self, name: str, value: Any, *, gateway_ids: bool = False) -> Any:
        """A value masked by its field's name (containers whole, but for PAN); unnamed values as they are."""
        handled, masked = self._by_name(name, value, gateway_ids)
        return masked if handled else value

    def _by_name(self, name: str, value: Any, gateway_ids: bool = False) -> tuple[bool, Any]:
        """(True, masked value) where the field's name decides; (False, None) where the net must."""
        rule = self.rule(name)
        if rule is None or value is None:
            return False, None
        if rule is Sensitivity.PAN:
            if isinstance(value, (dict, list)):
                return False, None
            s = str(value)
            return True, mask_pan(s) if sum(map(str.isdigit, s)) >= 10 else MASK
        if rule is Sensitivity.DROP:
            return True, DROPPED
        if rule is Sensitivity.GATEWAY_ID:
            # A gateway's id that looks like a card number (Adyen's 16-digit pspReference) is kept in
            # the gateway's own answers, so correlation survives; only as a bare token, and counted.
            if gateway_ids and isinstance(value, (str, int)) and not isinstance(value, bool):
                if _BARE_ID.fullmatch(str(value)):
                    if holds_card_number(str(value)):
                        self.on_catch("gateway_id")
                    return True, value
            return False, None
        if rule is Sensitivity.PERSONAL and _leaf(name).lower() in self.allowed_personal:
            return False, None
        return True, MASK

    def json_value(self, value: Any, *, gateway_ids: bool = False) -> Any:
        if isinstance(value, dict):
            out = {}
            rules, clean = self._rules, CLEAN
            for k, v in value.items():
                # Keys are text too: a card number can arrive as one. Most are names seen before.
                key = k if k in clean else self.clean(k)
                rule = rules.get(k, _UNSEEN)
                if rule is not None and v is not None:  # most fields have no rule: the net alone decides
                    handled, masked = self._by_name(k, v, gateway_ids)
                    if handled:
                        out[key] = masked
                        continue
                kind = type(v)
                if kind is str:
                    out[key] = v if v in clean else self._text(v)
                elif kind is int and -(10**12) < v < 10**12 or kind is bool or v is None:
                    out[key] = v
                else:
                    out[key] = self.json_value(v, gateway_ids=gateway_ids)
            return out
        if isinstance(value, list):
            return [self.json_value(v, gateway_ids=gateway_ids) for v in value]
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 10**12:
            # A card number sent as a JSON number is still a card number.
            masked = self._net(str(value))
            return value if masked == str(value) else masked
        return value

    def _scalar(self, name: str, value: str) -> Masked:
        """A text value in a named slot (form pair, query pair, header, multipart field)."""
        handled, masked = self._by_name(name, value)
        return Masked(masked if handled else self._text(value))

    def headers(self, headers: Iterable[tuple[str, str]]) -> MaskedFields:
        out = MaskedFields()
        clean = CLEAN
        for name, value in headers:
            name = str(name)
            lower = name.lower()
            if self._secret_header(lower):
                masked: str = Masked(MASK)
            elif self.rule(lower) is None:  # most headers: the net alone decides
                masked = Masked(value if value in clean else self._text(value))
            else:
                masked = self._scalar(lower, value)
            out[name if name in clean else self.clean(name)] = masked
        return out

    def _secret_header(self, lower: str) -> bool:
        secret = self._secret_headers.get(lower)
        if secret is None:
            secret = lower in self.secret_headers or any(word in lower for word in _SECRET_HEADER_WORDS)
            if len(self._secret_headers) < _RULE_CACHE_SIZE:  # names come from requests: the cache stays bounded
                self._secret_headers[lower] = secret
        return secret

    def url(self, url: str) -> Masked:
        """Scheme and host as they are; userinfo password, each path segment, each query pair and
        the fragment masked in their decoded form, re-encoded only where something was masked."""
        if url in self._clean_urls:  # a URL that masking left as it was (and counted nothing in) before
            return Masked(url)
        masked = self._url(url)
        if masked == url and len(url) <= _CLEAN_LONGEST:
            if len(self._clean_urls) >= _RULE_CACHE_SIZE:
                self._clean_urls.clear()
            self._clean_urls.add(url)
        return masked

    def _url(self, url: str) -> Masked:
        if not is_utf8(url):  # bytes that are not UTF-8 arrive surrogate-escaped: shown percent-encoded
            url = quote(url.encode("utf-8", "surrogateescape"), safe="!#$%&'()*+,/:;=?@[]~")
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.text(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            user = userinfo.split(":", 1)[0]
            netloc = f"{self.text(user)}:{MASK}@{host}" if ":" in userinfo else f"{self.text(user)}@{host}"
        path = "/".join(self._path_segment(s) for s in parts.path.split("/"))
        return Masked(urlunsplit((parts.scheme, netloc, path, self._query(parts.query), self.text(parts.fragment))))

    def _path_segment(self, segment: str) -> str:
        if not segment:
            return segment
        decoded = unquote(segment, errors="replace")
        masked = self.text(decoded)
        return segment if masked == decoded else quote(masked, safe="*:@!$'(),;=")

    def _query(self, query: str) -> str:
        if not query:
            return query
        return "&".join(self._pair(pair) for pair in query.split("&"))

    def _pair(self, pair: str) -> str:
        raw_key, sep, raw_value = pair.partition("=")
        key, value = unquote_plus(raw_key, errors="replace"), unquote_plus(raw_value, errors="replace")
        masked_key = self.text(key)
        if key.lower() in _SECRET_QUERY_NAMES and value:
            self.on_catch("credential")
            masked_value: str = MASK
        else:
            masked_value = self._scalar(key, value)
        if masked_key == key and masked_value == value:
            return pair
        return quote_plus(masked_key, safe="[]*") + sep + quote_plus(masked_value, safe="[]*")

    # -- bodies -----------------------------------------------------------------------------------

    def body(self, content_type: str | None, body: bytes | None, *, gateway_ids: bool = False) -> Masked:
        """A masked text rendering of a body, by what it is; never the raw bytes. `gateway_ids`: the
        body is a gateway's answer, whose declared id fields are kept (see `_by_name`)."""
        if not body:
            return Masked("")
        try:
            return Masked(self._render(content_type or "", body, gateway_ids))
        except Unparsed:
            self.on_catch("unparsed_body")
            return withheld(len(body))

    def _render(self, content_type: str, body: bytes, gateway_ids: bool) -> str:
        try:
            data = orjson.loads(body)  # strict: NaN, a stray byte or a truncated document all fail
        except orjson.JSONDecodeError:
            pass
        else:
            return orjson.dumps(self.json_value(data, gateway_ids=gateway_ids)).decode()
        start = body.lstrip()[:1]
        if start in (b"{", b"["):
            raise Unparsed("broken JSON")
        if start == b"<":
            return self._xml(body)
        if content_type.split(";", 1)[0].strip().lower().startswith("multipart/"):
            return self._multipart(content_type, body, gateway_ids)
        if _FORM.fullmatch(body):
            return self._form(body)
        raise Unparsed("not JSON, XML, multipart or a form")

    def _form(self, body: bytes) -> str:
        out = []
        for pair in body.decode("ascii").split("&"):
            raw_key, sep, raw_value = pair.partition("=")
            try:
                key, value = unquote_plus(raw_key, errors="strict"), unquote_plus(raw_value, errors="strict")
            except UnicodeDecodeError:
                raise Unparsed("form with percent-encoded bytes that are not UTF-8") from None
            # Re-encoded with brackets as they are: `card[cvc]`, not `card%5Bcvc%5D`, whatever was sent.
            out.append(quote_plus(self._text(key), safe="[]*") + sep + quote_plus(self._scalar(key, value), safe="[]*"))
        return "&".join(out)

    def _xml(self, body: bytes) -> str:
        try:
            root = SafeElementTree.fromstring(body)
        except Exception:  # defusedxml raises its own types for entity tricks too
            raise Unparsed("not well-formed XML") from None
        for element in root.iter():
            if element.text and element.text.strip():
                element.text = str(self.field(_xml_local(element.tag), element.text.strip()))
            for name, value in element.attrib.items():
                element.attrib[name] = str(self.field(_xml_local(name), value))
        return self.text(ElementTree.tostring(root, encoding="unicode"))

    def _multipart(self, content_type: str, body: bytes, gateway_ids: bool) -> str:
        head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        boundary = message.get_boundary()
        parts = message.get_payload() if message.is_multipart() else None
        if not boundary or not isinstance(parts, list) or message.defects or any(p.defects for p in parts):
            raise Unparsed("broken multipart")
        shown = self.text(boundary)
        out = []
        for part in parts:
            headers = self.headers(part.items())
            payload = part.get_payload(decode=True) or b""
            name = part.get_param("name", header="content-disposition") or ""
            if part.get_filename() is None and part.get_content_type() == "text/plain":
                try:
                    value = payload.decode("utf-8")
                except UnicodeDecodeError:
                    raise Unparsed("multipart field that is not UTF-8") from None
                masked = self._scalar(str(name), value)
            else:
                masked = self._render(part.get_content_type(), payload, gateway_ids) if payload else ""
            lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            out.append(f"--{shown}\r\n{lines}\r\n{masked}\r\n")
        return "".join(out) + f"--{shown}--\r\n"


def _xml_local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _leaf(name: str) -> str:
    """`payment_method_data[card][number]` -> `number`: form keys are masked by their last segment."""
    if name.endswith("]"):
        name = name[name.rfind("[") + 1 : -1]
    return name
