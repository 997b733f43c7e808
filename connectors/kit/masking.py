"""What a connector declares of its gateway's fields, for the runtime's masking engine
(sidecar/masking.py) to apply to everything written down (DESIGN.md, "Masking")."""

from __future__ import annotations

from enum import StrEnum


class Sensitivity(StrEnum):
    PAN = "pan"  # keep at most the first 6 and last 4 digits
    DROP = "drop"  # CVC, track data, PIN: never written at all
    SECRET = "secret"  # credentials and tokens: ***
    PERSONAL = "personal"  # email, phone, name, address lines: *** unless allowlisted
    GATEWAY_ID = "gateway_id"  # a gateway's own id in its answers: exempt from the card-number net
