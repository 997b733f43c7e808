"""Validate outgoing gateway requests against the gateways' own published OpenAPI specs.

Used by connector tests: a connector and the sandbox gateway are both ours, so they could agree on a
request the real gateway would reject. Checking every request a connector builds against the
official spec closes that gap.

The specs are read from `../shared/specs/` beside the repository (see SOURCES.md there): the project
keeps no copy. Tests that need them are marked `requires_specs` and skip with a reason where the folder
is absent; with `SIDECAR_REQUIRE_SPECS=1` (CI) they run, and a missing spec fails them.

Deliberately self-contained: it imports nothing from the project, so it keeps working while the
project's own modules change, and it can never share a bug with the code it checks.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import jsonschema
import pytest
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

SPECS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "specs"
SPEC_FILES = ("stripe.openapi.json", "adyen-checkout-v71.openapi.json")
SPECS_REQUIRED = os.environ.get("SIDECAR_REQUIRE_SPECS") == "1"
SPECS_MISSING = [name for name in SPEC_FILES if not (SPECS_DIR / name).is_file()]

requires_specs = pytest.mark.skipif(
    bool(SPECS_MISSING) and not SPECS_REQUIRED,
    reason=f"the gateways' specs are not at {SPECS_DIR} (missing: {', '.join(SPECS_MISSING)}); "
    "SIDECAR_REQUIRE_SPECS=1 makes this a failure",
)

__all__ = [
    "SpecViolation",
    "mask_sensitive",
    "requires_specs",
    "validate_adyen_request",
    "validate_stripe_request",
]


class SpecViolation(Exception):
    """A request the gateway's published API does not accept. `problems` lists every error found."""

    def __init__(self, gateway: str, method: str, path: str, problems: Sequence[str]) -> None:
        self.problems = [mask_sensitive(p) for p in dict.fromkeys(problems)]
        shown_path = path.partition("?")[0]
        if len(shown_path) > 200:
            shown_path = f"{shown_path[:180]}... ({len(shown_path)} chars)"
        where = mask_sensitive(f"{gateway} {method.upper()} {shown_path}")
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{where}: {len(self.problems)} problem(s) against the official spec:\n{lines}")


# --------------------------------------------------------------------------------------------------
# Masking. Error messages quote the offending value, and a test failure ends up in CI logs; PCI DSS
# allows at most first 6 + last 4 of a PAN there and no CVC at all.

_PAN_RUN = re.compile(r"(?<!\d)\d{13,19}(?!\d)")
# Spaced or dashed card numbers ("4242 4242 4242 4242") are still card numbers.
_PAN_GROUPED = re.compile(r"(?<!\d)(?<!\d[ -])\d{4}(?:[ -]\d{3,6}){2,4}(?![ -]?\d)")
_CVC_KEYS = frozenset({"cvc", "cvv", "cvc2", "cvv2"})
_CVC_IN_REPR = re.compile(
    r"""(?P<key>(['"])(?:cvc|cvv|cvc2|cvv2)\2\s*:\s*)(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^,}\]]*)""",
    re.IGNORECASE,
)
_CVC_DROPPED = "<cvc dropped>"


def _mask_digits(digits: str) -> str:
    return f"{digits[:6]}****{digits[-4:]}"


