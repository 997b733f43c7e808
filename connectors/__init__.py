"""Gateway connectors: the kit every connector speaks (`connectors.kit`) and one package per gateway.
Pure translation, no I/O; the runtime (`sidecar`) finds connectors through the entry-point group
`sidecar.connectors` (sidecar/registry.py), so a gateway can live in a package of its own."""
