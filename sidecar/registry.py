"""The connectors the sidecar can speak, by the name apps use in X-Connector: every entry point of the
group `sidecar.connectors` (this project's own in pyproject.toml, and any installed package's).

An entry point that does not load, or loads something other than a connector of its own name, is left
out and described in PROBLEMS: `sidecar run` and `sidecar check` refuse to start on them with one line
each, rather than a traceback from deep inside an import."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from connectors.kit.connector import Connector

GROUP = "sidecar.connectors"


def _load(entry: EntryPoint) -> type[Connector]:
    try:
        connector = entry.load()
    except Exception as e:  # a plug-in's import error is its own, reported and not raised here
        raise ValueError(f"does not load ({type(e).__name__}: {e})") from None
    if not (isinstance(connector, type) and issubclass(connector, Connector)):
        raise ValueError("is not a Connector class")
    if connector.name != entry.name:
        raise ValueError(f"names a connector called {connector.name!r}")
    return connector


def load() -> tuple[dict[str, type[Connector]], list[str]]:
    found: dict[str, type[Connector]] = {}
    problems: list[str] = []
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        where = f"entry point {entry.name} = {entry.value} (group {GROUP})"
        if entry.name in found:
            problems.append(f"{where}: a second connector called {entry.name!r}")
            continue
        try:
            found[entry.name] = _load(entry)
        except ValueError as e:
            problems.append(f"{where}: {e}")
    return found, problems


REGISTRY, PROBLEMS = load()
