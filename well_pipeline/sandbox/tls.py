"""Self-signed certificates for loopback TLS sandboxes (Qonto now, SMTP later).

The real services only speak TLS, so the sandboxes can too; a throwaway certificate valid for 127.0.0.1,
::1 and localhost lets clients verify it with `verify=<cert_path>` instead of switching verification off.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_FILE_NAME = "sandbox-cert.pem"
KEY_FILE_NAME = "sandbox-key.pem"


def generate_self_signed(cert_dir: str | Path, *, valid_days: int = 30) -> tuple[Path, Path]:
    """Write a fresh self-signed certificate and its private key into `cert_dir`; return their paths.

    The certificate is its own trust anchor (CA:TRUE with keyCertSign, SKI/AKI present) so it passes
    OpenSSL's strict X.509 checks when a client loads it as the CA file, and it carries the serverAuth
    EKU so it is also a valid server certificate. ECDSA P-256 keeps generation instant.
    """
    directory = Path(cert_dir)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Well sandbox (not for production)"),
        ]
    )
    now = datetime.now(UTC)
    public_key = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=valid_days))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / CERT_FILE_NAME
    key_path = directory / KEY_FILE_NAME
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path
