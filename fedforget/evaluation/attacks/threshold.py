"""Threshold (metric-based) membership-inference attacks.

* loss: Yeom et al., "Privacy Risk in Machine Learning", CSF 2018 (score = -loss).
* confidence: Salem et al., NDSS 2019; Song & Mittal 2021 (score = p_y).
* entropy: Salem et al., NDSS 2019 (score = -H(p)).
* modified entropy: Song & Mittal, "Systematic Evaluation of Privacy Risks of Machine
  Learning Models", USENIX Security 2021:
  Mentr(p, y) = -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i); score = -Mentr.

AUCs here are threshold-free; the fitted (class-dependent) thresholds of the papers
matter for accuracy-style figures.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fedforget.evaluation.attacks.base import Attack, register_attack

_EPS = 1e-30


@register_attack("loss")
class LossAttack(Attack):
    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        return (-F.cross_entropy(logits.double(), labels, reduction="none")).numpy()


@register_attack("confidence")
class ConfidenceAttack(Attack):
    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        p = F.softmax(logits.double(), dim=1)
        return p.gather(1, labels[:, None]).squeeze(1).numpy()


@register_attack("entropy")
class EntropyAttack(Attack):
    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        logp = F.log_softmax(logits.double(), dim=1)
        return ((logp.exp() * logp).sum(1)).numpy()  # = -H(p)


def modified_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logp = F.log_softmax(logits.double(), dim=1)
    p = logp.exp()
    onehot = F.one_hot(labels, num_classes=logits.shape[1]).bool()
    log1mp = torch.log((1.0 - p).clamp_min(_EPS))
    py = p.gather(1, labels[:, None]).squeeze(1)
    logpy = logp.gather(1, labels[:, None]).squeeze(1)
    other = (p * log1mp).masked_fill(onehot, 0.0).sum(1)
    return -(1.0 - py) * logpy - other


@register_attack("modified_entropy")
class ModifiedEntropyAttack(Attack):
    def score(self, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
        return (-modified_entropy(logits, labels)).numpy()
