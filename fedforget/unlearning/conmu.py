"""ConMU: controllable unlearning with one knob over privacy, utility and runtime.

Liu, Dou, Tian, Jiang et al., "Breaking the Trilemma of Privacy, Utility, and Efficiency
via Controllable Machine Unlearning", The Web Conference (WWW) 2024 (ConMU). Three
modules, in a federated form:

* **important-data selection**: each retain client keeps only the share ``control`` of
  its retain data with the largest loss under the current model (selection happens on
  the client; the data never leaves it);
* **unlearning proxy**: a model trained by FedAvg from the initial weights on that
  selected retain data for ``max(1, round(control * training.rounds))`` rounds; it has
  never seen the forget data and stands in for the retrained model. Forget clients then
  pull the trained model's predictions on their forget set towards the proxy's
  (``local_steps`` of SGD on ``KL(proxy || model)``) for ``unlearning.rounds`` rounds;
* **progressive Gaussian mechanism**: Gaussian noise of std
  ``noise * (1 - control) * (1 - r / rounds)`` is added to every aggregated unlearning
  update (strong first, fading), blurring what the update reveals about the forget set.

``unlearning.conmu.control`` in (0, 1] is the one knob: higher means more selected data
and proxy rounds (utility and runtime up) and less noise (privacy down). Recovery rounds
follow as for every method. The paper's ConMU is centralised; this is its federated
adaptation, using only the messages every fedforget client already answers.

With ``unlearning.calibration: target`` the distillation acts per sample only while the
sample's true-class confidence is above the non-member level (a calibrated ConMU,
fedforget.unlearning.calibration).

Supported granularities: samples, class, client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from fedforget.unlearning.base import Unlearner, register_unlearner
from fedforget.unlearning.calibration import masked_mean
from fedforget.unlearning.combiners.base import Combiner
from fedforget.unlearning.procedure import ALL_GRANULARITIES, Procedure, register_procedure
from fedforget.util.errors import FedForgetError
from fedforget.util.seeding import derive_seed, torch_gen

if TYPE_CHECKING:  # pragma: no cover
    from fedforget.unlearning.context import RoundContext

Arrays = dict[str, Any]


@register_unlearner("conmu")
class ProxyDistillation(Unlearner):
    """Client side: ``KL(proxy(x) || model(x))`` on the forget set (proxy = ``reference``)."""

    granularities = ALL_GRANULARITIES

    def forget_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.reference is None:
            raise FedForgetError("conmu needs the unlearning proxy (ref.* arrays) from the server")
        self.reference.eval()
        with torch.no_grad():
            target = F.log_softmax(self.reference(x), dim=1)
        logits = model(x)
        if self.calibrated:  # distil only the samples that still look like members
            kl = F.kl_div(F.log_softmax(logits, dim=1), target, log_target=True, reduction="none").sum(1)
            return masked_mean(kl, self.active(logits, y))
        return F.kl_div(F.log_softmax(logits, dim=1), target, log_target=True, reduction="batchmean")


@register_procedure("conmu")
class ConMU(Procedure):
    granularities = ALL_GRANULARITIES

    def proxy_rounds(self) -> int:
        return max(1, round(self.cfg.unlearning.conmu.control * self.cfg.training.rounds))

    def unlearn(self, ctx: RoundContext, original: Arrays) -> Arrays:
        uc, cc = self.cfg.unlearning, self.cfg.unlearning.conmu
        proxy = ctx.loop.run(
            "conmu-proxy", self.proxy_rounds(), ctx.init,
            ctx.fedavg_step("conmu-proxy", ctx.retainers, self.cfg.training.lr, extra_conf={"select_fraction": cc.control}),
        )
        ref = {f"ref.{k}": v for k, v in proxy.items()}
        sigma0 = cc.noise * (1.0 - cc.control)

        def step(r: int, arrays: Arrays) -> tuple[Arrays, dict[str, Any]]:
            fupd, _ = ctx.collect_unlearn(arrays, derive_seed(ctx.root, "conmu", r), retainers=[],
                                          extra_arrays=ref, extra_conf={"objective": "conmu"})
            d = Combiner.weighted_mean(fupd).to(torch.float64)
            sigma = sigma0 * (1.0 - r / uc.rounds)
            if sigma > 0:
                d = d + sigma * torch.randn(d.shape, generator=torch_gen(ctx.root, "conmu-noise", r), dtype=torch.float64)
            return ctx.apply_update(arrays, d, uc.server_lr), {"update_norm": float(d.norm()), "noise_std": sigma}

        arrays = ctx.loop.run("unlearn", uc.rounds, original, step)
        return ctx.recover(arrays)
