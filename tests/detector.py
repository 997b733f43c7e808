"""An independent detector of leaked card data and credentials, written without the sidecar's masking
code so that a bug there cannot hide itself: Luhn-valid digit runs, configured secrets verbatim, and
CVC values next to a CVC-like name; each in the text as written, percent-decoded and JSON-unescaped
(and both), since a viewer or a log tool shows them decoded."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_plus

# A run of 13-19 digits, or the printed groupings (4-4-4-x, 4-4-4-4-x, 4-6-5) with clean edges, so that UUIDs
# (8-4-4-4-12 hex) do not count as card numbers.
DIGIT_RUN = re.compile(
    r"(?<![0-9])[0-9]{13,19}(?![0-9])"
    r"|(?<![0-9A-Za-z-])"
    r"(?:[0-9]{4}(?:[ -][0-9]{4}){2,3}[ -][0-9]{1,7}|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})"
    r"(?![0-9A-Za-z-])"
)
CVC_NAME = re.compile(
    r"(?i)(cvc2?|cvv2?|cvn|cid|csc|security[^0-9a-z]?code)[a-z0-9]{0,12}?[^0-9a-z]{0,12}([0-9]{3,4})(?![0-9])"
)
JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\([\"\\/bfnrt])")
# The gateways' own ids that may look like card numbers (Adyen's pspReference, networks' transaction
# ids): the sidecar keeps them in gateway answers on purpose (DESIGN.md, "Masking").
GATEWAY_ID_FIELDS = ("pspReference", "originalReference", "networkTxReference", "network_transaction_id")


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def json_unescaped(text: str) -> str:
    simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
    return JSON_ESCAPE.sub(lambda m: chr(int(m[1], 16)) if m[1] else simple[m[2]], text)


def variants(text: str) -> set[str]:
    out = {text}
    for _ in range(3):  # encodings over encodings: %255C%2522 is still a quote
        out |= {f(v) for v in out for f in (unquote, unquote_plus, json_unescaped)}
    return out


def gateway_ids(log_text: str) -> set[str]:
    """The values of gateway id fields in the gateway answers that `connector call` lines recorded."""
    found: set[str] = set()
    for line in log_text.splitlines():
        if '"connector call"' not in line:
            continue
        try:
            body = json.loads(json.loads(line).get("response_body") or "null")
        except ValueError:
            continue
        stack = [body]
        while stack:
            item = stack.pop()
            if isinstance(item, dict):
                found |= {str(item[k]) for k in GATEWAY_ID_FIELDS if isinstance(item.get(k), (str, int))}
                stack += item.values()
            elif isinstance(item, list):
                stack += item
    return found


@dataclass
class Finding:
    source: str
    kind: str
    excerpt: str  # already shortened: never the whole value


@dataclass
class Detector:
    secrets: list[str]
    cvcs: list[str]
    allowed: set[str] = field(default_factory=set)  # gateway ids, never a card number the test sent
    findings: list[Finding] = field(default_factory=list)
    sources: int = 0
    lines: int = 0
    bytes: int = 0

    def scan(self, source: str, data: bytes | str) -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        self.sources += 1
        self.bytes += len(text.encode())
        self.lines += text.count("\n") + 1
        seen: set[tuple[str, str]] = set()
        for variant in variants(text):
            for finding in self._scan_text(source, variant):
                if (finding.kind, finding.excerpt.split(" at ")[0]) not in seen:
                    seen.add((finding.kind, finding.excerpt.split(" at ")[0]))
                    self.findings.append(finding)

    def _scan_text(self, source: str, text: str) -> list[Finding]:
        found = []
        for m in DIGIT_RUN.finditer(text):
            digits = re.sub(r"[ -]", "", m.group(0))
            if 13 <= len(digits) <= 19 and luhn(digits) and digits not in self.allowed:
                found.append(Finding(source, "pan", f"{digits[:6]}...{digits[-4:]} at {m.start()}"))
        for secret in self.secrets:
            if secret in text:
                found.append(Finding(source, "secret", f"{secret[:4]}... at {text.index(secret)}"))
        for m in CVC_NAME.finditer(text):
            if m.group(2) in self.cvcs:
                found.append(Finding(source, "cvc", f"{m.group(1)} at {m.start()}"))
        return found
