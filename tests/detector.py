"""An independent detector of leaked card data and credentials, written without the sidecar's masking
code so that a bug there cannot hide itself: Luhn-valid digit runs, configured secrets verbatim, and
CVC values next to a CVC-like name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

# A run of 13-19 digits, or the printed groupings (4-4-4-x, 4-6-5) with clean edges, so that UUIDs
# (8-4-4-4-12 hex) do not count as card numbers.
DIGIT_RUN = re.compile(
    r"(?<![0-9])[0-9]{13,19}(?![0-9])"
    r"|(?<![0-9A-Za-z-])"
    r"(?:[0-9]{4}(?:[ -][0-9]{4}){2}[ -][0-9]{1,7}|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})"
    r"(?![0-9A-Za-z-])"
)
CVC_NAME = re.compile(r"(?i)(cvc2?|cvv2?|csc|security_?code|securitycode)[^0-9a-z]{0,12}([0-9]{3,4})(?![0-9])")


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


@dataclass
class Finding:
    source: str
    kind: str
    excerpt: str  # already shortened: never the whole value


@dataclass
class Detector:
    secrets: list[str]
    cvcs: list[str]
    findings: list[Finding] = field(default_factory=list)
    sources: int = 0
    lines: int = 0
    bytes: int = 0

    def scan(self, source: str, data: bytes | str) -> None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        self.sources += 1
        self.bytes += len(text.encode())
        self.lines += text.count("\n") + 1
        for variant in {text, unquote_plus(text)}:
            self._scan_text(source, variant)

    def _scan_text(self, source: str, text: str) -> None:
        for m in DIGIT_RUN.finditer(text):
            digits = re.sub(r"[ -]", "", m.group(0))
            if luhn(digits):
                self.findings.append(Finding(source, "pan", f"{digits[:6]}...{digits[-4:]} at {m.start()}"))
        for secret in self.secrets:
            if secret in text:
                self.findings.append(Finding(source, "secret", f"{secret[:4]}... at {text.index(secret)}"))
        for m in CVC_NAME.finditer(text):
            if m.group(2) in self.cvcs:
                self.findings.append(Finding(source, "cvc", f"{m.group(1)} at {m.start()}"))
