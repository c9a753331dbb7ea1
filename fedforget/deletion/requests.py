"""Deletion requests on the training timeline.

:func:`stream_requests` turns ``deletion.stream`` into concrete requests (Poisson
arrivals of ``rate`` requests per round, granularities drawn by the ``mix_*`` weights,
seeded by ``deletion.stream.seed`` alone, so the schedule does not move with
``runtime.seed``). :func:`timeline_requests` is every request of a run, explicit ones
first, each with a stable id (``r<index>``). The server and every client derive the same
list from the config, so a ``delete`` message only names request indices.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fedforget.config import DeletionRequest, ExperimentConfig
from fedforget.util.seeding import np_rng


def stream_requests(cfg: ExperimentConfig, num_classes: int) -> tuple[DeletionRequest, ...]:
    """The generated requests of ``deletion.stream`` (empty when ``rate`` is 0)."""
    sc = cfg.deletion.stream
    if sc.rate <= 0:
        return ()
    n_clients = cfg.partition.num_clients
    last = cfg.training.rounds - 1 if sc.end_round < 0 else min(sc.end_round, cfg.training.rounds - 1)
    gone_clients = {r.client for r in cfg.deletion.requests if r.granularity == "client"}
    gone_labels = {r.label for r in cfg.deletion.requests if r.granularity == "class"}
    weights = np.array([sc.mix_samples, sc.mix_class, sc.mix_client], dtype=np.float64)
    out: list[DeletionRequest] = []
    for t in range(sc.start_round, last + 1):
        rng = np_rng(sc.seed, "stream", t)
        for _ in range(int(rng.poisson(sc.rate))):
            if sc.max_requests and len(out) >= sc.max_requests:
                return tuple(out)
            w = weights.copy()
            if len(gone_clients) + 1 > n_clients // 2:  # keep at least half of the clients
                w[2] = 0.0
            if len(gone_labels) + 2 > num_classes:  # keep at least two classes
                w[1] = 0.0
            if w.sum() <= 0:
                continue
            kind = ("samples", "class", "client")[int(rng.choice(3, p=w / w.sum()))]
            if kind == "class":
                label = int(rng.choice(sorted(set(range(num_classes)) - gone_labels)))
                gone_labels.add(label)
                out.append(DeletionRequest(granularity="class", label=label, at_round=t))
                continue
            client = int(rng.choice(sorted(set(range(n_clients)) - gone_clients)))
            if kind == "client":
                gone_clients.add(client)
                out.append(DeletionRequest(granularity="client", client=client, at_round=t))
            else:
                out.append(DeletionRequest(granularity="samples", client=client, fraction=sc.fraction, at_round=t))
    return tuple(out)


def timeline_requests(cfg: ExperimentConfig, num_classes: int) -> tuple[DeletionRequest, ...]:
    """Every request of the run: ``deletion.requests`` then the generated stream."""
    return tuple(cfg.deletion.requests) + stream_requests(cfg, num_classes)


def arrival_round(r: DeletionRequest, rounds: int) -> int:
    """The training round after which ``r`` arrives (``rounds`` = after training)."""
    return rounds if r.at_round < 0 else min(r.at_round, rounds)


def is_streamed(cfg: ExperimentConfig) -> bool:
    """Whether any request arrives during training (else: one deletion moment at the end)."""
    return cfg.deletion.stream.rate > 0 or any(0 <= r.at_round < cfg.training.rounds for r in cfg.deletion.requests)


def request_id(i: int) -> str:
    return f"r{i}"


def describe(r: DeletionRequest) -> dict[str, object]:
    """A request as it appears in results.json (no sample ids)."""
    d = dataclasses.asdict(r)
    d["n_ids"] = len(d.pop("ids"))
    return d


def ids_of_requests(forget_by_request: tuple[tuple[np.ndarray, ...], ...], client: int, spec: str) -> np.ndarray:
    """The union of client ``client``'s forget ids over the requests listed in ``spec``
    (request indices, comma-separated, as a ``delete`` message names them)."""
    idx = [int(v) for v in spec.split(",") if v.strip()]
    parts = [forget_by_request[i][client] for i in idx]
    return np.unique(np.concatenate(parts)).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)


def spec(indices: list[int] | tuple[int, ...] | set[int]) -> str:
    return ",".join(str(i) for i in sorted(indices))
