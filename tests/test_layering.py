"""The house rules of DESIGN.md that code can break silently: connectors are pure translation and
never import the runtime; the kit imports only the standard library and pure libraries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CONNECTORS = Path(__file__).parent.parent / "connectors"
# Pure libraries without I/O the kit and connectors may use (DESIGN.md, "The house").
PURE = {"pydantic", "orjson", "iso4217", "phonenumbers", "connectors"}
TEST_ONLY = {"pytest", "jsonschema", "hypothesis"}  # connectors/kit/testing.py, the optional extra


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted(CONNECTORS.rglob("*.py")), ids=lambda p: str(p.relative_to(CONNECTORS)))
def test_connectors_import_nothing_but_the_standard_library_and_pure_libraries(path: Path) -> None:
    import sys

    allowed = PURE | set(sys.stdlib_module_names) | (TEST_ONLY if path.name == "testing.py" else set())
    assert imported_roots(path) <= allowed, imported_roots(path) - allowed
