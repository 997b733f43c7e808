"""The open-file limit, raised at start to what the sidecar can hold open at once: below it, a
burst of connections would end in `Too many open files` on accept rather than in the connection
cap's clean refusal, and a full pool could not open its connections."""

from __future__ import annotations

import resource

from sidecar.config import Settings

# Listeners, the log and flow files, the CA, mitmweb and its clients, the sandbox's listeners.
RESERVE = 256


def needed(settings: Settings) -> int:
    """Client connections at the caps (the apps' and the ops listener's), plus every pool full; a sandbox
    connector's pool connections count twice, as the sandbox's end of them is in this process too."""
    pools = sum(c.pool.max_connections * (2 if c.uses_sandbox else 1) for c in settings.connectors.values())
    ops = settings.ops.max_open if settings.ops.enabled else 0
    return settings.client_connections.max_open + ops + pools + RESERVE


def raise_soft_limit(wanted: int) -> int:
    """Raises the soft limit towards `wanted`, as far as the hard limit allows; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft
