"""Report sections on the adversarial evaluations (drawn from results.json): the
before/after attack, quantization recovery and retain-only relearning, each beside the
retrained model treated the same way (docs/evaluation.md, "Evaluations an adversary would
run")."""

from __future__ import annotations

from typing import Any

from fedforget.report.fmt import fmt as _f


def _section(title: str, header: str, rows: list[str], note: str) -> list[str]:
    """One report section: a titled table (``header`` names the columns) and its reading note;
    nothing when there are no rows."""
    if not rows:
        return []
    cols = header.count("|") - 1
    return ["", f"## {title}", "", header, "|" + "---|" * cols, *rows, "\n" + note]


def _before_after(models: dict[str, Any]) -> list[str]:
    rows = [f"| original -> {n} | {s} | {_f(b[s]['members'].get('auc'))} | {_f(b[s]['nonmembers'].get('auc'))} | "
            f"{_f(b[s]['all'].get('auc'))} | {_f(b[s]['all'].get('tpr_at_1pct_fpr'))} | "
            f"{_f(b[s]['all'].get('tpr_at_0.1pct_fpr'))} |"
            for n, m in models.items() if (b := m.get("before_after")) for s in ("loss_diff", "lr")]
    return _section(
        "Before/after attack (original model -> this model)",
        "| pair | score | AUC vs kept members | AUC vs non-members | AUC vs both | TPR@1% FPR | TPR@0.1% FPR |", rows,
        "How well the change between the two global models singles out the deleted samples; "
        "the original -> retrained pair is the reference (retraining also moves on them).")


def _quant(models: dict[str, Any]) -> list[str]:
    rows = []
    for n, m in models.items():
        b = m.get("evaluators", {}).get("quant_recovery")
        for g, v in (b or {}).get("grids", {}).items():
            srv = b.get("server", {}).get(g, {})
            vs = b.get("vs_retrained", {}).get(g, {})
            rows.append(f"| {n} | {g} | {_f(v.get('forget_acc'), True)} | {_f(v.get('retain_acc'), True)} | "
                        f"{_f(srv.get('test_acc'), True)} | {_f(srv.get('asr'), True)} | {_f(v.get('mia_auc'))} | "
                        f"{_f(vs.get('forget_acc_gap'))} | {_f(vs.get('recovery'))} |")
    return _section(
        "Quantization recovery (post-training round-to-nearest, per output channel)",
        "| model | grid | forget acc % | retain acc % | test acc % | ASR % | MIA AUC | forget gap | recovery |", rows,
        "Gaps are against the retrained model quantized the same way; recovery > 0: quantization "
        "moved the model further from it (forgotten knowledge came back).")


def _relearn_retain(models: dict[str, Any]) -> list[str]:
    rr = {n: m["evaluators"]["relearn_retain"] for n, m in models.items()
          if m.get("evaluators", {}).get("relearn_retain", {}).get("curve")}
    if not rr:
        return []
    rounds = list(next(iter(rr.values()))["curve"])
    rows = []
    for n, b in rr.items():
        gaps = b.get("vs_retrained", {}).get("curve", {})
        cells = [f"{_f(b['curve'][r].get('forget_acc'), True)} ({_f(gaps.get(r, {}).get('forget_acc_gap'))})" for r in rounds]
        rows.append(f"| {n} | " + " | ".join(cells) + f" | {_f(b.get('asr_after'), True)} | {_f(b.get('mia_auc_after'))} |")
    return _section(
        "Retain-only relearning (FedAvg rounds on retain data; forget acc %, gap to retrained)",
        "| model | " + " | ".join(f"round {r}" for r in rounds) + " | ASR % after | MIA AUC after |", rows,
        "A method that only suppressed the forgotten knowledge regains it while training on retain "
        "data; the retrained model does not.")


def adversary_sections(res: dict[str, Any]) -> list[str]:
    models = res["models"]
    return _before_after(models) + _quant(models) + _relearn_retain(models)
