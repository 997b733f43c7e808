"""Two shortcuts in mitmproxy's way from a connection's events to what they make it do, taken where
a connection's handler meets its top layer (`server_event` is the layer's only user once the
connection runs), each doing what mitmproxy would have done, with less.

- A hook runs at once. mitmproxy starts a task for every hook and feeds the hook's completion back
  through the layers once the task has run, even when no handler has anything to wait for: of a
  canonical call's four hooks (requestheaders, request, responseheaders, response) only `request`
  waits (for the gateway). A hook that finishes without waiting, and leaves its flow not
  intercepted, is completed here, right after the event that started it (as its task would have
  completed it, with no other event in between); what is left of one that waits goes on to
  mitmproxy's hook task, which awaits it (`HookTable.handle_lifecycle`), and resumes an
  intercepted flow as it always does.
- Consecutive writes to one connection go out as one: mitmproxy writes an answer's head and its
  body separately, each a system call and a TCP segment of its own.
"""

from __future__ import annotations

from mitmproxy.proxy import commands, events, layer, mode_servers, server

from sidecar.hooktable import REST, HookTable

# Writes are joined up to this size; a larger body (a streamed one, a big download through the
# forward proxy) is not copied to save a system call.
JOIN_UP_TO = 64 * 1024


class _TopLayer:
    """Stands for a connection's top layer in its handler: one generator, as the commands of every
    event pass through it."""

    def __init__(self, top: layer.Layer, table: HookTable) -> None:
        self.layer = top
        self.table = table

    def handle_event(self, event: events.Event) -> layer.CommandGenerator[None]:
        todo = [event]  # grows while it is walked: each hook completed here adds its completion
        held: list[commands.SendData] = []  # consecutive writes to one TCP connection, to go out as one
        size = 0
        for event in todo:
            for command in self.layer.handle_event(event):
                if type(command) is commands.SendData and command.connection.transport_protocol == "tcp":
                    # (Not UDP: there each write is a datagram of its own.)
                    if held and (held[0].connection is not command.connection or size + len(command.data) > JOIN_UP_TO):
                        yield _joined(held)
                        held, size = [], 0
                    held.append(command)
                    size += len(command.data)
                    continue
                if held:  # out before anything else happens, a hook included
                    yield _joined(held)
                    held, size = [], 0
                if isinstance(command, commands.StartHook):
                    rest = self.table.lifecycle_now(command)
                    flow = getattr(command, "flow", None)  # the field of every flow hook
                    if rest is None and not (flow is not None and flow.intercepted):
                        if command.blocking:
                            todo.append(events.HookCompleted(command))
                        continue
                    command.__dict__[REST] = rest
                yield command
        if held:
            yield _joined(held)


def _joined(writes: list[commands.SendData]) -> commands.SendData:
    if len(writes) == 1:
        return writes[0]
    return commands.SendData(writes[0].connection, b"".join(w.data for w in writes))


async def _handle_client_with_shortcuts(self: mode_servers.ProxyConnectionHandler) -> None:
    if isinstance(table := self.master.addons, HookTable):
        self.layer = _TopLayer(self.layer, table)  # type: ignore[assignment]
    await server.ConnectionHandler.handle_client(self)  # looked up now: sidecar/collector.py wraps it too


def install() -> None:
    """For the connections of a master whose addon manager is a HookTable (sidecar/hooktable.py)."""
    mode_servers.ProxyConnectionHandler.handle_client = _handle_client_with_shortcuts  # type: ignore[method-assign]
