"""Client partitions with flwr-datasets partitioners over an in-memory dataset of
(global id, label) rows: IID, Dirichlet(alpha) label skew, or k classes per client."""

from __future__ import annotations

import numpy as np

from fedforget.config import PartitionConfig
from fedforget.util.errors import DataError


def partition_ids(ids: np.ndarray, labels: np.ndarray, cfg: PartitionConfig, seed: int) -> list[np.ndarray]:
    """Split global ``ids`` into ``cfg.num_clients`` disjoint, sorted id arrays."""
    import datasets
    from flwr_datasets.partitioner import (
        DirichletPartitioner,
        IidPartitioner,
        PathologicalPartitioner,
    )

    n = cfg.num_clients
    if len(ids) < n:
        raise DataError(f"{len(ids)} training samples cannot be split over {n} clients; lower partition.num_clients")
    table = datasets.Dataset.from_dict({"id": np.asarray(ids, np.int64), "label": np.asarray(labels, np.int64)})
    seed32 = int(seed % (2**32))
    try:
        if cfg.scheme == "iid":
            table = table.shuffle(seed=seed32)
            part = IidPartitioner(num_partitions=n)
        elif cfg.scheme == "dirichlet":
            part = DirichletPartitioner(
                num_partitions=n,
                partition_by="label",
                alpha=cfg.alpha,
                min_partition_size=cfg.min_partition_size,
                self_balancing=False,
                seed=seed32,
            )
        else:
            n_classes = len(np.unique(labels))
            if cfg.classes_per_client > n_classes:
                raise DataError(
                    f"partition.classes_per_client={cfg.classes_per_client} exceeds the {n_classes} classes in the data"
                )
            part = PathologicalPartitioner(
                num_partitions=n,
                partition_by="label",
                num_classes_per_partition=cfg.classes_per_client,
                class_assignment_mode="first-deterministic",
                seed=seed32,
            )
        part.dataset = table
        out = [np.sort(np.asarray(part.load_partition(i)["id"], dtype=np.int64)) for i in range(n)]
    except DataError:
        raise
    except ValueError as e:
        raise DataError(
            f"flwr-datasets could not build a {cfg.scheme!r} partition of {len(ids)} samples over {n} clients: {e}. "
            "Try a larger partition.alpha, a smaller partition.min_partition_size or fewer clients."
        ) from e
    empty = [i for i, p in enumerate(out) if len(p) == 0]
    if empty:
        raise DataError(f"clients {empty} received no samples; use fewer clients or a larger partition.alpha")
    return out
