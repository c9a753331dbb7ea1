"""Run positions for ``fedforget run --resume``.

A position is where the run stands on its timeline (the training round boundary, the
requests served so far, their records, the phases' costs, the global step) plus the
global model there. Both are written atomically (``position.npz`` first, then
``position.json``, which names the npz's digest), so a crash leaves the previous position
whole. Nothing random is stored: every seed is derived from the root seed and the round.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.util.errors import FedForgetError
from fedforget.util.io import atomic_save_npz, atomic_write_json, atomic_write_text, load_npz

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
RESUME_MARKER = "resume-requested"


def _dir(out: Path) -> Path:
    return Path(out) / "checkpoints"


def _digest(arrays: Arrays) -> str:
    h = hashlib.sha256()
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode())
        h.update(str(a.dtype).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_position(out: Path, position: dict[str, Any], models: dict[str, Arrays]) -> None:
    """Models (``name -> arrays``) then the position that names them."""
    flat = {f"{name}/{k}": np.asarray(v) for name, arrs in models.items() for k, v in arrs.items()}
    atomic_save_npz(_dir(out) / "position.npz", flat)
    atomic_write_json(_dir(out) / "position.json", {**position, "models_digest": _digest(flat)})


def load_position(out: Path) -> tuple[dict[str, Any], dict[str, Arrays]] | None:
    """The last position and its models, or ``None`` when the run has none."""
    p = _dir(out) / "position.json"
    if not p.exists():
        return None
    position = json.loads(p.read_text())
    flat = load_npz(_dir(out) / "position.npz")
    if _digest(flat) != position.get("models_digest"):
        raise FedForgetError(
            f"{_dir(out) / 'position.npz'} does not match {p} (a crash between the two writes?); "
            "delete both to restart the run from the beginning"
        )
    models: dict[str, Arrays] = {}
    for key, v in flat.items():
        name, k = key.split("/", 1)
        models.setdefault(name, {})[k] = v
    return position, models


def request_resume(out: str | Path) -> None:
    """Mark ``out`` so that the next run there continues from its last position."""
    atomic_write_text(_dir(Path(out)) / RESUME_MARKER, "")


def take_resume_request(out: Path) -> bool:
    marker = _dir(out) / RESUME_MARKER
    if marker.exists():
        marker.unlink()
        return True
    return False


def truncate_metrics(path: Path, step: int) -> None:
    """Drop metrics rows after global step ``step`` (rounds a resumed run repeats)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line cut by the crash
            continue
        if int(row.get("step", 0)) <= step:
            keep.append(line)
    atomic_write_text(path, "".join(f"{line}\n" for line in keep))


def check_fresh_output(out: str | Path, resume: bool, config_yaml: str | None = None) -> None:
    """Refuse to reuse a non-empty output folder unless resuming (and to resume nothing,
    or a run of another config: ``config_yaml`` is compared with the saved one)."""
    out = Path(out)
    if resume:
        if not (_dir(out) / "position.json").exists():
            raise FedForgetError(
                f"--resume: {out} holds no checkpoint (checkpoints/position.json) to continue from; "
                "run without --resume to start afresh"
            )
        saved = out / "config.yaml"
        if config_yaml is not None and saved.exists() and saved.read_text() != config_yaml:
            raise FedForgetError(
                f"--resume: the config differs from the one the run in {out} started with ({saved}); "
                "resume with the same config and --set overrides, or start a new run with --out"
            )
        return
    if out.exists() and any(out.iterdir()):
        raise FedForgetError(
            f"output folder {out} is not empty (an earlier run?); continue that run with --resume, "
            "or give a new folder with --out"
        )
