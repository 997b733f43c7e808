"""Finished requests' and closed connections' objects are freed by reference counting
(sidecar/collector.py), through real mitmproxy (tests/collector_probe.py, in a process of its own).

The releases reach into mitmproxy's HTTP stream and connection handler; this pins what they rely on.
If mitmproxy stops making cycles of its streams or connections, the first test of a pair says so (that
release can go); if it makes them some other way, or stops announcing a stream's end with
`DropStream`, the second does. A connection's objects may be released only once nothing can use them:
the app that hangs up before its answer (tests/collector_probe.py) has its answer given afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
EXPECTED = [f"HTTP/1.1 200 OK ok /call-{i}" for i in range(3)]
REQUEST_OBJECTS = {"HttpStream", "HTTPFlow", "Request", "Response", "Context"}
CONNECTION_OBJECTS = {"ProxyConnectionHandler", "TimeoutWatchdog", "HttpLayer", "Http1Server", "CancelledError"}


def probe(*args: str) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-O", "tests/collector_probe.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_mitmproxy_leaves_each_finished_request_in_a_cycle() -> None:
    seen = probe("kept-alive")
    assert seen["answers"] == EXPECTED
    assert REQUEST_OBJECTS <= set(seen["garbage"]), "mitmproxy no longer cycles its streams: drop the release"


def test_released_a_finished_request_leaves_nothing_for_the_collector() -> None:
    seen = probe("kept-alive", "requests", "shortcuts")
    assert seen["answers"] == EXPECTED
    assert seen["garbage"] == []
    assert seen["errors"] == []


def test_mitmproxy_leaves_each_closed_connection_in_a_cycle() -> None:
    seen = probe("new-conn", "requests")
    assert seen["answers"] == EXPECTED
    assert CONNECTION_OBJECTS <= set(seen["garbage"]), "mitmproxy no longer cycles its connections: drop the release"


def test_released_a_closed_connection_leaves_nothing_for_the_collector() -> None:
    seen = probe("new-conn", "requests", "connections", "shortcuts")
    assert seen["answers"] == EXPECTED
    assert seen["garbage"] == []
    assert seen["errors"] == []
