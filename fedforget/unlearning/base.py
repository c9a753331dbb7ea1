"""The ``Unlearner`` role: what a client holding a forget set computes in an unlearning round.

A method overrides :meth:`Unlearner.forget_loss` (the objective minimised on the forget
set) and, rarely, :meth:`Unlearner.forget_update`. Register it in its own file::

    @register_unlearner("my_method")
    class MyMethod(Unlearner):
        granularities = frozenset({"samples", "client"})
        def forget_loss(self, model, x, y): ...
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from fedforget.config import UnlearningConfig
from fedforget.data.datasets import ArrayData
from fedforget.training.local import batches, cross_entropy_loss, local_sgd
from fedforget.unlearning.calibration import has_targets, hinge_mask
from fedforget.util.device import model_device
from fedforget.util.params import flat_grad, flat_params
from fedforget.util.registry import Registry


class Unlearner:
    """Base class: the forgetting update is ``local_steps`` of SGD on :meth:`forget_loss`."""

    granularities: ClassVar[frozenset[str]] = frozenset({"samples", "class", "client"})
    # Which reference statistic decides whether a forget sample still looks like a member
    # under ``unlearning.calibration: target`` (fedforget.unlearning.calibration).
    calibrated_on: ClassVar[str] = "confidence"
    # Whether the objective has a settling variant (``opt.settle``: pull over-unlearned
    # samples back to the non-member level; fedforget.unlearning.calibration).
    can_settle: ClassVar[bool] = False

    def __init__(self, cfg: UnlearningConfig) -> None:
        self.cfg = cfg
        # Reference weights a server procedure may send along (``ref.*`` arrays): the
        # L2-ball centre of projected_ga, the unlearning proxy of conmu. None otherwise.
        self.reference: nn.Module | None = None
        self.options: dict[str, Any] = {}  # per-round scalars a procedure sends as ``opt.<name>``

    @property
    def calibrated(self) -> bool:
        """True when this round runs the retain-matched (calibrated) objective: the config
        asks for it and the server sent the reference statistics."""
        return self.cfg.calibration == "target" and has_targets(self.options)

    def active(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Float mask of the samples a calibrated objective still pushes (all ones when
        uncalibrated): those that still look like members (:func:`hinge_mask`)."""
        if not self.calibrated:
            return torch.ones(logits.shape[0], dtype=logits.dtype, device=logits.device)
        return hinge_mask(logits, y, self.options, self.calibrated_on)

    def forget_loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forget_update(
        self, model: nn.Module, forget: ArrayData, retain: ArrayData | None, gen: torch.Generator
    ) -> torch.Tensor:
        """Return the flat forgetting update (new weights minus old); ``model`` is consumed."""
        before = flat_params(model).clone()
        local_sgd(
            model, forget, loss_fn=self.forget_loss, lr=self.cfg.lr,
            batch_size=self.cfg.batch_size, gen=gen, max_steps=self.cfg.local_steps,
            max_grad_norm=self.cfg.max_grad_norm,
        )
        return flat_params(model) - before


UNLEARNERS: Registry[type[Unlearner]] = Registry("unlearning method", "fedforget.unlearning")
register_unlearner = UNLEARNERS.register


FULL_GRAD_CHUNK = 256  # samples per chunk of a retain client's full-data gradient


def retain_directions(
    model: nn.Module, retain: ArrayData, k: int, batch_size: int, gen: torch.Generator
) -> torch.Tensor:
    """Up to ``k`` retain-loss gradients (rows), one per random disjoint mini-batch, plus the
    full-data gradient as the first row. Shape ``(<=k, p)``, on the model's device; empty
    when ``retain`` is empty. The full-data gradient is accumulated over chunks of
    ``max(batch_size, FULL_GRAD_CHUNK)`` samples (each chunk's mean loss weighted by its share),
    never one pass over the whole retain set: the same gradient up to float rounding (bit for
    bit when the set fits one chunk), with activations bounded by the chunk."""
    if len(retain) == 0:
        return torch.zeros(0, flat_params(model).numel(), device=model_device(model))
    model.eval()  # deterministic gradients (no dropout); these are directions, not steps
    rows = []
    model.zero_grad(set_to_none=True)
    device = model_device(model)
    n = len(retain)
    for xb, yb in batches(retain, max(batch_size, FULL_GRAD_CHUNK), None, device):  # in order
        loss = cross_entropy_loss(model, xb, yb)
        (loss if len(yb) == n else loss * (len(yb) / n)).backward()  # .grad accumulates
    rows.append(flat_grad(model).clone())
    for xb, yb in batches(retain, batch_size, gen, device):
        if len(rows) >= k:
            break
        model.zero_grad(set_to_none=True)
        cross_entropy_loss(model, xb, yb).backward()
        rows.append(flat_grad(model).clone())
    model.zero_grad(set_to_none=True)
    return torch.stack(rows)
