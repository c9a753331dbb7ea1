"""Quantization recovery (``quant_recovery``): does post-training quantization bring the
forgotten knowledge back? Zhang et al., "Catastrophic Failure of LLM Unlearning via
Quantization", ICLR 2025 (21% of forgotten knowledge retained at full precision, 83%
after 4-bit quantization; "Q-INT4" as a metric).

The model is quantized with round-to-nearest, symmetric, per output channel weights
(every parameter with two or more dimensions; biases stay float) at each of
``evaluation.quant_bits`` (default 8 and 4) and, in a compressed run, on the clients' own
grid (``compression.quantization``); ``fp`` is the unquantized model. For each grid:

* client side (scalars only): forget / retain correct counts and the binned LiRA logit of
  the forget set and of the held-out non-members (:mod:`fedforget.evaluation.histograms`);
* server side: test accuracy and backdoor ASR of the quantized model;
* summary: ``forget_acc``, ``retain_acc``, ``test_acc``, ``asr``, ``mia_auc`` (forget vs
  held-out from the summed histograms) and the forget-set histogram.

Read against the retrained model quantized the same way (``vs_retrained``): per grid the
gaps (model minus retrained) of forget accuracy, ASR and MIA AUC, ``auc_vs_retrained``
(telling the two models' forget-set phi histograms apart; 0.5 = indistinguishable) with
its ``indistinguishability`` (1 - 2|AUC - 0.5|), and ``recovery``: how much further from the
retrained model quantization moved the forget accuracy, ``|gap(grid)| - |gap(fp)|``
(> 0: the quantized model recovered forgotten knowledge the retrained one does not have).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from fedforget.compression.quant import QuantSpec, fake_quantize
from fedforget.config import ExperimentConfig
from fedforget.data.datasets import ArrayData
from fedforget.evaluation.evaluators.base import Evaluator, Scalars, register_evaluator, summed
from fedforget.evaluation.histograms import as_list, hist_auc, hist_scalars, phi_bins, summed_hist
from fedforget.training.local import accuracy_counts, predict_logits


def grids(cfg: ExperimentConfig) -> dict[str, QuantSpec | None]:
    """Name -> weight grid (None: full precision)."""
    out: dict[str, QuantSpec | None] = {"fp": None}
    for b in cfg.evaluation.quant_bits:
        out[f"int{b}"] = QuantSpec(b, per_channel=True, symmetric=True)
    qc = cfg.compression.quantization
    if qc.bits > 0:
        out["client"] = QuantSpec.from_config(qc)
    return out


@torch.no_grad()
def ptq_(model: nn.Module, spec: QuantSpec | None) -> nn.Module:
    """Round every weight (dim >= 2) of ``model`` to ``spec``'s grid, in place."""
    if spec is not None:
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(fake_quantize(p.detach(), spec))
    return model


@torch.no_grad()
def ptq_arrays(arrays: dict[str, Any], spec: QuantSpec | None) -> dict[str, Any]:
    """The same rounding on a model's arrays (float arrays with two or more dimensions)."""
    if spec is None:
        return arrays
    out = dict(arrays)
    for k, v in arrays.items():
        a = np.asarray(v)
        if a.ndim >= 2 and np.issubdtype(a.dtype, np.floating):
            out[k] = fake_quantize(torch.from_numpy(np.array(a, dtype=np.float32)), spec).numpy().astype(a.dtype)
    return out


def membership_counts(prefix: str, net: nn.Module, forget: ArrayData, retain: ArrayData,
                      heldout: ArrayData | None) -> Scalars:
    """Forget / retain correct counts and the phi histograms of forget and held-out data."""
    out: Scalars = {}
    for s, data in (("forget", forget), ("retain", retain)):
        c, n, _ = accuracy_counts(net, data)
        out[f"{prefix}{s}_correct"], out[f"{prefix}{s}_n"] = c, n
    for s, data in (("hf.", forget), ("hh.", heldout)):
        if data is not None and len(data):
            out.update(hist_scalars(prefix + s, phi_bins(predict_logits(net, data), torch.from_numpy(data.y))))
    return out


def membership_summary(replies: list[Scalars], prefix: str) -> dict[str, Any]:
    tot = summed(replies, prefix)
    hf, hh = summed_hist(replies, prefix + "hf."), summed_hist(replies, prefix + "hh.")
    return {
        "forget_acc": tot["forget_correct"] / tot["forget_n"] if tot.get("forget_n") else None,
        "retain_acc": tot["retain_correct"] / tot["retain_n"] if tot.get("retain_n") else None,
        "mia_auc": hist_auc(hf, hh),
        "hist_forget": as_list(hf),
    }


def gap(a: Any, b: Any) -> float | None:
    return None if a is None or b is None else float(a) - float(b)


def membership_gaps(m: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
    """One grid or step of a model against the retrained model's."""
    auc = hist_auc(np.asarray(m["hist_forget"]), np.asarray(r["hist_forget"]))
    return {"forget_acc_gap": gap(m.get("forget_acc"), r.get("forget_acc")),
            "asr_gap": gap(m.get("asr"), r.get("asr")),
            "mia_auc_gap": gap(m.get("mia_auc"), r.get("mia_auc")),
            "auc_vs_retrained": auc,
            "indistinguishability": None if auc is None else 1.0 - 2.0 * abs(auc - 0.5)}


@register_evaluator("quant_recovery")
class QuantRecovery(Evaluator):
    needs_heldout = True

    def client(self, cfg: ExperimentConfig, model: nn.Module, forget: ArrayData, retain: ArrayData, seed: int,
               heldout: ArrayData | None = None) -> Scalars:
        out: Scalars = {}
        for name, spec in grids(cfg).items():
            out.update(membership_counts(f"quant.{name}.", ptq_(copy.deepcopy(model), spec), forget, retain, heldout))
        return out

    def summarise(self, cfg: ExperimentConfig, replies: list[Scalars]) -> dict[str, Any]:
        return {"grids": {name: membership_summary(replies, f"quant.{name}.") for name in grids(cfg)}}

    def server(self, cfg: ExperimentConfig, arrays: dict[str, Any],
               server_eval: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        per = {name: server_eval(ptq_arrays(arrays, spec)) for name, spec in grids(cfg).items()}
        return {"server": {name: {"test_acc": v["test_acc"], "asr": v["asr"]} for name, v in per.items()}}

    def vs_retrained(self, block: dict[str, Any], retrained: dict[str, Any]) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for name, m in block.get("grids", {}).items():
            r = retrained["grids"].get(name)
            if r is None:
                continue
            m = {**m, **block.get("server", {}).get(name, {})}
            r = {**r, **retrained.get("server", {}).get(name, {})}
            out[name] = membership_gaps(m, r)
        fp = out.get("fp", {}).get("forget_acc_gap")
        for g in out.values():
            g["recovery"] = (None if fp is None or g["forget_acc_gap"] is None
                             else abs(g["forget_acc_gap"]) - abs(fp))
        return out
