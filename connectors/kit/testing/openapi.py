"""Finding and reading the gateways' official API descriptions.

The specs live in one folder beside the repository, `../shared/specs/` (SOURCES.md there says where
each came from); the project keeps no copy. `SIDECAR_SPECS_DIR` names another folder (a connector
package of its own, outside this repository). Where a spec is missing, tests that need it skip saying
why; with `SIDECAR_REQUIRE_SPECS=1` (CI) they fail instead.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def specs_dir() -> Path:
    configured = os.environ.get("SIDECAR_SPECS_DIR")
    # connectors/kit/testing/openapi.py: parents[3] is the repository, its parent holds `shared`.
    return Path(configured) if configured else Path(__file__).resolve().parents[3].parent / "shared" / "specs"


def specs_required() -> bool:
    return os.environ.get("SIDECAR_REQUIRE_SPECS") == "1"


def missing(*files: str) -> list[str]:
    return [name for name in files if not (specs_dir() / name).is_file()]


def _why_missing(files: list[str]) -> str:
    return f"the gateways' specs are not at {specs_dir()} (missing: {', '.join(files)})"


def requires_spec(*files: str) -> pytest.MarkDecorator:
    """Skips a test, saying why, where a spec is missing; under SIDECAR_REQUIRE_SPECS=1 it runs and fails."""
    absent = missing(*files)
    return pytest.mark.skipif(
        bool(absent) and not specs_required(),
        reason=f"{_why_missing(absent)}; SIDECAR_REQUIRE_SPECS=1 makes this a failure",
    )


def need_spec(file: str) -> None:
    """Inside a test: skip, or under SIDECAR_REQUIRE_SPECS=1 fail, where the spec is missing."""
    if absent := missing(file):
        if specs_required():
            pytest.fail(f"{_why_missing(absent)} and SIDECAR_REQUIRE_SPECS=1")
        pytest.skip(f"{_why_missing(absent)}; SIDECAR_REQUIRE_SPECS=1 makes this a failure")


@functools.cache
def load_spec(file: str) -> dict[str, Any]:
    """The spec as JSON, read once per process (Stripe's alone is 2.5 MB)."""
    with open(specs_dir() / file, encoding="utf-8") as f:
        return json.load(f)


def deref(schema: Any, spec: Mapping[str, Any]) -> Any:
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


@functools.cache
def operation_index(file: str) -> Mapping[str, tuple[str, str]]:
    """operationId -> (path template, method) of every operation in the spec; an operation without one (most
    of Checkout.com's) is named "METHOD template", as the validator names it."""
    return {
        operation_name(op, template, method): (template, method)
        for template, item in load_spec(file)["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    }


def operation_name(op: Mapping[str, Any], template: str, method: str) -> str:
    return op.get("operationId") or f"{method.upper()} {template}"


def parameters(spec: Mapping[str, Any], template: str, method: str, location: str) -> list[dict[str, Any]]:
    """An operation's parameters in `location` (path, query, header), path-item level ones included."""
    item = spec["paths"][template]
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*item.get("parameters", []), *item[method].get("parameters", [])]:
        param = deref(raw, spec)
        merged[(param["name"], param["in"])] = param
    return [p for (_, where), p in merged.items() if where == location]


def servers(spec: Mapping[str, Any]) -> list[str]:
    return [s["url"].rstrip("/") for s in spec.get("servers", []) if isinstance(s.get("url"), str)]
