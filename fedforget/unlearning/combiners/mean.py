"""Plain weighted mean of the forgetting updates (no projection): the ablation of
``projected`` and the combiner of unprojected baselines such as gradient ascent."""

from __future__ import annotations

import torch

from fedforget.unlearning.combiners.base import Combiner, register_combiner


@register_combiner("mean")
class MeanCombiner(Combiner):
    def combine(self, forget_updates, retain_dirs, mask=None) -> torch.Tensor:  # type: ignore[no-untyped-def]
        d = self.weighted_mean(forget_updates)
        return d * mask.to(d.dtype) if mask is not None else d
