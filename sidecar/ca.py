"""The sidecar's own CA, which the forward proxy signs intercepted TLS with.

Either generated on first start into a configured directory (the directory mode 0700, the key files
0600), or loaded from a certificate and key file, e.g. a mounted Kubernetes TLS secret. mitmproxy reads
its CA from a "confdir" holding `mitmproxy-ca.pem` (key and certificate together), so loaded files
are assembled into a private temporary confdir of that shape, removed when the sidecar stops."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from mitmproxy.certs import CertStore

from sidecar.config import CASettings, ConfigError

BASENAME = "mitmproxy"  # the file names mitmproxy's TlsConfig looks for in its confdir
KEY_FILE = f"{BASENAME}-ca.pem"  # key and certificate
ORGANIZATION = "Payment sidecar"
COMMON_NAME = "Payment sidecar forward-proxy CA"
KEY_SIZE = 2048


@contextmanager
def confdir(ca: CASettings) -> Iterator[Path]:
    """A directory mitmproxy can load the CA from, for the life of the context; creates the CA on
    first use. Raises ConfigError, one line, when the CA cannot be made or read."""
    if ca.cert is None:
        yield _generated(ca.dir)
        return
    with tempfile.TemporaryDirectory(prefix="sidecar-ca-") as directory:  # mode 0700
        _assemble(ca.cert, ca.key or ca.cert, Path(directory) / KEY_FILE)
        yield Path(directory)


def certificate_pem(ca: CASettings) -> bytes:
    """The CA certificate that clients of the forward proxy must trust (no key)."""
    source = ca.cert if ca.cert is not None else _generated(ca.dir) / KEY_FILE
    try:
        cert = x509.load_pem_x509_certificates(source.read_bytes())[0]
    except (OSError, ValueError) as e:
        raise ConfigError([f"forward_proxy.ca: cannot read the CA certificate from {source}: {_reason(e)}"]) from None
    return cert.public_bytes(serialization.Encoding.PEM)


def _generated(directory: Path) -> Path:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not (directory / KEY_FILE).exists():
            CertStore.create_store(directory, BASENAME, KEY_SIZE, organization=ORGANIZATION, cn=COMMON_NAME)
    except OSError as e:
        raise ConfigError([f"forward_proxy.ca.dir: cannot create the CA in {directory}: {e.strerror}"]) from None
    return directory


def _assemble(cert: Path, key: Path, into: Path) -> None:
    try:
        key_pem = serialization.load_pem_private_key(key.read_bytes(), None).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
        certs = x509.load_pem_x509_certificates(cert.read_bytes())
    except (OSError, ValueError, TypeError) as e:  # TypeError: a key that needs a password
        raise ConfigError([f"forward_proxy.ca: cannot load the CA from {cert} and {key}: {_reason(e)}"]) from None
    fd = os.open(into, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))


def _reason(e: Exception) -> str:
    # cryptography's messages name the problem, never the key material.
    return e.strerror if isinstance(e, OSError) and e.strerror else str(e).split("\n", 1)[0]
