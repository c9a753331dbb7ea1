"""Retain-only relearning (``relearn_retain``): does ordinary training on the data that
was *not* deleted bring the forgotten knowledge back? Relearning on the retain set alone
takes forget accuracy from ~50% to ~100% for several unlearning methods while a retrained
model stays at ~50% (arXiv 2505.22310); in a federation that is simply what the next
training rounds after a deletion do.

The model is fine-tuned with ``evaluation.relearn_retain_rounds`` rounds of FedAvg on the
clients' retain data only (phase ``relearn_retain``: one local epoch at
``evaluation.relearn.lr``, the federation's usual client sampling); before the first
and after every round each client reports, for the current global model, forget / retain
correct counts and the binned LiRA logit of its forget set and held-out non-members
(:mod:`fedforget.evaluation.histograms`; scalars only), and the server adds test
accuracy and backdoor ASR. Today's forget-data relearning attack stays the ``relearn``
evaluator.

``curve``: round -> ``forget_acc``, ``retain_acc``, ``test_acc``, ``asr``, ``mia_auc``.
``vs_retrained`` (the retrained model fine-tuned the same way, same seeds): per round the
gaps (model minus retrained) of forget accuracy, ASR and MIA AUC and the
indistinguishability of the forget-set phi histograms, plus ``forget_acc_gap_after``
(after the last round) and ``max_forget_acc_gap`` (largest in magnitude over the rounds, signed): a model whose
gap grows while it is fine-tuned on retain data had suppressed, not deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from fedforget.config import ExperimentConfig
from fedforget.data.datasets import ArrayData
from fedforget.evaluation.evaluators.base import Evaluator, Scalars, register_evaluator
from fedforget.evaluation.evaluators.quant_recovery import (
    membership_counts,
    membership_gaps,
    membership_summary,
)

PREFIX = "rr."


@register_evaluator("relearn_retain")
class RelearnRetain(Evaluator):
    needs_heldout = True

    def client(self, cfg: ExperimentConfig, model: nn.Module, forget: ArrayData, retain: ArrayData, seed: int,
               heldout: ArrayData | None = None) -> Scalars:
        return membership_counts(PREFIX, model, forget, retain, heldout)

    def summarise(self, cfg: ExperimentConfig, replies: list[Scalars]) -> dict[str, Any]:
        return membership_summary(replies, PREFIX)

    def run(self, cfg: ExperimentConfig, fed: Any, arrays: dict[str, Any], conf: Scalars,
            server_eval: Callable[[dict[str, Any]], dict[str, Any]] | None,
            fine_tune: Callable[[int, dict[str, Any]], dict[str, Any]] | None) -> dict[str, Any]:
        rounds = cfg.evaluation.relearn_retain_rounds if fine_tune is not None else 0
        curve: dict[str, Any] = {}
        for r in range(rounds + 1):
            if r:
                assert fine_tune is not None
                arrays = fine_tune(r, arrays)
            point = super().run(cfg, fed, arrays, conf, None, None)
            if server_eval is not None:
                ev = server_eval(arrays)
                point.update({"test_acc": ev["test_acc"], "asr": ev["asr"]})
            curve[str(r)] = point
        last = curve[str(rounds)]
        return {"curve": curve, "rounds": rounds, "forget_acc_before": curve["0"]["forget_acc"],
                "forget_acc_after": last["forget_acc"], "asr_after": last.get("asr"), "mia_auc_after": last["mia_auc"]}

    def vs_retrained(self, block: dict[str, Any], retrained: dict[str, Any]) -> dict[str, Any] | None:
        steps = {r: membership_gaps(m, retrained["curve"][r]) for r, m in block["curve"].items() if r in retrained["curve"]}
        if not steps:
            return None
        gaps = [g["forget_acc_gap"] for g in steps.values() if g["forget_acc_gap"] is not None]
        last = steps[max(steps, key=int)]
        return {"curve": steps, "forget_acc_gap_after": last["forget_acc_gap"], "asr_gap_after": last["asr_gap"],
                "mia_auc_gap_after": last["mia_auc_gap"], "indistinguishability_after": last["indistinguishability"],
                "max_forget_acc_gap": max(gaps, key=abs) if gaps else None}