def _mask_grouped(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return _mask_digits(digits) if 13 <= len(digits) <= 19 else match.group(0)


def mask_sensitive(text: str) -> str:
    """Mask card-number-like digit runs (13-19 digits) and drop CVC values quoted in reprs."""
    text = _CVC_IN_REPR.sub(lambda m: m.group("key") + repr(_CVC_DROPPED), text)
    text = _PAN_GROUPED.sub(_mask_grouped, text)
    return _PAN_RUN.sub(lambda m: _mask_digits(m.group(0)), text)


def _is_cvc_key(key: object) -> bool:
    return isinstance(key, str) and key.lower() in _CVC_KEYS


def _redacted(value: Any) -> Any:
    """A copy safe to print: CVC values dropped, card numbers masked."""
    if isinstance(value, Mapping):
        return {k: _CVC_DROPPED if _is_cvc_key(k) else _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, str):
        return mask_sensitive(value)
    return value


# --------------------------------------------------------------------------------------------------
# Specs, routes and operations: loaded and compiled once per process, because property tests validate
# hundreds of examples and the Stripe spec alone is 2.5 MB.


@dataclass(frozen=True)
class _Gateway:
    name: str
    spec_file: str
    base_path: str  # prefix of every request path that the spec's `paths` leave out
    validator_cls: type[Validator]
    format_checker: jsonschema.FormatChecker | None


@dataclass(frozen=True)
class _Route:
    template: str
    pattern: re.Pattern[str]
    literal_segments: int


@dataclass(frozen=True)
class _Operation:
    gateway: _Gateway
    template: str
    method: str
    path_params: dict[str, str]

    @property
    def spec(self) -> dict[str, Any]:
        return _load_spec(self.gateway.spec_file)

    @property
    def definition(self) -> dict[str, Any]:
        return self.spec["paths"][self.template][self.method]


@functools.cache
def _load_spec(filename: str) -> dict[str, Any]:
    with open(SPECS_DIR / filename, encoding="utf-8") as f:
        return json.load(f)


_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@functools.cache
def _routes(filename: str) -> tuple[_Route, ...]:
    routes = []
    for template in _load_spec(filename)["paths"]:
        segments = template.strip("/").split("/")
        regex = "/".join(_segment_regex(s) for s in segments)
        literals = sum(1 for s in segments if "{" not in s)
        routes.append(_Route(template, re.compile(f"/{regex}"), literals))
    # A literal segment beats a parameter (`/v1/payment_intents/search` is not intent "search").
    return tuple(sorted(routes, key=lambda r: -r.literal_segments))


def _segment_regex(segment: str) -> str:
    parts = re.split(r"\{([^}]+)\}", segment)
    # re.split alternates literal text and parameter names.
    return "".join(re.escape(part) if i % 2 == 0 else f"(?P<{_group_name(part)}>[^/]+)" for i, part in enumerate(parts))


def _group_name(param: str) -> str:
    # Regex group names must be identifiers; OpenAPI parameter names need not be.
    return "p_" + re.sub(r"\W", lambda m: f"_{ord(m.group(0)):x}_", param)


def _param_from_group(group: str) -> str:
    return re.sub(r"_([0-9a-f]+)_", lambda m: chr(int(m.group(1), 16)), group[2:])


def _find_operation(gateway: _Gateway, method: str, path: str) -> _Operation:
    if not path.startswith(gateway.base_path + "/"):
        raise SpecViolation(gateway.name, method, path, [f"path is not under the API base {gateway.base_path or '/'}"])
    relative = path[len(gateway.base_path) :]
    spec = _load_spec(gateway.spec_file)
    for route in _routes(gateway.spec_file):
        match = route.pattern.fullmatch(relative)
        if match is None:
            continue
        path_item = spec["paths"][route.template]
        if method.lower() not in path_item:
            allowed = ", ".join(m.upper() for m in _HTTP_METHODS if m in path_item)
            raise SpecViolation(
                gateway.name,
                method,
                path,
                [f"{route.template} has no {method.upper()} operation (allowed: {allowed})"],
            )
        params = {_param_from_group(k): unquote(v) for k, v in match.groupdict().items()}
        return _Operation(gateway, route.template, method.lower(), params)
    raise SpecViolation(gateway.name, method, path, ["no path in the spec matches this request path"])


def _deref(schema: Any, spec: Mapping[str, Any]) -> Any:
    """Follow local `$ref`s (`#/components/...`) to the schema they point at."""
    seen = set()
    while isinstance(schema, Mapping) and "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise ValueError(f"unsupported or cyclic $ref {ref!r}")
        seen.add(ref)
        node: Any = spec
        for token in ref[2:].split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        schema = node
    return schema


def _parameters(op: _Operation, location: str) -> list[dict[str, Any]]:
    """Parameters declared for the operation in `location`, path-item level ones included."""
    path_item = op.spec["paths"][op.template]
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*path_item.get("parameters", []), *op.definition.get("parameters", [])]:
        param = _deref(raw, op.spec)
        merged[(param["name"], param["in"])] = param
    return [p for (_, where), p in merged.items() if where == location]


