"""The server's Ed25519 key pair (``cryptography``) and signatures over canonical JSON.

The key pair lives in ``<folder>/receipt_ed25519.key`` (private, PKCS#8 PEM, mode 0600)
and ``receipt_ed25519.pub`` (public, raw 32 bytes hex); it is generated on first use or by
``fedforget deploy certs``. A signature covers the canonical JSON (sorted keys, no
spaces) of everything in the receipt but the ``signature`` block itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fedforget.util.errors import FedForgetError
from fedforget.util.io import atomic_write_bytes, atomic_write_text

PRIVATE_FILE = "receipt_ed25519.key"
PUBLIC_FILE = "receipt_ed25519.pub"
ALGORITHM = "ed25519"


class SignatureError(FedForgetError):
    """A signature is missing, malformed or does not verify."""


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def load_or_create_key(folder: str | Path) -> Any:
    """The server's private key in ``folder``, generated (and saved) on first use."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = Path(folder)
    priv = folder / PRIVATE_FILE
    if priv.exists():
        key = serialization.load_pem_private_key(priv.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise SignatureError(f"{priv} is not an Ed25519 private key; delete it to generate a new one")
        return key
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    atomic_write_bytes(priv, pem)
    os.chmod(priv, 0o600)
    atomic_write_text(folder / PUBLIC_FILE, public_hex(key) + "\n")
    return key


def public_hex(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def sign(key: Any, body: dict[str, Any]) -> dict[str, str]:
    return {"algorithm": ALGORITHM, "public_key": public_hex(key), "value": key.sign(canonical(body)).hex()}


def verify_signature(body: dict[str, Any], signature: dict[str, Any], trusted_public_key: str | None = None) -> None:
    """Raise :class:`SignatureError` unless ``signature`` signs ``body``; with
    ``trusted_public_key`` (hex) the signer must also be that key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not signature or signature.get("algorithm") != ALGORITHM:
        raise SignatureError(f"signature: missing or not {ALGORITHM}")
    pub = str(signature.get("public_key", ""))
    if trusted_public_key is not None and pub != trusted_public_key.strip():
        raise SignatureError("signature: signed by a key other than the trusted server key "
                             f"({pub[:16]}… instead of {trusted_public_key.strip()[:16]}…)")
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(pub)).verify(bytes.fromhex(str(signature["value"])), canonical(body))
    except (InvalidSignature, ValueError, KeyError) as e:
        raise SignatureError("signature: does not verify (the receipt was changed after signing, "
                             "or the signature is not the server's)") from e
