"""Representation check: can a linear probe on the frozen penultimate features recover
the forget set's labels (including a backdoor's target label)?

Each forget client extracts the input of the model's last linear layer on its forget set
and fits an L2-regularised logistic regression (standardised features, C=1) to the forget
labels with 2-fold cross-validation; it returns only correct counts. Unlearning that only
suppresses the output layer leaves the information decodable from the features; a
retrained model's features carry only what generalises from the retain data. Compare the
unlearned model's probe accuracy with the retrained and the original model's.

Reference: linear probes, Alain & Bengio, "Understanding intermediate layers using linear
classifier probes", 2016; used to audit unlearning by e.g. Kim et al. / Jung et al.
("representation-level unlearning" checks) and Hayes et al., SaTML 2025.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from fedforget.config import ExperimentConfig
from fedforget.data.datasets import ArrayData
from fedforget.evaluation.evaluators.base import Evaluator, Scalars, register_evaluator
from fedforget.training.local import batches
from fedforget.util.device import as_cpu, model_device
from fedforget.util.errors import FedForgetError
from fedforget.util.seeding import np_rng


@torch.no_grad()
def penultimate_features(model: nn.Module, data: ArrayData) -> np.ndarray:
    """The input of the model's last ``nn.Linear`` (its penultimate representation)."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not last:
        raise FedForgetError("the probe evaluator needs a model whose output layer is an nn.Linear")
    feats: list[torch.Tensor] = []
    handle = last[-1].register_forward_hook(lambda _m, inp, _out: feats.append(inp[0].detach().reshape(len(inp[0]), -1)))
    model.eval()
    try:
        for xb, _ in batches(data, 512, None, model_device(model)):
            model(xb)
    finally:
        handle.remove()
    return as_cpu(torch.cat(feats)).double().numpy() if feats else np.zeros((0, 0))


def probe_counts(features: np.ndarray, labels: np.ndarray, seed: int) -> tuple[int, int]:
    """(correct, n) of a 2-fold cross-validated logistic probe; (0, 0) when either fold
    lacks two classes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n = len(labels)
    fold = np_rng(seed, "probe-fold").permutation(n) % 2
    correct = total = 0
    for i in (0, 1):
        tr, te = fold != i, fold == i
        if len(np.unique(labels[tr])) < 2 or not te.any():
            continue
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))
        clf.fit(features[tr], labels[tr])
        correct += int((clf.predict(features[te]) == labels[te]).sum())
        total += int(te.sum())
    return correct, total


@register_evaluator("probe")
class LinearProbe(Evaluator):
    def client(self, cfg: ExperimentConfig, model: nn.Module, forget: ArrayData, retain: ArrayData, seed: int) -> Scalars:
        if len(forget) < 4:
            return {"probe.correct": 0, "probe.n": 0}
        c, n = probe_counts(penultimate_features(model, forget), np.asarray(forget.y), seed)
        return {"probe.correct": c, "probe.n": n}

    def summarise(self, cfg: ExperimentConfig, replies: list[Scalars]) -> dict[str, Any]:
        n = sum(float(m.get("probe.n", 0)) for m in replies)
        c = sum(float(m.get("probe.correct", 0)) for m in replies)
        return {"probe_acc": c / n if n else None, "n": int(n)}
