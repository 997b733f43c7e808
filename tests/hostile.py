"""Hypothesis strategies for hostile input: a card number and a CVC hidden in bodies of every shape
(JSON, broken JSON, forms, XML, multipart, text, stray bytes), in every encoding a careless client or
an attacker uses (percent, double percent, `%22` quotes, JSON `\\u` escapes, groups of four), under
every CVC-like name. Each example carries the secrets it hid, so a test can look for them after."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import quote

from detector import CVC_NAME, variants
from hypothesis import strategies as st
from strategies import card_numbers

CVC_NAMES = ["cvc", "cvv", "cvc2", "card_cvc", "cardCvv", "card[cvc]", "security_code", "securityCode", "CID", "cvn"]
CONTENT_TYPES = [
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/xml",
    "multipart/form-data; boundary=xYzZY",
    "",
    "application/octet-stream",
]


@dataclass(frozen=True)
class Hidden:
    pan: str
    cvc: str

    def leaked_in(self, text: str) -> list[str]:
        """What of the two a text shows, in any of its decodings (never the values themselves)."""
        leaks = []
        for variant in variants(text):
            if self.pan in re.sub(r"(?<=[0-9])[ +-](?=[0-9])", "", variant):
                leaks.append("pan")
            if any(m.group(2) == self.cvc for m in CVC_NAME.finditer(variant)):
                leaks.append("cvc")
        return sorted(set(leaks))


def _percent_all(s: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in s)


def _json_u(s: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in s)


def _groups(s: str, sep: str) -> str:
    return sep.join(s[i : i + 4] for i in range(0, len(s), 4))


ENCODINGS = {
    "raw": lambda s: s,
    "percent": _percent_all,
    "double percent": lambda s: quote(_percent_all(s), safe=""),
    "quoted": lambda s: f"%22{s}%22",
    "spaced": lambda s: _groups(s, " "),
    "dashed": lambda s: _groups(s, "-"),
    "plus": lambda s: _groups(s, "+"),
}
_TEXT_ENCODINGS = {**ENCODINGS, "json escape": _json_u}

words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10)
encoding = st.sampled_from(sorted(ENCODINGS))
text_encoding = st.sampled_from(sorted(_TEXT_ENCODINGS))
cvcs = st.from_regex(r"\A[0-9]{3,4}\Z")
# Real card numbers, not runs of one digit: a run of zeros hides in any other run of zeros, which would
# make a coincidence look like a leak.
hidden = st.builds(Hidden, pan=card_numbers.filter(lambda pan: len(set(pan)) >= 4), cvc=cvcs)


@st.composite
def hostile_bodies(draw) -> tuple[Hidden, str, bytes]:
    """(what was hidden, a Content-Type, the body)."""
    secret = draw(hidden)
    cvc_name = draw(st.sampled_from(CVC_NAMES))
    filler = draw(words)
    shape = draw(st.sampled_from(["json", "broken json", "form", "xml", "multipart", "text", "bytes"]))
    pan_text = _TEXT_ENCODINGS[draw(text_encoding)](secret.pan)
    if shape in ("json", "broken json"):
        doc = {
            filler: f"card {pan_text} end",
            "payment_method": {"card": {"number": secret.pan, cvc_name: secret.cvc}},
            "metadata": {secret.pan: draw(words)},
        }
        body = json.dumps(doc).replace("\\\\u", "\\u").encode()
        if shape == "broken json":
            breakage = draw(st.sampled_from(["truncate", "nan", "stray byte"]))
            if breakage == "truncate":
                body = body[: draw(st.integers(1, len(body) - 1))]
            elif breakage == "nan":
                body = body.replace(b"{", b'{"x": NaN, ', 1)
            else:
                at = draw(st.integers(0, len(body)))
                body = body[:at] + b"\xff" + body[at:]
    elif shape == "form":
        enc = ENCODINGS[draw(encoding)]
        key = quote(cvc_name, safe="") if draw(st.booleans()) else cvc_name
        body = f"{filler}={enc(secret.pan)}&{key}={secret.cvc}&metadata[{secret.pan}]=x".encode()
    elif shape == "xml":
        body = f"<r><{filler}>{secret.pan}</{filler}><{cvc_name.replace('[', '').replace(']', '')}>{secret.cvc}</r>"
        body = body.encode()  # not closed properly half the time: cvc_name's tag is left open
    elif shape == "multipart":
        body = (
            f'--xYzZY\r\nContent-Disposition: form-data; name="{filler}"\r\n\r\n{pan_text}\r\n'
            f'--xYzZY\r\nContent-Disposition: form-data; name="{cvc_name}"\r\n\r\n{secret.cvc}\r\n--xYzZY--\r\n'
        ).encode()
    elif shape == "text":
        body = f"{filler} {pan_text} {cvc_name}: {secret.cvc}".encode()
    else:
        body = draw(st.binary(max_size=20)) + f" {secret.pan} {cvc_name}={secret.cvc} ".encode() + b"\x80\xfe"
    return secret, draw(st.sampled_from(CONTENT_TYPES)), body


@st.composite
def hostile_headers(draw) -> tuple[Hidden, dict[str, str]]:
    """Headers that carry a card number (and a CVC) where no field is declared for it."""
    secret = draw(hidden)
    pan_text = ENCODINGS[draw(encoding)](secret.pan)
    cvc_name = draw(st.sampled_from(["cvc", "cvv", "security-code", "card-cvc"]))
    headers = {
        "X-Request-Id": draw(st.sampled_from([secret.pan, f"req-{secret.pan}", "ok-id"])),
        "X-Note": f"card {pan_text}",
        f"X-{cvc_name}": secret.cvc,
        f"X-{secret.pan}": "1",
        "X-Connector-Account": draw(st.sampled_from(["default", secret.pan])),
    }
    return secret, headers
