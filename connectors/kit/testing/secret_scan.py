"""The secret fields of a gateway's API, found in its official spec by name and format.

A legacy app sends the gateway's own requests through the forward proxy, with any field the gateway
takes: every field of every request schema that can carry a card number, a CVC, a key, a token or a
password must be masked by name, by the connector's `sensitive_fields` or the masking engine's own
rules. Found here: a string (or unconstrained) field named `number`, `cvc`, `pan`, `pin`, `track1`/`2`,
or whose name has a word such as key, secret, token, password, cryptogram, cvc, or begins with
`encrypted`; or any field of `format: password`. Enums, booleans and dates are not secrets whatever
they are called (`passwordChangeDate`, `useNetworkToken`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from connectors.kit.testing.forms import types_of
from connectors.kit.testing.openapi import HTTP_METHODS, deref, load_spec, parameters

SECRET_NAMES = frozenset({"number", "pan", "cvc", "cvv", "cvc2", "cvv2", "cvn", "pin", "track1", "track2"})
SECRET_WORDS = frozenset({"key", "secret", "token", "password", "passcode", "cryptogram", "cvc", "cvv", "encrypted"})
_NOT_SECRET_FORMATS = frozenset({"date", "date-time", "time", "unix-time"})
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def words(name: str) -> list[str]:
    """`encryptedCardNumber` -> encrypted, card, number; `client_secret` -> client, secret."""
    return [w.lower() for w in _WORD.findall(name)]


def looks_secret(name: str, schema: Mapping[str, Any]) -> bool:
    if schema.get("format") == "password":
        return True
    types = types_of(schema)
    if types - {"string", "integer", "number", "null"} and types or "enum" in schema or "const" in schema:
        return False
    if schema.get("format") in _NOT_SECRET_FORMATS:
        return False
    return name.lower() in SECRET_NAMES or bool(SECRET_WORDS & set(words(name)))


@functools.cache
def secret_fields(file: str) -> Mapping[str, tuple[str, ...]]:
    """Each secret-looking field name in the spec's requests, with the places it appears (at most 3)."""
    spec = load_spec(file)
    found: dict[str, list[str]] = {}
    for template, item in spec["paths"].items():
        for method in (m for m in HTTP_METHODS if m in item):
            where = f"{method.upper()} {template}"
            for param in parameters(spec, template, method, "query"):
                if looks_secret(param["name"], deref(param.get("schema", {}), spec)):
                    found.setdefault(param["name"], []).append(f"{where} query")
            request_body = deref(item[method].get("requestBody"), spec) or {}
            for media in request_body.get("content", {}).values():
                _walk(media.get("schema", {}), spec, f"{where} body", found, frozenset())
    return {name: tuple(dict.fromkeys(places))[:3] for name, places in sorted(found.items())}


def _walk(schema: Any, spec: Mapping[str, Any], path: str, found: dict[str, list[str]], seen: frozenset[str]) -> None:
    if isinstance(schema, Mapping) and "$ref" in schema:
        if schema["$ref"] in seen:
            return
        seen |= {schema["$ref"]}
    schema = deref(schema, spec)
    if not isinstance(schema, Mapping):
        return
    for keyword in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(keyword, []):
            _walk(branch, spec, path, found, seen)
    for name, prop in schema.get("properties", {}).items():
        if looks_secret(name, deref(prop, spec)):
            found.setdefault(name, []).append(f"{path} {name}")
        _walk(prop, spec, f"{path} {name}", found, seen)
    for keyword in ("items", "additionalProperties"):
        if isinstance(schema.get(keyword), Mapping):
            _walk(schema[keyword], spec, path, found, seen)


def credential_headers(file: str) -> list[str]:
    """The headers the spec's security schemes carry credentials in."""
    schemes = load_spec(file).get("components", {}).get("securitySchemes", {})
    headers = set()
    for scheme in schemes.values():
        if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
            headers.add(scheme["name"])
        elif scheme.get("type") in ("http", "oauth2", "openIdConnect"):
            headers.add("Authorization")
    return sorted(headers)
