"""Hostile input against the real process, as a careless client and an attacker send it: wrong content
types, broken and non-UTF-8 bodies, card numbers in ids, headers, header names, metadata keys,
queries and malformed header lines, CVCs under any name, percent-encoded forms over HTTP/1.1 and
HTTP/2 through the forward proxy, then hypothesis-made bodies and headers. Whatever the answer, no
card number or CVC that went in may come out: not in the answer, the log, the saved flows or mitmweb."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time

import httpx
import pytest
import yaml
from detector import Detector, gateway_ids
from harness import SIDECAR, SidecarProcess, ensure_installed, free_port
from hostile import ENCODINGS, Hidden, hidden, hostile_bodies, hostile_headers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

WEB_PASSWORD = "hostile-web-pass"
PAN, CVC = "4242424242424242", "314"
OTHER_PANS = ("5555555555554444", "4111111111111111", "378282246310005")
CVCS = [CVC, "737", "9182"]
CARD = {"number": PAN, "exp_month": 12, "exp_year": 2031, "cvc": CVC}
PAYMENT = {"reference": "hostile-1", "amount": {"minor": 1000, "currency": "USD"}, "capture": "manual"}
STRIPE = {"X-Connector": "stripe", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def sidecar(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    config = {"web": {"enabled": True, "password": WEB_PASSWORD, "port": free_port()}, "save_flows": str(tmp / "f")}
    proc = SidecarProcess(tmp, config).start()
    proc.flows_file = tmp / "f"
    proc.ca_file = tmp / "ca.pem"
    proc.ca_file.write_bytes(
        subprocess.run([SIDECAR, "ca", "--config", str(proc.config_path)], capture_output=True, check=True).stdout
    )
    proc.web = f"http://127.0.0.1:{yaml.safe_load(proc.config_path.read_text())['web']['port']}"
    yield proc
    assert proc.stop() == 0


def payment(**extra) -> bytes:
    return json.dumps({**PAYMENT, "payment_method": {"type": "card", "card": CARD}, **extra}).encode()


def raw_http(port: int, request: bytes) -> bytes:
    """One request on a fresh socket, exactly as given (it should ask to close); the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def assert_clean_answer(answer: bytes | str) -> None:
    text = answer.decode("latin-1") if isinstance(answer, bytes) else answer
    assert Hidden(PAN, CVC).leaked_in(text) == [], text[:500]
    assert "<html" not in text.lower()


def gateway_lines(proc: SidecarProcess, request_id: str) -> list[dict]:
    return [
        json.loads(line)
        for line in proc.stdout_path.read_text().splitlines()
        if '"connector call"' in line and f'"request_id":"{request_id}"' in line
    ]


def test_json_sent_as_a_form_or_text_is_refused_before_any_gateway_call(sidecar) -> None:
    with sidecar.client() as c:
        for ctype in ("application/x-www-form-urlencoded", "text/plain", "application/octet-stream", None):
            headers = {"X-Connector": "stripe"} | ({"Content-Type": ctype} if ctype else {})
            r = c.post("/v1/payments", content=payment(), headers=headers)
            assert r.status_code == 415 and r.json()["error"]["type"] == "unsupported_media_type", (ctype, r.text)
            assert_clean_answer(r.text)
            assert gateway_lines(sidecar, r.headers["X-Request-Id"]) == []
        # Parameters of the media type do not matter; its name, in any case, does.
        r = c.post(
            "/v1/payments", content=payment(), headers={**STRIPE, "Content-Type": "Application/JSON; charset=utf-8"}
        )
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "body",
    [
        payment()[:-7],
        payment().replace(b'"capture"', b'"x": NaN, "capture"'),
        payment().replace(b"hostile-1", b"host\xffile"),
        payment().replace(b"{", b"{\x00", 1),
    ],
    ids=["truncated", "nan", "non-utf8", "nul"],
)
def test_broken_json_is_400_and_never_written(sidecar, body) -> None:
    with sidecar.client() as c:
        r = c.post("/v1/payments", content=body, headers=STRIPE)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request"
    assert_clean_answer(r.text)
    assert gateway_lines(sidecar, r.headers["X-Request-Id"]) == []


def test_card_numbers_in_ids_queries_headers_and_metadata_keys(sidecar) -> None:
    with sidecar.client() as c:
        r = c.post(f"/v1/payments/{PAN}/capture", headers={"X-Connector": "stripe"})
        assert r.status_code in (400, 404) and PAN not in r.text
        r = c.get(f"/v1/payments/pi_x?q=%22{PAN}%22&cvc={CVC}", headers={"X-Connector": "stripe"})
        assert_clean_answer(r.text)
        r = c.post(
            "/v1/payments",
            content=payment(metadata={PAN: "x", "card_cvc": CVC, "note": f"%22{PAN}%22"}, description=f"card {PAN}"),
            headers={**STRIPE, "X-Note": f"card {PAN}", f"X-{PAN}": "1", "X-Card-Cvc": CVC},
        )
        assert r.status_code == 200 and r.json()["status"] == "authorized", r.text
        assert_clean_answer(r.text)
        assert gateway_lines(sidecar, r.headers["X-Request-Id"])  # the gateway was called: its lines are checked last


