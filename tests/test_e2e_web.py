"""mitmweb as a person uses it: a real headless Chromium (Debian's) opens the UI, selects the app's
authorize call and sees only the masked card; the flow store holds at most its cap."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from calls import VISA, flow_labels, payment, post
from harness import SidecarProcess, ensure_installed, free_port

PASSWORD = "web-ui-test-password"
ARTIFACTS = Path(__file__).resolve().parent.parent / ".artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def web_sidecar(tmp_path_factory):
    port = free_port()
    proc = SidecarProcess(
        tmp_path_factory.mktemp("web"), {"web": {"enabled": True, "password": PASSWORD, "port": port, "max_flows": 12}}
    ).start()
    proc.web_url = f"http://127.0.0.1:{port}"
    yield proc
    assert proc.stop() == 0


def flows(proc) -> list[dict]:
    return httpx.get(proc.web_url + "/flows", headers={"Authorization": f"Bearer {PASSWORD}"}).json()


def test_browser_shows_only_the_masked_card(web_sidecar) -> None:
    from playwright.sync_api import sync_playwright

    chromium = ensure_installed("chromium", "chromium")
    with web_sidecar.client() as c:
        assert post(c, "stripe", "/v1/payments", payment(VISA)).json()["status"] == "authorized"
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


def test_flow_store_keeps_at_most_its_cap(web_sidecar) -> None:
    with web_sidecar.client() as c:
        for _ in range(10):  # 10 app calls -> 30 flows (app call, payment method, payment intent)
            assert post(c, "stripe", "/v1/payments", payment(VISA)).status_code == 200
    kept = flows(web_sidecar)
    assert len(kept) == 12
    # The newest are kept: the last call's three flows are all there.
    last = flow_labels(kept[-1])["request"]
    assert sum(1 for f in kept if flow_labels(f)["request"] == last) == 3
