"""SAU: sparsity-aware unlearning by gradient masking and importance-aware redistribution.

Reference: Yuze Wang, Yujia Tong, Ke Xu, Jingling Yuan, Jiawei Jiang, Chuang Hu,
"Sparsity-Aware Unlearning for Large Language Models", arXiv:2602.00577, 2026.

On a pruned model an unlearning update that would touch every weight loses the part that
falls on pruned weights: the forgetting capacity shrinks with the sparsity. SAU

* **masks the gradient**: updates go to surviving weights only (on a compressed client
  the sparsity mask is inside the forward pass, so the latent gradient of a pruned weight
  is exactly zero and the weight stays zero);
* **redistributes by importance**: before the steps it measures, on the forget set, the
  diagonal Fisher information of every weight *including the pruned ones* (gradients with
  the masks lifted, :class:`fedforget.compression.unmasked`), and scales the gradient of
  the most important surviving weights (top ``top_fraction`` by Fisher) by ``alpha`` so
  that the expected squared update equals the dense one:
  ``sum_kept F + (alpha^2 - 1) sum_top F = sum_all F``.

The base objective is gradient ascent on the forget set (the objective SAU wraps in the
paper's experiments), bounded per sample at twice the uniform-guess loss (unbounded, the
boosted ascent diverged to NaN on the 90%-sparse quickstart). So ``sau`` vs
``gradient_ascent`` differs by the redistribution and the bound. On a dense model (no
masks) nothing is lost and SAU is bounded gradient ascent. With ``unlearning.calibration:
target`` the bound is the retain-matched one (a sample stops once its true-class
confidence reaches the non-member level, fedforget.unlearning.calibration) instead of the
fixed ``2 log C``; every local step's gradient norm is clipped at
``unlearning.max_grad_norm``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fedforget.compression import model_masks, unmasked
from fedforget.data.datasets import ArrayData
from fedforget.training.local import batches, local_sgd
from fedforget.unlearning.base import Unlearner, register_unlearner
from fedforget.unlearning.calibration import masked_mean
from fedforget.util.device import model_device
from fedforget.util.params import flat_params


def fisher_diagonal(model: nn.Module, data: ArrayData, batch_size: int, max_batches: int = 8) -> dict[str, torch.Tensor]:
    """Mean squared gradient of the cross-entropy per parameter (empirical Fisher)."""
    params = dict(model.named_parameters())
    acc = {n: torch.zeros_like(p) for n, p in params.items()}
    k = 0
    for xb, yb in batches(data, batch_size, None, model_device(model)):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        for n, p in params.items():
            if p.grad is not None:
                acc[n] += p.grad.detach() ** 2
        k += 1
        if k >= max_batches:
            break
    model.zero_grad(set_to_none=True)
    return {n: a / max(k, 1) for n, a in acc.items()}


@register_unlearner("sau")
class SparsityAwareUnlearner(Unlearner):
    granularities = frozenset({"samples", "class", "client"})
    top_fraction = 0.1  # share of surviving weights that receive the redistributed capacity
    max_alpha = 10.0

    def forget_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = model(x)
        if self.calibrated:  # retain-matched bound: stop once p_y is at the non-member level
            return masked_mean(-F.cross_entropy(logits, y, reduction="none"), self.active(logits, y))
        # Bounded ascent: a sample stops pushing once its loss exceeds twice the loss of a
        # uniform guess; the boosted gradients of redistribution otherwise run to NaN.
        cap = 2.0 * math.log(logits.shape[1])
        return -F.cross_entropy(logits, y, reduction="none").clamp(max=cap).mean()

    def gradient_scales(self, model: nn.Module, forget: ArrayData) -> dict[str, torch.Tensor]:
        masks = model_masks(model)
        if not masks:
            return {}
        with unmasked(model):
            fisher = fisher_diagonal(model, forget, self.cfg.batch_size)
        kept = {n: fisher[n] * masks[n] for n in masks}
        lost = sum(float((fisher[n] * (1 - masks[n])).sum()) for n in masks)
        pool = torch.cat([kept[n][masks[n] > 0].reshape(-1) for n in masks])
        if pool.numel() == 0 or lost <= 0:
            return {}
        k = max(1, int(self.top_fraction * pool.numel()))
        thresh = torch.topk(pool, k).values.min()
        top = {n: (kept[n] >= thresh) & (masks[n] > 0) for n in masks}
        top_f = sum(float(kept[n][top[n]].sum()) for n in masks)
        if top_f <= 0:
            return {}
        alpha = min(self.max_alpha, (1.0 + lost / top_f) ** 0.5)
        self.alpha = alpha
        return {n: masks[n] * (1.0 + (alpha - 1.0) * top[n].to(masks[n].dtype)) for n in masks}

    def forget_update(
        self, model: nn.Module, forget: ArrayData, retain: ArrayData | None, gen: torch.Generator
    ) -> torch.Tensor:
        before = flat_params(model).clone()
        self.alpha = 1.0
        scales = self.gradient_scales(model, forget)
        params = dict(model.named_parameters())
        handles = [params[n].register_hook(lambda g, s=s: g * s) for n, s in scales.items()]
        try:
            local_sgd(model, forget, loss_fn=self.forget_loss, lr=self.cfg.lr,
                      batch_size=self.cfg.batch_size, gen=gen, max_steps=self.cfg.local_steps,
                      max_grad_norm=self.cfg.max_grad_norm)
        finally:
            for h in handles:
                h.remove()
        return flat_params(model) - before
