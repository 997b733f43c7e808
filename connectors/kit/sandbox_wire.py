"""Wire pieces that every sandbox codec needs, written once: route tables, reading form and JSON bodies,
answering, the simulated 3-D Secure pages, card numbers and ids.

A codec keeps only its gateway's own words. Reading a body raises :class:`WireError` in neutral terms
(a field missing, of the wrong type, not one of the choices, unknown) and the codec says it as its
gateway does (Stripe's ``parameter_missing``, Adyen's ``702``). Pure: the standard library and
``connectors.kit.sandbox``, no sockets and no clock.
"""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import string
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from connectors.kit.sandbox import (
    FINGERPRINT,
    Authenticate,
    AuthenticationResult,
    Call,
    Done,
    GetPayment,
    PaymentRecord,
    PaymentState,
    Reply,
    SandboxRequest,
    SandboxResponse,
)

__all__ = [
    "ALNUM",
    "CHALLENGE_PATH",
    "METHOD_SUFFIX",
    "UPPER_ALNUM",
    "Fields",
    "WireError",
    "authorization",
    "card_brand",
    "challenge_call",
    "challenge_result",
    "form_fields",
    "html_answer",
    "json_answer",
    "json_object",
    "luhn_valid",
    "match_route",
    "notify_page",
    "page",
    "page_url",
    "random_digits",
    "random_token",
    "redirect_answer",
    "return_to",
    "safe_redirect_url",
    "with_query",
]

ALNUM = string.ascii_letters + string.digits
UPPER_ALNUM = string.ascii_uppercase + string.digits


# --- ids and card numbers ------------------------------------------------------------------------


def random_token(length: int, alphabet: str = ALNUM) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def random_digits(length: int) -> str:
    # The first digit is never 0 so the value keeps its length when read as a number.
    return secrets.choice("123456789") + random_token(length - 1, string.digits)


def luhn_valid(number: str) -> bool:
    """True for a 12-19 digit string whose Luhn check digit is right."""
    if not number.isascii() or not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def card_brand(number: str) -> str:
    """The card network by IIN range, in Stripe's words (``visa``, ``mastercard``, ...)."""
    if number.startswith("4"):
        return "visa"
    two, three, four = int(number[:2] or 0), int(number[:3] or 0), int(number[:4] or 0)
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if four == 6011 or two == 65 or 644 <= three <= 649:
        return "discover"
    if two in (36, 38, 39) or 300 <= three <= 305:
        return "diners"
    if 3528 <= four <= 3589:
        return "jcb"
    return "unionpay" if two == 62 else "unknown"


# --- reading requests ----------------------------------------------------------------------------


def match_route[R: tuple[Any, ...]](routes: Iterable[R], method: str, path: str) -> tuple[R, str] | None:
    """The first route, a row ``(method, pattern, ...)``, with this method and a pattern that matches the whole
    path, and the id its group captures ("" where it has none); None where no route matches."""
    for row in routes:
        if row[0] == method and (match := re.fullmatch(row[1], path)):
            return row, match.group(1) if match.groups() else ""
    return None


class WireError(Exception):
    """A request the gateway would refuse, in neutral terms; the codec words it as its gateway does.

    ``problem`` is ``missing``, ``unknown`` (``expected``: every unknown name, in request order),
    ``type`` (``expected``: string, integer, boolean, object or array), ``choice`` (``expected``: the
    choices), ``minimum`` or ``maximum`` (``expected``: the least or greatest value) or ``syntax`` (a body
    that does not parse; ``expected``: where). ``field`` is the gateway's own name for the field, nested as
    it writes it. ``value`` is what was sent (a codec shows at most a little of it, never for a card field).
    """

    def __init__(self, problem: str, field: str, expected: Any = None, value: Any = None) -> None:
        super().__init__(f"{field}: {problem}")
        self.problem, self.field, self.expected, self.value = problem, field, expected, value


