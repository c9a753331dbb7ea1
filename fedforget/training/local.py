"""The one local optimisation loop. Training, retraining, recovery and every unlearning
objective call :func:`local_sgd` with their own loss; nothing else loops over batches."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from fedforget.data.datasets import ArrayData
from fedforget.training.optim import SGD
from fedforget.util.device import as_cpu, model_device, to_device

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
StepHook = Callable[[nn.Module], None]


def cross_entropy_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(x), y)


def batches(
    data: ArrayData, batch_size: int, gen: torch.Generator | None, device: torch.device | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Shuffled mini-batches (a plain index permutation: no DataLoader worker overhead) on
    ``device`` (pass the model's, :func:`fedforget.util.device.model_device`). The permutation
    is drawn on the CPU from ``gen``, so every device sees the same batches; the data
    moves to the device once, not per batch."""
    n = len(data)
    order = torch.randperm(n, generator=gen) if gen is not None else torch.arange(n)
    x, y, order = to_device((torch.tensor(data.x), torch.tensor(data.y), order), device)
    for s in range(0, n, batch_size):
        idx = order[s : s + batch_size]
        yield x[idx], y[idx]


def local_sgd(
    model: nn.Module,
    data: ArrayData,
    *,
    loss_fn: LossFn = cross_entropy_loss,
    lr: float,
    batch_size: int,
    gen: torch.Generator,
    epochs: int = 1,
    max_steps: int | None = None,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    post_step: StepHook | None = None,
    max_grad_norm: float | None = None,
) -> dict[str, float]:
    """SGD on ``loss_fn`` over ``data``: ``epochs`` passes, or exactly ``max_steps`` steps
    (cycling through the data) when given. ``post_step`` runs after every optimiser step
    (re-applying sparsity masks, for instance); ``max_grad_norm`` clips each step's gradient
    norm. Returns steps and mean loss."""
    if len(data) == 0:
        return {"steps": 0.0, "loss": float("nan")}
    model.train()
    opt = SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)  # = torch.optim.SGD, minus its import
    steps, total = 0, 0.0
    epoch = 0
    device = model_device(model)
    while True:
        for xb, yb in batches(data, batch_size, gen, device):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model, xb, yb)
            loss.backward()
            if max_grad_norm:  # stability: bounded step size whatever the objective
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            opt.step()
            if post_step is not None:
                post_step(model)
            steps += 1
            total += float(loss.detach())
            if max_steps is not None and steps >= max_steps:
                return {"steps": float(steps), "loss": total / steps}
        epoch += 1
        if max_steps is None and epoch >= epochs:
            return {"steps": float(steps), "loss": total / max(steps, 1)}


@torch.no_grad()
def predict_logits(model: nn.Module, data: ArrayData, batch_size: int = 512) -> torch.Tensor:
    """Logits of ``model`` on ``data``, computed on the model's device and returned on the
    CPU (attack signals, counts and labels are CPU-side)."""
    model.eval()
    if len(data) == 0:
        return torch.zeros(0, data.num_classes)
    outs = [model(xb) for xb, _ in batches(data, batch_size, None, model_device(model))]
    return as_cpu(torch.cat(outs))


def accuracy_counts(model: nn.Module, data: ArrayData) -> tuple[int, int, float]:
    """(correct, n, summed cross-entropy) on ``data``."""
    if len(data) == 0:
        return 0, 0, 0.0
    logits = predict_logits(model, data)
    y = torch.tensor(data.y)
    correct = int((logits.argmax(1) == y).sum())
    loss = float(F.cross_entropy(logits, y, reduction="sum"))
    return correct, len(data), loss
