"""Datasets, federated partitions and forget sets (pure NumPy; partitioners from flwr-datasets)."""

from fedforget.data.datasets import ArrayData, load_dataset, stamp_trigger
from fedforget.data.federation import FederatedData, build_federated_data
from fedforget.data.forget import build_forget_sets
from fedforget.data.partition import partition_ids

__all__ = [
    "ArrayData",
    "FederatedData",
    "build_federated_data",
    "build_forget_sets",
    "load_dataset",
    "partition_ids",
    "stamp_trigger",
]
