"""Random labels: relabel the forget data with random wrong labels and fine-tune on it.

Graves, Nagisetty & Ganesh, "Amnesiac Machine Learning", AAAI 2021 (the "unlearning"
variant that relabels sensitive data randomly); used as the RL baseline in Jia et al.,
"Model Sparsity Can Simplify Machine Unlearning", NeurIPS 2023. Each forget sample gets a
label drawn uniformly from the *other* classes (seeded by the round's client seed); the
client runs ``local_steps`` of SGD on the relabelled forget set mixed with its own retain
data when it has any (samples granularity), so accuracy elsewhere is held. The server
combines with ``unlearning.combiner`` and recovers like any objective method.

Supported granularities: samples, class, client.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fedforget.data.datasets import ArrayData
from fedforget.training.local import local_sgd
from fedforget.unlearning.base import Unlearner, register_unlearner
from fedforget.util.params import flat_params


def random_wrong_labels(y: np.ndarray, num_classes: int, gen: torch.Generator) -> np.ndarray:
    """A label != y for each sample, uniform over the other ``num_classes - 1`` classes."""
    shift = torch.randint(1, num_classes, (len(y),), generator=gen).numpy()
    return ((y.astype(np.int64) + shift) % num_classes).astype(y.dtype)


@register_unlearner("random_label")
class RandomLabel(Unlearner):
    granularities = frozenset({"samples", "class", "client"})

    def forget_update(
        self, model: nn.Module, forget: ArrayData, retain: ArrayData | None, gen: torch.Generator
    ) -> torch.Tensor:
        relabelled = ArrayData(forget.x, random_wrong_labels(forget.y, forget.num_classes, gen), forget.ids, forget.num_classes)
        data = relabelled
        if retain is not None and len(retain):
            data = ArrayData(
                np.concatenate([relabelled.x, retain.x]), np.concatenate([relabelled.y, retain.y]),
                np.concatenate([relabelled.ids, retain.ids]), forget.num_classes,
            )
        before = flat_params(model).clone()
        local_sgd(model, data, lr=self.cfg.lr, batch_size=self.cfg.batch_size, gen=gen, max_steps=self.cfg.local_steps)
        return flat_params(model) - before
