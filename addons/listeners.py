"""Which listener a flow came in on. The sidecar runs several (canonical API, forward proxy), each a
mitmproxy mode; every addon answers only on its own."""

from __future__ import annotations

from mitmproxy import connection, exceptions, http
from mitmproxy.proxy.mode_specs import ProxyMode


def on_listener(flow: http.HTTPFlow, mode_spec: str) -> bool:
    """Whether the flow came in on the listener `mode_spec` names."""
    return came_in_on(flow.client_conn, mode_spec)


def came_in_on(client: connection.Client, mode_spec: str) -> bool:
    """Whether the client connected to the listener `mode_spec` names. ProxyMode.parse is cached, so
    the listener's mode is usually the very same object; equality covers the rest."""
    if not mode_spec:
        return False
    mode = ProxyMode.parse(mode_spec)
    return client.proxy_mode is mode or client.proxy_mode == mode


def checked_mode(option: str, spec: str, kind: str) -> str:
    """The value of a `*_mode` option, refused unless it is a valid mode spec of the expected kind."""
    if spec:
        try:
            mode = ProxyMode.parse(spec)
        except ValueError as e:
            raise exceptions.OptionsError(f"{option}: {e}") from None
        if mode.type_name != kind:
            raise exceptions.OptionsError(f"{option} must be a {kind} mode, not {mode.type_name}")
    return spec
