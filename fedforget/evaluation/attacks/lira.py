"""Likelihood Ratio Attack (LiRA): Carlini, Chien, Nasr, Song, Terzis, Tramer,
"Membership Inference Attacks From First Principles", IEEE S&P 2022.

Signal (client side, from logits, never from rounded probabilities):

    phi(x, y) = log p_y - log sum_{y' != y} p_y'          (the "scaled logit")

computed as ``log_softmax(z)_y - (logsumexp_{y' != y} z_y' - logsumexp z)``.

Calibration (server side) with K shadow models, each trained on a random half of the
reference population; for every example the shadows that trained on it (IN) and those
that did not (OUT) give Gaussian fits of phi (per-example mean and std, ``np.std``):

* online  (``lira``):          log N(phi; mu_in, s_in^2) - log N(phi; mu_out, s_out^2)
* offline (``lira_offline``):  log Pr[Z <= phi], Z ~ N(mu_out, s_out^2): the paper's
  one-sided test using OUT models only (``scipy.stats.norm.logcdf``, which keeps the
  resolution in the tail that the low-FPR figures need).

``global_variance=True`` replaces each example's std by one pooled std per side (the
paper's "fixed variance" variant, better for small K): the root of the mean squared
deviation of every shadow value from its own example's mean.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import norm

from fedforget.evaluation.attacks.base import Attack, log_softmax64, register_attack
from fedforget.tasks.classification import log_rest
from fedforget.util.errors import FedForgetError

STD_FLOOR = 1e-8


def lira_phi(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """phi = log p_y - log(1 - p_y), stably from logits (float64)."""
    logpy = log_softmax64(logits).gather(1, labels[:, None]).squeeze(1)
    return (logpy - log_rest(logits, labels)).numpy()


def gaussian_fit(
    values: np.ndarray, mask: np.ndarray, *, global_variance: bool = False, side: str = "IN"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-example mean and std of ``values`` (K, n) over the shadows where ``mask`` (K, n)
    is true. Raises if an example has no such shadow."""
    v = np.asarray(values, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    cnt = m.sum(0)
    if (cnt == 0).any():
        raise FedForgetError(
            f"LiRA: {int((cnt == 0).sum())} examples have no {side} shadow model; use more shadow "
            "models (evaluation.shadow_models) so that every example is IN and OUT at least once"
        )
    mu = np.where(m, v, 0.0).sum(0) / cnt
    sq = np.where(m, (v - mu) ** 2, 0.0)
    if global_variance:
        sd = np.full(v.shape[1], np.sqrt(sq.sum() / cnt.sum()))
    else:
        sd = np.sqrt(sq.sum(0) / cnt)
    return mu, np.maximum(sd, STD_FLOOR)


def lira_online(
    target: np.ndarray, shadow: np.ndarray, shadow_in: np.ndarray, *, global_variance: bool = False
) -> np.ndarray:
    mu_in, sd_in = gaussian_fit(shadow, shadow_in, global_variance=global_variance, side="IN")
    mu_out, sd_out = gaussian_fit(shadow, ~np.asarray(shadow_in, dtype=bool), global_variance=global_variance, side="OUT")
    t = np.asarray(target, dtype=np.float64)
    return norm.logpdf(t, mu_in, sd_in) - norm.logpdf(t, mu_out, sd_out)


def lira_offline(
    target: np.ndarray, shadow: np.ndarray, shadow_in: np.ndarray, *, global_variance: bool = False
) -> np.ndarray:
    mu_out, sd_out = gaussian_fit(shadow, ~np.asarray(shadow_in, dtype=bool), global_variance=global_variance, side="OUT")
    return norm.logcdf(np.asarray(target, dtype=np.float64), mu_out, sd_out)


@register_attack("lira")
class LiRAOnline(Attack):
    needs_shadows = True

    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        return lira_phi(logits, labels)

    def calibrate(self, target: np.ndarray, shadow: np.ndarray, shadow_in: np.ndarray, *,
                  global_variance: bool = False) -> np.ndarray:
        return lira_online(target, shadow, shadow_in, global_variance=global_variance)


@register_attack("lira_offline")
class LiRAOffline(LiRAOnline):
    def calibrate(self, target: np.ndarray, shadow: np.ndarray, shadow_in: np.ndarray, *,
                  global_variance: bool = False) -> np.ndarray:
        return lira_offline(target, shadow, shadow_in, global_variance=global_variance)
