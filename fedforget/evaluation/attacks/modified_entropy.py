"""Modified-entropy threshold attack: Song & Mittal, "Systematic Evaluation of Privacy
Risks of Machine Learning Models", USENIX Security 2021, eq. (4):

    Mentr(p, y) = -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i)

score = -Mentr. Unlike the entropy it uses the label: it is monotonically decreasing in
p_y and increasing in every other p_i. (The ``m_entropy`` copied around several
unlearning codebases puts ``log p`` where ``log(1 - p)`` belongs and is not this.)
The paper's class-dependent thresholds, fitted on shadow/reference data to maximise
balanced accuracy, are in :mod:`fedforget.evaluation.thresholds`.
"""

from __future__ import annotations

import numpy as np
import torch

from fedforget.evaluation.attacks.base import Attack, log_softmax64, register_attack
from fedforget.tasks.classification import log1m_softmax


def modified_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mentr per row, in float64, from logits (log p and log(1 - p) computed stably)."""
    logp = log_softmax64(logits)
    p = logp.exp()
    log1mp = log1m_softmax(logits)
    idx = labels[:, None]
    py, logpy = p.gather(1, idx).squeeze(1), logp.gather(1, idx).squeeze(1)
    other = (p * log1mp).scatter(1, idx, 0.0).sum(1)
    return -(1.0 - py) * logpy - other


@register_attack("modified_entropy")
class ModifiedEntropyAttack(Attack):
    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        return (-modified_entropy(logits, labels)).numpy()
