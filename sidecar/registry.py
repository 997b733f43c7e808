"""The connectors the sidecar can speak, by the name apps use in X-Connector: every entry point of the
group `sidecar.connectors` (this project's own in pyproject.toml, and any installed package's)."""

from __future__ import annotations

from importlib.metadata import entry_points

from connectors.kit.connector import Connector

GROUP = "sidecar.connectors"


def load() -> dict[str, type[Connector]]:
    found: dict[str, type[Connector]] = {}
    for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        connector = entry.load()
        if not (isinstance(connector, type) and issubclass(connector, Connector)):
            raise TypeError(f"entry point {entry.name} = {entry.value} is not a Connector class")
        if connector.name != entry.name:
            raise TypeError(f"entry point {entry.name} names a connector called {connector.name!r}")
        if entry.name in found:
            raise TypeError(f"two packages register a connector called {entry.name!r}")
        found[entry.name] = connector
    return found


REGISTRY: dict[str, type[Connector]] = load()
