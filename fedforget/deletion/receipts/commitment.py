"""A client's commitment to the samples it deletes: a salted Merkle root.

Leaf of a sample = SHA-256(0x00 || salt || id || label || feature bytes), leaves sorted by
sample id; inner node = SHA-256(0x01 || left || right); an odd node is carried up unchanged.
The salt (32 random bytes) stays on the device, so the server, who sees only the root
and the count, cannot test guesses about the samples; the device, holding samples and
salt, can later recompute the root and check it against a receipt
(:func:`verify_commitment`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.util.errors import FedForgetError
from fedforget.util.io import atomic_write_json

COMMIT_DIR = "commitments"


class CommitmentError(FedForgetError):
    """A commitment cannot be made, found or checked."""


def leaf_hashes(x: np.ndarray, y: np.ndarray, ids: np.ndarray, salt: bytes) -> list[bytes]:
    order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
    xs = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    out = []
    for i in order:
        h = hashlib.sha256(b"\x00" + salt)
        h.update(int(ids[i]).to_bytes(8, "little", signed=True))
        h.update(int(y[i]).to_bytes(8, "little", signed=True))
        h.update(xs[i].tobytes())
        out.append(h.digest())
    return out


def merkle_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"\x02empty").digest()
    level = leaves
    while len(level) > 1:
        nxt = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def commitment_root(x: np.ndarray, y: np.ndarray, ids: np.ndarray, salt: bytes) -> str:
    return "sha256:" + merkle_root(leaf_hashes(x, y, ids, salt)).hex()


@dataclass(frozen=True)
class Commitment:
    """What the server learns (``root``, ``count``, ``key``) and, on the device only, the salt."""

    key: str
    root: str
    count: int
    salt: bytes

    def public(self) -> dict[str, Any]:
        return {"key": self.key, "root": self.root, "count": self.count}


def commit(x: np.ndarray, y: np.ndarray, ids: np.ndarray, key: str, salt: bytes | None = None) -> Commitment:
    """Commit to samples (features ``x``, labels ``y``, global ``ids``) under a fresh salt."""
    salt = secrets.token_bytes(32) if salt is None else salt
    return Commitment(key, commitment_root(x, y, ids, salt), int(len(ids)), salt)


def _safe(key: str) -> str:
    if not key or any(c in key for c in "/\\\0") or key.startswith("."):
        raise CommitmentError(f"commitment key {key!r} must be a plain name (no '/', no leading '.')")
    return key


def save_secret(device_dir: str | Path, c: Commitment, ids: np.ndarray) -> Path:
    """Keep the salt (and which ids were committed) on the device: ``<device_dir>/commitments/<key>.json``."""
    path = Path(device_dir) / COMMIT_DIR / f"{_safe(c.key)}.json"
    atomic_write_json(path, {**c.public(), "salt": c.salt.hex(), "ids": [int(i) for i in np.sort(ids)]})
    return path


def load_secret(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        d = json.loads(p.read_text())
        d["salt"] = bytes.fromhex(d["salt"])
        return d
    except (OSError, ValueError, KeyError) as e:
        raise CommitmentError(f"cannot read the device's commitment secret {p}: {e}") from e


def find_secret(device_root: str | Path, key: str, client: int) -> Path:
    """The secret of commitment ``key`` of ``client`` under a device folder or a client-state
    root (searched as ``**/partition-<client>/commitments/<key>.json``, or ``commitments/<key>.json``)."""
    root = Path(device_root)
    direct = root / COMMIT_DIR / f"{_safe(key)}.json"
    if direct.exists():
        return direct
    hits = sorted(root.glob(f"**/partition-{int(client)}/{COMMIT_DIR}/{_safe(key)}.json"))
    if not hits:
        raise CommitmentError(
            f"no commitment secret {key!r} of client {client} under {root}; pass the device's data folder "
            "or the client-state root of the run (runtime.state_dir)"
        )
    return hits[-1]


def verify_commitment(public: dict[str, Any], x: np.ndarray, y: np.ndarray, ids: np.ndarray, salt: bytes) -> None:
    """Raise :class:`CommitmentError` unless the samples + salt give the committed root and count."""
    if int(public["count"]) != len(ids):
        raise CommitmentError(f"commitment {public.get('key')!r}: the receipt commits to {public['count']} samples, "
                              f"the device holds {len(ids)}")
    root = commitment_root(x, y, ids, salt)
    if root != public["root"]:
        raise CommitmentError(f"commitment {public.get('key')!r}: the device's samples give root {root[:23]}…, "
                              f"the receipt says {str(public['root'])[:23]}…; these are not the committed samples")
