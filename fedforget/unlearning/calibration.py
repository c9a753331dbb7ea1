"""Retain-matched forgetting: stop where a model that never saw the data would be.

The goal of unlearning is a model that behaves on the deleted data as a retrained one
does, not one that is *more* uncertain there than on data it never saw (an auditor reads
that over-unlearning as a flag on exactly the deleted samples, the "Streisand effect";
Hayes et al., "Inexact unlearning needs more careful evaluations", SaTML 2025; the target
"behave like on unseen data" is that of SCRUB, Kurmanji et al., NeurIPS 2023, and of
Chundawat et al.'s bad-teacher distillation, AAAI 2023).

With ``unlearning.calibration: target`` the server computes, on its non-member pool and
under the current global model, two reference statistics and sends them with every
``unlearn`` message (scalars only, never samples):

* ``opt.target_entropy``: the ``q``-quantile of the prediction entropy on non-members
  (``q = unlearning.target_quantile``, the median by default);
* ``opt.target_logconf``: the ``(1 - q)``-quantile of ``log p_y`` (true-class confidence).

On a non-member, entropy falls below the first (or confidence rises above the second)
with probability ``q``: a forget sample on that side of the reference still "looks like a
member". Calibrated objectives act on such samples only and are flat once a sample has
crossed to the non-member side (:func:`hinge_mask`). Each forget client also reports how
many of its forget samples still look like members under the model it received
(``member_like`` / ``n_forget`` in the unlearn reply), and the server stops the
unlearning rounds once that share is at most ``q``, the share among non-members
(:func:`should_stop`): from then on the forget set as a whole is indistinguishable from
unseen data by that statistic.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fedforget.data.datasets import ArrayData
from fedforget.training.local import predict_logits

TARGET_KEYS = ("target_entropy", "target_logconf")


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-sample prediction entropy (nats), from logits."""
    logp = F.log_softmax(logits, dim=1)
    return -(logp.exp() * logp).sum(1)


def log_confidence(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample ``log p_y``, from logits."""
    return F.log_softmax(logits, dim=1).gather(1, y[:, None]).squeeze(1)


def reference_options(model: nn.Module, nonmember: ArrayData, q: float, settle_q: float = 0.75) -> dict[str, float]:
    """The reference statistics of ``model`` on the non-member pool, as ``opt.*`` config
    entries of an unlearn message (``settle_q``: the entropy quantile settling pulls
    over-unlearned samples back to). Empty when there is no pool."""
    if len(nonmember) == 0:
        return {}
    logits = predict_logits(model, nonmember).to(torch.float64)
    y = torch.from_numpy(np.asarray(nonmember.y, dtype=np.int64))
    h = entropy(logits).numpy()
    lc = log_confidence(logits, y).numpy()
    return {
        "opt.target_entropy": float(np.quantile(h, q)),
        "opt.target_logconf": float(np.quantile(lc, 1.0 - q)),
        "opt.target_quantile": float(q),
        "opt.settle_entropy": float(np.quantile(h, settle_q)),
    }


def has_targets(options: dict[str, Any]) -> bool:
    return all(k in options for k in TARGET_KEYS)


def member_like(logits: torch.Tensor, y: torch.Tensor, options: dict[str, Any], kind: str) -> torch.Tensor:
    """Boolean mask: samples still on the member side of the reference (``kind`` =
    ``entropy``: entropy below target; ``confidence``: log p_y above target)."""
    if kind == "entropy":
        return entropy(logits) < float(options["target_entropy"])
    return log_confidence(logits, y) > float(options["target_logconf"])


def hinge_mask(logits: torch.Tensor, y: torch.Tensor, options: dict[str, Any], kind: str) -> torch.Tensor:
    """Float mask (no gradient) of the samples a calibrated objective still acts on."""
    return member_like(logits.detach(), y, options, kind).to(logits.dtype)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values * mask`` over the batch (zero, with a graph, when nothing is active)."""
    return (values * mask).sum() / max(1, values.shape[0])


@torch.no_grad()
def forget_report(model: nn.Module, forget: ArrayData, options: dict[str, Any], kind: str) -> dict[str, int]:
    """What a forget client reports with its update: how many of its forget samples look
    like members under the model it received (counts only)."""
    if not has_targets(options) or len(forget) == 0:
        return {}
    logits = predict_logits(model, forget)
    y = torch.from_numpy(np.asarray(forget.y, dtype=np.int64))
    return {"member_like": int(member_like(logits, y, options, kind).sum())}


def member_share(metrics: list[dict[str, Any]]) -> float | None:
    """Federation-wide share of forget samples that still look like members."""
    rows = [m for m in metrics if "member_like" in m and float(m.get("n_forget", 0)) > 0]
    if not rows:
        return None
    return sum(float(m["member_like"]) for m in rows) / sum(float(m["n_forget"]) for m in rows)


def should_stop(share: float | None, q: float) -> bool:
    """The early-stopping rule: the forget set looks like non-members (share <= q)."""
    return share is not None and share <= q
