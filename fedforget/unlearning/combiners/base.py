"""The ``Combiner`` role: turn the clients' forgetting updates and retain directions into
one global update. One hook, :meth:`Combiner.combine`."""

from __future__ import annotations

from typing import Any

import torch

from fedforget.util.registry import Registry


class Combiner:
    def combine(
        self,
        forget_updates: list[tuple[torch.Tensor, float]],
        retain_dirs: Any,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``forget_updates``: (flat update, weight) per forget client; ``retain_dirs``: the
        round's retain subspace (:mod:`fedforget.unlearning.subspace`, built with ``mask``),
        stacked retain gradients ``(k, p)``, or None; ``mask``: surviving weights (0/1) or None."""
        raise NotImplementedError

    @staticmethod
    def weighted_mean(updates: list[tuple[torch.Tensor, float]]) -> torch.Tensor:
        if not updates:
            raise ValueError("no forgetting updates to combine: no client reported a forget set")
        total = sum(w for _, w in updates)
        return sum(u.to(torch.float64) * (w / total) for u, w in updates)  # type: ignore[return-value]


COMBINERS: Registry[type[Combiner]] = Registry("combiner", "fedforget.unlearning.combiners")
register_combiner = COMBINERS.register