# A key fits the id pattern: the safety net, not the pattern, says it is no plain id.
@pytest.mark.parametrize(
    "given_id", [PAN, f"req-{PAN}", f"{PAN[:8]} {PAN[8:]}", "x" * 129, "ok\u00e9", "sk_live_51Habcdefghijklmnopqrstuv"]
)
def test_request_ids_that_are_not_plain_ids_are_replaced(sidecar, given_id) -> None:
    with sidecar.client() as c:
        r = c.get("/v1/payments/pi_unknown", headers={"X-Connector": "stripe", "X-Request-Id": given_id.encode()})
    assert r.headers["X-Request-Id"] != given_id and PAN not in r.headers["X-Request-Id"]
    assert re.fullmatch(r"[A-Za-z_-]{20}", r.headers["X-Request-Id"])  # a fresh id: no digit the net could take
    assert r.json()["error"]["request_id"] == r.headers["X-Request-Id"]


def test_plain_request_ids_are_kept(sidecar) -> None:
    with sidecar.client() as c:
        r = c.get("/v1/payments/pi_unknown", headers={"X-Connector": "stripe", "X-Request-Id": "order-7.try:2_a"})
    assert r.headers["X-Request-Id"] == "order-7.try:2_a"


@pytest.mark.parametrize(
    "lines",
    [
        ["GET /v1/payments/pi_1 HTTP/1.1", f"X-Card {PAN}"],  # a header line with no colon
        ["GET /v1/payments/pi_1 HTTP/1.1", f" {PAN}: {CVC}"],  # folded onto the line before
        [f"GET /v1/payments/{PAN} HTTP/9.9"],
        [f"GET /v1/payments/{PAN} HTTP/1.1 cvc={CVC}"],
        ["POST /v1/payments HTTP/1.1", f"Content-Length: {PAN}"],
    ],
    ids=["no-colon", "folded", "version", "request-line", "content-length"],
)
def test_malformed_requests_get_json_that_quotes_nothing(sidecar, lines) -> None:
    answer = raw_http(sidecar.port, "\r\n".join([*lines, "Host: x", "Connection: close", "", ""]).encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 4") and b"content-type: application/json" in head.lower(), answer
    assert json.loads(body)["error"]["request_id"]
    assert_clean_answer(answer)


def test_non_utf8_request_line_or_header_is_400_before_any_gateway_call(sidecar) -> None:
    body = payment()
    for head in (b"POST /v1/payments?x=\xff HTTP/1.1\r\n", b"POST /v1/payments HTTP/1.1\r\nX-Note: \xfe\xff\r\n"):
        request = head + b"Host: x\r\nX-Connector: stripe\r\nContent-Type: application/json\r\n"
        request += b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
        answer = raw_http(sidecar.port, request)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
        request_id = json.loads(answer.partition(b"\r\n\r\n")[2])["error"]["request_id"]
        assert gateway_lines(sidecar, request_id) == []  # no money moved


def test_oversize_bodies_are_json_413_logged_and_counted(sidecar) -> None:
    before = _metric(sidecar, 'sidecar_errors_total{connector="-",type="payload_too_large"}')
    huge = b'{"reference": "' + b"9" * 300_000 + b'"}'
    with sidecar.client() as c:
        sized = c.post("/v1/payments", content=huge, headers=STRIPE)
        chunked = c.post("/v1/payments", content=iter([huge[:1000], huge[1000:]]), headers=STRIPE)
    for r in (sized, chunked):
        assert r.status_code == 413 and r.json()["error"]["type"] == "payload_too_large", r.text[:200]
        assert r.headers["content-type"] == "application/json"
        assert f'"request_id":"{r.json()["error"]["request_id"]}"' in sidecar.stdout_path.read_text()
    assert _metric(sidecar, 'sidecar_errors_total{connector="-",type="payload_too_large"}') == before + 2


def _metric(proc: SidecarProcess, series: str) -> float:
    text = httpx.get(proc.url + "/metrics").text
    return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(series + " ")), 0.0)


