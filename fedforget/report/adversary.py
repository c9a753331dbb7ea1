"""Report sections on the adversarial evaluations (drawn from results.json): the
before/after attack, quantization recovery and retain-only relearning, each beside the
retrained model treated the same way (docs/evaluation.md, "Evaluations an adversary would
run")."""

from __future__ import annotations

from typing import Any

from fedforget.report.fmt import fmt as _f


def _before_after(models: dict[str, Any]) -> list[str]:
    ba = {n: m["before_after"] for n, m in models.items() if m.get("before_after")}
    if not ba:
        return []
    lines = ["", "## Before/after attack (original model -> this model)", "",
             "| pair | score | AUC vs kept members | AUC vs non-members | AUC vs both | TPR@1% FPR | TPR@0.1% FPR |",
             "|---|---|---|---|---|---|---|"]
    for n, b in ba.items():
        for s in ("loss_diff", "lr"):
            g = b[s]
            lines.append(f"| original -> {n} | {s} | {_f(g['members'].get('auc'))} | {_f(g['nonmembers'].get('auc'))} | "
                         f"{_f(g['all'].get('auc'))} | {_f(g['all'].get('tpr_at_1pct_fpr'))} | "
                         f"{_f(g['all'].get('tpr_at_0.1pct_fpr'))} |")
    lines.append("\nHow well the change between the two global models singles out the deleted samples; "
                 "the original -> retrained pair is the reference (retraining also moves on them).")
    return lines


def _quant(models: dict[str, Any]) -> list[str]:
    q = {n: m["evaluators"]["quant_recovery"] for n, m in models.items()
         if m.get("evaluators", {}).get("quant_recovery")}
    if not q:
        return []
    lines = ["", "## Quantization recovery (post-training round-to-nearest, per output channel)", "",
             "| model | grid | forget acc % | retain acc % | test acc % | ASR % | MIA AUC | forget gap | recovery |",
             "|---|---|---|---|---|---|---|---|---|"]
    for n, b in q.items():
        for g, v in b["grids"].items():
            srv = b.get("server", {}).get(g, {})
            vs = b.get("vs_retrained", {}).get(g, {})
            lines.append(f"| {n} | {g} | {_f(v.get('forget_acc'), True)} | {_f(v.get('retain_acc'), True)} | "
                         f"{_f(srv.get('test_acc'), True)} | {_f(srv.get('asr'), True)} | {_f(v.get('mia_auc'))} | "
                         f"{_f(vs.get('forget_acc_gap'))} | {_f(vs.get('recovery'))} |")
    lines.append("\nGaps are against the retrained model quantized the same way; recovery > 0: quantization "
                 "moved the model further from it (forgotten knowledge came back).")
    return lines


def _relearn_retain(models: dict[str, Any]) -> list[str]:
    rr = {n: m["evaluators"]["relearn_retain"] for n, m in models.items()
          if m.get("evaluators", {}).get("relearn_retain", {}).get("curve")}
    if not rr:
        return []
    rounds = list(next(iter(rr.values()))["curve"])
    lines = ["", "## Retain-only relearning (FedAvg rounds on retain data; forget acc %, gap to retrained)", "",
             "| model | " + " | ".join(f"round {r}" for r in rounds) + " | ASR % after | MIA AUC after |",
             "|---|" + "---|" * (len(rounds) + 2)]
    for n, b in rr.items():
        gaps = b.get("vs_retrained", {}).get("curve", {})
        cells = [f"{_f(b['curve'][r].get('forget_acc'), True)} ({_f(gaps.get(r, {}).get('forget_acc_gap'))})" for r in rounds]
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {_f(b.get('asr_after'), True)} | {_f(b.get('mia_auc_after'))} |")
    lines.append("\nA method that only suppressed the forgotten knowledge regains it while training on retain "
                 "data; the retrained model does not.")
    return lines


def adversary_sections(res: dict[str, Any]) -> list[str]:
    models = res["models"]
    return _before_after(models) + _quant(models) + _relearn_retain(models)
