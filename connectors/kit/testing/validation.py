"""Validating a gateway request against the gateway's own OpenAPI description.

A connector and its sandbox are both ours, so they could agree on a request the real gateway would
refuse. Checking every request a connector builds against the official spec closes that gap: the
request is routed by method and path to one operation, and its path parameters, query and body are
validated against what that operation declares, in the body's own encoding (JSON, or a form with
bracket keys, decoded and converted per the schema first). Every problem is reported at once, masked.

Dialects: OpenAPI 3.0 is JSON Schema Draft 4 plus `nullable`; OpenAPI 3.1 is JSON Schema 2020-12,
formats checked (Adyen's date and date-time pass all 54 request examples its spec carries).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import jsonschema
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from connectors.kit.conformance import ApiSpec
from connectors.kit.connector import GatewayRequest
from connectors.kit.testing.forms import coerce, decode_form
from connectors.kit.testing.openapi import HTTP_METHODS, deref, load_spec, operation_name, parameters
from connectors.kit.testing.reports import PathFormatter, SpecViolation, bracket_path, describe, dotted_path

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@dataclass(frozen=True)
class Operation:
    template: str
    method: str
    path_params: dict[str, str]
    operation_id: str  # the spec's operationId, else "METHOD template"


@dataclass(frozen=True)
class _Route:
    template: str
    pattern: re.Pattern[str]
    literal_segments: int


def _oas30_type(validator: Validator, types: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if instance is None and schema.get("nullable") is True:
        return
    yield from jsonschema.Draft4Validator.VALIDATORS["type"](validator, types, instance, schema)


def _oas30_enum(validator: Validator, enums: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if instance is None and schema.get("nullable") is True:
        return
    yield from jsonschema.Draft4Validator.VALIDATORS["enum"](validator, enums, instance, schema)


def _oas30_any_of(validator: Validator, schemas: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    # An answer's null where the schema says `nullable` beside its `anyOf` (Stripe's expandable fields).
    if instance is None and schema.get("nullable") is True:
        return
    yield from jsonschema.Draft4Validator.VALIDATORS["anyOf"](validator, schemas, instance, schema)


def _discriminator(spec: Mapping[str, Any]) -> Any:
    """OpenAPI's `discriminator`, which JSON Schema ignores: an object is checked against the schema its
    property's value maps to (Checkout.com's polymorphic `source`: `card` -> `03_PaymentRequestCardSource`)."""

    def discriminator(validator: Validator, rule: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        yield from _discriminated(validator, rule, instance, schema, spec)

    return discriminator


def _discriminated(
    validator: Validator, rule: Any, instance: Any, schema: Mapping[str, Any], spec: Mapping[str, Any]
) -> Iterator[Any]:
    mapping = rule.get("mapping") if isinstance(rule, Mapping) else None
    name = rule.get("propertyName") if isinstance(rule, Mapping) else None
    if not (mapping and validator.is_type(instance, "object") and isinstance(instance.get(name), str)):
        return  # a missing property is the schema's own `required` to report
    target = mapping.get(instance[name])
    if target is None:
        yield ValidationError(f"{instance[name]!r} is not one of {sorted(mapping)}", validator="discriminator")
        return
    mapped = deref({"$ref": target}, spec)
    # The mapped schema extends this one (`allOf`): this one's other keywords are checked already, and going
    # through it again would dispatch again without end.
    parts = [part for part in mapped.get("allOf", []) if deref(part, spec) is not schema]
    yield from validator.descend(instance, {**mapped, "allOf": parts} if parts else _without(mapped, "allOf"))


def _without(schema: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key}


def _closing(base: type[Validator]) -> Any:
    """`properties` that also refuses keys an object does not list, where its schema states no rule."""

    def properties(validator: Validator, props: Any, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
        yield from base.VALIDATORS["properties"](validator, props, instance, schema)
        if not validator.is_type(instance, "object") or "additionalProperties" in schema:
            return
        if "patternProperties" in schema:
            return
        extras = [k for k in instance if k not in props]
        if extras:
            yield ValidationError(
                f"Additional properties are not allowed ({', '.join(map(repr, extras))} unexpected)",
                validator="additionalProperties",
                validator_value=False,
            )

    return properties


def _dialect(
    version: str, closed_objects: bool, spec: Mapping[str, Any]
) -> tuple[type[Validator], jsonschema.FormatChecker | None]:
    if version.startswith("3.0"):
        base: type[Validator] = jsonschema.Draft4Validator
        changes: dict[str, Any] = {
            "type": _oas30_type,
            "enum": _oas30_enum,
            "anyOf": _oas30_any_of,
            "discriminator": _discriminator(spec),
        }
        checker = None
    elif version.startswith("3.1"):
        base, checker = jsonschema.Draft202012Validator, jsonschema.Draft202012Validator.FORMAT_CHECKER
        changes = {"discriminator": _discriminator(spec)}
    else:
        raise NotImplementedError(f"OpenAPI {version}: the kit reads OpenAPI 3.0 and 3.1")
    if closed_objects:
        changes["properties"] = _closing(base)
    return jsonschema.validators.extend(base, changes), checker


class SpecValidator:
    """Checks requests against one spec file; compiled validators are kept for the next request."""

    def __init__(self, file: str, *, closed_objects: bool = False) -> None:
        self.file = file
        self.spec = load_spec(file)
        self._cls, self._format_checker = _dialect(str(self.spec.get("openapi", "")), closed_objects, self.spec)
        self._routes = _routes(self.spec)
        self._validators: dict[tuple[Any, ...], Validator] = {}

    def check_request(
        self, request: GatewayRequest, base_url: str, schemas: Mapping[str, str] | None = None
    ) -> Operation:
        """Validate a connector's request sent to `base_url` (the spec's paths are relative to it)."""
        url = urlsplit(request.url)
        base = urlsplit(base_url)
        base_path = base.path.rstrip("/")
        if (url.scheme, url.netloc) != (base.scheme, base.netloc) or not url.path.startswith(base_path + "/"):
            raise SpecViolation(self.file, request.method, url.path, [f"not under the base URL {base_url}"])
        content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), None)
        return self.check(
            request.method, url.path[len(base_path) :], request.body, url.query, content_type, schemas or {}
        )

    def check(
        self,
        method: str,
        path: str,
        body: bytes | None,
        query: str = "",
        content_type: str | None = None,
        schemas: Mapping[str, str] | None = None,
    ) -> Operation:
        """Raise SpecViolation unless the spec accepts the request; the operation it is, if it does.

        `path` is relative to the spec's server and may carry its own `?query`. `schemas` names, by
        operationId, a components/schemas entry to check the body against instead of the operation's own.
        """
        path, _, inline_query = path.partition("?")
        query = "&".join(q for q in (inline_query, query) if q)
        op = self.route(method, path)
        fmt = bracket_path if _media(self._content(op), content_type, body) == FORM else dotted_path
        problems = [
            *self._check_params(op, "path", dict(op.path_params), fmt),
            *self._check_query(op, query),
            *self._check_body(op, body, content_type, (schemas or {}).get(op.operation_id), fmt),
        ]
        if problems:
            raise SpecViolation(self.file, method, path, problems)
        return op

    def check_response(self, method: str, path: str, status: int, body: bytes) -> Operation:
        """Raise SpecViolation unless the operation documents ``status`` (or a ``default`` answer) with a JSON
        schema that takes ``body``: a simulator's answers, checked as strictly as a connector's requests."""
        op = self.route(method, path.partition("?")[0])
        responses = self.spec["paths"][op.template][op.method].get("responses", {})
        response = responses.get(str(status)) or responses.get("default")
        schema = deref(response or {}, self.spec).get("content", {}).get(JSON, {}).get("schema")
        if schema is None:
            raise SpecViolation(self.file, method, path, [f"response: no JSON answer documented for {status}"])
        key = ("response", op.template, op.method, str(status) if str(status) in responses else "default")
        if key not in self._validators:
            self._validators[key] = self._validator(schema)
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SpecViolation(self.file, method, path, [f"response: not JSON ({exc})"]) from None
        if problems := _errors(self._validators[key], document, "response", dotted_path):
            raise SpecViolation(self.file, method, path, problems)
        return op

    def has_path(self, path: str) -> bool:
        return any(route.pattern.fullmatch(path) for route in self._routes)

    def route(self, method: str, path: str) -> Operation:
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            item = self.spec["paths"][route.template]
            if method.lower() not in item:
                allowed = ", ".join(m.upper() for m in HTTP_METHODS if m in item)
                raise SpecViolation(
                    self.file,
                    method,
                    path,
                    [f"{route.template} has no {method.upper()} operation (allowed: {allowed})"],
                )
            params = {_param_from_group(k): unquote(v) for k, v in match.groupdict().items()}
            op_id = operation_name(item[method.lower()], route.template, method.lower())
            return Operation(route.template, method.lower(), params, op_id)
        raise SpecViolation(self.file, method, path, ["no path in the spec matches this request path"])

    # -- parts of a request -------------------------------------------------------------------------

    def _check_params(self, op: Operation, location: str, values: dict[str, Any], fmt: PathFormatter) -> list[str]:
        declared = parameters(self.spec, op.template, op.method, location)
        if not values and not any(p.get("required") for p in declared):
            return []
        key = ("params", op.template, op.method, location)
        if key not in self._validators:
            schema: dict[str, Any] = {
                "type": "object",
                "properties": {p["name"]: p.get("schema", {}) for p in declared},
                "additionalProperties": False,
            }
            if required := [p["name"] for p in declared if p.get("required")]:
                schema["required"] = required  # Draft 4 forbids an empty `required`
            self._validators[key] = self._validator(schema)
        validator = self._validators[key]
        return _errors(validator, coerce(values, validator.schema, self.spec), location, fmt)

    def _check_query(self, op: Operation, query: str) -> list[str]:
        tree, problems = decode_form(query, "query")
        return problems + self._check_params(op, "query", tree, bracket_path)

    def _content(self, op: Operation) -> Mapping[str, Any]:
        request_body = self.spec["paths"][op.template][op.method].get("requestBody")
        return deref(request_body, self.spec).get("content", {}) if request_body else {}

    def _check_body(
        self, op: Operation, body: bytes | None, content_type: str | None, schema_name: str | None, fmt: PathFormatter
    ) -> list[str]:
        content = self._content(op)
        if not content:
            return ["body: this operation takes no request body"] if body else []
        media = _media(content, content_type, body)
        if media not in content:
            return [f"body: sent as {media}; the operation takes {', '.join(content)}"]
        text, problems = _decode_text(body or b"")
        if text is None:
            return problems
        if media == FORM:
            document, problems = decode_form(text, "body")
        elif not text:
            # Adyen's spec leaves `required` unset on every body, but the schemas demand fields anyway.
            return ["body: missing (the operation expects a JSON object)"]
        else:
            try:
                document = json.loads(text)
            except json.JSONDecodeError as exc:  # the message quotes no document text, only the position
                return [f"body: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"]
        key = ("body", op.template, op.method, media, schema_name)
        if key not in self._validators:
            schema = {"$ref": f"#/components/schemas/{schema_name}"} if schema_name else content[media]["schema"]
            self._validators[key] = self._validator(schema)
        validator = self._validators[key]
        if media == FORM:
            document = coerce(document, validator.schema, self.spec)
        return problems + _errors(validator, document, "body", fmt)

    def _validator(self, schema: Mapping[str, Any]) -> Validator:
        # Carrying `components` in the root lets `#/components/...` refs resolve against it, without
        # copying the spec into a referencing Registry.
        root = {**schema, "components": self.spec.get("components", {})}
        return self._cls(root, format_checker=self._format_checker)


class SpecSet:
    """The validators of an API published in several files (`ApiSpec.also`): a request is checked against the
    file that has its path."""

    def __init__(self, validators: list[SpecValidator]) -> None:
        self.validators = validators
        self.file = ", ".join(v.file for v in validators)

    def check_request(
        self, request: GatewayRequest, base_url: str, schemas: Mapping[str, str] | None = None
    ) -> Operation:
        path = urlsplit(request.url).path.removeprefix(urlsplit(base_url).path.rstrip("/"))
        for validator in self.validators:
            if validator.has_path(path):
                return validator.check_request(request, base_url, schemas)
        raise SpecViolation(self.file, request.method, path, ["no path in the specs matches this request path"])


def validator_for(spec: ApiSpec) -> SpecValidator | SpecSet:
    """One validator per spec file and dialect in a process: property tests validate thousands of requests."""
    if not spec.also:
        return _validator(spec.file, spec.closed_objects)
    return SpecSet([_validator(file, spec.closed_objects) for file in spec.files])


@functools.cache
def _validator(file: str, closed_objects: bool) -> SpecValidator:
    return SpecValidator(file, closed_objects=closed_objects)


def _media(content: Mapping[str, Any], content_type: str | None, body: bytes | None) -> str:
    """The media type a request's body is read as: its own Content-Type, else what the operation takes."""
    sent = (content_type or "").split(";")[0].strip().lower()
    if sent and body:
        return sent
    return FORM if FORM in content else JSON


def _decode_text(body: bytes) -> tuple[str | None, list[str]]:
    try:
        return body.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        return None, [f"body: not valid UTF-8 ({exc.reason} at byte {exc.start})"]


def _errors(validator: Validator, instance: Any, location: str, fmt: PathFormatter) -> list[str]:
    errors = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [line for error in errors for line in describe(error, location, fmt)]


def _routes(spec: Mapping[str, Any]) -> tuple[_Route, ...]:
    routes = []
    for template in spec["paths"]:
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
