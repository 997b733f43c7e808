"""Form bodies and query strings as schemas see them.

Decoding: `a[b][0][c]=x` becomes {"a": {"b": {"0": {"c": "x"}}}} and `a[]=x` appends to a list (Stripe's
bracket keys, its OpenAPI `deepObject` style). Whether {"0": ...} is an array or an object with key "0"
only the schema knows, so that is decided in `coerce`, which also turns the strings a form carries into
the integers, numbers and booleans the schema asks for. A value that cannot be converted is left as it
is, so that validation reports it in the schema's own words ("'abc' is not of type 'integer'").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from connectors.kit.testing.openapi import deref

_FORM_KEY = re.compile(r"(?P<name>[^\[\]]+)(?P<subscripts>(?:\[[^\[\]]*\])*)")


def decode_form(text: str, location: str) -> tuple[dict[str, Any], list[str]]:
    """The nested parameters, and a problem line for each pair that cannot be placed (never its value)."""
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


_INTEGER = re.compile(r"-?\d+")
_NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def types_of(schema: Mapping[str, Any]) -> set[str]:
    """The JSON types a schema allows; empty when it does not constrain the type."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    if "properties" in schema or "additionalProperties" in schema:
        return {"object"}
    if "items" in schema:
        return {"array"}
    return set()


def _accepts_string(schema: Mapping[str, Any], value: str) -> bool:
    types = types_of(schema)
    if types and "string" not in types:
        return False
    return "enum" not in schema or value in schema["enum"]


def _convert_scalar(value: str, schema: Mapping[str, Any]) -> str | int | float | bool:
    if _accepts_string(schema, value):
        return value  # includes Stripe's "" meaning "unset", where an enum [""] branch allows it
    types = types_of(schema)
    if "integer" in types and _INTEGER.fullmatch(value):
        return int(value)
    if "number" in types and _NUMBER.fullmatch(value):
        number = float(value)
        return int(number) if number.is_integer() and _INTEGER.fullmatch(value) else number
    if "boolean" in types and value in ("true", "false"):
        return value == "true"
    return value


def is_index_map(value: Mapping[str, Any]) -> bool:
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
    arrays = [b for b in branches if "array" in types_of(b)]
    if isinstance(value, list):
        return arrays[0] if arrays else None
    objects = [b for b in branches if "object" in types_of(b)]
    fitting = [b for b in objects if _fits_object(b, value)]
    if fitting:
        return fitting[0]
    if arrays and is_index_map(value):
        return arrays[0]
    return (objects or arrays or [None])[0]


def coerce(value: Any, schema: Any, spec: Mapping[str, Any]) -> Any:
    """The decoded form `value` with its strings converted as `schema` says."""
    schema = deref(schema, spec)
    if not isinstance(schema, Mapping):
        return value
    branches = schema.get("anyOf") or schema.get("oneOf")
    if branches:
        branch = _pick_branch(value, [deref(b, spec) for b in branches])
        return value if branch is None else coerce(value, branch, spec)
    if isinstance(value, str):
        return _convert_scalar(value, schema)
    if isinstance(value, dict) and "array" in types_of(schema) and is_index_map(value):
        value = _as_list(value) or value
    if isinstance(value, list):
        return [coerce(item, schema.get("items", {}), spec) for item in value]
    if isinstance(value, dict):
        return {k: coerce(v, _property_schema(schema, k), spec) for k, v in value.items()}
    return value


def _property_schema(schema: Mapping[str, Any], key: str) -> Any:
    if key in schema.get("properties", {}):
        return schema["properties"][key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else {}
