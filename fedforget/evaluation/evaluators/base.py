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

from collections.abc import Callable
from typing import Any, ClassVar

from torch import nn

from fedforget.config import ExperimentConfig
from fedforget.data.datasets import ArrayData
from fedforget.util.registry import Registry

Scalars = dict[str, Any]


class Evaluator:
    # client() also takes ``heldout=`` (the client's held-out non-members) when set
    needs_heldout: ClassVar[bool] = False

    def client(self, cfg: ExperimentConfig, model: nn.Module, forget: ArrayData, retain: ArrayData, seed: int) -> Scalars:
        raise NotImplementedError

    def summarise(self, cfg: ExperimentConfig, replies: list[Scalars]) -> dict[str, Any]:
        raise NotImplementedError

    def run(self, cfg: ExperimentConfig, fed: Any, arrays: dict[str, Any], conf: Scalars,
            server_eval: Callable[[dict[str, Any]], dict[str, Any]] | None,
            fine_tune: Callable[[int, dict[str, Any]], dict[str, Any]] | None) -> dict[str, Any]:
        """Server side of one model: by default one ``evaluate`` exchange (``conf``), the
        summary and the server part. ``fine_tune(r, arrays)`` runs round ``r`` of
        retain-only federated fine-tuning (for evaluators that follow a model over rounds)."""
        replies = fed.send("evaluate", {p: (arrays, conf) for p in fed.partitions()})
        out = self.summarise(cfg, [m for _, m in replies.values()])
        if server_eval is not None:
            out.update(self.server(cfg, arrays, server_eval))
        return out

    def server(self, cfg: ExperimentConfig, arrays: dict[str, Any],
               server_eval: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        """Optional server-side part (test accuracy, backdoor ASR of a transformed model);
        merged into the evaluator's block."""
        return {}

    def vs_retrained(self, block: dict[str, Any], retrained: dict[str, Any]) -> dict[str, Any] | None:
        """Optional: this model's block read against the retrained model's (gaps);
        stored as the block's ``vs_retrained``."""
        return None


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


def run_evaluators(cfg: ExperimentConfig, fed: Any, arrays: dict[str, Any], model_name: str,
                   server_eval: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                   fine_tune: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None) -> dict[str, Any]:
    """Server side: every evaluator of ``evaluation.evaluators`` on one model (one
    ``evaluate`` exchange each, ``evaluator=<name>``); returns ``{name: summary}``.
    ``server_eval`` (arrays -> test accuracy and ASR) feeds the evaluators' server part;
    ``fine_tune`` is passed to :meth:`Evaluator.run`."""
    from fedforget.util.seeding import derive_seed

    out: dict[str, Any] = {}
    for name in cfg.evaluation.evaluators:
        ev = EVALUATORS.get(name)()
        conf = {"evaluator": name, "seed": derive_seed(cfg.runtime.seed, "evaluator", name)}
        out[name] = ev.run(cfg, fed, arrays, conf, server_eval, fine_tune)
    return out


def add_vs_retrained(models: dict[str, Any], cfg: ExperimentConfig) -> None:
    """Every evaluator block of the unlearned/original model read against the retrained
    model's (:meth:`Evaluator.vs_retrained`)."""
    ret = models.get("retrained", {}).get("evaluators", {})
    for name in cfg.evaluation.evaluators:
        ev = EVALUATORS.get(name)()
        for model in ("unlearned", "original", "retrained"):
            block = models.get(model, {}).get("evaluators", {}).get(name)
            if block and name in ret:
                cmp = ev.vs_retrained(block, ret[name])
                if cmp is not None:
                    block["vs_retrained"] = cmp
