"""The conformance kit: what any connector's tests call to prove it speaks its gateway and the canonical
API correctly. A test-time extra (`payment-sidecar[testing]`: pytest, jsonschema, hypothesis); nothing
the runtime imports may import it. connectors/README.md shows a connector's tests using it.

- `ConformanceSuite`: the canonical lifecycle on the connector's sandbox, spec validation of every
  request, secret fields, money in every currency (suite.py).
- `SpecValidator`, `validator_for`, `SpecViolation`: a request against the gateway's official spec.
- `SandboxDriver`, `drive`: running exchanges on a sandbox or on recorded answers.
- `strategies`: hypothesis strategies for canonical calls.
"""

from connectors.kit.testing.driver import SandboxDriver, Send, drive
from connectors.kit.testing.openapi import load_spec, need_spec, requires_spec, specs_dir, specs_required
from connectors.kit.testing.reports import SpecViolation, mask_sensitive
from connectors.kit.testing.secret_scan import credential_headers, secret_fields
from connectors.kit.testing.suite import ConformanceSuite
from connectors.kit.testing.validation import Operation, SpecValidator, validator_for

__all__ = [
    "ConformanceSuite",
    "Operation",
    "SandboxDriver",
    "Send",
    "SpecValidator",
    "SpecViolation",
    "credential_headers",
    "drive",
    "load_spec",
    "mask_sensitive",
    "need_spec",
    "requires_spec",
    "secret_fields",
    "specs_dir",
    "specs_required",
    "validator_for",
]