# --------------------------------------------------------------------------------------------------
# Validators. Stripe's spec is OpenAPI 3.0: Draft 4 rules plus `nullable`. Every Stripe request
# schema closes only its top level (`additionalProperties: false`) and leaves nested objects open,
# yet Stripe itself rejects unknown nested keys ("Received unknown parameter: card[foo]"); we follow
# the gateway, so a nested object that lists `properties` and says nothing else is treated as closed.

STRIPE_CLOSE_NESTED_OBJECTS = True


def _oas30_type(validator: Validator, types: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if instance is None and schema.get("nullable") is True:
        return
    yield from jsonschema.Draft4Validator.VALIDATORS["type"](validator, types, instance, schema)


def _oas30_enum(validator: Validator, enums: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if instance is None and schema.get("nullable") is True:
        return
    yield from jsonschema.Draft4Validator.VALIDATORS["enum"](validator, enums, instance, schema)


def _closed_properties(
    validator: Validator, properties: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[Any]:
    yield from jsonschema.Draft4Validator.VALIDATORS["properties"](validator, properties, instance, schema)
    if not validator.is_type(instance, "object"):
        return
    if "additionalProperties" in schema or "patternProperties" in schema:
        return  # the schema states its own rule; the standard keywords enforce it
    extras = [k for k in instance if k not in properties]
    if extras:
        yield ValidationError(
            f"Additional properties are not allowed ({', '.join(map(repr, extras))} unexpected)",
            validator="additionalProperties",
            validator_value=False,
        )


_OAS30Validator: type[Validator] = jsonschema.validators.extend(
    jsonschema.Draft4Validator,
    {"type": _oas30_type, "enum": _oas30_enum}
    | ({"properties": _closed_properties} if STRIPE_CLOSE_NESTED_OBJECTS else {}),
)

# Adyen's spec is OpenAPI 3.1, i.e. JSON Schema 2020-12. Its formats (date, date-time; int32/int64
# and byte are unknown to jsonschema and ignored) pass all 54 request examples the spec carries,
# so format checking stays on.
STRIPE = _Gateway("Stripe", "stripe.openapi.json", "", _OAS30Validator, None)
ADYEN = _Gateway(
    "Adyen",
    "adyen-checkout-v71.openapi.json",
    "/v71",
    jsonschema.Draft202012Validator,
    jsonschema.Draft202012Validator.FORMAT_CHECKER,
)
_GATEWAYS = {g.name: g for g in (STRIPE, ADYEN)}


def _new_validator(gateway: _Gateway, schema: Mapping[str, Any]) -> Validator:
    # Carrying `components` in the root lets `#/components/...` refs resolve against it, without
    # copying the spec into a referencing Registry.
    spec = _load_spec(gateway.spec_file)
    root = {**schema, "components": spec.get("components", {})}
    return gateway.validator_cls(root, format_checker=gateway.format_checker)


@functools.cache
def _body_validator(gateway_name: str, template: str, method: str, media_type: str) -> Validator:
    gateway = _GATEWAYS[gateway_name]
    op_def = _load_spec(gateway.spec_file)["paths"][template][method]
    return _new_validator(gateway, op_def["requestBody"]["content"][media_type]["schema"])


@functools.cache
def _params_validator(gateway_name: str, template: str, method: str, location: str) -> Validator:
    gateway = _GATEWAYS[gateway_name]
    op = _Operation(gateway, template, method, {})
    params = _parameters(op, location)
    schema = {
        "type": "object",
        "properties": {p["name"]: p.get("schema", {}) for p in params},
        "required": [p["name"] for p in params if p.get("required")],
        "additionalProperties": False,
    }
    if not schema["required"]:
        del schema["required"]  # Draft 4 forbids an empty `required`
    return _new_validator(gateway, schema)


# --------------------------------------------------------------------------------------------------
# Form decoding (Stripe bodies and query strings): `a[b][0][c]=x` becomes {"a": {"b": {"0": {"c": "x"}}}}
# and `a[]=x` appends to a list. Whether {"0": ...} is an array or an object with key "0" only the
# schema knows, so that is decided in `_coerce`.

_FORM_KEY = re.compile(r"(?P<name>[^\[\]]+)(?P<subscripts>(?:\[[^\[\]]*\])*)")


def _decode_form(text: str, location: str) -> tuple[dict[str, Any], list[str]]:
    tree: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in parse_qsl(text, keep_blank_values=True):
        match = _FORM_KEY.fullmatch(key)
        if match is None:
            problems.append(f"{location}: malformed parameter name {key!r}")
            continue
        segments = [match["name"], *re.findall(r"\[([^\[\]]*)\]", match["subscripts"])]
        problem = _insert(tree, segments, value)
        if problem:
            problems.append(f"{location} {key}: {problem}")
    return tree, problems


def _insert(tree: dict[str, Any], segments: list[str], value: str) -> str | None:
    """Place one decoded pair in the tree; return a problem, if any. Never mentions the value."""
    if "" in segments[:-1]:
        return "'[]' is only understood as the last subscript (send indexes: a[0][b])"
    appending = segments[-1] == ""
    parents, leaf = (segments[:-2], segments[-2]) if appending else (segments[:-1], segments[-1])
    node = tree
    for segment in parents:
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            return "conflicts with another parameter of the same name (object vs. scalar or list)"
        node = child
    if appending:
        items = node.setdefault(leaf, [])
        if not isinstance(items, list):
            return "conflicts with another parameter of the same name ('[]' list vs. object or scalar)"
        items.append(value)
        return None
    if leaf in node:
        # Which one would the gateway take? Ambiguous either way, so a connector must not send it.
        return "sent more than once (or as both a scalar and an object)"
    node[leaf] = value
    return None


# --------------------------------------------------------------------------------------------------
# Coercion: form values are all strings; the schema says which should be integers, numbers,
# booleans, arrays. Where a value cannot be converted it is left alone, so validation reports it
# with the schema's own words ("'abc' is not of type 'integer'").

_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    if "properties" in schema or "additionalProperties" in schema:
        return {"object"}
    if "items" in schema:
        return {"array"}
    return set()  # unconstrained


def _accepts_string(schema: Mapping[str, Any], value: str) -> bool:
    types = _types(schema)
    if types and "string" not in types:
        return False
    return "enum" not in schema or value in schema["enum"]


def _convert_scalar(value: str, schema: Mapping[str, Any]) -> str | int | float | bool:
    if _accepts_string(schema, value):
        return value  # includes Stripe's "" meaning "unset", where an enum [""] branch allows it
    types = _types(schema)
    if "integer" in types and _INTEGER.fullmatch(value):
        return int(value)
    if "number" in types and _NUMBER.fullmatch(value):
        number = float(value)
        return int(number) if number.is_integer() and _INTEGER.fullmatch(value) else number
    if "boolean" in types and value in ("true", "false"):
        return value == "true"
    return value


def _is_index_map(value: Mapping[str, Any]) -> bool:
    return bool(value) and all(k.isdigit() for k in value)


def _as_list(value: Mapping[str, Any]) -> list[Any] | None:
    """{"0": a, "1": b} -> [a, b]; None unless the indexes are exactly 0..n-1."""
    indexes = sorted(int(k) for k in value)
    if indexes != list(range(len(indexes))) or len(set(value)) != len(indexes):
        return None
    return [value[str(i)] for i in indexes]


def _fits_object(schema: Mapping[str, Any], value: Mapping[str, Any]) -> bool:
    properties = schema.get("properties", {})
    return bool(schema.get("additionalProperties")) or all(k in properties for k in value)


def _pick_branch(value: Any, branches: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The anyOf/oneOf branch whose shape the raw form value was meant for."""
    if isinstance(value, str):
        for branch in branches:
            if _accepts_string(branch, value):
                return branch
        for branch in branches:
            if _convert_scalar(value, branch) is not value:
                return branch
        return None
    arrays = [b for b in branches if "array" in _types(b)]
    if isinstance(value, list):
        return arrays[0] if arrays else None
    objects = [b for b in branches if "object" in _types(b)]
    fitting = [b for b in objects if _fits_object(b, value)]
    if fitting:
        return fitting[0]
    if arrays and _is_index_map(value):
        return arrays[0]
    return (objects or arrays or [None])[0]


def _coerce(value: Any, schema: Any, spec: Mapping[str, Any]) -> Any:
    schema = _deref(schema, spec)
    if not isinstance(schema, Mapping):
        return value
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        branch = _pick_branch(value, [_deref(b, spec) for b in branches])
        return value if branch is None else _coerce(value, branch, spec)
    if isinstance(value, str):
        return _convert_scalar(value, schema)
    types = _types(schema)
    if isinstance(value, dict) and "array" in types and _is_index_map(value):
        value = _as_list(value) or value
    if isinstance(value, list):
        return [_coerce(item, schema.get("items", {}), spec) for item in value]
    if isinstance(value, dict):
        return {k: _coerce(v, _property_schema(schema, k), spec) for k, v in value.items()}
    return value


def _property_schema(schema: Mapping[str, Any], key: str) -> Any:
    if key in schema.get("properties", {}):
        return schema["properties"][key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else {}


# --------------------------------------------------------------------------------------------------
# Turning jsonschema errors into readable, masked problem lines.

PathFormatter = Callable[[Sequence[Any]], str]


def _bracket_path(path: Sequence[Any]) -> str:
    """Stripe's own spelling of a parameter: payment_method_data[card][number]."""
    if not path:
        return ""
    return str(path[0]) + "".join(f"[{p}]" for p in path[1:])


def _dotted_path(path: Sequence[Any]) -> str:
    """JSON body spelling: paymentMethod.number, lineItems[0].id."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _where(location: str, path: Sequence[Any], fmt: PathFormatter) -> str:
    return f"{location} {fmt(path)}" if path else location


def _safe_message(error: ValidationError) -> str:
    message = error.message
    if any(_is_cvc_key(p) for p in error.absolute_path):
        safe = repr(_CVC_DROPPED)
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
    if error.validator != "type" or not isinstance(error.instance, dict) or not _is_index_map(error.instance):
        return False
    expected = error.validator_value
    return "array" in (expected if isinstance(expected, list) else [expected])


def _describe(error: ValidationError, location: str, fmt: PathFormatter) -> list[str]:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        patterns = error.schema.get("patternProperties", {}) if isinstance(error.schema, Mapping) else {}
        extras = [k for k in error.instance if k not in known and not any(re.search(p, k) for p in patterns)]
        return [f"{_where(location, [*path, k], fmt)}: unknown parameter" for k in extras]
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [f"{_where(location, [*path, k], fmt)}: required parameter missing" for k in missing]
    if _is_gapped_array(error):
        # `_coerce` leaves an index map with gaps as an object; say why it is not a list.
        indexes = ", ".join(sorted(error.instance, key=int))
        return [f"{_where(location, path, fmt)}: array indexes must run 0..n-1 without gaps (got {indexes})"]
    if error.validator in ("anyOf", "oneOf"):
        closest = _closest_branch(error)
        if closest is not None:
            index, sub_errors = closest
            reasons = [line for sub in sub_errors for line in _describe(sub, location, fmt)]
            label = _branch_label(error, index)
            count = len(error.validator_value)
            summary = f"matches none of {count} allowed forms; closest is {label}, where: "
            return [f"{_where(location, path, fmt)}: {summary}" + "; ".join(reasons)]
    return [f"{_where(location, path, fmt)}: {_safe_message(error)}"]


def _errors(validator: Validator, instance: Any, location: str, fmt: PathFormatter) -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [line for error in errors for line in _describe(error, location, fmt)]


# --------------------------------------------------------------------------------------------------
# Checks shared by both gateways.


def _check_params(op: _Operation, location: str, values: dict[str, Any], fmt: PathFormatter) -> list[str]:
    if not values and not any(p.get("required") for p in _parameters(op, location)):
        return []
    validator = _params_validator(op.gateway.name, op.template, op.method, location)
    coerced = _coerce(values, validator.schema, op.spec)
    return _errors(validator, coerced, location, fmt)


def _check_query(op: _Operation, query: str, fmt: PathFormatter) -> list[str]:
    tree, problems = _decode_form(query, "query")
    return problems + _check_params(op, "query", tree, fmt)


def _request_body(op: _Operation) -> dict[str, Any] | None:
    return op.definition.get("requestBody")


def _decode_text(body: bytes) -> tuple[str | None, list[str]]:
    try:
        return body.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        return None, [f"body: not valid UTF-8 ({exc.reason} at byte {exc.start})"]


# --------------------------------------------------------------------------------------------------
# Stripe


def validate_stripe_request(method: str, path: str, body: bytes | None, query: str = "") -> None:
    """Raise SpecViolation unless Stripe's OpenAPI spec accepts this request.

    `path` may carry its own `?query`; it is checked together with `query`. The body is taken as
    application/x-www-form-urlencoded, the only encoding Stripe's API uses outside file uploads.
    """
    path, _, inline_query = path.partition("?")
    query = "&".join(q for q in (inline_query, query) if q)
    op = _find_operation(STRIPE, method, path)
    problems = [
        *_check_params(op, "path", dict(op.path_params), _bracket_path),
        *_check_query(op, query, _bracket_path),
        *_check_stripe_body(op, body),
    ]
    if problems:
        raise SpecViolation(STRIPE.name, method, path, problems)


def _check_stripe_body(op: _Operation, body: bytes | None) -> list[str]:
    request_body = _request_body(op)
    media = "application/x-www-form-urlencoded"
    if request_body is None:
        return ["body: this operation takes no request body"] if body else []
    if media not in request_body["content"]:
        raise NotImplementedError(f"{op.template} takes only {sorted(request_body['content'])}")
    text, problems = _decode_text(body or b"")
    if text is None:
        return problems
    tree, problems = _decode_form(text, "body")
    validator = _body_validator(STRIPE.name, op.template, op.method, media)
    coerced = _coerce(tree, validator.schema, op.spec)
    return problems + _errors(validator, coerced, "body", _bracket_path)


# --------------------------------------------------------------------------------------------------
# Adyen


def validate_adyen_request(method: str, path: str, body: bytes | None) -> None:
    """Raise SpecViolation unless Adyen's Checkout v71 OpenAPI spec accepts this request.

    `path` is the full request path including the `/v71` base (and optionally a `?query`); the body
    is JSON.
    """
    path, _, query = path.partition("?")
    op = _find_operation(ADYEN, method, path)
    problems = [
        *_check_params(op, "path", dict(op.path_params), _dotted_path),
        *_check_query(op, query, _dotted_path),
        *_check_adyen_body(op, body),
    ]
    if problems:
        raise SpecViolation(ADYEN.name, method, path, problems)


def _check_adyen_body(op: _Operation, body: bytes | None) -> list[str]:
    request_body = _request_body(op)
    media = "application/json"
    if request_body is None:
        return ["body: this operation takes no request body"] if body else []
    if not body:
        # Adyen's spec leaves `required` unset on every body, but the schemas demand fields anyway.
        return ["body: missing (the operation expects a JSON object)"]
    if media not in request_body["content"]:
        raise NotImplementedError(f"{op.template} takes only {sorted(request_body['content'])}")
    text, problems = _decode_text(body)
    if text is None:
        return problems
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        # The message quotes no document text, only the position.
        return [f"body: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"]
    validator = _body_validator(ADYEN.name, op.template, op.method, media)
    return _errors(validator, document, "body", _dotted_path)
