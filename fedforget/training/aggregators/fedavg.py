"""FedAvg (McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from
Decentralized Data"): the average of the clients' models weighted by ``num_examples``."""

from __future__ import annotations

from fedforget.training.aggregators.base import Aggregator, Arrays, register_aggregator
from fedforget.util.params import weighted_average


@register_aggregator("fedavg")
class FedAvg(Aggregator):
    def aggregate(self, models: list[Arrays], weights: list[float]) -> Arrays:
        return weighted_average(models, weights)