@dataclass(frozen=True)
class Fields:
    """One object of a request body, read field by field.

    ``form``: the values came from a form body (``a[b]=1``), so they are strings, an empty one means
    absent, and nested names are written with brackets; otherwise they are JSON values and nested names
    are dotted (``paymentMethod.number``).
    """

    data: Mapping[str, Any]
    path: str = ""
    form: bool = False

    def name(self, key: str) -> str:
        if not self.path:
            return key
        return f"{self.path}[{key}]" if self.form else f"{self.path}.{key}"

    def only(self, allowed: Collection[str]) -> None:
        unknown = [self.name(key) for key in self.data if key not in allowed]
        if unknown:
            raise WireError("unknown", unknown[0], unknown)

    def get(self, key: str, *, required: bool = False) -> Any:
        value = self.data.get(key)
        if self.form and value == "":
            value = None
        if value is None and required:
            raise WireError("missing", self.name(key))
        return value

    def string(self, key: str, *, required: bool = False) -> str | None:
        value = self.get(key, required=required)
        if value is not None and not isinstance(value, str):
            raise WireError("type", self.name(key), "string", value)
        return value

    def integer(
        self, key: str, *, required: bool = False, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        value = self.get(key, required=required)
        if self.form and isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value):
            value = int(value)
        if value is not None and type(value) is not int:  # bool is an int in Python, never an amount
            raise WireError("type", self.name(key), "integer", value)
        if value is not None and minimum is not None and value < minimum:
            raise WireError("minimum", self.name(key), minimum, value)
        if value is not None and maximum is not None and value > maximum:
            raise WireError("maximum", self.name(key), maximum, value)
        return value

    def boolean(self, key: str) -> bool | None:
        value = self.get(key)
        if self.form:
            value = {"true": True, "false": False}.get(value, value)
        if value is not None and not isinstance(value, bool):
            raise WireError("type", self.name(key), "boolean", value)
        return value

    def choice(self, key: str, choices: Collection[str], *, required: bool = False) -> str | None:
        value = self.string(key, required=required)
        if value is not None and value not in choices:
            raise WireError("choice", self.name(key), tuple(choices), value)
        return value

    def object(self, key: str, *, required: bool = False) -> Fields:
        value = self.get(key, required=required)
        if value is not None and not isinstance(value, dict):
            raise WireError("type", self.name(key), "object", value)
        return Fields(value or {}, self.name(key), self.form)

    def strings(self, key: str) -> list[str]:
        value = self.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise WireError("type", self.name(key), "array", value)
        return value or []


def json_object(body: bytes) -> dict[str, Any]:
    """A JSON object body. A fault names only its position: the body may hold a card number."""
    if not body.strip():
        raise WireError("missing", "body")
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise WireError("syntax", "body", where) from None
    if not isinstance(parsed, dict):
        raise WireError("type", "body", "object")
    return parsed


_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def form_fields(text: str, *, free_keys: Collection[str] = ("metadata",)) -> dict[str, Any]:
    """A form body in the bracket encoding (Stripe's, and the Rack and PHP convention) as nested values.

    ``a[b][c]=1`` gives ``{"a": {"b": {"c": "1"}}}``; ``a[]=x`` appends to a list, and an object keyed
    ``0..n`` (``a[0]=x``, as stripe-python sends lists) is a list too, except under ``free_keys``, whose
    keys are the sender's own text. A name both a value and an object is a ``type`` WireError.
    """
    root: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        match = _KEY.fullmatch(key)
        path = [match[1], *_SEGMENT.findall(match[2])] if match else [key]
        node = root
        for depth, segment in enumerate(path):
            name = path[0] + "".join(f"[{part}]" for part in path[1 : depth + 1])
            appends = depth == len(path) - 2 and path[-1] == ""
            if segment == "" or (depth == len(path) - 1 and isinstance(node.get(segment), dict)):
                raise WireError("type", name, "array" if segment == "" else "object")
            if depth == len(path) - 1:
                node[segment] = value
            elif appends:
                items = node.setdefault(segment, [])
                if not isinstance(items, list):
                    raise WireError("type", name, "array")
                items.append(value)
                break
            else:
                node = node.setdefault(segment, {})
                if not isinstance(node, dict):
                    raise WireError("type", name, "object")
    return _lists(root, True, free_keys)


def _lists(node: Any, free: bool, free_keys: Collection[str]) -> Any:
    if isinstance(node, list):
        return [_lists(item, free, free_keys) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _lists(value, key in free_keys, free_keys) for key, value in node.items()}
    if not free and node and all(key.isdigit() for key in node):
        return [node[key] for key in sorted(node, key=int)]
    return node


def authorization(header: str) -> tuple[str, str]:
    """(user or token, password) from an Authorization header: Bearer gives its token and ``""``,
    Basic its user and password; ``("", "")`` for anything else or what does not decode."""
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials, ""
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            return "", ""
        return user, password
    return "", ""


# Schemes a browser would run as code rather than navigate to; never put them in a Location.
_UNSAFE_SCHEMES = frozenset({"javascript", "data", "vbscript", "file"})


