"""``report.md``: the comparison table (original / unlearned / retrained), phase times,
bytes and the figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fedforget.report.acceptance import acceptance_section
from fedforget.report.adversary import adversary_sections
from fedforget.report.fmt import fmt, mb
from fedforget.report.mia import mia_sections
from fedforget.report.phases import phases_section
from fedforget.report.plots import plot_roc, plot_rounds
from fedforget.report.quality import quality_sections
from fedforget.report.timeline import timeline_section
from fedforget.util.io import atomic_write_text, read_jsonl

_fmt = fmt


def model_table(models: dict[str, Any]) -> str:
    attacks = sorted({a for m in models.values() for a in m.get("mia", {})})
    head = ["model", "test acc %", "retain acc %", "forget acc %", "backdoor ASR %"]
    head += [f"MIA AUC ({a})" for a in attacks] + ["L2 to retrained", "time s", "bytes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in models.items():
        row = [f"**{name}**", _fmt(m.get("test_acc"), True), _fmt(m.get("retain_acc"), True),
               _fmt(m.get("forget_acc"), True), _fmt(m.get("asr"), True)]
        row += [_fmt(m.get("mia", {}).get(a, {}).get("auc")) for a in attacks]
        row += [_fmt(m.get("distance_to_retrained")), f"{m.get('time_s', 0):.2f}", mb(m.get("bytes_sent", 0))]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def write_report(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    res = json.loads((out / "results.json").read_text())
    rows = read_jsonl(out / "metrics.jsonl")
    roc = json.loads((out / "roc.json").read_text()) if (out / "roc.json").exists() else {}
    plot_rounds(rows, out / "accuracy.png")
    plot_roc(roc, out / "roc.png")
    models = res["models"]
    f = res["forget"]
    lines = [
        f"# fedforget report: {res['name']}",
        "",
        f"{res['num_clients']} clients; deletion request: {f['n_forget']} samples on clients {f['clients']} "
        f"(granularity: {', '.join(f['granularities'])}); backdoor probe: {'on' if f['backdoor'] else 'off'}.",
        "",
        "## Original vs unlearned vs retrained from scratch",
        "",
        model_table(models),
        "",
        "Read the unlearned row against the retrained row (the gold standard): a good unlearned "
        "model is indistinguishable from it, it does not need an attack AUC of 0.5. Accuracies on "
        "the forget/retain sets come from federated evaluation (each client counts on its own data); "
        "test accuracy and ASR from the server's held-out set. Time is the wall time of the phase "
        "that produced the model (unlearned = unlearning + recovery rounds), without evaluation.",
    ]
    if "retrained" in models and "unlearned" in models:
        u, r = models["unlearned"], models["retrained"]
        lines += ["", "## Unlearned minus retrained", ""]
        for k in ("test_acc", "retain_acc", "forget_acc", "asr"):
            if u.get(k) is not None and r.get(k) is not None:
                lines.append(f"- {k.replace('_', ' ')}: {100 * (u[k] - r[k]):+.1f} points")
        if r.get("time_s"):
            lines.append(f"- time: {u['time_s']:.2f} s vs {r['time_s']:.2f} s ({u['time_s'] / r['time_s']:.0%} of retraining)")
    lines += ["", "## Membership inference (forget set vs non-member pool)", ""]
    lines.append("| model | attack | AUC | balanced acc | TPR@1%FPR | TPR@0.1%FPR | members | non-members |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for name, m in models.items():
        for a, v in m.get("mia", {}).items():
            lines.append(
                f"| {name} | {a} | {_fmt(v.get('auc'))} | {_fmt(v.get('balanced_acc'))} | "
                f"{_fmt(v.get('tpr_at_1pct_fpr'))} | {_fmt(v.get('tpr_at_0.1pct_fpr'))} | "
                f"{v.get('n_members')} | {v.get('n_nonmembers')} |"
            )
    lines.append("")
    lines.append("TPR at 0.1% FPR needs at least 1000 non-members to mean anything; with fewer it is "
                 "the TPR at the lowest FPR the sample can resolve (0 false positives).")
    lines += mia_sections(res, out)  # per-client, members audit, MIA-efficacy, vs retrained
    lines += quality_sections(res)  # indistinguishability, relearning attack, linear probe
    lines += adversary_sections(res)  # before/after attack, quantization recovery, retain-only relearning
    lines += acceptance_section(res)  # served on evidence, or unverified (fedforget.deletion.acceptance)
    lines += timeline_section(out, res)  # streamed requests: per-request table, timeline, relapse
    lines += phases_section(res)  # every phase, fixed costs marked, how they add up
    if (out / "accuracy.png").exists():
        lines += ["## Per-round metrics", "", "![per-round metrics](accuracy.png)", ""]
    if (out / "roc.png").exists():
        lines += ["## MIA ROC curves (log-log)", "", "![ROC](roc.png)", ""]
    lines += ["Files: `config.yaml` (resolved config), `metrics.jsonl` (per round), `results.json`, `roc.json`, "
              "`checkpoints/<phase>.npz`.", ""]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path
