"""The ``Evaluator`` role: a check of a model that needs the clients' data (a relearning
attack, a representation probe). Two hooks:

* :meth:`Evaluator.client` (client side): given the model, the client's forget and retain
  sets and the experiment config, return *counts and statistics only* (scalars);
* :meth:`Evaluator.summarise` (server side): turn every client's scalars into the
  evaluator's block of ``results.json`` (``models.<model>.evaluators.<name>``).

Register one in its own file with ``@register_evaluator("name")`` and add the module to
``__all_modules__`` in ``fedforget/evaluation/evaluators/__init__.py``; it is then valid
in ``evaluation.evaluators``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from fedforget.config import ExperimentConfig
from fedforget.data.datasets import ArrayData
from fedforget.util.registry import Registry

Scalars = dict[str, Any]


class Evaluator:
    def client(self, cfg: ExperimentConfig, model: nn.Module, forget: ArrayData, retain: ArrayData, seed: int) -> Scalars:
        raise NotImplementedError

    def summarise(self, cfg: ExperimentConfig, replies: list[Scalars]) -> dict[str, Any]:
        raise NotImplementedError


EVALUATORS: Registry[type[Evaluator]] = Registry("evaluator", "fedforget.evaluation.evaluators")
register_evaluator = EVALUATORS.register


def summed(replies: list[Scalars], prefix: str) -> dict[str, float]:
    """Sum every scalar whose key starts with ``prefix`` over the clients' replies."""
    out: dict[str, float] = {}
    for m in replies:
        for k, v in m.items():
            if k.startswith(prefix):
                out[k[len(prefix):]] = out.get(k[len(prefix):], 0.0) + float(v)
    return out


def run_evaluators(cfg: ExperimentConfig, fed: Any, arrays: dict[str, Any], model_name: str) -> dict[str, Any]:
    """Server side: every evaluator of ``evaluation.evaluators`` on one model (one
    ``evaluate`` exchange each, ``evaluator=<name>``); returns ``{name: summary}``."""
    from fedforget.util.seeding import derive_seed

    out: dict[str, Any] = {}
    for name in cfg.evaluation.evaluators:
        ev = EVALUATORS.get(name)()
        conf = {"evaluator": name, "seed": derive_seed(cfg.runtime.seed, "evaluator", name)}
        replies = fed.send("evaluate", {p: (arrays, conf) for p in fed.partitions()})
        out[name] = ev.summarise(cfg, [m for _, m in replies.values()])
    return out
