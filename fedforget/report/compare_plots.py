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
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
        ax.set_title(title, fontsize=9)
    for ax in list(axes.flat)[len(ms):]:
        ax.axis("off")
    fig.suptitle("Methods from the same trained federation (dashed: retrain from scratch)", fontsize=10)
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
