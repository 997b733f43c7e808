"""Operator errors, from the real `sidecar check` and `sidecar run`: each reported on one line that
names the setting (or the file's line and column), all of them at once, exit status 2, no traceback
and no secret."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from harness import SIDECAR, free_port

SECRET = "sk_live_operatorsecret0123456789"


def sidecar(command: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SIDECAR, command, "--config", str(config)], capture_output=True, text=True, timeout=60)


def reported(r: subprocess.CompletedProcess[str]) -> list[str]:
    """The problem lines, after the one-line header; and nothing else may be said."""
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr and SECRET not in r.stdout + r.stderr
    header, *lines = r.stderr.splitlines()
    assert header.endswith(":") and all(line.startswith("  ") for line in lines)
    return [line.strip() for line in lines]


def write(tmp_path: Path, config: dict) -> Path:
    """A config that would otherwise run: free loopback ports, a private CA directory."""
    path = tmp_path / "sidecar.yaml"
    config = {
        "listen": {"port": free_port()},
        "ops": {"host": "127.0.0.1", "port": free_port()},
        **config,
        "forward_proxy": {"port": free_port(), "ca": {"dir": str(tmp_path / "ca")}, **config.get("forward_proxy", {})},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_yaml_syntax_error_is_reported_with_its_line_and_column(tmp_path, command) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text(
        "listen: {port: 8080}\n"
        "connectors:\n"
        "  stripe:\n"
        f"    accounts: {{default: {{api_key: {SECRET}]}}}}\n"  # a stray ]
    )
    lines = reported(sidecar(command, config))
    assert len(lines) == 1
    assert lines[0].startswith(f"{config}:4:") and "YAML syntax error" in lines[0]


@pytest.mark.parametrize("command", ["check", "run"])
def test_every_unknown_connector_is_reported_beside_the_other_errors(tmp_path, command) -> None:
    config = tmp_path / "connectors.yaml"
    config.write_text(
        "listen: {port: 99999}\n"
        "connectors:\n"
        "  worldpay: {}\n"
        "  square: {}\n"
        f"  stripe: {{accounts: {{default: {{api_key: {SECRET}}}}}, timeouts: {{read: -1}}}}\n"
    )
    lines = reported(sidecar(command, config))
    assert lines == [
        "listen.port: Input should be less than or equal to 65535",
        "connectors.worldpay: no such connector (known: adyen, checkout, paypal, stripe)",
        "connectors.square: no such connector (known: adyen, checkout, paypal, stripe)",
        "connectors.stripe.timeouts.read: Input should be greater than 0",
    ]


def test_account_problems_are_reported_beside_the_other_errors(tmp_path) -> None:
    # Accounts are checked once the connectors themselves are well-formed, with every other field.
    config = tmp_path / "accounts.yaml"
    config.write_text(
        "listen: {port: 99999}\n"
        "connectors:\n"
        "  stripe: {accounts: {default: {api_key: 'env:SIDECAR_TEST_UNSET'}}}\n"
        f"  adyen: {{accounts: {{default: {{api_key: {SECRET}}}}}}}\n"
    )
    lines = reported(sidecar("check", config))
    assert lines == [
        "listen.port: Input should be less than or equal to 65535",
        "connectors.stripe.accounts.default.api_key: environment variable SIDECAR_TEST_UNSET is not set",
        "connectors.adyen.accounts.default.merchant_account: Field required",
    ]


@contextlib.contextmanager
def unwritable_directory(path: Path) -> Iterator[Path]:
    """A directory this process cannot write in, even as root (which ignores permission bits):
    immutable where the file system allows it."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o500)
        undo = ["chmod", "700", str(path)]
    elif subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0:
        undo = ["chattr", "-i", str(path)]
    else:
        pytest.skip("as root, an unwritable directory needs `chattr +i`, which this file system refuses")
    try:
        yield path
    finally:
        subprocess.run(undo, check=True)


@pytest.mark.parametrize("command", ["check", "run"])
def test_unwritable_directories_are_reported(tmp_path, command) -> None:
    (tmp_path / "a-file").write_text("")
    with unwritable_directory(tmp_path / "locked") as locked:
        config = write(
            tmp_path,
            {"forward_proxy": {"ca": {"dir": str(locked / "ca")}}, "save_flows": str(tmp_path / "a-file" / "flows")},
        )
        lines = reported(sidecar(command, config))
    assert len(lines) == 2
    assert lines[0].startswith(f"forward_proxy.ca.dir: cannot write in {locked}: ")  # and the system's reason
    flows = tmp_path / "a-file" / "flows"
    assert lines[1] == f"save_flows: cannot create {flows}: {flows.parent} is not a directory"


def test_ports_in_use_are_reported_by_run_and_left_to_it_by_check(tmp_path) -> None:
    config = write(tmp_path, {})
    ports = yaml.safe_load(config.read_text())
    with socket.socket() as a, socket.socket() as b, socket.socket() as c:
        a.bind(("127.0.0.1", ports["listen"]["port"]))
        b.bind(("127.0.0.1", ports["forward_proxy"]["port"]))
        c.bind(("127.0.0.1", ports["ops"]["port"]))
        for s in (a, b, c):
            s.listen()
        lines = reported(sidecar("run", config))
        # `check` is often run beside the sidecar that holds its ports: it does not try them.
        checked = sidecar("check", config)
    assert lines == [
        f"listen.port: cannot listen on 127.0.0.1:{ports['listen']['port']}: the port is in use",
        f"forward_proxy.port: cannot listen on 127.0.0.1:{ports['forward_proxy']['port']}: the port is in use",
        f"ops.port: cannot listen on 127.0.0.1:{ports['ops']['port']}: the port is in use",
    ]
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_broken_connector_plugin_is_reported_not_raised(tmp_path, command) -> None:
    # An installed distribution, as importlib.metadata finds one on the path: its entry points only.
    dist = tmp_path / "site" / "brokenpay-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenpay\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[sidecar.connectors]\n"
        "brokenpay = brokenpay_missing_module:BrokenPay\n"  # does not import
        "jsonpay = json:dumps\n"  # not a connector
        "stripe = connectors.adyen:Adyen\n"  # a second `stripe`, and a connector of another name
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    r = subprocess.run(
        [SIDECAR, command, "--config", str(write(tmp_path, {}))], capture_output=True, text=True, timeout=60, env=env
    )
    lines = reported(r)
    assert "an installed connector is not valid" in r.stderr.splitlines()[0]
    assert len(lines) == 3, lines
    assert lines[0].startswith("entry point brokenpay = brokenpay_missing_module:BrokenPay")
    assert "does not load (ModuleNotFoundError" in lines[0]
    assert lines[1].startswith("entry point jsonpay = json:dumps") and lines[1].endswith("is not a Connector class")
    assert lines[2].startswith("entry point stripe = connectors.adyen:Adyen")
    assert lines[2].endswith("a second connector called 'stripe'") or "names a connector called 'adyen'" in lines[2]
