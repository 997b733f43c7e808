"""Masked copies of every exchange for people to inspect: the app's call (canonical, or through the
forward proxy) and each gateway call it caused, a gateway's webhook and its deliveries to the app,
linked by request id, into mitmweb's view and, with `save_masked_flows`, to a file. The live flows
themselves are never kept or saved. The copies are made after the app has its answer, with the
call's log lines (sidecar/audit.py)."""

from __future__ import annotations

import os
from collections.abc import Awaitable
from typing import BinaryIO

from mitmproxy import ctx, exceptions, http, io

from addons.listeners import on_listener
from sidecar.audit import Audit, GatewayExchange
from sidecar.flows import gateway_flow, masked_app_flow
from sidecar.masking import Masker
from sidecar.web import MaskedView

INTERNAL = "sidecar.internal"  # flow metadata key of service endpoints (/healthz, /metrics): not kept


class AuditFlows:
    def __init__(self, audit: Audit, masker: Masker, view: MaskedView | None) -> None:
        self.audit = audit
        self.masker = masker
        self.view = view
        self._file: BinaryIO | None = None
        self._writer: io.FlowWriter | None = None
        audit.sinks.append(self._gateway_call)

    def load(self, loader) -> None:
        loader.add_option(
            "save_masked_flows", str, "", "Append masked copies of every flow to this file (mitmproxy flow format)."
        )

    def configure(self, updated: set[str]) -> None:
        if "save_masked_flows" in updated:
            self.done()
            if path := ctx.options.save_masked_flows:
                try:
                    # 0600: masked, yet still payment traffic. A file that exists keeps its mode.
                    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                    self._file = os.fdopen(fd, "ab")  # kept open for the process's life
                except OSError as e:
                    raise exceptions.OptionsError(f"cannot open {path} to save flows: {e.strerror}") from None
                self._writer = io.FlowWriter(self._file)

    @property
    def keeping(self) -> bool:
        return self.view is not None or self._writer is not None

    # Not coroutines: most calls keep nothing here, and a hook that does not wait completes without a
    # task of its own (sidecar/shortcuts.py).
    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        return self._app_call(flow)

    def error(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        return self._app_call(flow)

    def done(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = self._writer = None

    def _app_call(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if not self.keeping or flow.metadata.get(INTERNAL) or flow.request.method == "CONNECT":
            return None
        if flow.metadata.get("operation") == "webhook":  # a gateway's webhook, on any listener (addons/webhooks.py)
            return self.audit.later_now(lambda: self._keep(masked_app_flow(flow, self.masker, "webhook call")))
        if on_listener(flow, ctx.options.canonical_mode) or on_listener(flow, ctx.options.forward_mode):
            return self.audit.later_now(lambda: self._keep(masked_app_flow(flow, self.masker)))
        return None

    def _gateway_call(self, exchange: GatewayExchange) -> None:
        if self.keeping:
            self._keep(gateway_flow(exchange))

    def _keep(self, flow: http.HTTPFlow) -> None:
        if self.view is not None:
            self.view.add_masked(flow)
        if self._writer is not None:
            self._writer.add(flow)
            assert self._file is not None
            self._file.flush()