def safe_redirect_url(url: str) -> bool:
    """True when ``url`` is absolute and safe to send a browser to (app schemes allowed)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.scheme or parts.scheme.lower() in _UNSAFE_SCHEMES:
        return False
    if parts.scheme.lower() in ("http", "https") and not parts.netloc:
        return False
    return not any(ch in url for ch in "\r\n\t ")


def page[T](
    items: Sequence[T], limit: int, *, after: str | None = None, before: str | None = None, key: Callable[[T], str]
) -> tuple[Sequence[T], bool] | None:
    """One page of a list by cursor, as gateways page (Stripe's ``starting_after`` and ``ending_before``):
    at most ``limit`` items after the one whose ``key`` is ``after``, or the ``limit`` just before ``before``,
    in the list's order, and whether more lie beyond them that way. None when the cursor is not in the list."""
    cursor = after if after is not None else before
    if cursor is None:
        return items[:limit], len(items) > limit
    at = next((index for index, item in enumerate(items) if key(item) == cursor), None)
    if at is None:
        return None
    if after is not None:
        return items[at + 1 : at + 1 + limit], len(items) > at + 1 + limit
    return items[max(0, at - limit) : at], at > limit


# --- answers -------------------------------------------------------------------------------------


def json_answer(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> SandboxResponse:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return SandboxResponse(status, body, "application/json", dict(headers or {}))


def html_answer(status: int, page: str) -> SandboxResponse:
    return SandboxResponse(status, page.encode(), "text/html; charset=utf-8")


def redirect_answer(location: str) -> SandboxResponse:
    return SandboxResponse(302, b"", "text/plain; charset=utf-8", {"Location": location})


def return_to(url: str | None, query: Mapping[str, str], done: str) -> SandboxResponse:
    """Where the shopper's browser goes once done: ``url`` with ``query`` added, or a page saying ``done`` where
    the payment has no URL to go back to."""
    if not url:
        return html_answer(200, f"<!doctype html><title>3D Secure</title><p>{html.escape(done)}</p>")
    return redirect_answer(with_query(url, query))


def with_query(url: str, extra: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode(extra)}" if parts.query else urlencode(extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


# --- the simulated issuer's 3-D Secure pages -----------------------------------------------------
# Every sandbox sends the shopper to <sandbox>/3ds/<ref> (the payment's id, or the id of the step waiting:
# ThreeDSState.action), which needs no API key. It shows the step the payment waits for: a fingerprint
# is a form that posts itself (the issuer looks at the device; nobody is asked), a challenge is a page
# with "Complete", "Fail" and "Cancel" (the shopper abandons). ``outcome=complete|fail|cancel``, in the
# query or a POSTed form, answers without a browser; ``step=`` names the step answered (an answer to a
# step already passed shows the current one). Once the last step is answered the codec's ``back`` says
# where the shopper goes: the merchant's return URL, or, for an authentication the merchant's own page
# runs in a frame (Adyen's native 3-D Secure 2), a message to that page (``notify_page``).
# <sandbox>/3ds/<ref>/method is the issuer's 3-D Secure method URL, which a native fingerprint loads in a
# hidden frame: it tells the page in ``origin=`` that it ran, as adyen-web's fingerprint expects.

CHALLENGE_PATH = "/3ds/"
METHOD_SUFFIX = "/method"
_OUTCOMES = {
    "complete": AuthenticationResult.SUCCEEDED,
    "fail": AuthenticationResult.FAILED,
    "cancel": AuthenticationResult.ABANDONED,
}
_BUTTONS = (("complete", "Complete authentication"), ("fail", "Fail authentication"), ("cancel", "Cancel"))
_NOTHING_PENDING = "<!doctype html><title>3D Secure</title><p>No authentication is pending here.</p>"
_ORIGIN = re.compile(r"https?://(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


def challenge_call(
    request: SandboxRequest, account: str, *, finish: bool | None, back: Callable[[PaymentRecord], SandboxResponse]
) -> Call | SandboxResponse:
    """The engine call for a request to the pages, which renders itself: read the payment to show it, or take
    the answer. ``finish``: the answer concludes the payment (True), waits for a completion token (False,
    Adyen), or as the payment was created (None, Stripe); ``back(payment)`` says where the shopper goes once
    done. The method URL is answered at once."""
    fields = dict(parse_qsl(request.query))
    if request.method == "POST":
        fields.update(parse_qsl(request.body.decode("utf-8", errors="replace")))
    ref = request.path.removeprefix(CHALLENGE_PATH)
    if ref.endswith(METHOD_SUFFIX):
        target = fields.get("origin", "")
        # The message says only that the method ran: to any page ("*") where the URL names none.
        return notify_page({"type": "fingerPrintResult", "result": {"threeDSCompInd": "Y"}}, target)
    outcome = _OUTCOMES.get(fields.get("outcome", "")) if request.method in ("GET", "POST") else None
    step = fields.get("step") or None
    operation = GetPayment(ref) if outcome is None else Authenticate(ref, outcome, step, finish)
    return Call(account, operation, render=lambda reply: _challenge_answer(operation, reply, back))


def _challenge_answer(
    operation: GetPayment | Authenticate, reply: Reply, back: Callable[[PaymentRecord], SandboxResponse]
) -> SandboxResponse:
    """The page of the step the payment waits for; ``back(payment)`` (where the shopper goes) once they
    answered the last, and again if they answer twice while the result waits for completion; else 404."""
    result, payment = reply.result, reply.result.payment
    if payment is None or payment.status is not PaymentState.AUTHENTICATION_PENDING:
        concluded = isinstance(operation, Authenticate) and isinstance(result, Done)
        return back(payment) if concluded and payment is not None else html_answer(404, _NOTHING_PENDING)
    state = payment.three_ds
    if state is not None and state.current is not None:
        return html_answer(200, _page(operation.ref, payment, state.current))
    return back(payment)


def page_url(base_url: str, ref: str, origin: str | None = None, *, method: bool = False) -> str:
    """The address of the pages for ``ref``; ``method``: the method URL, telling the page at ``origin``."""
    url = f"{base_url}{CHALLENGE_PATH}{ref}"
    if not method:
        return url
    return with_query(url + METHOD_SUFFIX, {"origin": origin}) if origin else url + METHOD_SUFFIX


# EMV 3-D Secure's transStatus for the shopper's answer (adyen-web reads it; U: the challenge was abandoned).
_TRANS_STATUS = {
    AuthenticationResult.SUCCEEDED: "Y",
    AuthenticationResult.FAILED: "N",
    AuthenticationResult.ABANDONED: "U",
}


def challenge_result(result: AuthenticationResult, target_origin: str) -> SandboxResponse:
    """What the challenge page answers once the shopper is done, where the merchant's page frames it: the
    result, told to that page (the issuer's CRes, as adyen-web hears it from its notification page)."""
    return notify_page({"type": "challengeResult", "result": {"transStatus": _TRANS_STATUS[result]}}, target_origin)


def notify_page(message: Mapping[str, Any], target_origin: str) -> SandboxResponse:
    """A page that posts ``message`` to the page framing it, as an issuer's page does for a merchant's page
    that runs the authentication in a frame; ``target_origin`` is that page's origin, or ``*`` when unknown."""
    target = target_origin if _ORIGIN.fullmatch(target_origin) else "*"
    script = f"window.parent.postMessage({_script_json(message)}, {_script_json(target)});"
    return html_answer(
        200,
        f"<!doctype html><html><head><meta charset='utf-8'><title>3D Secure</title></head>"
        f"<body><p>Done.</p><script>{script}</script></body></html>",
    )


def _script_json(value: Any) -> str:
    # Inside <script>, "</" would end the script: JSON's own escape keeps it data.
    return json.dumps(value).replace("<", "\\u003c")


def _page(ref: str, payment: PaymentRecord, step: str) -> str:
    action, amount = html.escape(CHALLENGE_PATH + ref), html.escape(f"{payment.amount} {payment.currency}")
    fields = f"<input type='hidden' name='step' value='{html.escape(step)}'>"
    head = "<!doctype html><html><head><meta charset='utf-8'><title>3D Secure test page</title></head><body>"
    if step == FINGERPRINT:  # the issuer looks at the device and moves on by itself
        return (
            f"{head}<p>Checking your device...</p><form method='post' action='{action}'>{fields}"
            "<input type='hidden' name='outcome' value='complete'><noscript><button type='submit'>Continue"
            "</button></noscript></form><script>document.forms[0].submit();</script></body></html>"
        )
    forms = "".join(
        f"<form method='post' action='{action}'>{fields}<input type='hidden' name='outcome' value='{outcome}'>"
        f"<button type='submit'>{label}</button></form>"
        for outcome, label in _BUTTONS
    )
    return (
        f"{head}<h1>3D Secure test page</h1><p>A payment of {amount} (minor units) needs authentication.</p>"
        f"{forms}</body></html>"
    )
