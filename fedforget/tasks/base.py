"""The ``Task`` role: the per-sample loss, the per-sample membership signals and the
accuracy counts of one kind of learning problem, from a model's outputs and the targets.

A task is stateless; :func:`get_task` returns an instance. Every signal is "higher means
more likely a member" (as :mod:`fedforget.evaluation.attacks`), computed in float64 from
the model's raw outputs on the client; only signal vectors and counts travel.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from fedforget.util.errors import ConfigError
from fedforget.util.registry import Registry


class Task:
    """Override the four hooks. ``outputs``: what the model returns for a batch
    (classification: logits (n, C); causal LM: logits (n, T, V)); ``batch``: the task's
    targets (classification: labels (n,); causal LM: ``{"input_ids", "attention_mask"}``)."""

    name: ClassVar[str] = ""
    signal_names: ClassVar[tuple[str, ...]] = ()

    def forward(self, model: torch.nn.Module, inputs: object) -> torch.Tensor:
        """The model's raw outputs (logits) on a batch of inputs."""
        raise NotImplementedError

    def loss(self, outputs: torch.Tensor, batch: object) -> torch.Tensor:
        """The training objective of a batch (a scalar, differentiable)."""
        raise NotImplementedError

    def per_sample_loss(self, outputs: torch.Tensor, batch: object) -> torch.Tensor:
        """One loss per sample, shape (n,), differentiable."""
        raise NotImplementedError

    def signals(self, names: tuple[str, ...] | list[str], outputs: torch.Tensor, batch: object,
                **extra: object) -> dict[str, np.ndarray]:
        """Every named per-sample membership signal, float64 arrays of shape (n,)."""
        raise NotImplementedError

    def accuracy_counts(self, outputs: torch.Tensor, batch: object) -> tuple[int, int]:
        """(correct, total) predictions in the batch."""
        raise NotImplementedError


TASKS: Registry[type[Task]] = Registry("task", "fedforget.tasks")
register_task = TASKS.register


def get_task(name: str) -> Task:
    """A fresh instance of the registered task ``name`` (a RegistryError lists the known ones)."""
    return TASKS.get(name)()


def unknown_signal(task: str, name: str, known: tuple[str, ...]) -> ConfigError:
    return ConfigError(
        f"evaluation signal {name!r} is not defined for task {task!r}; signals of {task}: "
        f"{', '.join(known)}; pick one of them or an attack that supports {task}"
    )
