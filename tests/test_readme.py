"""The README's curl session, run unchanged against the real sidecar on the sandbox."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def session() -> str:
    text = README.read_text()
    section = text.split("## A session against the sandbox", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_readme_curl_session_runs_against_the_sandbox(sandbox_sidecar) -> None:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", session()],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "SIDECAR": sandbox_sidecar.url},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    payment_id = out[0].removeprefix("payment ")
    assert payment_id.startswith("pi_")
    captured = json.loads(out[1])
    assert (captured["status"], captured["captured"]["minor"]) == ("partially_charged", 750)
    assert out[2].startswith("refund re_")
    synced, refund = json.loads(out[3]), json.loads(out[4])
    assert (synced["id"], synced["refunded"]["minor"]) == (payment_id, 200)
    assert (refund["status"], refund["amount"]["minor"]) == ("succeeded", 200)
    adyen_capture, adyen_refund = json.loads(out[5]), json.loads(out[6])
    assert adyen_capture["status"] == "capture_initiated" and adyen_refund["status"] == "pending"
