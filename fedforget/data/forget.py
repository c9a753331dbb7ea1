"""Deletion requests -> per-client forget sets (global sample ids).

Granularities: ``samples`` (a fraction of one client's data or listed ids), ``class``
(every client's samples of one label) and ``client`` (everything one client holds).
Several requests combine by union.
"""

from __future__ import annotations

import numpy as np

from fedforget.config import DeletionRequest
from fedforget.util.errors import DataError
from fedforget.util.seeding import np_rng


def build_forget_sets(
    requests: tuple[DeletionRequest, ...],
    partitions: list[np.ndarray],
    labels_by_id: dict[int, int] | np.ndarray,
    seed: int,
) -> list[np.ndarray]:
    """Return one sorted array of forget ids per client (empty where nothing is deleted)."""
    per_request = forget_sets_by_request(requests, partitions, labels_by_id, seed)
    return [np.array(sorted(set().union(*(set(req[c].tolist()) for req in per_request))), dtype=np.int64)
            for c in range(len(partitions))]


def forget_sets_by_request(
    requests: tuple[DeletionRequest, ...],
    partitions: list[np.ndarray],
    labels_by_id: dict[int, int] | np.ndarray,
    seed: int,
) -> list[list[np.ndarray]]:
    """Per request, one sorted array of forget ids per client (requests on a timeline are
    served one by one; a client's forget set is the union of its served requests)."""
    out: list[list[np.ndarray]] = []
    for i, r in enumerate(requests):
        forget: list[set[int]] = [set() for _ in partitions]
        if r.granularity == "client":
            forget[r.client].update(int(v) for v in partitions[r.client])
        elif r.granularity == "class":
            found = 0
            for c, ids in enumerate(partitions):
                sel = [int(v) for v in ids if int(labels_by_id[int(v)]) == r.label]
                forget[c].update(sel)
                found += len(sel)
            if found == 0:
                raise DataError(f"deletion.requests[{i}]: no client holds samples of class {r.label}")
        else:
            ids = partitions[r.client]
            if r.ids:
                wanted = np.asarray(r.ids, dtype=np.int64)
                missing = np.setdiff1d(wanted, ids)
                if len(missing):
                    raise DataError(
                        f"deletion.requests[{i}]: ids {missing[:5].tolist()} are not held by client {r.client}; "
                        "a client can only delete its own samples"
                    )
                forget[r.client].update(int(v) for v in wanted)
            else:
                k = max(1, int(round(r.fraction * len(ids))))
                pick = np_rng(seed, "forget-samples", i).choice(ids, size=k, replace=False)
                forget[r.client].update(int(v) for v in pick)
        out.append([np.array(sorted(s), dtype=np.int64) for s in forget])
    return out
