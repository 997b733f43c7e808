"""A finished request's objects are freed by reference counting (sidecar/collector.py), through real
mitmproxy (tests/collector_probe.py, in a process of its own).

The release reaches into mitmproxy's HTTP stream; this pins what it relies on. If mitmproxy stops
making cycles of its streams, the first test says so (the release can go); if it makes them some
other way, or stops announcing a stream's end with `DropStream`, the second does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
EXPECTED = [f"HTTP/1.1 200 OK ok /call-{i}" for i in range(3)]
REQUEST_OBJECTS = {"HttpStream", "HTTPFlow", "Request", "Response", "Context"}


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
    seen = probe()
    assert seen["answers"] == EXPECTED
    assert REQUEST_OBJECTS <= set(seen["garbage"]), "mitmproxy no longer cycles its streams: drop the release"


def test_released_a_finished_request_leaves_nothing_for_the_collector() -> None:
    seen = probe("release")
    assert seen["answers"] == EXPECTED
    assert seen["garbage"] == []
