"""FedEraser: federated unlearning by calibrated replay of stored client updates.

Liu, Ma, Yang, Li & Ma, "FedEraser: Enabling Efficient Client-Level Data Removal from
Federated Learning Models", IWQoS 2021.

During training the server stores, every ``unlearning.federaser.interval`` rounds, the
global model and every participating client's update (``<storage>/federaser/
round-XXXX.npz``, written atomically; in ``fedforget run`` the storage is
``<out>/storage``, in ``fedforget compare`` the training cache). To unlearn a client:

1. the first unlearned model is the first stored global model plus the weighted mean of
   the *remaining* clients' stored updates of that round;
2. for every later stored round, the remaining clients run a short *calibration*
   training (``calibration_epochs`` local epochs) from the current unlearned model; each
   client's calibrated update keeps the *direction* of its calibration update and takes
   the *norm* of its stored update, layer by layer; the server adds their weighted mean.

Supported granularities: client (the stored updates mix all of a client's samples, so a
subset of them cannot be removed from a stored update).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fedforget.unlearning.procedure import Procedure, register_procedure
from fedforget.util.errors import ConfigError, FedForgetError
from fedforget.util.io import atomic_save_npz, load_npz

if TYPE_CHECKING:  # pragma: no cover
    from fedforget.config import ExperimentConfig
    from fedforget.unlearning.context import RoundContext

Arrays = dict[str, Any]


def calibrate(stored: Arrays, calib: Arrays, eps: float = 1e-12) -> Arrays:
    """Per array: the direction of ``calib`` with the norm of ``stored``."""
    out = {}
    for k, c in calib.items():
        c64 = np.asarray(c, dtype=np.float64)
        n = np.linalg.norm(c64)
        out[k] = c64 * (np.linalg.norm(np.asarray(stored[k], dtype=np.float64)) / n) if n > eps else np.zeros_like(c64)
    return out


def _weighted(updates: list[tuple[Arrays, float]]) -> Arrays:
    total = sum(w for _, w in updates)
    keys = updates[0][0].keys()
    return {k: sum(np.asarray(u[k], dtype=np.float64) * (w / total) for u, w in updates) for k in keys}


def _add(arrays: Arrays, delta: Arrays) -> Arrays:
    return {k: (np.asarray(v, dtype=np.float64) + delta[k]).astype(v.dtype) if k in delta else v for k, v in arrays.items()}


@register_procedure("federaser")
class FedEraser(Procedure):
    granularities = frozenset({"client"})
    replays_history = True  # stored since round 0: one serve point per run (fedforget.deletion.serving)

    @classmethod
    def validate(cls, cfg: ExperimentConfig) -> None:
        k = cfg.unlearning.federaser.interval
        if k > cfg.training.rounds:
            raise ConfigError(
                f"unlearning.federaser.interval must be <= training.rounds ({cfg.training.rounds}), got {k}"
            )

    def stores_during_training(self) -> str:
        return f"federaser:interval={self.cfg.unlearning.federaser.interval}"

    @staticmethod
    def folder(ctx: RoundContext) -> Path:
        return Path(ctx.storage) / "federaser"

    def on_train_round(self, ctx: RoundContext, r: int, before: Arrays, replies: dict[int, tuple[Arrays, Any]]) -> None:
        if r % self.cfg.unlearning.federaser.interval:
            return
        if r == 0:  # a new training run: drop what an earlier run stored here
            for old in self.folder(ctx).glob("round-*.npz"):
                old.unlink()
        rec: dict[str, np.ndarray] = {f"global.{k}": np.asarray(v) for k, v in before.items()}
        for p, (a, m) in replies.items():
            for k, v in a.items():
                rec[f"update.{p}.{k}"] = (np.asarray(v, dtype=np.float64) - before[k]).astype(np.float32)
            rec[f"n.{p}"] = np.asarray(float(m["num_examples"]))
        atomic_save_npz(self.folder(ctx) / f"round-{r:04d}.npz", rec)

    def _load(self, path: Path) -> tuple[Arrays, dict[int, tuple[Arrays, float]]]:
        z = load_npz(path)
        glob = {k[len("global."):]: v for k, v in z.items() if k.startswith("global.")}
        ups: dict[int, tuple[Arrays, float]] = {}
        for key, v in z.items():
            if key.startswith("n."):
                p = int(key[2:])
                pre = f"update.{p}."
                ups[p] = ({k[len(pre):]: u for k, u in z.items() if k.startswith(pre)}, float(v))
        return glob, ups

    def unlearn(self, ctx: RoundContext, original: Arrays) -> Arrays:
        fc = self.cfg.unlearning.federaser
        files = sorted(self.folder(ctx).glob("round-*.npz"))
        if not files:
            raise FedForgetError(
                f"federaser found no stored updates in {self.folder(ctx)}; the server stores them during "
                "training, so run training with unlearning.method=federaser (or through fedforget compare)"
            )
        gone = set(ctx.forgetters)
        keep = set(ctx.retainers)

        def remaining(ups: dict[int, tuple[Arrays, float]]) -> dict[int, tuple[Arrays, float]]:
            return {p: u for p, u in ups.items() if p not in gone and p in keep and u[1] > 0}

        def step(j: int, arrays: Arrays) -> tuple[Arrays, dict[str, Any]]:
            glob, ups = self._load(files[j])
            rem = remaining(ups)
            if not rem:
                return arrays, {"clients": 0}
            if j == 0:  # replay of the first stored round, no calibration needed
                return _add(glob, _weighted(list(rem.values()))), {"clients": len(rem)}
            replies = ctx.fit_clients("federaser", j, arrays, sorted(rem), self.cfg.training.lr,
                                      extra_conf={"epochs": fc.calibration_epochs})
            cal = []
            for p, (a, _m) in replies.items():
                calib = {k: np.asarray(v, dtype=np.float64) - np.asarray(arrays[k], dtype=np.float64) for k, v in a.items()}
                cal.append((calibrate(rem[p][0], calib), rem[p][1]))
            return _add(arrays, _weighted(cal)), {"clients": len(cal)}

        return ctx.loop.run("federaser", len(files), original, step)
