"""Projected gradient ascent: ascent on the forget client's loss kept inside an L2 ball
around a reference model, then recovery rounds.

Halimi, Kadhe, Rawat & Baracaldo, "Federated Unlearning: How to Efficiently Erase a
Client in FL?", 2022 (arXiv:2207.05521). The reference model is the average of the
*other* clients' local models of the last training round,
``w_ref = (N w_T - w_i) / (N - 1)`` (here weighted by sample counts, as FedAvg
weights them); the server keeps those models from the last training round
(``<storage>/projected_ga/last-round.npz``). Unlearning starts from ``w_ref``; the
client to be erased runs projected gradient ascent on its loss, every step projected back
into the ball of radius ``delta = radius_fraction * ||w_ref - w_init||`` around
``w_ref`` (the paper uses one third of the distance to a random model), for
``unlearning.rounds`` rounds of ``local_steps`` steps. ``unlearning.recovery_rounds``
FedAvg rounds on the remaining clients follow.

Supported granularities: client (the reference model removes a whole client's
contribution).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fedforget.data.datasets import ArrayData
from fedforget.training.local import local_sgd
from fedforget.unlearning.base import Unlearner, register_unlearner
from fedforget.unlearning.combiners.base import Combiner
from fedforget.unlearning.procedure import Procedure, register_procedure
from fedforget.util.errors import FedForgetError
from fedforget.util.io import atomic_save_npz, load_npz
from fedforget.util.params import flat_params, set_flat_params, weighted_average
from fedforget.util.seeding import derive_seed

if TYPE_CHECKING:  # pragma: no cover
    from fedforget.unlearning.context import RoundContext

Arrays = dict[str, Any]


def project_to_ball(w: torch.Tensor, center: torch.Tensor, radius: float) -> torch.Tensor:
    """Euclidean projection of ``w`` onto the L2 ball ``{v : ||v - center|| <= radius}``."""
    d = w - center
    n = float(d.norm())
    return w if n <= radius else center + d * (radius / n)


@register_unlearner("projected_ga")
class ProjectedAscent(Unlearner):
    """Client side: gradient ascent on cross-entropy, each step projected into the ball
    around ``self.reference`` of radius ``options['radius']``."""

    granularities = frozenset({"client"})

    def forget_update(
        self, model: nn.Module, forget: ArrayData, retain: ArrayData | None, gen: torch.Generator
    ) -> torch.Tensor:
        if self.reference is None or "radius" not in self.options:
            raise FedForgetError("projected_ga needs the reference model (ref.*) and opt.radius from the server")
        center = flat_params(self.reference).clone()
        radius = float(self.options["radius"])
        before = flat_params(model).clone()

        def project(m: nn.Module) -> None:
            set_flat_params(m, project_to_ball(flat_params(m), center, radius))

        local_sgd(model, forget, loss_fn=lambda m, x, y: -F.cross_entropy(m(x), y), lr=self.cfg.lr,
                  batch_size=self.cfg.batch_size, gen=gen, max_steps=self.cfg.local_steps, post_step=project)
        return flat_params(model) - before


@register_procedure("projected_ga")
class ProjectedGA(Procedure):
    granularities = frozenset({"client"})

    def stores_during_training(self) -> str:
        return "projected_ga:last-round"

    @staticmethod
    def path(ctx: RoundContext) -> Path:
        return Path(ctx.storage) / "projected_ga" / "last-round.npz"

    def on_train_round(self, ctx: RoundContext, r: int, before: Arrays, replies: dict[int, tuple[Arrays, Any]]) -> None:
        if r != self.cfg.training.rounds - 1:
            return
        rec: dict[str, np.ndarray] = {}
        for p, (a, m) in replies.items():
            rec.update({f"model.{p}.{k}": np.asarray(v) for k, v in a.items()})
            rec[f"n.{p}"] = np.asarray(float(m["num_examples"]))
        atomic_save_npz(self.path(ctx), rec)

    def reference(self, ctx: RoundContext) -> Arrays:
        if not self.path(ctx).exists():
            raise FedForgetError(
                f"projected_ga found no last-round client models at {self.path(ctx)}; the server stores them "
                "during training, so train with unlearning.method=projected_ga (or through fedforget compare)"
            )
        z = load_npz(self.path(ctx))
        gone = set(ctx.forgetters)
        models, weights = [], []
        for key, n in z.items():
            if key.startswith("n.") and int(key[2:]) not in gone and float(n) > 0:
                pre = f"model.{int(key[2:])}."
                models.append({k[len(pre):]: v for k, v in z.items() if k.startswith(pre)})
                weights.append(float(n))
        if not models:
            raise FedForgetError("projected_ga: no remaining client took part in the last training round")
        return weighted_average(models, weights)

    def unlearn(self, ctx: RoundContext, original: Arrays) -> Arrays:
        uc = self.cfg.unlearning
        ref = self.reference(ctx)
        center = ctx.flat(ref)
        radius = uc.projected_ga.radius_fraction * float((center - ctx.flat(ctx.init)).norm())
        ref_payload = {f"ref.{k}": v for k, v in ref.items()}

        def step(r: int, arrays: Arrays) -> tuple[Arrays, dict[str, Any]]:
            fupd, _ = ctx.collect_unlearn(
                arrays, derive_seed(ctx.root, "projected_ga", r), retainers=[], extra_arrays=ref_payload,
                extra_conf={"objective": "projected_ga", "opt.radius": radius},
            )
            new = ctx.flat(arrays) + Combiner.weighted_mean(fupd).to(torch.float64)
            new = project_to_ball(new, center, radius)  # a mean of ball points stays inside; guard rounding
            return ctx.apply_update(arrays, new - ctx.flat(arrays)), {"dist_to_ref": float((new - center).norm()), "radius": radius}

        arrays = ctx.loop.run("unlearn", uc.rounds, ref, step)
        return ctx.recover(arrays)
