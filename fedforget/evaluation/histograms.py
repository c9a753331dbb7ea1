"""Membership statistics that travel as counts: a client bins the LiRA logit
``phi = log p_y - log(1 - p_y)`` (Carlini et al. 2022) of its samples on a fixed grid and
sends the non-empty bin counts as scalars; the server sums them over clients and reads an
attack AUC off the summed histograms (samples in one bin count as ties, half a win each).

Used by the evaluators that attack models which never leave a client (a quantized or
fine-tuned copy): per-sample signals would leave the client, bin counts are statistics.
With bins 0.25 wide on [-15, 15] the AUC differs from the exact one by at most the share of
pairs that fall into one bin (checked in tests/evaluation/test_quant_recovery.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from fedforget.evaluation.attacks.lira import lira_phi

LO, HI, WIDTH = -15.0, 15.0, 0.25
NBINS = int(round((HI - LO) / WIDTH))


def phi_bins(logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Bin index of every sample's phi (values outside [LO, HI] go to the end bins)."""
    phi = lira_phi(logits, labels)
    return np.clip(np.floor((phi - LO) / WIDTH), 0, NBINS - 1).astype(np.int64)


def hist_scalars(prefix: str, bins: np.ndarray) -> dict[str, float]:
    """``{prefix + str(bin): count}`` for the non-empty bins."""
    idx, cnt = np.unique(bins, return_counts=True)
    return {f"{prefix}{int(i)}": float(c) for i, c in zip(idx, cnt, strict=True)}


def summed_hist(replies: list[Mapping[str, Any]], prefix: str) -> np.ndarray:
    h = np.zeros(NBINS)
    for m in replies:
        for k, v in m.items():
            if k.startswith(prefix) and k[len(prefix):].isdigit():
                h[int(k[len(prefix):])] += float(v)
    return h


def hist_auc(pos: np.ndarray, neg: np.ndarray) -> float | None:
    """P(pos > neg) + P(pos = neg) / 2 for histograms over the same ordered bins."""
    p, n = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    if p.sum() == 0 or n.sum() == 0:
        return None
    below = np.cumsum(n) - n  # negatives in lower bins
    return float((p * (below + 0.5 * n)).sum() / (p.sum() * n.sum()))


def as_list(h: np.ndarray) -> list[float]:
    return [float(v) for v in h]
