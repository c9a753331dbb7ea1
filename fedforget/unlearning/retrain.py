"""Retrain: federated retraining from scratch without the forget data (the gold standard).

Exact unlearning by construction: FedAvg from the same initial model, with the same
per-round seeds, on the retain data only. Its cost is a full training run, which every
approximate method is measured against. See Bourtoule et al., "Machine Unlearning",
IEEE S&P 2021 (retraining as the exact baseline), and Liu et al., "FedEraser", IWQoS
2021 (federated retraining as the baseline of federated unlearning).

Supported granularities: samples, class, client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fedforget.unlearning.procedure import ALL_GRANULARITIES, Procedure, register_procedure

if TYPE_CHECKING:  # pragma: no cover
    from fedforget.unlearning.context import RoundContext


@register_procedure("retrain")
class Retrain(Procedure):
    granularities = ALL_GRANULARITIES

    def unlearn(self, ctx: RoundContext, original: dict[str, Any]) -> dict[str, Any]:
        # The experiment's retrain baseline: computed once and reused for the comparison.
        return ctx.retrain()
