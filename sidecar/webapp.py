"""mitmweb's HTTP application, read-only: the sidecar's mitmweb shows masked copies and changes nothing.

mitmproxy's own `Application` serves every mitmweb endpoint, writes included (options, replay, edit,
duplicate, delete, resume, kill, intercept, upload, clear, commands). This one keeps mitmproxy's
routes but serves only what reading needs, and refuses everything else with 403, before any handler
runs: every method but GET (and the login form's POST), every endpoint a viewer does not need, and
every request whose Host is not allowed (DNS rebinding). What it serves leaves out the proxy's
internals: only display options, no proxy servers. A websocket client that stops reading is dropped
instead of being buffered for without end."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import structlog
import tornado.httputil
import tornado.web
from mitmproxy import optmanager
from mitmproxy.tools.web import app
from mitmproxy.tools.web.master import WebMaster

log = structlog.get_logger("sidecar.web")

# The options the UI needs to display flows; no other option value is ever served (web_password,
# the listeners' modes and addresses, file paths). The four flags are served only because the status
# bar labels an absent one as switched off ("no-http2").
SHOWN_OPTIONS = frozenset({"web_columns", "content_view_lines_cutoff", "upstream_cert", "rawtcp", "http2", "websocket"})

# Updates held for one websocket client before it counts as stalled and is dropped. A client that
# reads keeps this near zero; an update is one flow's summary, a few KiB.
MAX_QUEUED_BYTES = 1 << 20

READ_ONLY = "mitmweb is read-only in the payment sidecar: it shows masked copies and changes nothing"
WEBUI = Path(__file__).parent / "webui"


class Refused(tornado.web.RequestHandler):
    """Answers 403 to anything: a write, an endpoint a viewer does not need, a Host not allowed."""

    def initialize(self, reason: str = READ_ONLY) -> None:
        self.reason = reason

    def check_xsrf_cookie(self) -> None:
        """Refused whatever the token: the answer is the same 403 with or without one."""

    def prepare(self) -> None:
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(self.reason + "\n")


class Index(app.IndexHandler):
    """mitmweb's page, with the sidecar's stylesheet and script that hide its write actions.

    Hiding is done by CSS selectors and one script on mitmweb's own markup, not by mitmweb's
    `MITMWEB_STATIC` flag: that flag also swaps the live websocket for a one-off fetch and hides the
    connection indicator, and it leaves editing, upload and clear in place. The selectors are tied to
    this mitmweb build; tests/test_e2e_web.py checks in a real browser that every write action is gone,
    so an upgrade that breaks them fails there. The server refuses every write whatever the page shows."""

    ASSETS = (
        b'<link rel="stylesheet" href="./sidecar/readonly.css">'
        # After mitmweb's own module script, so it runs after it too (module scripts run in order).
        b'<script type="module" src="./sidecar/readonly.js"></script>'
    )

    def get(self) -> None:
        page = self.render_string("../index.html")
        self.finish(page.replace(b"</head>", self.ASSETS + b"</head>", 1))

    post = get  # the login form


class ShownOptions(app.Options):
    def get(self) -> None:
        self.write(optmanager.dump_dicts(self.master.options, SHOWN_OPTIONS))


class ShownState(app.State):
    def get(self) -> None:
        # The proxy servers are the sidecar's listeners (e.g. reverse:http://127.0.0.1:9@...): internal.
        self.write({**app.State.get_json(self.master), "servers": {}})


class BoundedUpdates(app.ClientConnection):
    """The /updates websocket, with at most MAX_QUEUED_BYTES waiting per client. mitmweb queues
    every update for every client without bound, so one client that stops reading grows the process
    for as long as it stays connected. Its send task takes each update off the queue and passes it to
    write_message, which finishes only once the update is written out: `queued` counts what lies in
    between."""

    def open(self, *args: Any, **kwargs: Any) -> None:
        self.queued = 0
        self.dropped = False
        super().open(*args, **kwargs)

    def send(self, message: bytes) -> None:
        if self.dropped:
            return
        if self.queued + len(message) > MAX_QUEUED_BYTES:
            self._drop()
            return
        self.queued += len(message)
        super().send(message)

    def write_message(self, message: Any, binary: bool = False) -> Any:
        self.queued -= len(message)
        # Shielded: a drop cancels the send task in the middle of a write, and tornado's own callback
        # on the write's future (reading its exception) raised the cancellation into mitmproxy's
        # "Unhandled error in task" error line. The write itself ends with the connection.
        return asyncio.shield(super().write_message(message, binary))

    def _drop(self) -> None:
        self.dropped = True
        self._send_task.cancel()
        self._send_queue = asyncio.Queue()  # lets go of the updates it held
        log.warning("mitmweb client dropped: it stopped reading updates", peer=self.request.remote_ip)
        # Sends a close frame and aborts the connection if the client does not answer it in 5 s;
        # on_close (leaving `connections`) runs then, not during the broadcast that called send.
        self.close(1008, "too slow reading updates")


def _has(flow: object, message: str) -> None:
    # mitmweb's content handlers take the message for granted: a flow whose app hung up before its
    # answer has no response, and theirs failed with a 500 and an error line (tornado's traceback).
    if getattr(flow, message, None) is None:
        raise app.APIError(404, f"This flow has no {message}.")


class MessageContent(app.FlowContent):
    def get(self, flow_id: str, message: str) -> None:
        _has(self.flow, message)
        super().get(flow_id, message)


class MessageContentView(app.FlowContentView):
    def get(self, flow_id: str, message: str, content_view: str) -> None:
        if message != "messages":  # mitmweb's own answer for a flow without them: 400
            _has(self.flow, message)
        super().get(flow_id, message, content_view)


# mitmweb's handlers that only read, each mapped to what serves it here; every other route is Refused.
READS: dict[type[tornado.web.RequestHandler], type[tornado.web.RequestHandler]] = {
    app.IndexHandler: Index,
    app.FilterHelp: app.FilterHelp,
    app.ClientConnection: BoundedUpdates,
    app.Events: app.Events,
    app.Flows: app.Flows,
    app.DumpFlows: app.DumpFlows,  # GET only: its POST (upload) is refused with every other write
    app.FlowContent: MessageContent,
    app.FlowContentView: MessageContentView,
    app.Options: ShownOptions,
    app.State: ShownState,
    tornado.web.StaticFileHandler: tornado.web.StaticFileHandler,  # the UI's scripts and styles
}


class ReadOnlyApplication(app.Application):
    def __init__(self, master: WebMaster, allowed_hosts: Iterable[str]) -> None:
        super().__init__(master, debug=False)
        self.allowed_hosts = frozenset(allowed_hosts)
        for rule in self.wildcard_router.rules:
            rule.target = READS.get(rule.target, Refused)
        self.wildcard_router.add_rules(
            [(r"/sidecar/(readonly\.(?:css|js))", tornado.web.StaticFileHandler, {"path": str(WEBUI)})]
        )

    def find_handler(self, request: tornado.httputil.HTTPServerRequest, **kwargs: Any) -> Any:
        if host_name(request.headers.get("Host", "")) not in self.allowed_hosts:
            return self.get_handler_delegate(request, Refused, {"reason": "this Host is not in web.allowed_hosts"})
        if request.method not in ("GET", "HEAD") and (request.method, request.path) != ("POST", "/"):
            return self.get_handler_delegate(request, Refused)  # ("POST", "/") is the login form
        return super().find_handler(request, **kwargs)


def host_name(host_header: str) -> str:
    """The name in a Host header, lower case, without port or IPv6 brackets."""
    host, _ = tornado.httputil.split_host_and_port(host_header.lower())
    return host.removeprefix("[").removesuffix("]")
