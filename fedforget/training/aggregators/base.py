"""The aggregator role: clients' models (with their ``num_examples``) -> the next global
model. One file per rule, registered with :func:`register_aggregator`; selected by
``training.aggregation`` (``fedavg``, ``median``, ``trimmed_mean``). Optional norm clipping
(``training.clip_norm``, Sun et al. 2019, "Can You Really Backdoor Federated Learning?"):
each client's update (its model minus the global model it was sent) is scaled down to at
most that L2 norm before any rule sees it."""

from __future__ import annotations

from typing import Any

import numpy as np

from fedforget.util.registry import Registry

Arrays = dict[str, np.ndarray]
AGGREGATORS: Registry[Any] = Registry("aggregator", "fedforget.training.aggregators")
register_aggregator = AGGREGATORS.register


class Aggregator:
    """One hook: :meth:`aggregate` of the replies ``(model, num_examples)``."""

    def __init__(self, trim_fraction: float = 0.1) -> None:
        self.trim_fraction = trim_fraction

    def aggregate(self, models: list[Arrays], weights: list[float]) -> Arrays:
        raise NotImplementedError

    @staticmethod
    def per_tensor(models: list[Arrays], fn: Any) -> Arrays:
        """``fn`` of each tensor stacked over the clients (axis 0), cast back to its dtype."""
        return {k: np.asarray(fn(np.stack([m[k].astype(np.float64) for m in models]))).astype(ref.dtype)
                for k, ref in models[0].items()}


def clip_updates(models: list[Arrays], prev: Arrays, max_norm: float) -> list[Arrays]:
    """Each model's update (model - ``prev``, over its float tensors) scaled to L2 norm at
    most ``max_norm``; the models themselves are not changed."""
    out = []
    for m in models:
        keys = [k for k, v in m.items() if v.dtype.kind == "f" and k in prev]
        norm = float(np.sqrt(sum(np.sum((m[k].astype(np.float64) - prev[k]) ** 2) for k in keys)))
        s = min(1.0, max_norm / norm) if norm > 0 else 1.0
        out.append(m if s == 1.0 else {**m, **{k: (prev[k] + s * (m[k].astype(np.float64) - prev[k])).astype(m[k].dtype)
                                             for k in keys}})
    return out


def aggregate(name: str, models: list[Arrays], weights: list[float], prev: Arrays | None = None, *,
              trim_fraction: float = 0.1, clip_norm: float = 0.0) -> Arrays:
    """The registered rule ``name`` on the models (clipped first when ``clip_norm`` > 0)."""
    if clip_norm > 0 and prev is not None:
        models = clip_updates(models, prev, clip_norm)
    return AGGREGATORS.get(name)(trim_fraction).aggregate(models, weights)
