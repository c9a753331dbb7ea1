"""Relearning attack: is the forgotten knowledge deleted or only suppressed?

Fine-tune the model for ``evaluation.relearn.steps`` SGD steps on a small slice of each
client's forget set (``fraction``; or on its retain data with ``data: retain``) and
measure, every ``every`` steps, the accuracy on the rest of the forget set. Suppressed
knowledge comes back within a few steps; deleted knowledge returns no faster than it
does for the retrained model, which never saw it. Compare the curves of the unlearned and
the retrained model (and the original's level: ``steps_to_recover`` = first step where
forget accuracy reaches ``recovered`` x the original model's).

References: Lynch et al., "Eight Methods to Evaluate Robust Unlearning in LLMs", 2024;
Hu et al., "Jogging the Memory of Unlearned LLMs Through Targeted Relearning Attacks",
ICLR 2025; Hayes et al., "Inexact unlearning needs more careful evaluations", SaTML 2025.

Federated: each forget client fine-tunes a copy of the received model on its own data and
returns only correct counts per checkpoint; the fine-tuned model never leaves it.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from torch import nn

from fedforget.config import ExperimentConfig
from fedforget.data.datasets import ArrayData
from fedforget.evaluation.evaluators.base import Evaluator, Scalars, register_evaluator, summed
from fedforget.training.local import accuracy_counts, local_sgd
from fedforget.util.seeding import np_rng, torch_gen


def checkpoints(steps: int, every: int) -> list[int]:
    return sorted({0, *range(every, steps + 1, every), steps})


def relearn_split(forget: ArrayData, retain: ArrayData, fraction: float, data: str, seed: int) -> tuple[ArrayData, ArrayData]:
    """(fine-tuning data, evaluation data) of one client."""
    if data == "retain":
        return retain, forget
    order = np_rng(seed, "relearn-split").permutation(len(forget))
    k = max(1, int(round(fraction * len(forget)))) if len(forget) > 1 else 0
    return forget.take(np.sort(order[:k])), forget.take(np.sort(order[k:]))


def steps_to_recover(curve: dict[str, float], target: float) -> int | None:
    """First checkpoint whose accuracy reaches ``target`` (None: not within the budget)."""
    for step in sorted(curve, key=int):
        if curve[step] >= target:
            return int(step)
    return None


@register_evaluator("relearn")
class Relearn(Evaluator):
    def client(self, cfg: ExperimentConfig, model: nn.Module, forget: ArrayData, retain: ArrayData, seed: int) -> Scalars:
        rc = cfg.evaluation.relearn
        tune, test = relearn_split(forget, retain, rc.fraction, rc.data, seed)
        if len(forget) == 0 or len(tune) == 0 or len(test) == 0:
            return {"relearn.n": 0}
        net = copy.deepcopy(model)
        out: Scalars = {"relearn.n": len(test)}
        done = 0
        gen = torch_gen(seed, "relearn")
        for step in checkpoints(rc.steps, rc.every):
            if step > done:
                local_sgd(net, tune, lr=rc.lr, batch_size=cfg.training.batch_size, gen=gen, max_steps=step - done)
                done = step
            out[f"relearn.correct.{step}"] = accuracy_counts(net, test)[0]
        return out

    def summarise(self, cfg: ExperimentConfig, replies: list[Scalars]) -> dict[str, Any]:
        rc = cfg.evaluation.relearn
        n = sum(float(m.get("relearn.n", 0)) for m in replies)
        if n == 0:
            return {"curve": {}, "n": 0}
        correct = summed(replies, "relearn.correct.")
        curve = {str(s): correct.get(str(s), 0.0) / n for s in checkpoints(rc.steps, rc.every)}
        return {"curve": curve, "forget_acc_before": curve["0"], "forget_acc_after": curve[str(rc.steps)],
                "steps": rc.steps, "data": rc.data, "fraction": rc.fraction, "n": int(n)}


def add_steps_to_recover(models: dict[str, Any], cfg: ExperimentConfig, original_forget_acc: float | None) -> None:
    """``steps_to_recover`` for every model's relearn block, against the original model."""
    if original_forget_acc is None:
        return
    target = cfg.evaluation.relearn.recovered * original_forget_acc
    for m in models.values():
        block = m.get("evaluators", {}).get("relearn")
        if block and block.get("curve"):
            block["recover_target"] = target
            block["steps_to_recover"] = steps_to_recover(block["curve"], target)
