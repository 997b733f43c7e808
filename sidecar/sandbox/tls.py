"""HTTPS for the sandbox gateways: a throwaway test CA made at start-up and a certificate it signs
for the loopback names, so the sidecar's outbound leg runs TLS against the sandbox exactly as against
a real gateway (verification on, trusting only this CA for the sandbox)."""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from mitmproxy.certs import create_ca, dummy_cert


@dataclass(frozen=True)
class SandboxTLS:
    server_context: ssl.SSLContext
    ca_file: Path  # what clients of the sandbox trust

    def remove(self) -> None:
        shutil.rmtree(self.ca_file.parent, ignore_errors=True)


def make_sandbox_tls() -> SandboxTLS:
    key, ca = create_ca(organization="Payment sidecar sandbox", cn="Payment sidecar sandbox test CA", key_size=2048)
    sans: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    leaf = dummy_cert(key, ca, "localhost", sans, organization="Payment sidecar sandbox")
    directory = Path(tempfile.mkdtemp(prefix="sidecar-sandbox-tls-"))
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = directory / "server.pem"
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    chain.touch(mode=0o600)
    chain.write_bytes(key_pem + leaf.to_pem())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(chain)
    return SandboxTLS(context, ca_file)
