"""Throw-away credentials and Flower connection config for a local deployment trial.

:func:`generate_tls` / :func:`generate_node_keys` create a CA, a SuperLink server
certificate and EC P-384 SuperNode key pairs (OpenSSH format, as
``flower-supernode --auth-supernode-private-key`` and ``flwr supernode register``
expect). Never use them in production. :func:`write_connection` writes a SuperLink
connection into ``$FLWR_HOME/config.toml`` (flwr >= 1.41 reads connections from there).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


# ---------------------------------------------------------------------- certificates
@dataclass(frozen=True)
class TLSFiles:
    ca_cert: Path  # give to SuperNodes (--root-certificates) and flwr (root-certificates)
    server_cert: Path  # SuperLink --ssl-certfile
    server_key: Path  # SuperLink --ssl-keyfile


@dataclass(frozen=True)
class NodeKeys:
    private_key: Path  # stays on the device: flower-supernode --auth-supernode-private-key
    public_key: Path  # registered with the SuperLink: flwr supernode register


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def generate_tls(out_dir: str | Path, hosts: Sequence[str] = ("127.0.0.1", "localhost"), days: int = 30) -> TLSFiles:
    """A self-signed CA and a SuperLink server certificate for ``hosts`` (IPs or names)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.timezone.utc)
    valid = (now - _dt.timedelta(minutes=5), now + _dt.timedelta(days=days))

    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedforget local trial CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    srv_key = ec.generate_private_key(ec.SECP384R1())
    srv_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name).public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = TLSFiles(out / "ca.crt", out / "server.pem", out / "server.key")
    files.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    files.server_cert.write_bytes(srv_cert.public_bytes(pem))
    _write_private(files.server_key, srv_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    _write_private(out / "ca.key", ca_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return files


def generate_node_keys(out_dir: str | Path, name: str) -> NodeKeys:
    """An EC P-384 key pair for one SuperNode, in OpenSSH format."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    out = Path(out_dir)
    key = ec.generate_private_key(ec.SECP384R1())
    keys = NodeKeys(out / name, out / f"{name}.pub")
    _write_private(keys.private_key, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    keys.public_key.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + f" {name}\n".encode())
    return keys


def generate_trial_credentials(out_dir: str | Path, num_nodes: int,
                               hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> tuple[TLSFiles, list[NodeKeys]]:
    """TLS files and ``num_nodes`` SuperNode key pairs (``supernode-<i>``) under ``out_dir``."""
    tls = generate_tls(out_dir, hosts)
    return tls, [generate_node_keys(out_dir, f"supernode-{i}") for i in range(num_nodes)]


# ---------------------------------------------------------------------- flwr config
def write_connection(flwr_home: str | Path, name: str, address: str, root_certificates: str | Path | None = None,
                     insecure: bool = False, default: bool = True) -> Path:
    """Add (or replace) ``[superlink.<name>]`` in ``<flwr_home>/config.toml``."""
    import tomli
    import tomli_w

    path = Path(flwr_home) / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = tomli.loads(path.read_text()) if path.exists() else {}
    links = data.setdefault("superlink", {})
    conn: dict[str, Any] = {"address": address}
    if insecure:
        conn["insecure"] = True
    if root_certificates is not None:
        conn["root-certificates"] = str(Path(root_certificates).resolve())
    links[name] = conn
    if default or "default" not in links:
        links["default"] = name
    path.write_text(tomli_w.dumps(data))
    return path
