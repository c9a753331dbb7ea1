"""What a server-side unlearning procedure sees of the run: :class:`RoundContext`.

Procedures (:mod:`fedforget.unlearning.procedure`) are typed against this protocol, never
against the concrete :class:`~fedforget.run.experiment.Experiment` that implements it, so
the methods sit below the run with no import of it (not even a type-only one). A test
double or another run implementation only has to provide these members.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch

from fedforget.config import ExperimentConfig
from fedforget.federation import Arrays, Scalars

Step = Callable[[int, Arrays], tuple[Arrays, dict[str, Any]]]
Replies = dict[int, tuple[Arrays, Scalars]]


class Rounds(Protocol):
    """The round loop as procedures use it (:class:`~fedforget.run.loop.RoundLoop`)."""

    def run(self, phase: str, rounds: int, arrays: Arrays, step: Step, *, start: int = 0,
            evaluate_last: bool = True) -> Arrays: ...


class RoundContext(Protocol):
    """The building blocks of a procedure: the config, the loop, the participants and the
    round steps of the run (FedAvg, unlearning exchange, update, recovery, retraining)."""

    cfg: ExperimentConfig
    root: int  # the root seed
    storage: Path  # where a method keeps what it stores during training
    init: Arrays  # the initial model
    everyone: list[int]

    @property
    def loop(self) -> Rounds: ...

    @property
    def forgetters(self) -> list[int]: ...

    @property
    def retainers(self) -> list[int]: ...

    def flat(self, arrays: Arrays) -> torch.Tensor: ...

    def apply_update(self, arrays: Arrays, update: torch.Tensor, scale: float = 1.0) -> Arrays: ...

    def fit_clients(self, phase: str, r: int, arrays: Arrays, participants: list[int], lr: float, *,
                    seed_phase: str | None = None, extra_conf: Scalars | None = None) -> Replies: ...

    def fedavg_step(self, phase: str, participants: list[int], lr: float, *, seed_phase: str | None = None,
                    extra_conf: Scalars | None = None, observe: bool | None = None) -> Step: ...

    def collect_unlearn(
        self, arrays: Arrays, seed: int, *, forgetters: list[int] | None = None, retainers: list[int] | None = None,
        extra_arrays: Arrays | None = None, extra_conf: Scalars | None = None,
    ) -> tuple[list[tuple[torch.Tensor, float]], Any]: ...  # (forget updates, retain subspace or None)

    def unlearn_step(self, combiner: str | None = None, objective: str | None = None, seed_key: str = "unlearn",
                     extra_conf: Scalars | None = None, forgetters: list[int] | None = None,
                     extra_arrays: Arrays | None = None) -> Step: ...

    def recover(self, arrays: Arrays, phase: str = "recover") -> Arrays: ...

    def retrain(self) -> Arrays: ...

    def serve_pending(self, arrays: Arrays) -> Arrays: ...
