"""Coordinate-wise trimmed mean (Yin et al. 2018, "Byzantine-Robust Distributed Learning:
Towards Optimal Statistical Rates"): per weight, the ``int(trim_fraction * n)`` largest and
smallest client values are dropped and the rest averaged, unweighted, as Flower's
``FedTrimmedAvg`` (``flwr.server.strategy.aggregate.aggregate_trimmed_avg``, which follows
``scipy.stats.trim_mean``). ``training.trim_fraction`` in [0, 0.5)."""

from __future__ import annotations

import numpy as np

from fedforget.training.aggregators.base import Aggregator, Arrays, register_aggregator


def trim_mean(a: np.ndarray, cut: float) -> np.ndarray:
    n = a.shape[0]
    lo = int(cut * n)
    return np.mean(np.sort(a, axis=0)[lo:n - lo], axis=0)


@register_aggregator("trimmed_mean")
class TrimmedMean(Aggregator):
    def aggregate(self, models: list[Arrays], weights: list[float]) -> Arrays:
        return self.per_tensor(models, lambda a: trim_mean(a, self.trim_fraction))
