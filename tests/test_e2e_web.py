"""mitmweb as a person uses it, and as nobody can misuse it. A real headless Chromium (Debian's) opens
the UI, selects the app's authorize call and sees only the masked card; it finds no way to change
anything and sends no write. With a valid login and XSRF token every write endpoint answers 403 and
changes nothing; no option value but display settings is served; other Host names are refused; a
websocket client that stops reading is dropped while the process stays small. The flow store holds
at most its cap. A call whose app hung up has no response to show: 404, and no error line."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest
from calls import VISA, flow_labels, payment, post
from harness import CHROMIUM_FLAGS, SIDECAR, SidecarProcess, ensure_installed, free_port, wait_until

PASSWORD = "web-ui-test-password"
ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts"
REFUSED = "mitmweb is read-only"


def start_web_sidecar(workdir: Path, **web: object) -> SidecarProcess:
    port = free_port()
    config = {"web": {"enabled": True, "password": PASSWORD, "port": port, "max_flows": 12, **web}}
    proc = SidecarProcess(workdir, config).start()
    proc.web_port = port
    proc.web_url = f"http://127.0.0.1:{port}"
    return proc


@pytest.fixture(scope="module")
def web_sidecar(tmp_path_factory):
    proc = start_web_sidecar(tmp_path_factory.mktemp("web"))
    yield proc
    assert proc.stop() == 0


def flows(proc) -> list[dict]:
    return httpx.get(proc.web_url + "/flows", headers={"Authorization": f"Bearer {PASSWORD}"}).json()


def authorize(proc) -> None:
    with proc.client() as c:
        assert post(c, "stripe", "/v1/payments", payment(VISA)).json()["status"] == "authorized"


@contextmanager
def logged_in(proc) -> Iterator[httpx.Client]:
    """A mitmweb session as a browser holds it: the login cookie and a valid XSRF token."""
    with httpx.Client(base_url=proc.web_url, timeout=10) as c:
        c.get("/")  # the login page sets the XSRF cookie
        assert c.get("/", params={"token": PASSWORD}).status_code == 200
        c.headers["X-XSRFToken"] = c.cookies["_mitmproxy_xsrf"]
        # The token is valid: the one POST mitmweb still takes, its login form, passes the XSRF check
        # with it and fails without it.
        assert c.post("/", data={"token": PASSWORD}).status_code == 200
        assert c.post("/", data={"token": PASSWORD}, headers={"X-XSRFToken": ""}).status_code == 403
        yield c


def websocket(proc, host: str | None = None, rcvbuf: int | None = None) -> tuple[socket.socket, bytes]:
    """A raw connection to /updates after its handshake; returns it and the handshake's status line."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect(("127.0.0.1", proc.web_port))
    s.sendall(
        f"GET /updates?token={PASSWORD} HTTP/1.1\r\nHost: {host or f'127.0.0.1:{proc.web_port}'}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    return s, head.split(b"\r\n")[0]


def read_to_end(s: socket.socket) -> bytes:
    data = bytearray()
    while chunk := s.recv(65536):
        data += chunk
    return bytes(data)


def frames(data: bytes) -> list[bytes]:
    """The payloads of the (unmasked) frames a websocket server sent, RFC 6455 section 5.2."""
    payloads, i = [], 0
    while i + 2 <= len(data):
        size, i = data[i + 1] & 0x7F, i + 2
        if size in (126, 127):
            width = 2 if size == 126 else 8
            size, i = int.from_bytes(data[i : i + width]), i + width
        payloads.append(data[i : i + size])
        i += size
    return payloads


def test_browser_shows_only_the_masked_card(web_sidecar) -> None:
    from playwright.sync_api import sync_playwright

    chromium = ensure_installed("chromium", "chromium")
    authorize(web_sidecar)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "mitmweb-masked-flow.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{web_sidecar.web_url}/?token={PASSWORD}")
            app_call = page.get_by_text(f"127.0.0.1:{web_sidecar.port}/v1/payments").first
            app_call.wait_for(timeout=20_000)
            app_call.click()
            page.get_by_text("424242******4242").first.wait_for(timeout=10_000)
            page.screenshot(path=str(shot))
            text = page.inner_text("body")
        finally:
            browser.close()
    print(f"\nscreenshot: {shot}")
    assert "424242******4242" in text and "[removed]" in text
    assert "4242424242424242" not in text and '"123"' not in text
    assert "/v1/payment_intents" in text  # the gateway calls it caused are listed beside it
    assert shot.stat().st_size > 10_000


