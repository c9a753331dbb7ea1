"""Server-side aggregation of the clients' models in training, recovery and retraining
rounds (FedAvg and the robust alternatives), registered by name: ``training.aggregation``."""

from fedforget.training.aggregators.base import (
    AGGREGATORS,
    Aggregator,
    aggregate,
    clip_updates,
    register_aggregator,
)

__all_modules__ = ("fedavg", "median", "trimmed_mean")
__all__ = ["AGGREGATORS", "Aggregator", "aggregate", "clip_updates", "register_aggregator"]
