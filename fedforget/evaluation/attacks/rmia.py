"""Robust Membership Inference Attack (RMIA): Zarifzadeh, Liu, Shokri, Cheng,
"Low-Cost High-Power Membership Inference Attacks", ICML 2024.

Signal (client side): ``log Pr(x | theta) = log p_y``, the log softmax probability of the
true label, from logits in float64 (the same value as the ``loss`` attack's signal).

Calibration (server side), with the shadow federations LiRA trains as reference models and
the held-out non-members of the target federation as the population ``Z``:

    LR_theta(x, z) = (Pr(x | theta) / Pr(x)) / (Pr(z | theta) / Pr(z))
    Score(x)      = Pr_{z ~ Z}[ LR_theta(x, z) >= gamma ]

where ``Pr(.)`` is the mean of ``Pr(. | theta')`` over the reference models:

* online  (``rmia``):          over all K shadows (about half trained on the sample);
* offline (``rmia_offline``):  over the shadows that did not train on the sample (OUT),
  corrected by the paper's linear approximation of the IN models,
  ``Pr(x) = ((1 + a) Pr_OUT(x) + (1 - a)) / 2``; the same estimator is used for ``z``.

A population sample is never compared with itself (``z != x``). ``gamma``
(``evaluation.rmia_gamma``, paper default 1) and ``a`` (``evaluation.rmia_offline_a``)
are configuration. The pairwise comparison is done in log space by sorting: ``LR >= gamma``
is ``log r_z <= log r_x - log gamma`` with ``r = Pr(. | theta) / Pr(.)``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import logsumexp

from fedforget.evaluation.attacks.base import Attack, log_softmax64, register_attack
from fedforget.util.errors import FedForgetError


def marginal_log(logp: np.ndarray, shadow_in: np.ndarray, *, offline: bool, a: float) -> np.ndarray:
    """``log Pr(x)`` per sample from the reference models' ``log Pr(x | theta')`` (K, n)."""
    lp = np.asarray(logp, dtype=np.float64)
    if not offline:
        return logsumexp(lp, axis=0) - np.log(lp.shape[0])
    out = ~np.asarray(shadow_in, dtype=bool)
    cnt = out.sum(0)
    if (cnt == 0).any():
        raise FedForgetError(
            f"RMIA offline: {int((cnt == 0).sum())} samples have no OUT reference model; use more shadow "
            "models (evaluation.shadow_models)")
    mean_out = np.exp(logsumexp(np.where(out, lp, -np.inf), axis=0) - np.log(cnt))
    return np.log(0.5 * ((1.0 + a) * mean_out + (1.0 - a)))


def rmia_scores(target: np.ndarray, shadow: np.ndarray, shadow_in: np.ndarray, population: np.ndarray, *,
                offline: bool = False, a: float = 0.3, gamma: float = 1.0) -> np.ndarray:
    """RMIA score of every sample: ``target`` (n,) and ``shadow`` (K, n) hold ``log Pr(x | .)``,
    ``population`` the indices (into the n samples) of the population ``Z``."""
    pop = np.asarray(population, dtype=np.int64)
    if len(pop) < 2:
        raise FedForgetError(f"RMIA needs a population of at least 2 non-member samples, got {len(pop)}")
    log_r = np.asarray(target, dtype=np.float64) - marginal_log(shadow, shadow_in, offline=offline, a=a)
    zs = np.sort(log_r[pop])
    thr = log_r - np.log(gamma)
    count = np.searchsorted(zs, thr, side="right").astype(np.float64)
    denom = np.full(len(log_r), float(len(pop)))
    is_pop = np.zeros(len(log_r), dtype=bool)
    is_pop[pop] = True
    # z != x: a population sample does not count itself (it passes iff gamma <= 1)
    count -= is_pop & (log_r <= thr)
    denom -= is_pop
    return count / denom


@register_attack("rmia")
class RMIAOnline(Attack):
    needs_shadows = True
    needs_population = True
    offline = False

    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        return log_softmax64(logits).gather(1, labels[:, None]).squeeze(1).numpy()

    def calibrate(self, target: np.ndarray, shadow: np.ndarray, shadow_in: np.ndarray, *,
                  global_variance: bool = False, population: np.ndarray | None = None,
                  gamma: float = 1.0, offline_a: float = 0.3) -> np.ndarray:
        if population is None:
            raise FedForgetError("RMIA needs the indices of its population samples (population=...)")
        return rmia_scores(target, shadow, shadow_in, population, offline=self.offline, a=offline_a, gamma=gamma)


@register_attack("rmia_offline")
class RMIAOffline(RMIAOnline):
    offline = True
