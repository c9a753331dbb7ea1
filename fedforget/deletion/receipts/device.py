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
from fedforget.deletion.receipts.commitment import (
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

