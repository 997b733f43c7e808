"""No Docker engine here, so this runs the Dockerfile's own steps: copy what it copies into a fresh
directory, run its `uv sync` line there, start its CMD from the resulting environment, and run its
HEALTHCHECK command against it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from harness import free_port, wait_until

from sidecar.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0], line.split(None, 1)[1]) for line in lines]


def find_uv() -> str:
    """The uv running these tests (`uv run` sets UV), else one on PATH that works."""
    for candidate in (os.environ.get("UV"), shutil.which("uv")):
        if candidate and subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:
            return candidate
    raise RuntimeError("uv not found: run the tests with `uv run pytest`")


def test_dockerfile_is_slim_non_root_with_healthcheck() -> None:
    steps = instructions()
    assert steps[0] == ("FROM", "python:3.12-slim")
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    ops_port = Settings().ops.port
    assert any(op == "HEALTHCHECK" and f"127.0.0.1:{ops_port}/healthz" in arg for op, arg in steps)
    assert json.loads(dict(steps)["CMD"]) == ["sidecar", "run"]


def test_dockerfile_exposes_the_listeners_that_face_the_pod_network_only() -> None:
    exposed = {int(port) for op, arg in instructions() if op == "EXPOSE" for port in arg.split()}
    settings = Settings()
    assert settings.ops.port in exposed
    # The canonical API, the forward proxy and mitmweb listen on the pod's loopback.
    assert not exposed & {settings.listen.port, settings.forward_proxy.port, settings.web.port}


def test_dockerfile_install_steps_produce_a_working_sidecar(tmp_path: Path) -> None:
    steps = instructions()
    app = tmp_path / "app"
    app.mkdir()
    for op, arg in steps:
        if op == "COPY":
            *sources, dest = arg.split()
            for src in sources:
                target = (
                    app / dest / src if dest.endswith("/") and dest != "./" else app / (src if dest == "./" else dest)
                )
                if (ROOT / src).is_dir():
                    shutil.copytree(ROOT / src, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(ROOT / src, target)
    (sync_line,) = [arg for op, arg in steps if op == "RUN" and "uv sync" in arg]
    cmd = [find_uv(), *shlex.split(sync_line)[1:]]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    env["UV_PYTHON"] = sys.executable
    done = subprocess.run(cmd, cwd=app, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]

    port = free_port()  # the ops listener's, which the health check asks
    venv_bin = app / ".venv" / "bin"
    cmd_argv = json.loads(dict(steps)["CMD"])
    proc = subprocess.Popen(
        [str(venv_bin / cmd_argv[0]), *cmd_argv[1:]],
        cwd=tmp_path,
        env={
            **env,
            "SIDECAR_LISTEN__PORT": str(free_port()),
            "SIDECAR_OPS__HOST": "127.0.0.1",  # tests listen on loopback only
            "SIDECAR_OPS__PORT": str(port),
            "SIDECAR_FORWARD_PROXY__PORT": str(free_port()),
            "SIDECAR_FORWARD_PROXY__CA__DIR": str(tmp_path / "ca"),
            "PATH": f"{venv_bin}:{env['PATH']}",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        health = json.loads(dict(steps)["HEALTHCHECK"].split("CMD", 1)[1])
        check = [str(venv_bin / "python"), *health[1:]]
        check = [arg.replace(str(Settings().ops.port), str(port)) for arg in check]

        def healthy() -> bool:
            return subprocess.run(check, capture_output=True).returncode == 0

        wait_until(healthy, 30, "container healthcheck")
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
