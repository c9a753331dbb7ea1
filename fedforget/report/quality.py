"""Report sections on forgetting quality (drawn from results.json): the headline
indistinguishability from retraining, the U-LiRA-style per-example test, the relearning
attack and the linear probe (docs/evaluation.md)."""

from __future__ import annotations

from typing import Any

from fedforget.report.fmt import fmt

_f = fmt


def quality_sections(res: dict[str, Any]) -> list[str]:
    models = res["models"]
    vs = res.get("mia", {}).get("vs_retrained", {})
    lines: list[str] = []
    if any(m.get("indistinguishability") is not None for m in models.values()):
        lines += ["", "## Indistinguishability from the retrained model", "",
                  "| model | indistinguishability | MIA-efficacy gap | U-LiRA flagged (model / retrained) |", "|---|---|---|---|"]
        for n, m in models.items():
            c = vs.get(n, {})
            ul = c.get("ulira", {})
            flag = f"{_f(ul[n].get('flagged'))} / {_f(ul['retrained'].get('flagged'))}" if ul else "n/a"
            lines.append(f"| {n} | {_f(m.get('indistinguishability'))} | {_f(c.get('mia_efficacy_gap'))} | {flag} |")
        lines.append("\n1 - 2 x mean over attacks of |AUC(forget-set scores vs the retrained model's) - 0.5|: "
                     "1 = no attack threshold tells the model from the retrained one on the forget set; "
                     "over- and under-unlearning both lower it.")
    rel = {n: m["evaluators"]["relearn"] for n, m in models.items() if m.get("evaluators", {}).get("relearn", {}).get("curve")}
    if rel:
        steps = list(next(iter(rel.values()))["curve"])
        lines += ["", "## Relearning attack (forget accuracy while fine-tuning on a slice of the forget set)", "",
                  "| model | " + " | ".join(f"step {s}" for s in steps) + " | steps to recover |",
                  "|---|" + "---|" * (len(steps) + 1)]
        for n, r in rel.items():
            lines.append(f"| {n} | " + " | ".join(_f(r["curve"].get(s), True) for s in steps) + f" | {_f(r.get('steps_to_recover'))} |")
        lines.append("\nKnowledge that was only suppressed comes back faster than for the retrained model; "
                     "'steps to recover': first step reaching the recovery target x the original's forget accuracy.")
    probe = {n: m["evaluators"]["probe"] for n, m in models.items() if "probe" in m.get("evaluators", {})}
    if probe:
        lines += ["", "## Linear probe on frozen penultimate features (forget labels, 2-fold CV)", "",
                  "| model | probe acc % | samples |", "|---|---|---|"]
        lines += [f"| {n} | {_f(p.get('probe_acc'), True)} | {p.get('n')} |" for n, p in probe.items()]
    return lines
