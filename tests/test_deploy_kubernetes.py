"""deploy/kubernetes/, the example pod: every manifest valid against the Kubernetes 1.33 schemas
(strict: an unknown field is an error), the pod as README "Kubernetes" describes it, and the sidecar
started with the manifest's own command, arguments and environment, as its container would run: a
read-only root, its volumes laid out as kubelet lays them out (the CA as a kubernetes.io/tls Secret's
tls.crt and tls.key), the pod's user with no capability (tests/podfs.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from harness import free_port, wait_until
from podfs import Spec, Volume, command, unavailable

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "kubernetes"
KUBERNETES = "1.33"
APP_SHUTDOWN_S = 20  # what the Deployment's comment allows the app for its own shutdown


def documents() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc)
        for path in sorted(DEPLOY.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
    ]


def manifest(kind: str) -> dict[str, Any]:
    (doc,) = [doc for _, doc in documents() if doc["kind"] == kind]
    return doc


def pod() -> dict[str, Any]:
    return manifest("Deployment")["spec"]["template"]


def sidecar() -> dict[str, Any]:
    (container,) = pod()["spec"]["initContainers"]
    return container


def app() -> dict[str, Any]:
    (container,) = pod()["spec"]["containers"]
    return container


def volumes() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod()["spec"]["volumes"]}


def config() -> dict[str, Any]:
    """The sidecar's configuration: the ConfigMap's file that its --config names."""
    (volume,) = [v for v in volumes().values() if "configMap" in v]
    mount = mount_of(sidecar(), volume["name"])
    path = Path(sidecar()["args"][sidecar()["args"].index("--config") + 1])
    assert path.parent == Path(mount["mountPath"])
    assert manifest("ConfigMap")["metadata"]["name"] == volume["configMap"]["name"]
    return yaml.safe_load(manifest("ConfigMap")["data"][path.name])


def mount_of(container: dict[str, Any], volume: str) -> dict[str, Any]:
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == volume]
    return mount


def volume_at(container: dict[str, Any], path: str) -> tuple[dict[str, Any], str]:
    """The volume a file path of the container is in, and the file's name in it."""
    for mount in container["volumeMounts"]:
        if Path(path).parent == Path(mount["mountPath"]):
            return volumes()[mount["name"]], Path(path).name
    raise AssertionError(f"{path} is in no volume of {container['name']}")


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def port(container: dict[str, Any], name: str) -> int:
    (found,) = [p["containerPort"] for p in container["ports"] if p["name"] == name]
    return found


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted({name for name, _ in documents()})


@pytest.mark.parametrize(("name", "doc"), documents(), ids=[name for name, _ in documents()])
def test_every_manifest_is_valid_for_kubernetes_1_33(name, doc) -> None:
    kubernetes_validate.validate(doc, KUBERNETES, strict=True)  # raises on any error


