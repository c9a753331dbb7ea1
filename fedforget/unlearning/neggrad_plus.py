"""NegGrad+: gradient ascent on the forget data together with descent on the retain data.

Kurmanji, Triantafillou, Hayes & Triantafillou, "Towards Unbounded Machine Unlearning",
NeurIPS 2023 (NegGrad+: minimise ``beta * L_retain - (1 - beta) * L_forget``). Federated
form: in each of ``unlearning.rounds`` rounds, forget clients send ``local_steps`` of
gradient ascent on their forget set (the ``gradient_ascent`` objective) and retain
clients one local epoch of descent on their retain data; the server moves the model by
``(1 - beta) * mean(ascent updates) + beta * (FedAvg(retain models) - model)`` with
``beta = unlearning.neggrad_plus.retain_weight``. No separate recovery: the retain
descent is part of every round.

Supported granularities: samples, class, client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from fedforget.unlearning.combiners.base import Combiner
from fedforget.unlearning.procedure import ALL_GRANULARITIES, Procedure, register_procedure
from fedforget.util.seeding import derive_seed

if TYPE_CHECKING:  # pragma: no cover
    from fedforget.unlearning.context import RoundContext

Arrays = dict[str, Any]


@register_procedure("neggrad_plus")
class NegGradPlus(Procedure):
    granularities = ALL_GRANULARITIES

    def unlearn(self, ctx: RoundContext, original: Arrays) -> Arrays:
        uc = self.cfg.unlearning
        beta = uc.neggrad_plus.retain_weight
        descend = ctx.fedavg_step("neggrad_plus", ctx.retainers, uc.lr, extra_conf={"epochs": 1})

        def step(r: int, arrays: Arrays) -> tuple[Arrays, dict[str, Any]]:
            seed = derive_seed(ctx.root, "neggrad_plus", r)
            fupd, _ = ctx.collect_unlearn(arrays, seed, retainers=[], extra_conf={"objective": "gradient_ascent"})
            ascent = Combiner.weighted_mean(fupd)
            retained, info = descend(r, arrays)
            mixed = {k: (v.astype(np.float64) + beta * (retained[k].astype(np.float64) - v)).astype(v.dtype)
                     for k, v in arrays.items()}
            new = ctx.apply_update(mixed, ascent, (1.0 - beta) * uc.server_lr)
            return new, {"ascent_norm": float(ascent.norm()), **info}

        return ctx.loop.run("neggrad_plus", uc.rounds, original, step)
