"""Operator errors that a valid configuration can still meet on this machine: a directory the
sidecar cannot write, a CA file it cannot read, a port another process holds. Found before anything
starts, reported one line each, naming the setting and the path, never a value read from a file.

Writability is tried, not asked with os.access: root passes every access() check, yet a read-only
mount or an immutable directory still refuses it. The tries leave nothing behind."""

from __future__ import annotations

import errno
import os
import socket
import tempfile
from pathlib import Path

from sidecar import ca
from sidecar.config import Settings


def problems(settings: Settings, *, ports: bool) -> list[str]:
    """Every problem found. `ports`: also try to bind the listeners' ports (what `sidecar run`
    does; `sidecar check` does not, as it is often run beside the sidecar that holds them)."""
    lines: list[str] = []
    cas = settings.forward_proxy.ca  # mitmproxy loads the CA even when the forward proxy is off
    if cas.cert is None:
        lines += _ca_dir(cas.dir)
    else:
        lines += _readable("forward_proxy.ca.cert", cas.cert)
        if cas.key is not None:
            lines += _readable("forward_proxy.ca.key", cas.key)
    if settings.save_flows is not None:
        lines += _appendable("save_flows", settings.save_flows)
    if ports:
        lines += _ports_in_use(settings)
    return lines


def _ca_dir(directory: Path) -> list[str]:
    key = directory / ca.KEY_FILE
    if key.exists():
        return _readable("forward_proxy.ca.dir", key)
    return _creatable("forward_proxy.ca.dir", directory)


def _readable(setting: str, path: Path) -> list[str]:
    try:
        with path.open("rb"):
            return []
    except OSError as e:
        return [f"{setting}: cannot read {path}: {e.strerror}"]


def _creatable(setting: str, directory: Path) -> list[str]:
    """Whether `directory` exists and takes new files, or can be made: a file is made and removed
    in it, or in its nearest existing parent."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return [f"{setting}: cannot create {directory}: {existing} is not a directory"]
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".sidecar-probe-"):
            return []
    except OSError as e:
        return [f"{setting}: cannot write in {existing}: {e.strerror}"]


def _appendable(setting: str, path: Path) -> list[str]:
    if not path.exists():
        parent = path.parent  # not made for the file
        if not parent.is_dir():
            why = "is not a directory" if parent.exists() else "does not exist"
            return [f"{setting}: cannot create {path}: {parent} {why}"]
        return _creatable(setting, parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        return []
    except OSError as e:
        return [f"{setting}: cannot write {path}: {e.strerror}"]


def _ports_in_use(settings: Settings) -> list[str]:
    listeners = [("listen.port", settings.listen.host, settings.listen.port)]
    if settings.forward_proxy.enabled:
        listeners.append(("forward_proxy.port", settings.forward_proxy.host, settings.forward_proxy.port))
    if settings.web.enabled:
        listeners.append(("web.port", settings.web.host, settings.web.port))
    if settings.ops.enabled:
        listeners.append(("ops.port", settings.ops.host, settings.ops.port))
    if settings.webhooks and settings.webhooks.listen:
        listen = settings.webhooks.listen
        listeners.append(("webhooks.listen.port", listen.host, listen.port))
    if any(c.uses_sandbox for c in settings.connectors.values()):
        sb = settings.sandbox
        listeners += [("sandbox.stripe_port", sb.host, sb.stripe_port), ("sandbox.adyen_port", sb.host, sb.adyen_port)]
        listeners += [("sandbox.checkout_port", sb.host, sb.checkout_port)]
        listeners.append(("sandbox.paypal_port", sb.host, sb.paypal_port))
    lines = []
    for setting, host, port in listeners:
        if port == 0:  # any free port
            continue
        if problem := _bind_problem(host, port):
            lines.append(f"{setting}: cannot listen on {host}:{port}: {problem}")
    return lines


def _bind_problem(host: str, port: int) -> str | None:
    """Binds as asyncio's servers do (SO_REUSEADDR), then lets go at once."""
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        return f"cannot resolve the host ({e.strerror})"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(address)
            except OSError as e:
                return "the port is in use" if e.errno == errno.EADDRINUSE else e.strerror
    return None
