"""Report sections for membership inference across the federation (drawn from
results.json and roc_members.json): members audit, MIA-efficacy, unlearned vs retrained
forget-set scores, per-client results, shadow models, and the members ROC (log-log)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedforget.report.fmt import fmt
from fedforget.report.plots import plot_roc


def _f(v: Any, nd: int = 3) -> str:
    return fmt(v, nd=nd)


def mia_sections(res: dict[str, Any], out: Path) -> list[str]:
    models = res["models"]
    lines: list[str] = []
    fitted = [(n, a, v) for n, m in models.items() for a, v in m.get("mia", {}).items() if "balanced_acc_fitted" in v]
    if fitted:
        lines += ["", "Balanced accuracy with Song & Mittal's class-dependent thresholds fitted on reference data "
                  f"({fitted[0][2].get('threshold_source')}):", "",
                  "| model | attack | balanced acc (fitted thresholds) |", "|---|---|---|"]
        lines += [f"| {n} | {a} | {_f(v['balanced_acc_fitted'])} |" for n, a, v in fitted]
    if any("mia_members" in m for m in models.values()):
        lines += ["", "## Membership inference: training members (retain set) vs non-members", "",
                  "| model | attack | AUC | balanced acc | advantage | TPR@1%FPR | TPR@0.1%FPR | members | non-members |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for n, m in models.items():
            for a, v in m.get("mia_members", {}).items():
                lines.append(f"| {n} | {a} | {_f(v.get('auc'))} | {_f(v.get('balanced_acc'))} | {_f(v.get('advantage'))} | "
                             f"{_f(v.get('tpr_at_1pct_fpr'))} | {_f(v.get('tpr_at_0.1pct_fpr'))} | {v.get('n_members')} | {v.get('n_nonmembers')} |")
    eff = {n: m["mia_efficacy"] for n, m in models.items() if "mia_efficacy" in m}
    if eff:
        lines += ["", "## MIA-efficacy (SVC on true-class confidence, retain vs test; share of forget samples called non-members)", "",
                  "| model | MIA-efficacy | SVC train acc | fit samples per side | forget samples |", "|---|---|---|---|---|"]
        for n, e in eff.items():
            lines.append(f"| {n} | {_f(e.get('mia_efficacy'))} | {_f(e.get('svc_train_acc'))} | {e.get('n_fit_per_side')} | {e.get('n_forget')} |")
        lines.append("\nRead against the retrained row: the target is the retrained model's value, not 1.0.")
    vs = res.get("mia", {}).get("vs_retrained", {})
    if vs:
        lines += ["", "## Forget-set attack scores vs the retrained model", "",
                  "| model | attack | AUC gap | TPR@1%FPR gap | AUC(scores vs retrained scores) | KS | KS p | Spearman | n |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for n, c in vs.items():
            for a, v in c.items():
                if isinstance(v, dict) and "auc_gap" in v:  # an attack's row (``ulira`` is in the quality section)
                    lines.append(f"| {n} | {a} | {_f(v['auc_gap'])} | {_f(v['tpr_at_1pct_fpr_gap'])} | {_f(v['auc_vs_retrained_scores'])} | "
                                 f"{_f(v['ks_statistic'])} | {_f(v['ks_pvalue'], 3)} | {_f(v['spearman'])} | {v['n']} |")
        lines.append("\nGaps are this model minus the retrained model; an AUC of 0.5 between the two models' "
                     "forget-set scores means the attack cannot tell them apart.")
    pc = models.get("unlearned", {}).get("mia_per_client", {})
    if pc:
        attacks = sorted({a for v in pc.values() for s in v.values() for a in s})
        lines += ["", "## Per client (unlearned model; each client's samples vs the pooled non-members)", "",
                  "| client | set | " + " | ".join(f"AUC {a}" for a in attacks) + " | members |",
                  "|---|---|" + "---|" * (len(attacks) + 1)]
        for c, v in pc.items():
            for s, byatt in v.items():
                if byatt:
                    n = next(iter(byatt.values())).get("n_members")
                    lines.append(f"| {c} | {s} | " + " | ".join(_f(byatt.get(a, {}).get("auc")) for a in attacks) + f" | {n} |")
    sh = res.get("mia", {}).get("shadows", {})
    if sh.get("k"):
        how = "loaded from cache" if sh.get("cached") else f"trained in {sh.get('time_s', 0):.1f} s"
        var = "pooled" if sh.get("global_variance") else "per-example"
        lines += ["", f"Shadow federations: K={sh['k']}, {how} (cache key {sh.get('cache_key')}), {var} variance; "
                  f"shadow signals collected in {sh.get('signal_time_s', 0):.1f} s."]
    rm = out / "roc_members.json"
    if rm.exists():
        plot_roc(json.loads(rm.read_text()), out / "roc_members.png", members="training members")
        if (out / "roc_members.png").exists():
            lines += ["", "![ROC, training members vs non-members](roc_members.png)"]
    return lines
