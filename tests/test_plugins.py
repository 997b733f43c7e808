"""Plug-ins: a connector from a package of its own (tests/plugins/tinypay), installed into a fresh
environment beside the sidecar, is found through the `sidecar.connectors` entry points and called through
the real `sidecar run`, against its gateway's sandbox over HTTP (TinyPay's codec on the sandbox engine).

The environment is made as a user would: the sidecar as locked, runtime dependencies only, then the
plug-in installed by its own pyproject. uv takes everything from its cache, filled when the project's own
environment was made (`uv run` did that); only where the cache lacks something does it go to PyPI.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from calls import VISA, payment, post
from harness import SidecarProcess, free_port
from tinypay_codec import TinyPayCodec

from connectors.kit.sandbox import SandboxPolicy
from sidecar.sandbox.gateway import SimulatedGateway
from sidecar.sandbox.server import serve

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "tests" / "plugins" / "tinypay"


def uv(*args: str, env: dict[str, str] | None = None) -> None:
    """One uv command, from the cache alone if it can be, else with PyPI (a cold cache in CI)."""
    command = os.environ.get("UV") or shutil.which("uv")  # `uv run` names itself in UV
    assert command, "uv is needed to make an environment: run the tests with `uv run pytest`"
    environ = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | (env or {})
    offline = subprocess.run([command, *args, "--offline"], env=environ, capture_output=True, text=True, timeout=300)
    if offline.returncode != 0:
        online = subprocess.run([command, *args], env=environ, capture_output=True, text=True, timeout=600)
        assert online.returncode == 0, f"uv {' '.join(args)}:\n{offline.stderr}\n{online.stderr}"


@pytest.fixture(scope="module")
def plugin_sidecar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The `sidecar` command of a fresh environment with the plug-in installed; prints how long it took."""
    root = tmp_path_factory.mktemp("plugin")
    venv = root / "venv"
    shutil.copytree(PLUGIN, root / "tinypay", ignore=shutil.ignore_patterns("__pycache__"))
    started = time.monotonic()
    uv(
        "sync", "--frozen", "--no-dev", "--quiet", "--project", str(REPO), "--python", sys.executable,
        env={"UV_PROJECT_ENVIRONMENT": str(venv)},
    )  # fmt: skip
    uv("pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(root / "tinypay"))
    print(f"plug-in environment made in {time.monotonic() - started:.1f} s")
    yield str(venv / "bin" / "sidecar")


@pytest.fixture
def tinypay() -> Iterator[str]:
    """TinyPay's sandbox over HTTP on a loopback port, served in a thread of its own; its base URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    gateway = SimulatedGateway(TinyPayCodec(SandboxPolicy()))
    runner, url = asyncio.run_coroutine_threadsafe(serve(gateway, "127.0.0.1", 0, None), loop).result(10)
    yield url
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_a_connector_of_another_package_is_called_through_sidecar_run(plugin_sidecar, tinypay, tmp_path) -> None:
    account = {"default": {"api_key": "tp_alpha"}}
    config = {"connectors": {"tinypay": {"base_url": tinypay, "accounts": account}}}
    proc = SidecarProcess(tmp_path, config, sidecar=plugin_sidecar).start()
    try:
        with proc.client() as client:
            r = post(client, "tinypay", "/v1/payments", payment(VISA))
            assert r.status_code == 200, r.text
            p = r.json()
            assert (p["connector"], p["status"], p["connector_status"]) == ("tinypay", "authorized", "authorized")
            assert p["amount"] == {"minor": 1000, "currency": "USD"} and p["card"]["last4"] == "4242"
            # The gateway keeps it: read back through the sidecar.
            r = client.get(f"/v1/payments/{p['id']}", headers={"X-Connector": "tinypay"})
            assert (r.status_code, r.json()["id"], r.json()["status"]) == (200, p["id"], "authorized")
    finally:
        assert proc.stop() == 0, proc.output()[-3000:]
    # Its calls were logged, masked by the plug-in's own declarations.
    assert "tinypay" in proc.output() and VISA["number"] not in proc.output() and "tp_alpha" not in proc.output()


def test_the_configuration_names_the_installed_connectors(plugin_sidecar, tmp_path) -> None:
    config = tmp_path / "sidecar.yaml"
    forward = {"port": free_port(), "ca": {"dir": str(tmp_path / "ca")}}
    config.write_text(
        yaml.safe_dump({"listen": {"port": free_port()}, "forward_proxy": forward, "connectors": {"worldpay": {}}})
    )
    r = subprocess.run([plugin_sidecar, "check", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "connectors.worldpay: no such connector (known: adyen, checkout, paypal, stripe, tinypay)" in r.stderr


def test_a_plugin_without_a_simulator_runs_only_with_accounts(plugin_sidecar, tmp_path) -> None:
    env = {**os.environ, "HOME": str(tmp_path)}  # the default CA directory is under HOME

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([plugin_sidecar, "check", *args], capture_output=True, text=True, timeout=60, env=env)

    r = check()
    assert r.returncode == 0, r.stdout + r.stderr
    # The defaults are every connector the sandbox simulates; TinyPay is installed, not simulated.
    assert "stripe: sandbox" in r.stdout and "paypal: sandbox" in r.stdout and "tinypay" not in r.stdout

    config = tmp_path / "sidecar.yaml"
    config.write_text(yaml.safe_dump({"connectors": {"stripe": {}, "tinypay": {}}}))
    r = check("--config", str(config))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stdout + r.stderr
    assert "connectors.tinypay: the built-in sandbox has no simulator of this gateway: give it accounts" in r.stderr
