"""Membership evidence of one deletion request on the timeline (fedforget.run.timeline).

At a serve point and at the end of a run, the clients holding a request's samples return
per-sample attack signals of those samples only (``req.<i>.<attack>``: signals, never
samples); the server computes the same signals on its own non-member pool and reports,
per attack, the AUC of telling the request's samples (members) from the non-members
(:func:`~fedforget.evaluation.metrics.mia_metrics`, scikit-learn's ``roc_auc_score``).
Only attacks that need no shadow models take part (loss, confidence, entropy,
modified_entropy): a shadow-calibrated score per request would need the shadows'
signals of exactly those samples at every serve point.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from fedforget.data.datasets import ArrayData
from fedforget.evaluation.attacks.base import ATTACKS, signals
from fedforget.evaluation.metrics import mia_metrics
from fedforget.training.local import predict_logits


def shadowless(attacks: Iterable[str]) -> tuple[str, ...]:
    """The attacks of ``attacks`` that score a sample from the target model alone."""
    return tuple(a for a in attacks if not ATTACKS.get(a).needs_shadows)


def nonmember_signals(model: torch.nn.Module, pool: ArrayData, attacks: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per-sample signals of ``attacks`` on the server's non-member pool under ``model``."""
    if not attacks or not len(pool):
        return {}
    return signals(attacks, predict_logits(model, pool), torch.from_numpy(np.ascontiguousarray(pool.y)))


def request_aucs(members: dict[str, np.ndarray], nonmembers: dict[str, np.ndarray]) -> dict[str, float | None]:
    """AUC per attack: the request's samples (members) vs the non-member pool."""
    return {a: mia_metrics(m, nonmembers[a], curve=False)["auc"] for a, m in members.items() if a in nonmembers}