def visible_texts(page, selector: str) -> list[str]:
    return [e.inner_text().strip() for e in page.locator(selector).all() if e.is_visible()]


def test_browser_offers_no_write_action_and_sends_none(web_sidecar) -> None:
    from playwright.sync_api import sync_playwright

    chromium = ensure_installed("chromium", "chromium")
    authorize(web_sidecar)
    kept = flows(web_sidecar)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            writes: list[str] = []
            page.on("request", lambda r: r.method not in ("GET", "HEAD") and writes.append(f"{r.method} {r.url}"))
            page.goto(f"{web_sidecar.web_url}/?token={PASSWORD}")
            app_call = page.get_by_text(f"127.0.0.1:{web_sidecar.port}/v1/payments").first
            app_call.wait_for(timeout=20_000)

            # Capture (proxy modes) and Options (options editor, command bar) are gone.
            assert visible_texts(page, "header nav.nav-tabs > a") == ["File", "Flow List"]
            page.click("header nav.nav-tabs > a.special")
            assert visible_texts(page, ".dropdown-menu li") == ["Save", "Save filtered", "", "Install Certificates..."]
            page.click("header nav.nav-tabs > a.special")
            assert not page.locator("input[placeholder=Intercept]").is_visible()
            assert visible_texts(page, "header button") == []  # Resume All

            # The comment column shows each flow's labels, and the search box filters on them: here
            # the app call's request id finds it and the two gateway calls it caused.
            comments = visible_texts(page, ".flow-table td.col-comment")
            request_id = flow_labels(kept[-1])["request"]
            assert f"connector=stripe operation=authorize outcome=ok request={request_id} app call" in comments
            page.locator("input[placeholder=Search]").press_sequentially(f'~comment "request={request_id}"')
            page.wait_for_function("document.querySelectorAll('.flow-table td.col-comment').length == 3")
            assert all(request_id in c for c in visible_texts(page, ".flow-table td.col-comment"))
            page.locator("input[placeholder=Search]").fill("")
            page.locator("input[placeholder=Search]").blur()  # closes the filter help over the list
            footer = page.inner_text("footer")
            for internal in ("127.0.0.1", "reverse", "regular", str(web_sidecar.port), str(web_sidecar.forward_port)):
                assert internal not in footer

            app_call.click()
            page.locator(".flow-detail .kv-value").first.wait_for(timeout=10_000)
            assert visible_texts(page, "header button") == ["Download▾"]
            assert visible_texts(page, ".flow-detail .contentview .controls .btn") == ["Copy", "View: auto"]
            assert not page.locator(".kv-add-row").first.is_visible()

            # Editing in place does nothing: a header, beside the headers, the request line, the comment.
            headers = page.inner_text(".flow-detail .kv-editor")
            page.locator(".flow-detail .kv-value").first.click()
            page.keyboard.type("edited")
            page.keyboard.press("Enter")
            page.locator(".flow-detail .kv-editor").first.click(position={"x": 600, "y": 4})
            page.keyboard.type("edited")
            page.locator(".flow-detail .request-line .inline-input").first.click()
            page.keyboard.type("edited")
            assert page.inner_text(".flow-detail .kv-editor") == headers
            page.locator(".flow-detail nav a", has_text="Comment").click()
            page.locator(".flow-detail .inline-input").first.click()
            page.keyboard.type("edited")
            page.keyboard.press("Enter")
            assert "edited" not in page.inner_text(".flow-detail")
            # mitmweb's keys for delete, new flow, duplicate, resume (all), replay, revert, kill (all), clear.
            for key in ("d", "Delete", "n", "D", "a", "A", "r", "v", "x", "X", "z"):
                page.keyboard.press(key)
            # Requests are reported in the order they are made: once this one is seen, so is any write.
            with page.expect_request(lambda r: r.url.endswith("/filter-help")):
                page.evaluate("fetch('./filter-help')")
        finally:
            browser.close()
    assert writes == []
    assert [f["id"] for f in flows(web_sidecar)] == [f["id"] for f in kept]