def test_the_sidecar_is_a_native_sidecar_probed_on_the_ops_port() -> None:
    c, conf = sidecar(), config()
    assert c["restartPolicy"] == "Always"  # an init container that keeps running: started before the app
    ops = port(c, "ops")
    assert (conf["ops"]["host"], conf["ops"]["port"]) == ("0.0.0.0", ops)
    assert conf["listen"]["host"] == conf["forward_proxy"]["host"] == "127.0.0.1"
    for probe, path in (("startupProbe", "/readyz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        assert c[probe]["httpGet"] == {"path": path, "port": "ops"}
    annotations = pod()["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert (annotations["prometheus.io/port"], annotations["prometheus.io/path"]) == (str(ops), "/metrics")


def test_the_sidecar_runs_hardened_with_resources_set() -> None:
    security = pod()["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    for c in (sidecar(), app()):
        assert c["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }
    resources = sidecar()["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def test_secrets_reach_the_sidecar_as_files() -> None:
    conf, c = config(), sidecar()
    ca, key_name = volume_at(c, conf["forward_proxy"]["ca"]["cert"])
    assert key_name == "tls.crt" and volume_at(c, conf["forward_proxy"]["ca"]["key"]) == (ca, "tls.key")
    assert "items" not in ca["secret"]  # the whole kubernetes.io/tls Secret
    for connector in conf["connectors"].values():
        for account in connector["accounts"].values():
            references = [v for v in account.values() if isinstance(v, str) and v.startswith("file:")]
            assert references, "credentials are file: references"
            for reference in references:
                assert "secret" in volume_at(c, reference.removeprefix("file:"))[0]
    assert all(mount.get("readOnly") for mount in c["volumeMounts"] if "emptyDir" not in volumes()[mount["name"]])
    (scratch,) = [m for m in c["volumeMounts"] if "emptyDir" in volumes()[m["name"]]]
    assert env(c)["TMPDIR"] == scratch["mountPath"]


def test_the_app_uses_the_forward_proxy_and_trusts_the_ca_certificate_alone() -> None:
    a, conf = app(), config()
    variables = env(a)
    assert variables["HTTPS_PROXY"] == f"http://127.0.0.1:{conf['forward_proxy']['port']}"
    assert variables["PAYMENT_SIDECAR_URL"] == f"http://127.0.0.1:{conf['listen']['port']}"
    ca_secret = volume_at(sidecar(), conf["forward_proxy"]["ca"]["cert"])[0]["secret"]["secretName"]
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"):
        volume, file = volume_at(a, variables[name])
        assert volume["secret"]["secretName"] == ca_secret
        assert volume["secret"]["items"] == [{"key": "tls.crt", "path": file}]  # never the key
    assert all(volumes()[m["name"]].get("secret", {}).get("items") for m in a["volumeMounts"])


def test_the_webhook_service_reaches_the_sidecars_webhook_port() -> None:
    service = manifest("Service")["spec"]
    (target,) = [p["targetPort"] for p in service["ports"]]
    assert port(sidecar(), target)
    assert service["selector"].items() <= pod()["metadata"]["labels"].items()


def test_the_grace_period_covers_the_apps_shutdown_and_the_drain() -> None:
    grace = pod()["spec"]["terminationGracePeriodSeconds"]
    assert grace >= APP_SHUTDOWN_S + config()["drain_seconds"]


def readme_ca(into: Path) -> dict[str, bytes]:
    """The CA made by README "Kubernetes"'s own openssl line, as `kubectl create secret tls` stores it."""
    section = (ROOT / "README.md").read_text().split("## Kubernetes", 1)[1]
    (line,) = [line for line in section.splitlines() if line.startswith("openssl req ")]
    into.mkdir()
    subprocess.run(["bash", "-c", line], cwd=into, check=True, capture_output=True)
    return {"tls.crt": (into / "ca.crt").read_bytes(), "tls.key": (into / "ca.key").read_bytes()}


def lay_out(volume: dict[str, Any], into: Path, secrets: dict[str, dict[str, bytes]], fs_group: int) -> None:
    """A volume's directory as kubelet makes it: files of a ConfigMap or Secret, readable by the pod's
    fsGroup as their mode says; an emptyDir open to all."""
    into.mkdir()
    if "emptyDir" in volume:
        into.chmod(0o777)
        return
    source = volume.get("configMap") or volume["secret"]
    files = (
        {k: v.encode() for k, v in manifest("ConfigMap")["data"].items()}
        if "configMap" in volume
        else secrets[source["secretName"]]
    )
    for name, data in files.items():
        path = into / name
        path.write_bytes(data)
        os.chown(path, 0, fs_group)
        path.chmod(source.get("defaultMode", 0o644))


def writable_mounts(pid: int) -> set[str]:
    """The mount points a process can write to, but the kernel's own (/proc, /sys, /dev)."""
    points = set()
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if "rw" in fields[5].split(",") and not fields[4].startswith(("/proc", "/sys", "/dev")):
            points.add(fields[4])
    return points


def test_the_sidecar_starts_from_the_manifest_on_a_read_only_root(tmp_path) -> None:
    if reason := unavailable():
        pytest.skip(reason)
    c, security = sidecar(), pod()["spec"]["securityContext"]
    secrets = {
        "payment-sidecar-ca": readme_ca(tmp_path / "ca"),  # kubectl create secret tls: tls.crt, tls.key
        "stripe-credentials": {"api_key": b"sk_live_placeholder0000\n", "webhook_secret": b"whsec_placeholder00\n"},
        "adyen-credentials": {"api_key": b"AQEplaceholder0000\n", "hmac_key": b"00112233445566778899aabbccddeeff\n"},
        "payment-sidecar-webhooks": {"signing_secret": b"app-signing-secret-placeholder\n"},
    }
    layout = []
    (tmp_path / "volumes").mkdir()
    for mount in c["volumeMounts"]:
        volume = volumes()[mount["name"]]
        source = tmp_path / "volumes" / mount["name"]
        lay_out(volume, source, secrets, security["fsGroup"])
        layout.append(Volume(mount["mountPath"], str(source), writable="emptyDir" in volume))
    (emptydir,) = [Path(v.source) for v in layout if v.writable]
    ca_cert = tmp_path / "ca" / "ca.crt"
    ops, listen, forward, hooks = free_port(), free_port(), free_port(), free_port()
    venv_bin = Path(sys.executable).parent
    spec = Spec(
        volumes=layout,
        argv=[*c["command"], *c["args"]],
        env={
            **env(c),
            "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",  # the image's PATH starts with its venv
            "HOME": "/home/sidecar",  # the image user's home: read-only there, absent here
            # Tests listen on loopback free ports only: the addresses alone are changed.
            "SIDECAR_OPS__HOST": "127.0.0.1",
            "SIDECAR_OPS__PORT": str(ops),
            "SIDECAR_LISTEN__PORT": str(listen),
            "SIDECAR_FORWARD_PROXY__PORT": str(forward),
            "SIDECAR_WEBHOOKS__LISTEN__HOST": "127.0.0.1",
            "SIDECAR_WEBHOOKS__LISTEN__PORT": str(hooks),
        },
        cwd="/",
        uid=security["runAsUser"],
        gid=security["runAsGroup"],
        groups=[security["fsGroup"]],
        scratch=str(tmp_path / "scratch"),
        reachable=[os.path.realpath(sys.executable), str(venv_bin), str(ROOT)],
    )
    (tmp_path / "scratch").mkdir()
    out, err = tmp_path / "sidecar.out", tmp_path / "sidecar.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(command(spec), stdout=stdout, stderr=stderr)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}: {err.read_text()[-3000:]}{out.read_text()[-3000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{ops}/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(ready, 60, "the sidecar in its pod file system")
        status = Path(f"/proc/{proc.pid}/status").read_text()
        assert f"Uid:\t{security['runAsUser']}\t" in status and "CapEff:\t0000000000000000" in status
        assert writable_mounts(proc.pid) == {
            mount["mountPath"] for mount in c["volumeMounts"] if "emptyDir" in volumes()[mount["name"]]
        }
        assert httpx.get(f"http://127.0.0.1:{ops}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"http://127.0.0.1:{hooks}/healthz").json() == {"status": "ok"}  # the webhook listener
        assert "sidecar_client_connections" in httpx.get(f"http://127.0.0.1:{ops}/metrics").text
        assert list(emptydir.iterdir()), "the CA assembled for mitmproxy is in the emptyDir"
        # The forward proxy signs with the CA from the mounted tls.crt and tls.key: a client trusting
        # that certificate alone completes the handshake (no request is sent: nothing goes out).
        with socket.create_connection(("127.0.0.1", forward), timeout=10) as sock:
            sock.sendall(b"CONNECT api.stripe.com:443 HTTP/1.1\r\nHost: api.stripe.com:443\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            trust = ssl.create_default_context(cafile=ca_cert)
            with trust.wrap_socket(sock, server_hostname="api.stripe.com") as tls:
                issuer = dict(x[0] for x in tls.getpeercert()["issuer"])
                assert issuer["commonName"] == "Payment sidecar forward-proxy CA"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        status = proc.wait(30)
    output = out.read_text() + err.read_text()
    assert status == 0, output[-3000:]
    assert "Traceback" not in output and '"level":"error"' not in output
    assert not list(emptydir.iterdir()), "temporary files are removed on the way out"
    assert json.loads(next(line for line in out.read_text().splitlines() if '"starting"' in line))["ops"]
