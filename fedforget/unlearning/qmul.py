"""Q-MUL: unlearning for quantized networks with similar labels and adaptive gradient
reweighting.

Reference: Yujia Tong, Yuze Wang, Jingling Yuan, Chuang Hu, "Robust Machine Unlearning
for Quantized Neural Networks via Adaptive Gradient Reweighting with Similar Labels",
arXiv:2503.13917, 2025.

* **Similar labels.** Each forget sample is relabelled, once, to the class the model
  itself finds most likely among the wrong ones (``argmax`` of the logits with the true
  class masked), a semantically close class rather than a random label: less noise for a
  model whose weights can only move in whole quantization steps.
* **Adaptive gradient reweighting.** Every step combines the forget loss (cross-entropy
  to the similar labels) and the retain loss (cross-entropy on a retain batch) with
  weights that equalise their gradient norms, ``w_f = |g_r| / (|g_f| + |g_r|)`` and
  ``w_r = |g_f| / (|g_f| + |g_r|)``, so neither side dominates the discrete update.
  A client without retain data (a whole-client deletion) uses the forget term alone.

On a compressed client the model's forward pass is the fake-quantized one, so both
gradients are straight-through gradients of the quantized model; the update that
travels is what moved the deployed integer model (fedforget.compression).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fedforget.data.datasets import ArrayData
from fedforget.params import flat_params
from fedforget.training import batches, local_sgd, predict_logits
from fedforget.unlearning.base import Unlearner, register_unlearner


def similar_labels(model: nn.Module, data: ArrayData) -> np.ndarray:
    """The most likely wrong class of each sample under ``model``."""
    logits = predict_logits(model, data).clone()
    y = torch.from_numpy(np.asarray(data.y, dtype=np.int64))
    logits[torch.arange(len(y)), y] = -torch.inf
    return logits.argmax(1).numpy().astype(np.int64)


def _grad_norm(loss: torch.Tensor, params: list[torch.Tensor]) -> float:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return float(torch.sqrt(sum((g * g).sum() for g in grads if g is not None)))


@register_unlearner("qmul")
class QMUL(Unlearner):
    granularities = frozenset({"samples", "class", "client"})

    def forget_update(
        self, model: nn.Module, forget: ArrayData, retain: ArrayData | None, gen: torch.Generator
    ) -> torch.Tensor:
        before = flat_params(model).clone()
        relabelled = ArrayData(forget.x, similar_labels(model, forget), forget.ids, forget.num_classes)
        retain_iter: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None
        params = [p for p in model.parameters() if p.requires_grad]
        self.weights: list[tuple[float, float]] = []

        def next_retain() -> tuple[torch.Tensor, torch.Tensor] | None:
            nonlocal retain_iter
            if retain is None or len(retain) == 0:
                return None
            for _ in range(2):
                if retain_iter is None:
                    retain_iter = batches(retain, self.cfg.batch_size, gen)
                try:
                    return next(retain_iter)
                except StopIteration:
                    retain_iter = None
            return None

        def loss_fn(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            lf = F.cross_entropy(m(x), y)
            rb = next_retain()
            if rb is None:
                return lf
            lr_ = F.cross_entropy(m(rb[0]), rb[1])
            nf, nr = _grad_norm(lf, params), _grad_norm(lr_, params)
            if nf + nr == 0:
                return lf + lr_
            wf, wr = nr / (nf + nr), nf / (nf + nr)
            self.weights.append((wf, wr))
            # scaled by 2 so that equal norms give the plain sum of the two losses
            return 2.0 * (wf * lf + wr * lr_)

        local_sgd(model, relabelled, loss_fn=loss_fn, lr=self.cfg.lr, batch_size=self.cfg.batch_size,
                  gen=gen, max_steps=self.cfg.local_steps)
        return flat_params(model) - before
