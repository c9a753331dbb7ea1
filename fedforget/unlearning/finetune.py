"""Fine-tune: continue FedAvg on the retain data only, from the trained model.

The "catastrophic forgetting" baseline: the forget data is simply no longer trained on,
and further training on the retain data is hoped to wash its influence out. As in
Golatkar, Achille & Soatto, "Eternal Sunshine of the Spotless Net", CVPR 2020 (the
"Fine-tune" baseline), and Jia et al., "Model Sparsity Can Simplify Machine Unlearning",
NeurIPS 2023 (FT). Runs ``unlearning.rounds`` FedAvg rounds at ``training.lr`` on the
retain clients.

Supported granularities: samples, class, client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fedforget.unlearning.procedure import ALL_GRANULARITIES, Procedure, register_procedure

if TYPE_CHECKING:  # pragma: no cover
    from fedforget.unlearning.context import RoundContext


@register_procedure("finetune")
class Finetune(Procedure):
    granularities = ALL_GRANULARITIES

    def unlearn(self, ctx: RoundContext, original: dict[str, Any]) -> dict[str, Any]:
        rounds = self.cfg.unlearning.rounds
        return ctx.loop.run("finetune", rounds, original, ctx.fedavg_step("finetune", ctx.retainers, self.cfg.training.lr))
