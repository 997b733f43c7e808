"""The sidecar's own CA, which the forward proxy signs intercepted TLS with.

Either generated on first start into a configured directory (the key file mode 0600, the directory
0700), or loaded from a certificate and key file, e.g. a mounted Kubernetes TLS secret. mitmproxy reads
its CA from a "confdir" holding `mitmproxy-ca.pem` (key and certificate together), so loaded files
are assembled into a private confdir of that shape."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from mitmproxy.certs import CertStore

from sidecar.config import CASettings

BASENAME = "mitmproxy"  # the file names mitmproxy's TlsConfig looks for in its confdir
ORGANIZATION = "Payment sidecar"
COMMON_NAME = "Payment sidecar forward-proxy CA"
KEY_SIZE = 2048


def confdir(ca: CASettings) -> Path:
    """A directory mitmproxy can load the CA from; creates the CA on first use."""
    if ca.cert is not None:
        return _assembled(ca.cert, ca.key or ca.cert)
    ca.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not (ca.dir / f"{BASENAME}-ca.pem").exists():
        CertStore.create_store(ca.dir, BASENAME, KEY_SIZE, organization=ORGANIZATION, cn=COMMON_NAME)
    return ca.dir


def certificate_pem(ca: CASettings) -> bytes:
    """The CA certificate that clients of the forward proxy must trust (no key)."""
    pem = (confdir(ca) / f"{BASENAME}-ca.pem").read_bytes()
    cert = x509.load_pem_x509_certificates(pem)[0]
    return cert.public_bytes(serialization.Encoding.PEM)


def _assembled(cert: Path, key: Path) -> Path:
    key_pem = serialization.load_pem_private_key(key.read_bytes(), None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    cert_pem = b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in x509.load_pem_x509_certificates(cert.read_bytes())
    )
    directory = Path(tempfile.mkdtemp(prefix="sidecar-ca-"))  # mode 0700
    path = directory / f"{BASENAME}-ca.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem + cert_pem)
    return directory
