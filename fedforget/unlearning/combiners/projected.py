"""Projected updates: the averaged forgetting update, projected onto the orthogonal
complement of the span of all retain directions (see :mod:`fedforget.unlearning.projection`)."""

from __future__ import annotations

import torch

from fedforget.unlearning.combiners.base import Combiner, register_combiner
from fedforget.unlearning.projection import project_orthogonal


@register_combiner("projected")
class ProjectedCombiner(Combiner):
    def combine(self, forget_updates, retain_dirs, mask=None) -> torch.Tensor:  # type: ignore[no-untyped-def]
        return project_orthogonal(self.weighted_mean(forget_updates), retain_dirs, mask=mask)
