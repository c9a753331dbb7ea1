"""Figures of ``fedforget compare``, drawn from the comparison rows only (headless Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _metrics(rows: dict[str, dict[str, Any]]) -> list[tuple[str, str, Any]]:
    attacks = sorted({a for r in rows.values() for a in r.get("mia", {})})
    ms: list[tuple[str, str, Any]] = [
        ("forget accuracy", "forget_acc", lambda r: r.get("forget_acc")),
        ("retain accuracy", "retain_acc", lambda r: r.get("retain_acc")),
        ("test accuracy", "test_acc", lambda r: r.get("test_acc")),
        ("backdoor ASR", "asr", lambda r: r.get("asr")),
    ]
    for a in attacks:
        ms.append((f"MIA AUC ({a})", f"mia_{a}", lambda r, a=a: r.get("mia", {}).get(a, {}).get("auc")))
    ms += [("time (s)", "time_s", lambda r: r.get("time_s")),
           ("MB sent", "bytes_sent", lambda r: (r.get("bytes_sent") or 0) / 1e6)]
    return ms


def plot_comparison_bars(rows: dict[str, dict[str, Any]], path: Path) -> None:
    """One panel per metric, one bar per row; the retrain baseline's value as a dashed line."""
    names = list(rows)
    ms = _metrics(rows)
    ncol = 4
    nrow = int(np.ceil(len(ms) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    colors = ["#bbbbbb" if n == "original" else "#555555" if n == "retrain" else "#3182bd" for n in names]
    for ax, (title, _key, get) in zip(axes.flat, ms, strict=False):
        vals = np.array([get(rows[n]) if get(rows[n]) is not None else np.nan for n in names], dtype=float)
        ax.bar(range(len(names)), np.nan_to_num(vals), color=colors)
        if "retrain" in rows and get(rows["retrain"]) is not None:
            ax.axhline(get(rows["retrain"]), color="k", ls="--", lw=0.8)
        _label_panel(ax, names, title)
    _finish(fig, axes, len(ms), "Methods from the same trained federation (dashed: retrain from scratch)", path)


def _label_panel(ax: Any, names: list[str], title: str) -> None:
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax.set_title(title, fontsize=9)


def _finish(fig: Any, axes: Any, used: int, title: str, path: Path) -> None:
    for ax in list(axes.flat)[used:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_tradeoff(rows: dict[str, dict[str, Any]], path: Path) -> None:
    """Privacy-utility-efficiency: x = time (log), y = test accuracy, colour = privacy gap
    (|forget accuracy - retrain's| + |MIA AUC - retrain's|, first attack)."""
    ref = rows.get("retrain", {})
    attacks = sorted({a for r in rows.values() for a in r.get("mia", {})})
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    xs, ys, cs, labels = [], [], [], []
    for n, r in rows.items():
        if r.get("time_s") is None or r.get("test_acc") is None:
            continue
        gap = abs((r.get("forget_acc") or 0) - (ref.get("forget_acc") or 0))
        if attacks:
            a = attacks[0]
            au, ar = r.get("mia", {}).get(a, {}).get("auc"), ref.get("mia", {}).get(a, {}).get("auc")
            if au is not None and ar is not None:
                gap += abs(au - ar)
        xs.append(max(float(r["time_s"]), 1e-3))
        ys.append(float(r["test_acc"]))
        cs.append(gap)
        labels.append(n)
    sc = ax.scatter(xs, ys, c=cs, cmap="viridis_r", s=70, edgecolors="k")
    for x, y, lab in zip(xs, ys, labels, strict=True):
        ax.annotate(lab, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("unlearning wall time (s, log) - efficiency")
    ax.set_ylabel("test accuracy - utility")
    cb = fig.colorbar(sc, ax=ax)
    cb.set_label("privacy gap to retrain (lower is better)")
    ax.set_title("Privacy / utility / efficiency")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_seed_bars(stats: dict[str, dict[str, Any]], rows: list[str], cols: list[str], path: Path) -> None:
    """Multi-seed comparison: one panel per metric column, bar = mean over seeds, error
    bar = 95% confidence interval of the mean; dashed line: retrain's mean."""
    ncol = 4
    nrow = max(1, int(np.ceil(len(cols) / ncol)))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    colors = ["#bbbbbb" if n == "original" else "#555555" if n == "retrain" else "#3182bd" for n in rows]
    scale = {"bytes_sent": 1e-6}
    for ax, col in zip(axes.flat, cols, strict=False):
        k = scale.get(col, 1.0)
        st = [stats[r].get(col) for r in rows]
        mean = np.array([s["mean"] * k if s else np.nan for s in st], dtype=float)
        lo = np.array([(s["mean"] - s["ci_low"]) * k if s else 0.0 for s in st], dtype=float)
        hi = np.array([(s["ci_high"] - s["mean"]) * k if s else 0.0 for s in st], dtype=float)
        ax.bar(range(len(rows)), np.nan_to_num(mean), yerr=np.vstack([lo, hi]), capsize=3, color=colors)
        if "retrain" in rows and stats["retrain"].get(col):
            ax.axhline(stats["retrain"][col]["mean"] * k, color="k", ls="--", lw=0.8)
        _label_panel(ax, rows, col.replace("_", " ") + (" (MB)" if col == "bytes_sent" else ""))
    _finish(fig, axes, len(cols), "Mean over seeds, 95% CI error bars (dashed: retrain from scratch)", path)
