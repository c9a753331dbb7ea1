"""Figures and a table of a run on its timeline (fedforget.run.timeline), drawn from its files
only: ``metrics.jsonl`` (training rows), ``relapse.jsonl`` (each served request's forget
accuracy after every evaluated training round) and ``results.json`` (``requests``).

* ``timeline.png``: test accuracy (and the forget accuracy of the last served batch)
  over the training rounds, with each request's arrival (triangle) and serve point (line);
* ``relapse.png``: each served request's forget accuracy through the rest of training,
  against its reference (the model retrained without everything deleted) at the end:
  a curve climbing back toward its pre-deletion level is knowledge that came back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fedforget.util.io import read_jsonl  # noqa: E402

RELAPSE_FILE = "relapse.jsonl"
GRANULARITY_COLORS = {"samples": "#1f77b4", "class": "#d62728", "client": "#2ca02c"}


def plot_timeline(out: Path, results: dict[str, Any], path: Path) -> bool:
    rows = [r for r in read_jsonl(out / "metrics.jsonl") if r.get("phase") == "train" and "test_acc" in r]
    if not rows or not results.get("requests"):
        return False
    fig, ax = plt.subplots(figsize=(10, 4.2))
    x = np.array([r["round"] for r in rows])
    ax.plot(x, [r["test_acc"] for r in rows], "-", color="#333333", label="test acc")
    fa = np.array([r.get("forget_acc") if r.get("forget_acc") is not None else np.nan for r in rows], dtype=float)
    if np.isfinite(fa).any():
        ax.plot(x, fa, "-.", color="#888888", label="forget acc (last served batch)")
    for req in results["requests"]:
        c = GRANULARITY_COLORS.get(req["request"]["granularity"], "#555555")
        ax.plot([req["arrival_round"]], [0.03], marker="^", color=c, ms=8, ls="none")
        if req.get("served_round") is not None:
            ax.axvline(req["served_round"], color=c, alpha=0.5, lw=1)
            ax.text(req["served_round"], 1.01, req["id"], color=c, fontsize=8, ha="center", va="bottom")
    for g, c in GRANULARITY_COLORS.items():
        ax.plot([], [], marker="^", color=c, ls="-", label=f"{g} request (arrival / served)")
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("training round")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Requests on the timeline (policy: {results.get('timeline', {}).get('policy', '?')})")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_relapse(out: Path, results: dict[str, Any], path: Path) -> bool:
    rows = read_jsonl(out / RELAPSE_FILE) if (out / RELAPSE_FILE).exists() else []
    reqs = [r for r in results.get("requests", []) if r.get("served_round") is not None]
    if not rows or not reqs:
        return False
    fig, ax = plt.subplots(figsize=(10, 4.2))
    for req in reqs:
        pts = [(r["round"], r[req["id"]]) for r in rows if r.get(req["id"]) is not None]
        if not pts:
            continue
        c = GRANULARITY_COLORS.get(req["request"]["granularity"], "#555555")
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", color=c, alpha=0.8,
                        label=f"{req['id']} ({req['request']['granularity']}, served at {req['served_round']})")
        ref = (req.get("at_end") or {}).get("reference_forget_acc")
        if ref is not None:
            ax.hlines(ref, pts[0][0], pts[-1][0], colors=line.get_color(), linestyles=":", lw=1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("training round")
    ax.set_ylabel("forget accuracy of the request's data")
    ax.set_title("Relapse: forget accuracy after serving (dotted: retrained reference at the end)")
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _f(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f}" if pct else f"{v:.2f}" if isinstance(v, float) else str(v)


def _f3(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}"


def timeline_section(out: Path, results: dict[str, Any]) -> list[str]:
    """Markdown lines: the request table and the two figures (empty for a plain run)."""
    reqs = results.get("requests")
    tl = results.get("timeline")
    if not reqs or not tl:
        return []
    attacks = sorted({a for r in reqs for a in ((r.get("at_end") or r.get("at_serve") or {}).get("mia_auc") or {})})
    lines = ["", "## Deletion requests on the timeline", "",
             f"Policy `{tl['policy']}`; serving cost {tl['cost_time_s']:.1f} s, {tl['cost_bytes'] / 1e6:.2f} MB, "
             f"{tl['cost_rounds']} rounds; waiting mean {tl['mean_wait_rounds']:.1f} / max {tl['max_wait_rounds']} "
             f"rounds; final test acc {_f(tl.get('final_test_acc'), True)}% "
             f"(reference {_f(tl.get('reference_test_acc'), True)}%).", "",
             "| request | granularity | arrival | served | waited rounds | waited s | cost s | forget acc at serve | "
             "at end | reference at end |" + "".join(f" AUC {a} serve / end / ref |" for a in attacks)
             + " ASR % serve / end / ref |",
             "|---|---|---|---|---|---|---|---|---|---|" + "---|" * (len(attacks) + 1)]
    for r in reqs:
        s, e = r.get("at_serve") or {}, r.get("at_end") or {}
        aucs = "".join(f" {_f3((s.get('mia_auc') or {}).get(a))} / {_f3((e.get('mia_auc') or {}).get(a))} / "
                       f"{_f3((e.get('reference_mia_auc') or {}).get(a))} |" for a in attacks)
        asr = f" {_f(s.get('asr'), True)} / {_f(e.get('asr'), True)} / {_f(e.get('reference_asr'), True)} |"
        lines.append(f"| {r['id']} | {r['request']['granularity']} | {r['arrival_round']} | {_f(r.get('served_round'))} "
                     f"| {_f(r.get('waited_rounds'))} | {_f(r.get('waited_s'))} | {_f((r.get('cost') or {}).get('time_s'))} "
                     f"| {_f(s.get('forget_acc'), True)} | {_f(e.get('forget_acc'), True)} "
                     f"| {_f(e.get('reference_forget_acc'), True)} |" + aucs + asr)
    lines += ["", "AUC: attack AUC of the request's own samples against the server's non-member pool, at its serve "
              "point, at the end, and of the reference retrained without everything deleted at the end (read the "
              "model against the reference, not against 0.5). ASR: the backdoor's attack success rate, only for "
              "requests whose data carries the trigger."]
    if plot_timeline(out, results, out / "timeline.png"):
        lines += ["", "![timeline](timeline.png)"]
    if plot_relapse(out, results, out / "relapse.png"):
        lines += ["", "![relapse](relapse.png)"]
    return lines + [""]
