"""The house rules of DESIGN.md that code can break silently: connectors are pure translation and
never import the runtime; the kit imports only the standard library and pure libraries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CONNECTORS = Path(__file__).parent.parent / "connectors"
# Pure libraries without I/O the kit and connectors may use (DESIGN.md, "The house").
PURE = {"pydantic", "orjson", "iso4217", "phonenumbers", "connectors"}
TEST_ONLY = {"pytest", "jsonschema", "hypothesis"}  # connectors/kit/testing/, the optional extra
TESTING = CONNECTORS / "kit" / "testing"
RUNTIME = [CONNECTORS, CONNECTORS.parent / "sidecar", CONNECTORS.parent / "addons"]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def imported_roots(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imported_modules(path)}


@pytest.mark.parametrize("path", sorted(CONNECTORS.rglob("*.py")), ids=lambda p: str(p.relative_to(CONNECTORS)))
def test_connectors_import_nothing_but_the_standard_library_and_pure_libraries(path: Path) -> None:
    import sys

    allowed = PURE | set(sys.stdlib_module_names) | (TEST_ONLY if path.is_relative_to(TESTING) else set())
    assert imported_roots(path) <= allowed, imported_roots(path) - allowed


@pytest.mark.parametrize(
    "path",
    sorted(p for root in RUNTIME for p in root.rglob("*.py") if not p.is_relative_to(TESTING)),
    ids=lambda p: str(p.relative_to(CONNECTORS.parent)),
)
def test_the_runtime_never_imports_the_conformance_kit(path: Path) -> None:
    # It imports pytest and jsonschema, an extra that production images do not install.
    assert not any(m.startswith("connectors.kit.testing") for m in imported_modules(path))
