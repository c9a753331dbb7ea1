"""Shadow federations for LiRA (Carlini et al., "Membership Inference Attacks From First
Principles", IEEE S&P 2022), trained through the same :class:`Federation` as the target
and cached on disk by config hash.

All K shadow federations advance together: each round the server sends every selected
client one ``fit`` message holding the K stacked shadow models (``shadow{k}/<param>``);
the client trains each on its half of its shadow pool with its ordinary ``on_fit`` (same
optimiser, epochs, batch size and learning rate as the target) and the server FedAvgs
each shadow separately. Clients train in parallel when the federation runs on Ray. The
rounds go through the experiment's one :class:`~fedforget.run.experiment.RoundLoop`, whose
per-phase checkpoint (``<cache>/<key>/checkpoints/shadow.npz``) is the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.config import ExperimentConfig
from fedforget.evaluation.federated import split_stacked, stack
from fedforget.federation import Arrays, Federation, Scalars
from fedforget.util.io import atomic_write_json, load_npz
from fedforget.util.params import weighted_average
from fedforget.util.seeding import derive_seed, np_rng

log = logging.getLogger(__name__)

CACHE_VERSION = 1


def default_cache_root() -> Path:
    return Path(os.environ.get("FEDFORGET_CACHE", Path.home() / ".cache" / "fedforget")) / "shadows"


def shadow_cache_key(cfg: ExperimentConfig) -> str:
    """Everything that determines the shadow models: the data (incl. the backdoor stamp),
    the partition, model and training recipe, the root seed and K."""
    payload = {
        "v": CACHE_VERSION,
        "sections": cfg.digest("data", "partition", "model", "training", "deletion"),
        "seed": cfg.runtime.seed,
        "k": cfg.evaluation.shadow_models,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def train_or_load_shadows(
    cfg: ExperimentConfig,
    fed: Federation,
    participants: list[int],
    init_of: Callable[[int], Arrays],
    cache_root: Path,
) -> tuple[list[Arrays], dict[str, Any]]:
    """The K shadow models, from the cache when present."""
    k_total = cfg.evaluation.shadow_models
    key = shadow_cache_key(cfg)
    where = Path(cache_root) / key
    ckpt = where / "checkpoints" / "shadow.npz"
    info: dict[str, Any] = {"k": k_total, "cache_key": key, "cache_dir": str(where)}
    if ckpt.exists():
        log.info("LiRA: %d shadow federations loaded from cache %s", k_total, where)
        return split_stacked(load_npz(ckpt), k_total), {**info, "cached": True, "time_s": 0.0}

    from fedforget.run.loop import RoundLoop  # not from experiment (which imports this package)

    root = cfg.runtime.seed
    tc = cfg.training
    (where / "metrics.jsonl").unlink(missing_ok=True)
    atomic_write_json(where / "key.json", {"key": key, "config": cfg.to_dict()})

    def step(r: int, arrays: Arrays) -> tuple[Arrays, dict[str, Any]]:
        sel = participants
        if tc.clients_per_round < 1.0:
            n = max(1, int(round(tc.clients_per_round * len(participants))))
            sel = sorted(np_rng(root, "select", "shadow", r).choice(participants, size=n, replace=False).tolist())
        conf: Scalars = {"phase": "train", "seed": derive_seed(root, "shadow-fit", r), "lr": tc.lr, "shadows": k_total}
        replies = fed.send("fit", {p: (arrays, conf) for p in sel})
        current = split_stacked(arrays, k_total)
        unstacked = {p: split_stacked(a, k_total) for p, (a, _) in replies.items()}
        new, losses = [], []
        for k in range(k_total):
            ups = [(unstacked[p][k], float(m[f"num_examples.{k}"])) for p, (_, m) in replies.items()
                   if float(m[f"num_examples.{k}"]) > 0]
            losses += [float(m[f"loss.{k}"]) for _, m in replies.values() if float(m[f"num_examples.{k}"]) > 0]
            new.append(weighted_average([a for a, _ in ups], [w for _, w in ups]) if ups else current[k])
        return stack(new), {"clients": len(sel), "shadows": k_total, "train_loss": float(np.mean(losses)) if losses else None}

    t0 = time.perf_counter()
    log.info("LiRA: training %d shadow federations (%d rounds) -> %s", k_total, tc.rounds, where)
    loop = RoundLoop(fed, where, lambda _a: {}, every_round=False)
    out = loop.run("shadow", tc.rounds, stack([init_of(k) for k in range(k_total)]), step)
    rec = loop.phases["shadow"]
    return split_stacked(out, k_total), {
        **info, "cached": False, "time_s": time.perf_counter() - t0,
        "bytes_down": rec.bytes_down, "bytes_up": rec.bytes_up, "rounds": rec.rounds,
    }
