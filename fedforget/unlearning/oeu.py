"""OEU: entropy-guided orthogonal unlearning.

Forgetting objective: maximise the prediction entropy on the forget set (make the model
uncertain there rather than teach it wrong labels); the server projects the resulting
update onto the orthogonal complement of the retain gradients (``combiner: projected``).

Reference: "Orthogonal/Entropy-guided unlearning for quantized neural networks" line of
work (OEU); entropy-maximisation forgetting as in Chundawat et al. / Tarun et al.,
combined with the gradient-projection idea of Orthogonal Gradient Descent (Farajtabar et
al., AISTATS 2020) and FedOSD (Pan et al., 2025).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fedforget.unlearning.base import Unlearner, register_unlearner


def prediction_entropy(logits: torch.Tensor) -> torch.Tensor:
    logp = F.log_softmax(logits, dim=1)
    return -(logp.exp() * logp).sum(1)


@register_unlearner("oeu")
class EntropyUnlearner(Unlearner):
    """Minimise ``-H(softmax(f(x)))`` on the forget set. Calibrated (the default,
    ``unlearning.calibration: target``): ``mean(relu(H* - H))``, entropy maximisation that
    is flat for a sample once its entropy reaches ``H*``, the non-member pool's median
    entropy under the current model (fedforget.unlearning.calibration)."""

    calibrated_on = "entropy"
    can_settle = True

    def forget_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = model(x)
        h = prediction_entropy(logits)
        if self.calibrated and self.options.get("settle"):  # settling: over-unlearned samples back down
            return F.relu(h - float(self.options["settle_entropy"])).mean()
        if self.calibrated:
            return F.relu(float(self.options["target_entropy"]) - h).mean()
        return -h.mean()
