"""FedOSD: federated unlearning by orthogonal steepest descent.

Pan, Wang, Zhang et al., "Federated Unlearning with Gradient Descent and Conflict
Mitigation", AAAI 2025 (FedOSD). Three parts:

1. a *bounded* unlearning loss on the forget set, ``-log(1 - p_y / 2)`` (in [0, log 2];
   descending it drives ``p_y`` down without the unbounded blow-up of gradient ascent);
2. *orthogonal steepest descent*: the server projects the averaged forget update onto
   the orthogonal complement of the retain clients' gradients (so to first order no
   retain loss rises) and rescales it to the norm of the unprojected forget update;
3. *recovery* FedAvg rounds on the retain clients whose aggregated update is projected
   to remove any component pointing back towards the original model, so that the model
   does not drift back to what it forgot.

Supported granularities: samples, class, client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from fedforget.unlearning.base import Unlearner, register_unlearner
from fedforget.unlearning.combiners.base import Combiner
from fedforget.unlearning.procedure import ALL_GRANULARITIES, Procedure, register_procedure
from fedforget.unlearning.subspace import projection_metrics
from fedforget.util.seeding import derive_seed

if TYPE_CHECKING:  # pragma: no cover
    from fedforget.unlearning.context import RoundContext

Arrays = dict[str, Any]


def bounded_unlearning_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean of ``-log(1 - p_y / 2)``, computed stably as ``log 2 - log(2 - p_y)``."""
    p_y = F.softmax(logits, dim=1).gather(1, y.view(-1, 1)).squeeze(1)
    return (torch.log(torch.tensor(2.0)) - torch.log(2.0 - p_y)).mean()


@register_unlearner("fedosd")
class FedOSDObjective(Unlearner):
    """Client side: ``local_steps`` of SGD on the bounded unlearning loss."""

    granularities = ALL_GRANULARITIES

    def forget_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return bounded_unlearning_loss(model(x), y)


def remove_component_towards(update: torch.Tensor, towards: torch.Tensor) -> torch.Tensor:
    """Drop the part of ``update`` that points along ``towards`` (only when it does)."""
    u, v = update.to(torch.float64), towards.to(torch.float64)
    vv = float(v @ v)
    dot = float(u @ v)
    if vv == 0.0 or dot <= 0.0:
        return u
    return u - (dot / vv) * v


@register_procedure("fedosd")
class FedOSD(Procedure):
    granularities = ALL_GRANULARITIES

    def unlearn(self, ctx: RoundContext, original: Arrays) -> Arrays:
        uc = self.cfg.unlearning

        def osd_step(r: int, arrays: Arrays) -> tuple[Arrays, dict[str, Any]]:
            fupd, retain = ctx.collect_unlearn(arrays, derive_seed(ctx.root, "fedosd", r), extra_conf={"objective": "fedosd"})
            d = Combiner.weighted_mean(fupd)
            osd = d if retain is None else retain.project(d)  # the retain subspace (inside the sparsity mask)
            n = float(osd.norm())
            if n > 0:
                osd = osd * (float(d.norm()) / n)  # steepest descent, rescaled to the forget update's norm
            extra: dict[str, Any] = {"update_norm": float(osd.norm())}
            if retain is not None and retain.received:
                extra.update(projection_metrics(retain, osd))
            return ctx.apply_update(arrays, osd, uc.server_lr), extra

        arrays = ctx.loop.run("unlearn", uc.rounds, original, osd_step)
        if not uc.recovery_rounds:
            return arrays
        w_orig = ctx.flat(original)
        fedavg = ctx.fedavg_step("recover", ctx.retainers, uc.recovery_lr)

        def recover_step(r: int, arrays: Arrays) -> tuple[Arrays, dict[str, Any]]:
            new, info = fedavg(r, arrays)
            w = ctx.flat(arrays)
            u = remove_component_towards(ctx.flat(new) - w, w_orig - w)
            return ctx.apply_update(arrays, u), info

        return ctx.loop.run("recover", uc.recovery_rounds, arrays, recover_step)
