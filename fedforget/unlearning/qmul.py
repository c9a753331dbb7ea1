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

Calibrated (``unlearning.calibration: target``): the similar-label term acts on a sample
only while its true-class confidence is above the non-member level sent by the server
(fedforget.unlearning.calibration); the retain term is unchanged.

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
from fedforget.training.local import batches, local_sgd, predict_logits
from fedforget.unlearning.base import Unlearner, register_unlearner
from fedforget.unlearning.calibration import masked_mean
from fedforget.util.device import model_device
from fedforget.util.params import flat_params


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
        ncls = forget.num_classes
        # Both labels travel in one int (true * C + similar): the calibrated objective needs
        # the true label to decide whether a sample still looks like a member.
        both = np.asarray(forget.y, dtype=np.int64) * ncls + similar_labels(model, forget)
        relabelled = ArrayData(forget.x, both, forget.ids, ncls)
        retain_iter: Iterator[tuple[torch.Tensor, torch.Tensor]] | None = None
        params = [p for p in model.parameters() if p.requires_grad]
        self.weights: list[tuple[float, float]] = []

        def next_retain() -> tuple[torch.Tensor, torch.Tensor] | None:
            nonlocal retain_iter
            if retain is None or len(retain) == 0:
                return None
            for _ in range(2):
                if retain_iter is None:
                    retain_iter = batches(retain, self.cfg.batch_size, gen, model_device(model))
                try:
                    return next(retain_iter)
                except StopIteration:
                    retain_iter = None
            return None

        def loss_fn(m: nn.Module, x: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
            y_true, y = yy // ncls, yy % ncls
            logits = m(x)
            if self.calibrated:  # relabel only the samples that still look like members
                lf = masked_mean(F.cross_entropy(logits, y, reduction="none"), self.active(logits, y_true))
            else:
                lf = F.cross_entropy(logits, y)
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
                  gen=gen, max_steps=self.cfg.local_steps, max_grad_norm=self.cfg.max_grad_norm)
        return flat_params(model) - before
