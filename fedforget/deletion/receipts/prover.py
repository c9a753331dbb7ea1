"""On the device: prove with ezkl that a receipt's published model gives its outputs on
committed forget samples (``fedforget prove``); see :mod:`fedforget.deletion.receipts.zk`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.config import load_config_text
from fedforget.data.federation import build_federated_data
from fedforget.deletion.receipts import zk
from fedforget.deletion.receipts.commitment import (
    CommitmentError,
    find_secret,
    load_secret,
    verify_commitment,
)
from fedforget.deletion.receipts.device import device_forget_samples
from fedforget.deletion.receipts.receipt import load_receipt
from fedforget.util.hashing import model_hash
from fedforget.util.io import load_npz


def challenge_subset(ids: np.ndarray, seed_hex: str, n: int) -> np.ndarray:
    """``n`` of the committed ``ids``, chosen by the receipt (its signature) rather than by
    the prover: the ids ordered by SHA-256(seed || id)."""
    key = [hashlib.sha256(seed_hex.encode() + int(i).to_bytes(8, "little", signed=True)).digest() for i in ids]
    order = sorted(range(len(ids)), key=lambda j: key[j])
    return np.sort(np.asarray(ids)[order[:n]])


def device_challenge(receipt: dict[str, Any], device_dir: str | Path) -> tuple[int, dict[str, Any], Path, np.ndarray]:
    """The client of ``receipt`` whose commitment secret this device holds, its public
    commitment, the secret's path and the committed samples (checked against the commitment)."""
    body = receipt["body"]
    for client, public in sorted((body.get("commitment") or {}).items()):
        try:
            secret_path = find_secret(device_dir, str(public["key"]), int(client))
        except CommitmentError:
            continue
        secret = load_secret(secret_path)
        x, y, ids = device_forget_samples(secret_path, secret)
        verify_commitment(public, x, y, ids, secret["salt"])  # only the committed samples
        return int(client), public, secret_path, np.asarray(ids)
    raise CommitmentError(f"no commitment secret of clients {sorted(body.get('commitment') or {})} under {device_dir}")


def challenged_samples(receipt: dict[str, Any], secret_path: Path, n: int) -> np.ndarray:
    """The ``n`` committed samples the receipt's signature chooses (features only)."""
    secret = load_secret(secret_path)
    x, _y, ids = device_forget_samples(secret_path, secret)
    pick = np.isin(ids, challenge_subset(ids, str(receipt["signature"]["value"]), min(int(n), len(ids))))
    return x[pick]


def check_device_inputs(receipt_path: str | Path, device_dir: str | Path, bundle: Path) -> tuple[str, bool, str]:
    """On the device: the zk bundle's proof was made on its committed samples."""
    receipt = load_receipt(receipt_path)
    _client, _pub, secret_path, _ids = device_challenge(receipt, device_dir)
    n = int(json.loads((bundle / "model.json").read_text())["n"])
    return zk.check_inputs(bundle, challenged_samples(receipt, secret_path, n))


def prove_receipt(receipt_path: str | Path, device_dir: str | Path, n: int = 4,
                  config_path: str | Path | None = None) -> tuple[Path, dict[str, float]]:
    """On the device: prove with ezkl that the receipt's published model gives the claimed
    outputs on ``n`` of this device's committed forget samples (chosen by the receipt).
    Writes ``<receipt>.zk/`` and returns it with the timings."""
    receipt_path = Path(receipt_path)
    receipt = load_receipt(receipt_path)
    body = receipt["body"]
    client, _pub, secret_path, ids = device_challenge(receipt, device_dir)
    n = min(int(n), len(ids))
    x = challenged_samples(receipt, secret_path, n)
    model_file = body.get("model_file")
    mpath = receipt_path.parent.parent / str(model_file)
    if not model_file or not mpath.exists():
        raise CommitmentError(f"the published model of {receipt_path} ({model_file}) is not at {mpath}")
    arrays = load_npz(mpath)
    if model_hash(arrays) != body["model_hash_after"]:
        raise CommitmentError(f"{mpath} is not the receipt's published model (hash differs)")
    cfg_file = Path(config_path) if config_path else secret_path.parent.parent / "config.yaml"
    if not cfg_file.exists():
        raise CommitmentError(f"no experiment config at {cfg_file}; pass --config")
    cfg = load_config_text(cfg_file.read_text())
    ref = build_federated_data(cfg).test
    spec = zk.model_spec(cfg.model, ref.input_shape, ref.num_classes, n)
    bundle = Path(str(receipt_path).removesuffix(".json") + ".zk")
    timings = zk.prove(spec, arrays, x, bundle)
    (bundle / "challenge.json").write_text(json.dumps({"n": n, "of": int(len(ids)), "client": int(client)}))
    return bundle, timings
