"""Device side of a commitment: make it when a deletion is requested, and find the
committed samples again when the device checks a receipt.

A device folder is either a deployment's data folder (``data.npz``, see
:mod:`fedforget.data.local`) or, in simulation, a client's state folder (``config.yaml``,
from which the client's partition is derived). The salt is kept in
``<device>/commitments/<key>.json`` and never leaves the device.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fedforget.data.datasets import ArrayData
from fedforget.receipts.commitment import (
    COMMIT_DIR,
    CommitmentError,
    commit,
    load_secret,
    save_secret,
)


def commit_forget_set(device_dir: str | Path, forget: ArrayData, key: str) -> dict[str, Any]:
    """Commit to ``forget`` (salted Merkle root), keep the salt in ``device_dir`` and return
    what the client sends to the server: ``commit_key``, ``commit_root``, ``commit_count``."""
    salt = None
    old = Path(device_dir) / COMMIT_DIR / f"{key}.json"
    if old.exists():  # told again about the same request (final evaluation, resume): same commitment
        prev = load_secret(old)
        if sorted(prev["ids"]) == sorted(int(i) for i in forget.ids):
            salt = prev["salt"]
    c = commit(forget.x, forget.y, forget.ids, key, salt)
    save_secret(device_dir, c, forget.ids)
    return {"commit_key": c.key, "commit_root": c.root, "commit_count": c.count}


def device_forget_samples(secret_path: Path, secret: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The committed samples (x, y, ids) as the device holds them."""
    device = secret_path.parent.parent
    ids = np.asarray(secret["ids"], dtype=np.int64)
    if (device / "data.npz").exists():
        from fedforget.data.local import load_local_data

        local = load_local_data(device, 1 + int(np.max(np.load(device / "data.npz")["y"], initial=0)))
    elif (device / "config.yaml").exists():
        from fedforget.config import load_config_text
        from fedforget.data.federation import build_federated_data

        local = build_federated_data(load_config_text((device / "config.yaml").read_text())).train
    else:
        raise CommitmentError(f"{device} is neither a device data folder (data.npz) nor a client state folder "
                              "(config.yaml); pass the folder that holds the commitments/ of the client")
    missing = np.setdiff1d(ids, local.ids)
    if len(missing):
        raise CommitmentError(f"the device {device} no longer holds committed samples {missing[:5].tolist()}")
    part = local.select_ids(ids)
    return part.x, part.y, part.ids


def challenge_subset(ids: np.ndarray, seed_hex: str, n: int) -> np.ndarray:
    """``n`` of the committed ``ids``, chosen by the receipt (its signature) rather than by
    the prover: the ids ordered by SHA-256(seed || id)."""
    import hashlib

    key = [hashlib.sha256(seed_hex.encode() + int(i).to_bytes(8, "little", signed=True)).digest() for i in ids]
    order = sorted(range(len(ids)), key=lambda j: key[j])
    return np.sort(np.asarray(ids)[order[:n]])


def prove_receipt(receipt_path: str | Path, device_dir: str | Path, n: int = 4,
                  config_path: str | Path | None = None) -> tuple[Path, dict[str, float]]:
    """On the device: prove with ezkl that the receipt's published model gives the claimed
    outputs on ``n`` of this device's committed forget samples (chosen by the receipt).
    Writes ``<receipt>.zk/`` and returns it with the timings."""
    import json

    from fedforget.config import load_config_text
    from fedforget.data.federation import build_federated_data
    from fedforget.hashing import model_hash
    from fedforget.io import load_npz
    from fedforget.receipts import zk
    from fedforget.receipts.commitment import find_secret, verify_commitment
    from fedforget.receipts.receipt import load_receipt

    receipt_path = Path(receipt_path)
    receipt = load_receipt(receipt_path)
    body = receipt["body"]
    secret_path = None
    for client, public in sorted((body.get("commitment") or {}).items()):
        try:
            secret_path, pub = find_secret(device_dir, str(public["key"]), int(client)), public
            break
        except CommitmentError:
            continue
    if secret_path is None:
        raise CommitmentError(f"no commitment secret of clients {sorted(body.get('commitment') or {})} under {device_dir}")
    secret = load_secret(secret_path)
    x, y, ids = device_forget_samples(secret_path, secret)
    verify_commitment(pub, x, y, ids, secret["salt"])  # prove only about the committed samples
    n = min(int(n), len(ids))
    pick = np.isin(ids, challenge_subset(ids, str(receipt["signature"]["value"]), n))
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
    timings = zk.prove(spec, arrays, x[pick], bundle)
    (bundle / "challenge.json").write_text(json.dumps({"n": n, "of": int(len(ids)), "client": int(client)}))
    return bundle, timings
