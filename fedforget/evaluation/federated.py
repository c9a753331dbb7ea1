"""Membership inference across the federation, client side.

Each client computes attack signals on its own data and returns only per-sample signal
vectors (plus class labels and, for shadow models, IN/OUT flags); features never leave it.
The server side (:mod:`fedforget.run.mia`) turns signals into metrics.

Evaluation sets of client ``c`` (all in a fixed order, so that the target's and the
shadows' signals line up by position):

* ``forget``: its forget set (members of the original model, not of the retrained one);
* ``retain``: its retain set (members of every model);
* ``heldout``: its held-out non-members, slice ``c`` of the federation's non-member pool
  (a seeded split; in a deployment, data the client kept out of training).

Shadow federations (LiRA, Carlini et al. 2022) are trained the same way as the target,
except that client ``c`` trains shadow ``k`` on a seeded random half of its *shadow pool*
(local data followed by its held-out data). Every pool sample is IN exactly
``floor(K/2)`` of the K shadows (as in the paper's code), so each has IN and OUT fits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from fedforget.config import ExperimentConfig
from fedforget.data.datasets import ArrayData
from fedforget.data.federation import FederatedData, build_federated_data
from fedforget.evaluation.attacks.base import signals
from fedforget.training.local import predict_logits
from fedforget.util.seeding import derive_seed, np_rng

Arrays = dict[str, np.ndarray]
Scalars = dict[str, Any]

SETS = ("forget", "retain", "heldout")
SHADOW_PREFIX = "shadow{k}/"


def heldout(fd: FederatedData, cfg: ExperimentConfig, c: int) -> ArrayData:
    """Client ``c``'s held-out non-members: a seeded 1/num_clients slice of the pool
    (slice ``c`` of ``np.array_split(order, num_clients)``, cut directly: splitting the
    whole pool for every client's message cost 11 s of a 1,000-client final evaluation)."""
    order = _heldout_order(cfg.runtime.seed, len(fd.nonmember))
    size, extra = divmod(len(order), fd.num_clients)  # array_split: the first `extra` slices get one more
    start = c * size + min(c, extra)
    return fd.nonmember.take(np.sort(order[start:start + size + (c < extra)]))


@functools.lru_cache(maxsize=4)
def _heldout_order(seed: int, n: int) -> np.ndarray:
    order = np_rng(seed, "mia-heldout").permutation(n)
    order.setflags(write=False)
    return order


def _concat(a: ArrayData, b: ArrayData) -> ArrayData:
    return ArrayData(np.concatenate([a.x, b.x]), np.concatenate([a.y, b.y]), np.concatenate([a.ids, b.ids]), a.num_classes)


def shadow_pool(cfg: ExperimentConfig, c: int) -> ArrayData:
    fd = build_federated_data(cfg)
    return _concat(fd.client(c), heldout(fd, cfg, c))


def shadow_keep(cfg: ExperimentConfig, c: int, k_total: int, n: int) -> np.ndarray:
    """(K, n) IN flags: column j is true for exactly floor(K/2) shadows (seeded per client)."""
    u = np_rng(cfg.runtime.seed, "lira-keep", c, k_total).uniform(size=(k_total, n))
    return u.argsort(0).argsort(0) < k_total // 2


def shadow_half(cfg: ExperimentConfig, c: int, k: int, k_total: int) -> ArrayData:
    pool = shadow_pool(cfg, c)
    return pool.take(shadow_keep(cfg, c, k_total, len(pool))[k])


def split_stacked(arrays: Arrays, k_total: int) -> list[Arrays]:
    out = []
    for k in range(k_total):
        p = SHADOW_PREFIX.format(k=k)
        out.append({name[len(p):]: v for name, v in arrays.items() if name.startswith(p)})
    return out


def stack(models: list[Arrays]) -> Arrays:
    return {SHADOW_PREFIX.format(k=k) + name: v for k, m in enumerate(models) for name, v in m.items()}


def fit_shadows(fit: Callable[[Arrays, Scalars], tuple[Arrays, Scalars]], arrays: Arrays, config: Scalars) -> tuple[Arrays, Scalars]:
    """One FedAvg round of every shadow federation on this client: ``fit`` (the client's
    own ``on_fit``) runs once per shadow with ``shadow=k``, so shadows train exactly as the
    target does, on this client's half for shadow k."""
    k_total = int(config["shadows"])
    outs, metrics = [], {}
    for k, model in enumerate(split_stacked(arrays, k_total)):
        conf = {key: v for key, v in config.items() if key != "shadows"}
        conf.update({"shadow": k, "shadow_total": k_total, "seed": derive_seed(int(config["seed"]), "shadow", k)})
        a, m = fit(model, conf)
        outs.append(a)
        metrics[f"num_examples.{k}"] = m["num_examples"]
        metrics[f"loss.{k}"] = m["loss"]
    return stack(outs), metrics


def client_sets(fd: FederatedData, cfg: ExperimentConfig, c: int, forget: ArrayData, retain: ArrayData) -> dict[str, ArrayData]:
    return {"forget": forget, "retain": retain, "heldout": heldout(fd, cfg, c)}


def mia_signals(
    cfg: ExperimentConfig,
    c: int,
    sets: dict[str, ArrayData],
    model_of: Callable[[Arrays], torch.nn.Module],
    arrays: Arrays,
    config: Scalars,
) -> Arrays:
    """Per-sample signals of ``config['mia']`` (comma-separated attacks) on every set, for
    the one model in ``arrays`` or, when ``config['shadows'] = K``, for each of K stacked
    shadow models (shape (K, n)) together with the IN flags of each sample in each shadow.
    Only signals, labels and flags are returned."""
    attacks = [a for a in str(config["mia"]).split(",") if a]
    k_total = int(config.get("shadows", 0))
    models = split_stacked(arrays, k_total) if k_total else [arrays]
    out: Arrays = {}
    pool_ids = None
    if k_total:
        pool = shadow_pool(cfg, c)
        pool_ids = pool.ids
        keep = shadow_keep(cfg, c, k_total, len(pool))
    per_set: dict[str, list[dict[str, np.ndarray]]] = {s: [] for s in sets}
    for m in models:
        # through the client's own loader every time (the scratch model: built once, loaded
        # after): a compressed client's model takes the plain arrays through its parametrization
        net = model_of(m)
        for sname, data in sets.items():
            labels = torch.from_numpy(np.ascontiguousarray(data.y))
            per_set[sname].append(signals(attacks, predict_logits(net, data), labels))
    for sname, data in sets.items():
        per_model = per_set[sname]
        for a in attacks:
            vals = np.stack([s[a] for s in per_model]) if k_total else per_model[0][a]
            out[f"mia.{sname}.{a}"] = vals.astype(np.float64)
        out[f"mia.{sname}.label"] = data.y.astype(np.int64)
        if k_total:
            pos = _positions(pool_ids, data.ids)
            out[f"mia.{sname}.in"] = keep[:, pos].astype(np.uint8)
    return out


def _positions(pool_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    index = {int(i): j for j, i in enumerate(pool_ids.tolist())}
    return np.array([index[int(i)] for i in ids.tolist()], dtype=np.int64)
