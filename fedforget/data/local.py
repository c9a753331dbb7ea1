"""A device's own data folder: the format an edge client reads in a deployment.

A SuperNode started with ``--node-config 'data-path="/data/fedforget"'`` reads its
samples from that folder instead of deriving them from the experiment config::

    <data-path>/
      data.npz      x (float32, (n, ...)), y (int64, (n,)), ids (int64, (n,), unique),
                    num_classes (optional int scalar; default: the experiment's dataset)
      forget.json   optional: the device's deletion request, one of
                      {"ids": [12, 40, ...]}    these samples (by id)
                      {"classes": [3]}           every local sample of these classes
                      {"all": true}              everything this device contributed

The deletion request is created on the device (``fedforget deploy forget``) and read
only there; the server learns that a request exists and its size, never the samples.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.data.datasets import ArrayData
from fedforget.data.files import check_arrays
from fedforget.util.errors import DataError
from fedforget.util.io import atomic_save_npz, atomic_write_json, load_npz

DATA_FILE = "data.npz"
FORGET_FILE = "forget.json"


def save_local_data(folder: str | Path, data: ArrayData) -> Path:
    """Write ``data`` as ``<folder>/data.npz`` (the device format)."""
    path = Path(folder) / DATA_FILE
    atomic_save_npz(path, {
        "x": np.ascontiguousarray(data.x, dtype=np.float32),
        "y": np.asarray(data.y, dtype=np.int64),
        "ids": np.asarray(data.ids, dtype=np.int64),
        "num_classes": np.asarray(int(data.num_classes), dtype=np.int64),
    })
    return path


def load_local_data(folder: str | Path, num_classes: int | Callable[[], int] = 0) -> ArrayData:
    """Read ``<folder>/data.npz``. ``num_classes`` (or a function giving it) is used
    when the file has none."""
    path = Path(folder) / DATA_FILE
    if not path.exists():
        raise DataError(
            f"no device data at {path}; the SuperNode's data-path must hold a {DATA_FILE} "
            "with arrays x, y, ids (see docs/deploy.md or `fedforget deploy export`)"
        )
    try:
        arr = load_npz(path)
    except Exception as e:  # a corrupt or foreign file: say which
        raise DataError(f"cannot read {path}: {e}") from e
    missing = [k for k in ("x", "y", "ids") if k not in arr]
    if missing:
        raise DataError(f"{path} lacks arrays {missing}; it needs x, y and ids")
    if "num_classes" in arr:
        k = int(arr["num_classes"])
    else:
        k = int(num_classes() if callable(num_classes) else num_classes)
    # the same checks as every other file source (finite (n, ...) features, integer
    # labels in range, unique ids), refused before any training
    data = check_arrays(str(path), arr["x"], arr["y"], arr["ids"], num_classes=max(k, 0))
    if k <= 0:
        raise DataError(f"{path} has no num_classes and none was given")
    return data


def write_forget_request(
    folder: str | Path, ids: list[int] | None = None, classes: list[int] | None = None, everything: bool = False
) -> Path:
    """Create the device's deletion request ``<folder>/forget.json`` (exactly one kind)."""
    kinds = [ids is not None, classes is not None, bool(everything)]
    if sum(kinds) != 1:
        raise DataError("a deletion request names exactly one of: sample ids, classes, or everything")
    req: dict[str, Any]
    if everything:
        req = {"all": True}
    elif ids is not None:
        req = {"ids": sorted({int(i) for i in ids})}
    else:
        req = {"classes": sorted({int(c) for c in classes or []})}
    path = Path(folder) / FORGET_FILE
    atomic_write_json(path, req)
    return path


def resolve_forget_request(folder: str | Path, local: ArrayData) -> np.ndarray:
    """The ids of ``local`` that the device's ``forget.json`` names (empty if none)."""
    path = Path(folder) / FORGET_FILE
    if not path.exists():
        return np.zeros(0, dtype=np.int64)
    try:
        req = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(req, dict) or len(set(req) & {"ids", "classes", "all"}) != 1:
        raise DataError(f'{path} must hold exactly one of {{"ids": [...]}}, {{"classes": [...]}}, {{"all": true}}; got {req!r}')
    if req.get("all"):
        return np.sort(local.ids.copy())
    if "ids" in req:
        want = np.asarray(req["ids"], dtype=np.int64)
        unknown = np.setdiff1d(want, local.ids)
        if len(unknown):
            raise DataError(f"{path} names {len(unknown)} ids this device does not hold, e.g. {unknown[:5].tolist()}")
        return np.sort(want)
    if "classes" in req:
        cls = np.asarray(req["classes"], dtype=np.int64)
        return np.sort(local.ids[np.isin(local.y, cls)])
    return np.zeros(0, dtype=np.int64)
