"""sidecar/shortcuts.py on a real mitmproxy reverse-proxy listener: hooks that do not wait complete in
the task that started them, those that wait (or intercept their flow) in mitmproxy's hook task, with
the answers as mitmproxy gives them; consecutive writes to one connection go out as one."""

from __future__ import annotations

import asyncio

from mitmproxy import connection, http, options
from mitmproxy.addons import core, next_layer, proxyserver
from mitmproxy.master import Master
from mitmproxy.proxy import commands, events

from sidecar import hooktable, shortcuts


def task_name() -> str:
    task = asyncio.current_task()
    return task.get_name().split(" [created in ")[0] if task else "no task"


class Answering:
    """Records each hook and the task it ran in; the `request` hook waits, as the sidecar's calls do.
    `/wait` gives the `response` hook something to await; `/intercept` intercepts the flow there."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self.seen.append((f"requestheaders {flow.request.path}", task_name()))

    async def request(self, flow: http.HTTPFlow) -> None:
        await asyncio.sleep(0)
        self.seen.append((f"request {flow.request.path}", task_name()))
        flow.response = http.Response.make(200, b"ok " + flow.request.path.encode())

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self.seen.append((f"responseheaders {flow.request.path}", task_name()))

    def response(self, flow: http.HTTPFlow):
        self.seen.append((f"response {flow.request.path}", task_name()))
        if flow.request.path == "/wait":
            return self.later(flow)
        if flow.request.path == "/intercept":
            flow.intercept()
            asyncio.get_running_loop().call_later(0.1, self.resume, flow)
        return None

    async def later(self, flow: http.HTTPFlow) -> None:
        await asyncio.sleep(0.05)
        self.seen.append((f"response {flow.request.path}, later", task_name()))

    def resume(self, flow: http.HTTPFlow) -> None:
        self.seen.append(("resumed", ""))
        flow.resume()


async def calls_through_a_listener(addon: Answering, paths: list[str]) -> list[str]:
    master = Master(options.Options())
    hooktable.install(master)
    shortcuts.install()
    server = proxyserver.Proxyserver()
    master.addons.add(core.Core(), server, next_layer.NextLayer(), addon)
    master.options.update(mode=["reverse:http://127.0.0.1:9@127.0.0.1:0"], connection_strategy="lazy")
    await server.setup_servers()
    host, port = server.listen_addrs()[0][:2]
    reader, writer = await asyncio.open_connection(host, port)
    answers = []
    try:
        for path in paths:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: sidecar\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = next(int(h[15:]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))
            answers.append((head.split(b"\r\n")[0] + b" " + await reader.readexactly(length)).decode())
            addon.seen.append((f"answer {path}", ""))
    finally:
        writer.close()
        for _ in range(100):  # mitmproxy lets go of the connection: then the listener can stop
            if not server.connections:
                break
            await asyncio.sleep(0.01)
        await server.servers.update([])
    return answers


def test_hooks_that_do_not_wait_run_in_the_connections_task_and_the_others_in_mitmproxys() -> None:
    addon = Answering()
    answers = asyncio.run(calls_through_a_listener(addon, ["/a", "/wait", "/intercept", "/b"]))
    assert answers == [
        "HTTP/1.1 200 OK ok /a",
        "HTTP/1.1 200 OK ok /wait",
        "HTTP/1.1 200 OK ok /intercept",
        "HTTP/1.1 200 OK ok /b",
    ]
    assert [event for event, _ in addon.seen[:5]] == [
        "requestheaders /a",
        "request /a",
        "responseheaders /a",
        "response /a",
        "answer /a",
    ]
    # Each hook that does not wait ran in the task whose event started it (the connection's, or the
    # one of the `request` hook before it): none in a hook task of its own.
    tasks = {event.split()[0]: set() for event, _ in addon.seen}
    for event, task in addon.seen:
        tasks[event.split()[0]].add(task)
    assert tasks["request"] == {"handle_hook(request)"}
    assert tasks["requestheaders"] == {"client connection handler"}
    assert tasks["responseheaders"] == {"handle_hook(request)"}
    # A hook with something to wait for: the answer waits for it, and it finishes in mitmproxy's hook task.
    wait = [event for event, _ in addon.seen if "/wait" in event]
    assert wait[-3:] == ["response /wait", "response /wait, later", "answer /wait"]
    assert tasks["response"] == {"handle_hook(request)", "handle_hook(response)"}
    assert ("response /wait, later", "handle_hook(response)") in addon.seen
    # An intercepted flow: its answer waits until it is resumed.
    intercept = [event for event, _ in addon.seen if "/intercept" in event or event == "resumed"]
    assert intercept[-3:] == ["response /intercept", "resumed", "answer /intercept"]


class Scripted:
    """A layer that answers any event with the commands it was given."""

    def __init__(self, found: list[commands.Command]) -> None:
        self.found = found

    def handle_event(self, event: events.Event):
        yield from self.found


def test_consecutive_writes_to_one_connection_go_out_as_one() -> None:
    client = connection.Client(peername=("127.0.0.1", 1), sockname=("127.0.0.1", 2), timestamp_start=0)
    gateway = connection.Server(address=("127.0.0.1", 3))
    dns = connection.Server(address=("127.0.0.1", 53), transport_protocol="udp")
    big = b"x" * shortcuts.JOIN_UP_TO
    found = [
        commands.SendData(client, b"HTTP/1.1 200 OK\r\n\r\n"),
        commands.SendData(client, b"body"),
        commands.SendData(gateway, b"to the gateway"),
        commands.SendData(client, b"a"),
        commands.Log("between"),
        commands.SendData(client, b"b"),
        commands.SendData(client, big),
        commands.SendData(dns, b"datagram 1"),
        commands.SendData(dns, b"datagram 2"),
        commands.CloseConnection(client),
    ]
    top = shortcuts._TopLayer(Scripted(found), None)  # type: ignore[arg-type]  # no hook among them
    out = list(top.handle_event(events.Start()))
    assert [(type(c).__name__, getattr(c, "connection", None), getattr(c, "data", None)) for c in out] == [
        ("SendData", client, b"HTTP/1.1 200 OK\r\n\r\nbody"),
        ("SendData", gateway, b"to the gateway"),
        ("SendData", client, b"a"),
        ("Log", None, None),
        ("SendData", client, b"b"),  # joined with `big`, it would pass JOIN_UP_TO: not copied
        ("SendData", client, big),
        ("SendData", dns, b"datagram 1"),  # UDP: each write is a datagram of its own
        ("SendData", dns, b"datagram 2"),
        ("CloseConnection", client, None),
    ]
