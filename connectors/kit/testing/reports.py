"""Spec violations as readable lines, with no card data in them.

jsonschema's messages quote the offending value, and a test failure ends up in CI logs: PCI DSS allows
at most the first 6 and last 4 digits of a card number there, and no CVC at all. Deliberately apart
from the runtime's masking engine, so that a bug there cannot hide a leak here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jsonschema.exceptions import ValidationError

from connectors.kit.testing.forms import is_index_map


class SpecViolation(AssertionError):
    """A request the gateway's published API does not accept. `problems` lists every error found."""

    def __init__(self, gateway: str, method: str, path: str, problems: Sequence[str]) -> None:
        self.problems = [mask_sensitive(p) for p in dict.fromkeys(problems)]
        shown_path = path.partition("?")[0]
        if len(shown_path) > 200:
            shown_path = f"{shown_path[:180]}... ({len(shown_path)} chars)"
        where = mask_sensitive(f"{gateway} {method.upper()} {shown_path}")
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{where}: {len(self.problems)} problem(s) against the official spec:\n{lines}")


_PAN_RUN = re.compile(r"(?<!\d)\d{13,19}(?!\d)")
# Spaced or dashed card numbers ("4242 4242 4242 4242") are still card numbers.
_PAN_GROUPED = re.compile(r"(?<!\d)(?<!\d[ -])\d{4}(?:[ -]\d{3,6}){2,4}(?![ -]?\d)")
_CVC_KEYS = frozenset({"cvc", "cvv", "cvc2", "cvv2"})
_CVC_IN_REPR = re.compile(
    r"""(?P<key>(['"])(?:cvc|cvv|cvc2|cvv2)\2\s*:\s*)(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^,}\]]*)""",
    re.IGNORECASE,
)
CVC_DROPPED = "<cvc dropped>"


def _mask_digits(digits: str) -> str:
    return f"{digits[:6]}****{digits[-4:]}"


def _mask_grouped(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return _mask_digits(digits) if 13 <= len(digits) <= 19 else match.group(0)


def mask_sensitive(text: str) -> str:
    """Mask card-number-like digit runs (13-19 digits) and drop CVC values quoted in reprs."""
    text = _CVC_IN_REPR.sub(lambda m: m.group("key") + repr(CVC_DROPPED), text)
    text = _PAN_GROUPED.sub(_mask_grouped, text)
    return _PAN_RUN.sub(lambda m: _mask_digits(m.group(0)), text)


def _is_cvc_key(key: object) -> bool:
    return isinstance(key, str) and key.lower() in _CVC_KEYS


def _redacted(value: Any) -> Any:
    """A copy safe to print: CVC values dropped, card numbers masked."""
    if isinstance(value, Mapping):
        return {k: CVC_DROPPED if _is_cvc_key(k) else _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, str):
        return mask_sensitive(value)
    return value


PathFormatter = Callable[[Sequence[Any]], str]


def bracket_path(path: Sequence[Any]) -> str:
    """A form parameter as the gateway spells it: payment_method_data[card][number]."""
    if not path:
        return ""
    return str(path[0]) + "".join(f"[{p}]" for p in path[1:])


def dotted_path(path: Sequence[Any]) -> str:
    """A JSON body field: paymentMethod.number, lineItems[0].id."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _where(location: str, path: Sequence[Any], fmt: PathFormatter) -> str:
    return f"{location} {fmt(path)}" if path else location


def _safe_message(error: ValidationError) -> str:
    message = error.message
    if any(_is_cvc_key(p) for p in error.absolute_path):
        safe = repr(CVC_DROPPED)
    else:
        safe = _shortened(repr(_redacted(error.instance)))
    # jsonschema quotes the instance as repr(); swap in a version safe to print.
    return mask_sensitive(message.replace(repr(error.instance), safe))


def _shortened(text: str, limit: int = 120) -> str:
    # A 5001-character id or a whole nested object buries the actual reason.
    return text if len(text) <= limit else f"{text[: limit - 20]}... ({len(text)} chars)"


def _branch_label(error: ValidationError, index: int) -> str:
    branch = error.validator_value[index]
    if isinstance(branch, Mapping):
        if "$ref" in branch:
            return branch["$ref"].rsplit("/", 1)[-1]
        if "title" in branch:
            return str(branch["title"])
    return f"branch {index}"


def _closest_branch(error: ValidationError) -> tuple[int, list[ValidationError]] | None:
    """The anyOf/oneOf branch the instance was most likely meant for, with its errors."""
    by_branch: dict[int, list[ValidationError]] = {}
    for sub in error.context or []:
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    if not by_branch:
        return None

    def distance(item: tuple[int, list[ValidationError]]) -> tuple[bool, int]:
        # A branch whose discriminator (a direct enum/const property such as Adyen's "type") or
        # whole type already disagrees is a different kind of thing, whatever its error count.
        wrong_kind = any(
            (e.validator in ("enum", "const") and len(e.relative_path) == 1)
            or (e.validator == "type" and not e.relative_path)
            for e in item[1]
        )
        return wrong_kind, len(item[1])

    return min(by_branch.items(), key=distance)


def _is_gapped_array(error: ValidationError) -> bool:
    if error.validator != "type" or not isinstance(error.instance, dict) or not is_index_map(error.instance):
        return False
    expected = error.validator_value
    return "array" in (expected if isinstance(expected, list) else [expected])


def describe(error: ValidationError, location: str, fmt: PathFormatter) -> list[str]:
    """One line per problem, naming the parameter at fault as the gateway spells it."""
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        patterns = error.schema.get("patternProperties", {}) if isinstance(error.schema, Mapping) else {}
        extras = [k for k in error.instance if k not in known and not any(re.search(p, k) for p in patterns)]
        return [f"{_where(location, [*path, k], fmt)}: unknown parameter" for k in extras]
    if error.validator == "required":
        absent = [k for k in error.validator_value if k not in error.instance]
        return [f"{_where(location, [*path, k], fmt)}: required parameter missing" for k in absent]
    if _is_gapped_array(error):
        # `coerce` leaves an index map with gaps as an object; say why it is not a list.
        indexes = ", ".join(sorted(error.instance, key=int))
        return [f"{_where(location, path, fmt)}: array indexes must run 0..n-1 without gaps (got {indexes})"]
    if error.validator in ("anyOf", "oneOf"):
        closest = _closest_branch(error)
        if closest is not None:
            index, sub_errors = closest
            reasons = [line for sub in sub_errors for line in describe(sub, location, fmt)]
            label = _branch_label(error, index)
            count = len(error.validator_value)
            summary = f"matches none of {count} allowed forms; closest is {label}, where: "
            return [f"{_where(location, path, fmt)}: {summary}" + "; ".join(reasons)]
    return [f"{_where(location, path, fmt)}: {_safe_message(error)}"]
