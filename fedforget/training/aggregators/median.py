"""Coordinate-wise median (Yin et al. 2018, "Byzantine-Robust Distributed Learning: Towards
Optimal Statistical Rates"): each weight is the median of the clients' values, unweighted,
as Flower's ``FedMedian`` (``flwr.server.strategy.aggregate.aggregate_median``)."""

from __future__ import annotations

import numpy as np

from fedforget.training.aggregators.base import Aggregator, Arrays, register_aggregator


@register_aggregator("median")
class Median(Aggregator):
    def aggregate(self, models: list[Arrays], weights: list[float]) -> Arrays:
        return self.per_tensor(models, lambda a: np.median(a, axis=0))
