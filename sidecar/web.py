"""mitmweb for the sidecar: mitmproxy's web UI over a flow store that only ever holds masked
copies, capped in size, behind a password, read-only (sidecar/webapp.py)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from mitmproxy import flow, http, log, master, options
from mitmproxy.addons import eventstore, view
from mitmproxy.tools.web import app, webaddons
from mitmproxy.tools.web.master import WebMaster

from sidecar import hooktable
from sidecar.masking import Masker
from sidecar.metrics import catch_counter
from sidecar.webapp import SHOWN_OPTIONS, ReadOnlyApplication

# View.remove as a method: the `view.flows.remove` command checks its arguments against the signature
# on every call, which took a third of what keeping a flow cost once the store was full.
_remove = view.View.remove.__wrapped__


class MaskedView(view.View):
    """The flow store mitmweb shows. mitmproxy's View adds every live flow from its hooks; this one
    ignores live flows and takes masked copies through `add_masked`, keeping the newest `max_flows`
    so memory stays flat however long the sidecar runs."""

    def __init__(self, max_flows: int) -> None:
        super().__init__()
        self.max_flows = max_flows
        self._order: deque[str] = deque()
        # mitmproxy's console follows a focused flow; mitmweb selects flows in the browser and never
        # reads this one, which moved on every time the oldest flow was trimmed.
        self.sig_view_add.disconnect(self.focus._sig_view_add)
        self.sig_view_remove.disconnect(self.focus._sig_view_remove)
        self.sig_view_refresh.disconnect(self.focus._sig_view_refresh)

    def add_masked(self, flow: http.HTTPFlow) -> None:
        self.add([flow])
        self._order.append(flow.id)
        while len(self._order) > self.max_flows:
            oldest = self.get_by_id(self._order.popleft())
            if oldest is not None:
                _remove(self, [oldest])

    # Live flows never enter the store.
    def requestheaders(self, f) -> None: ...
    def response(self, f) -> None: ...
    def error(self, f) -> None: ...
    def intercept(self, f) -> None: ...
    def resume(self, f) -> None: ...
    def kill(self, f) -> None: ...
    def tcp_start(self, f) -> None: ...
    def tcp_message(self, f) -> None: ...
    def tcp_error(self, f) -> None: ...
    def tcp_end(self, f) -> None: ...
    def udp_start(self, f) -> None: ...
    def udp_message(self, f) -> None: ...
    def udp_error(self, f) -> None: ...
    def udp_end(self, f) -> None: ...
    def dns_request(self, f) -> None: ...
    def dns_response(self, f) -> None: ...
    def dns_error(self, f) -> None: ...


class MaskedEventStore(eventstore.EventStore):
    """mitmweb's event log: mitmproxy's own warnings and errors (an addon's exception text, say),
    through the same safety net as every log line before anyone can read them."""

    _net = Masker(on_catch=catch_counter("log"))

    def _add_log(self, entry: log.LogEntry) -> None:
        super()._add_log(log.LogEntry(self._net.text(entry.msg), entry.level))


class SidecarWebMaster(WebMaster):
    """WebMaster with the sidecar's own addons instead of mitmproxy's defaults, the masked view and
    the read-only web app. The signal wiring is WebMaster's own; its __init__ is skipped because it
    adds the default addons (the stock flow saver among them, which would write real flows to disk).
    Updates pushed to the UI carry only the options it may show, and never the proxy servers."""

    def __init__(self, opts: options.Options, masked_view: MaskedView, allowed_hosts: Iterable[str]) -> None:
        master.Master.__init__(self, opts, with_termlog=False)
        hooktable.install(self)
        self.allowed_hosts = list(allowed_hosts)
        self.view = masked_view
        self.view.sig_view_add.connect(self._sig_view_add)
        self.view.sig_view_remove.connect(self._sig_view_remove)
        self.view.sig_view_update.connect(self._sig_view_update)
        self.view.sig_view_refresh.connect(self._sig_view_refresh)
        self.events = MaskedEventStore()
        self.events.sig_add.connect(self._sig_events_add)
        self.events.sig_refresh.connect(self._sig_events_refresh)
        self.options.changed.connect(self._sig_options_update)
        self.addons.add(webaddons.WebAddon(), webaddons.WebAuth(), self.view, self.events)

    def add_sidecar_addons(self, *addons: object) -> None:
        """Adds the sidecar's addons, then the web app, which needs the proxy server among them."""
        self.addons.add(*addons)
        self.app = ReadOnlyApplication(self, self.allowed_hosts)
        self.proxyserver = self.addons.get("proxyserver")

    def _sig_options_update(self, updated: set[str]) -> None:
        if shown := updated & SHOWN_OPTIONS:
            super()._sig_options_update(shown)

    # mitmproxy serializes each flow for the UI's update even when no UI is connected: a flow stored
    # while nobody watches is sent whole to whoever connects later.
    def _sig_view_add(self, flow: flow.Flow) -> None:
        if app.ClientConnection.connections:
            super()._sig_view_add(flow)

    def _sig_view_update(self, flow: flow.Flow) -> None:
        if app.ClientConnection.connections:
            super()._sig_view_update(flow)

    def _sig_view_remove(self, flow: flow.Flow, index: int) -> None:
        if app.ClientConnection.connections:
            super()._sig_view_remove(flow, index)