@pytest.mark.parametrize("http2", [False, True], ids=["http1.1", "http2"])
def test_legacy_forms_through_the_forward_proxy(sidecar, http2) -> None:
    """What the Stripe SDK sends: bracket keys percent-encoded, over HTTP/1.1 and HTTP/2 (lower-case
    headers). curl, because it offers h2 first in ALPN (httpx through a proxy offers http/1.1 first)."""
    form = f"type=card&card%5Bnumber%5D={PAN}&card%5Bcvc%5D={CVC}&card%5Bexp_month%5D=12&card%5Bexp_year%5D=2031"
    form += f"&metadata%5B{PAN}%5D=x&metadata%5Bcard_cvc%5D={CVC}"
    curl = [ensure_installed("curl", "curl"), "-s", "--proxy", sidecar.proxy_url, "--cacert", str(sidecar.ca_file)]
    curl += ["--http2" if http2 else "--http1.1", "-H", "Authorization: Bearer sk_test_x", "--data-binary", form]
    done = subprocess.run(
        [*curl, "-w", "\n%{http_version} %{http_code}", "https://api.stripe.com/v1/payment_methods"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    body, _, version_status = done.stdout.rpartition("\n")
    assert version_status == ("2 200" if http2 else "1.1 200"), done.stdout + done.stderr
    last = [json.loads(x) for x in sidecar.stdout_path.read_text().splitlines() if '"connector call"' in x][-1]
    assert last["operation"] == "forward" and last["request_body"].startswith("type=card&card[number]=424242******4242")
    assert "&card[cvc]=[removed]&" in last["request_body"] and "metadata[card_cvc]=[removed]" in last["request_body"]


def test_hypothesis_bodies_and_headers_leave_nothing_behind(sidecar) -> None:
    """Bodies of every shape and headers with card numbers, to the canonical API and to a gateway
    through the forward proxy; after each, the new log and saved-flow bytes hold neither secret."""
    offsets = {"stdout": 0, "flows": 0}
    sent = {"examples": 0}

    def new_output() -> str:
        out = []
        for name, path in (("stdout", sidecar.stdout_path), ("flows", sidecar.flows_file)):
            data = path.read_bytes()
            out.append(data[offsets[name] :].decode("utf-8", "replace"))
            offsets[name] = len(data)
        return "\n".join(out)

    valid_payments = st.builds(
        lambda secret, enc: (
            secret,
            "application/json",
            json.dumps(
                {
                    **PAYMENT,
                    "payment_method": {"type": "card", "card": {**CARD, "number": secret.pan, "cvc": secret.cvc}},
                    "metadata": {secret.pan[:19]: "x", "note": ENCODINGS[enc](secret.pan), "cardCvc": secret.cvc},
                    "description": f"card {ENCODINGS[enc](secret.pan)}",
                }
            ).encode(),
        ),
        hidden.filter(lambda h: h.pan.startswith(("4", "5"))),
        st.sampled_from(sorted(ENCODINGS)),
    )

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(body=hostile_bodies() | valid_payments, extra=hostile_headers(), forward=st.booleans())
    def probe(body, extra, forward) -> None:
        secret, ctype, content = body
        header_secret, headers = extra
        headers = {**headers, "Content-Type": ctype or "application/octet-stream"}
        if forward:
            with httpx.Client(proxy=sidecar.proxy_url, verify=str(sidecar.ca_file), timeout=30) as c:
                r = c.post("https://api.stripe.com/v1/payment_methods", content=content, headers=headers)
        else:
            with sidecar.client() as c:
                r = c.post("/v1/payments", content=content, headers={**headers, "X-Connector": "stripe"})
        sent["examples"] += 1
        if not forward:  # the forward proxy returns the gateway's answer unchanged, by design
            assert secret.leaked_in(r.text) == [] and header_secret.leaked_in(json.dumps(dict(r.headers))) == []
        written = new_output()
        assert secret.leaked_in(written) == [], (content[:200], r.status_code)
        assert header_secret.leaked_in(written) == [], headers

    probe()
    print(f"\nhostile e2e: {sent['examples']} hypothesis examples sent")


def without_hashes(flow: dict) -> dict:
    """contentHash is a SHA-256 hex digest of a (masked) body: its digit runs are not data."""
    return {k: {**v, "contentHash": None} if k in ("request", "response") and v else v for k, v in flow.items()}


def test_nothing_written_anywhere_holds_a_card_number_or_cvc(sidecar) -> None:
    """Runs last: the independent detector over every artifact the process wrote or serves."""
    time.sleep(0.2)  # the last masked copies reach mitmweb's store after the answer
    out = sidecar.stdout_path.read_text()
    detector = Detector(
        secrets=["sk_test_sandbox", "sandbox_api_key", "sk_test_x"], cvcs=CVCS, allowed=gateway_ids(out)
    )
    assert not detector.allowed & {PAN, *OTHER_PANS}
    detector.scan("stdout", out)
    detector.scan("stderr", sidecar.stderr_path.read_text())
    detector.scan("saved flows", sidecar.flows_file.read_bytes())
    auth = {"Authorization": f"Bearer {WEB_PASSWORD}"}
    with httpx.Client(base_url=sidecar.web, headers=auth, timeout=10) as w:
        flows = w.get("/flows").json()
        detector.scan("/flows", json.dumps([without_hashes(f) for f in flows]))
        detector.scan("/flows/dump", w.get("/flows/dump").content)
        detector.scan("/events", json.dumps([{**e, "id": None} for e in w.get("/events").json()]))
        for f in flows:
            for part in ("request", "response"):
                if f.get(part):
                    detector.scan(f"{f['id']} {part}", w.get(f"/flows/{f['id']}/{part}/content.data").content)
    print(
        f"\nhostile audit: {len(flows)} flows; {detector.sources} sources, {detector.bytes} bytes scanned; "
        f"{len(detector.findings)} findings"
    )
    assert detector.findings == [], "\n".join(map(str, detector.findings[:20]))
