"""Projected updates: the averaged forgetting update, projected onto the orthogonal
complement of the span of all retain directions (see :mod:`fedforget.unlearning.projection`
and, for the retain subspace the server folds replies into, :mod:`fedforget.unlearning.subspace`)."""

from __future__ import annotations

import torch

from fedforget.unlearning.combiners.base import Combiner, register_combiner
from fedforget.unlearning.projection import project_orthogonal


@register_combiner("projected")
class ProjectedCombiner(Combiner):
    def combine(self, forget_updates, retain_dirs, mask=None) -> torch.Tensor:  # type: ignore[no-untyped-def]
        d = self.weighted_mean(forget_updates)
        if retain_dirs is None or isinstance(retain_dirs, torch.Tensor):  # stacked directions (k, p)
            return project_orthogonal(d, retain_dirs, mask=mask)
        return retain_dirs.project(d)  # a retain subspace: it holds the mask it was built with