def test_every_write_is_refused_and_changes_nothing(web_sidecar) -> None:
    authorize(web_sidecar)
    open_proxy_port = free_port()
    with logged_in(web_sidecar) as c:
        before = c.get("/flows").json(), c.get("/options").json()
        flow_id = before[0][-1]["id"]
        saved = c.get("/flows/dump").content
        assert len(saved) > 1000
        writes = [
            ("PUT", "/options", {"json": {"mode": [f"regular@127.0.0.1:{open_proxy_port}"]}}),  # an open proxy
            ("PUT", "/options", {"json": {"intercept": "~q"}}),
            ("POST", "/options/save", {}),
            ("POST", f"/flows/{flow_id}/replay", {}),
            ("PUT", f"/flows/{flow_id}", {"json": {"comment": "edited", "request": {"path": "/v1/refunds"}}}),
            ("POST", f"/flows/{flow_id}/duplicate", {}),
            ("POST", f"/flows/{flow_id}/revert", {}),
            ("DELETE", f"/flows/{flow_id}", {}),
            ("POST", f"/flows/{flow_id}/resume", {}),
            ("POST", f"/flows/{flow_id}/kill", {}),
            ("POST", "/flows/resume", {}),
            ("POST", "/flows/kill", {}),
            ("POST", f"/flows/{flow_id}/request/content.data", {"files": {"file": b"replaced"}}),
            ("POST", "/flows/dump", {"files": {"file": saved}}),
            ("POST", "/clear", {}),
            ("POST", "/commands/set", {"json": {"arguments": [f"mode=regular@127.0.0.1:{open_proxy_port}"]}}),
            ("POST", "/commands/replay.client", {"json": {"arguments": [f"@{flow_id}"]}}),
        ]
        for method, path, kw in writes:
            r = c.request(method, path, **kw)
            assert (r.status_code, REFUSED in r.text) == (403, True), (method, path, r.status_code, r.text)
        # Reads a viewer has no use for are refused as well: commands, the machine's processes.
        for path in ("/commands", "/processes", "/executable-icon?path=/bin/sh", f"/flows/{flow_id}"):
            assert c.get(path).status_code == 403, path
        assert (c.get("/flows").json(), c.get("/options").json()) == before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", open_proxy_port), timeout=2).close()


def test_served_options_and_state_hold_no_secret_or_internal_address(web_sidecar) -> None:
    with logged_in(web_sidecar) as c:
        options = c.get("/options").json()
        served = {path: c.get(path).text for path in ("/options", "/options.json", "/state", "/state.json", "/")}
    assert set(options) == {"web_columns", "content_view_lines_cutoff", "upstream_cert", "rawtcp", "http2", "websocket"}
    assert "comment" in options["web_columns"]["value"]
    internals = (PASSWORD, "127.0.0.1:9", f":{web_sidecar.port}", f":{web_sidecar.forward_port}", "reverse:")
    for path, text in served.items():
        for internal in internals:
            assert internal not in text, (path, internal)
    assert json.loads(served["/state"])["servers"] == {}


def test_requests_for_other_hosts_are_refused(web_sidecar) -> None:
    auth = {"Authorization": f"Bearer {PASSWORD}"}
    refused = (
        "evil.example",
        f"evil.example:{web_sidecar.web_port}",
        "127.0.0.1.evil.example",
        "[::1]",
    )
    for host in refused:
        for path in ("/", "/flows", "/state", "/static/favicon.ico", "/sidecar/readonly.css"):
            r = httpx.get(web_sidecar.web_url + path, headers={**auth, "Host": host})
            assert (r.status_code, r.text) == (403, "this Host is not in web.allowed_hosts\n"), (host, path)
        s, status = websocket(web_sidecar, host=host)
        s.close()
        assert b" 403 " in status, host
    # localhost on any port: `kubectl port-forward` maps the web port to another local one.
    for host in (f"127.0.0.1:{web_sidecar.web_port}", "localhost:18081", "LOCALHOST", "127.0.0.1"):
        assert httpx.get(web_sidecar.web_url + "/flows", headers={**auth, "Host": host}).status_code == 200, host


def test_configured_hosts_replace_the_default_and_updates_carry_no_option(tmp_path: Path) -> None:
    proc = start_web_sidecar(tmp_path, allowed_hosts=["mitmweb.payments.internal"])
    try:
        auth = {"Authorization": f"Bearer {PASSWORD}"}
        for host, status in (("mitmweb.payments.internal:8081", 200), (f"localhost:{proc.web_port}", 403)):
            assert httpx.get(proc.web_url + "/flows", headers={**auth, "Host": host}).status_code == status, host
        # On SIGTERM the sidecar stops its listeners through an option (server=False): a change
        # mitmweb pushes to every client, unless, as here, only display options are pushed.
        s, status = websocket(proc, host="mitmweb.payments.internal")
        assert b" 101 " in status
        authorize(proc)
        proc.proc.send_signal(signal.SIGTERM)
        messages = [json.loads(m) for m in frames(read_to_end(s)) if m.startswith(b"{")]
        s.close()
        assert proc.proc.wait(20) == 0
    finally:
        proc.stop()
    assert [m["type"] for m in messages].count("flows/add") == 3
    assert [m for m in messages if m["type"] in ("options/update", "state/update")] == []


