"""Self-signed TLS certificates for end-to-end tests that talk HTTPS to a real daemon.

The certificate is its own CA (basicConstraints CA:TRUE), so every client can verify the daemon
against the certificate file itself instead of switching verification off.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_NAMES = ("localhost", "s3.test", "*.s3.test")
DEFAULT_IPS = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class TLSFiles:
    """PEM files of one self-signed certificate: `cert` doubles as the clients' CA bundle."""

    cert: Path
    key: Path

    def server_config(self) -> dict[str, object]:
        """The `server.tls` section that makes a Daemon serve HTTPS with this certificate."""
        return {"enabled": True, "cert_file": str(self.cert), "key_file": str(self.key)}


def make_self_signed(
    directory: Path,
    names: tuple[str, ...] = DEFAULT_NAMES,
    ips: tuple[str, ...] = DEFAULT_IPS,
) -> TLSFiles:
    """Write `tls.crt` and `tls.key` into `directory` for the given DNS names and IP addresses."""
    if not names and not ips:
        raise ValueError("a certificate needs at least one DNS name or IP address")
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else ips[0])])
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Backdated an hour: a client whose clock is a little behind must not see "not yet valid".
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        # CA:TRUE lets OpenSSL-based clients (curl, rclone's Go TLS, s3cmd) accept the certificate
        # as its own trust anchor; a leaf-only cert is rejected by some as "not a CA".
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    files = TLSFiles(directory / "tls.crt", directory / "tls.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    return files