def test_allowed_hosts_must_be_host_names(tmp_path: Path) -> None:
    config = tmp_path / "web.yaml"
    config.write_text(f"web: {{enabled: true, password: {PASSWORD}, allowed_hosts: ['localhost:8081']}}\n")
    r = subprocess.run([SIDECAR, "check", "--config", str(config)], capture_output=True, text=True)
    assert r.returncode == 2 and "web.allowed_hosts: 'localhost:8081' is not a host name" in r.stderr


def test_flow_store_keeps_at_most_its_cap(web_sidecar) -> None:
    with web_sidecar.client() as c:
        for _ in range(10):  # 10 app calls -> 30 flows (app call, payment method, payment intent)
            assert post(c, "stripe", "/v1/payments", payment(VISA)).status_code == 200
    kept = flows(web_sidecar)
    assert len(kept) == 12
    # The newest are kept: the last call's three flows are all there.
    last = flow_labels(kept[-1])["request"]
    assert sum(1 for f in kept if flow_labels(f)["request"] == last) == 3


def test_a_flow_whose_app_hung_up_has_no_response_content_404_and_no_error_line(web_sidecar) -> None:
    # Headers and half the body, then the app goes: mitmproxy ends the flow with an error, no response.
    with socket.create_connection(("127.0.0.1", web_sidecar.port), timeout=5) as s:
        s.sendall(
            b"POST /v1/payments HTTP/1.1\r\nHost: sidecar\r\nX-Connector: stripe\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"reference": "hung'
        )
    wait_until(
        lambda: any(f.get("response") is None for f in flows(web_sidecar)), 10, "the unanswered call's masked copy"
    )
    flow_id = next(f["id"] for f in flows(web_sidecar) if f.get("response") is None)
    auth = {"Authorization": f"Bearer {PASSWORD}"}
    base = f"{web_sidecar.web_url}/flows/{flow_id}"
    assert httpx.get(f"{base}/request/content.data", headers=auth).status_code == 200
    for path in ("response/content.data", "response/content/auto.json"):
        r = httpx.get(f"{base}/{path}", headers=auth)
        assert (r.status_code, r.text) == (404, "This flow has no response.")
    assert httpx.get(f"{web_sidecar.web_url}/flows/{'0' * 8}/response/content.data", headers=auth).status_code == 404
    web_sidecar.written()
    errors = [line for line in web_sidecar.stdout_path.read_text().splitlines() if '"level":"error"' in line]
    assert not [line for line in errors if flow_id in line or "content" in line]


def push_updates(proc, calls: int, pad: int) -> None:
    """Each call is a quick 404 whose masked copy, and so the update for it, carries `pad` bytes."""
    with proc.client() as c:
        for _ in range(calls):
            assert c.get("/v1/no-such-endpoint", headers={"X-Pad": "x" * pad}).status_code == 404


def test_a_client_that_stops_reading_is_dropped_and_the_process_stays_small(web_sidecar) -> None:
    calls, pad = 1500, 16_000  # 24 MB of updates: what one stalled client would otherwise pin
    rss = psutil.Process(web_sidecar.proc.pid).memory_info
    push_updates(web_sidecar, 200, pad)  # warm up: the flow store full, allocator pools grown
    before = rss().rss
    reader, status = websocket(web_sidecar)
    assert b" 101 " in status
    received = [0]

    def read() -> None:
        while chunk := reader.recv(65536):
            received[0] += len(chunk)

    reading = threading.Thread(target=read, daemon=True)
    reading.start()
    stalled, status = websocket(web_sidecar, rcvbuf=4096)  # never reads
    assert b" 101 " in status
    started = time.monotonic()
    push_updates(web_sidecar, calls, pad)
    grown = rss().rss - before
    print(f"\n{calls} updates of {pad} B in {time.monotonic() - started:.1f} s; RSS grew {grown / 1e6:.1f} MB")
    assert grown < 10_000_000
    # Dropped: what it was sent before is at most the bound plus the sockets' buffers, then the end.
    assert len(read_to_end(stalled)) < calls * pad / 4
    assert "mitmweb client dropped: it stopped reading updates" in web_sidecar.output()
    assert "Unhandled error" not in web_sidecar.output()  # its write, cut short, is nobody's error
    # The client that reads gets every update and stays connected.
    wait_until(lambda: received[0] > calls * pad, 30, "every update at the reading client")
    assert reading.is_alive()
    reader.shutdown(socket.SHUT_RDWR)
    reading.join(10)
    reader.close()
