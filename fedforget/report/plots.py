"""Matplotlib figures (headless, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PHASE_COLORS = {"train": "#dbe9f6", "unlearn": "#fde0dd", "recover": "#e5f5e0", "retrain": "#eeeeee"}


def plot_rounds(rows: list[dict[str, Any]], path: Path) -> None:
    """Per-round forget/retain/test accuracy and backdoor ASR, phases shaded."""
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(10, 4.5))
    steps = np.array([r["step"] for r in rows])
    start = 0
    for i, r in enumerate(rows + [{"phase": None}]):
        if i == len(rows) or r["phase"] != rows[start]["phase"]:
            ph = rows[start]["phase"]
            ax.axvspan(rows[start]["step"] - 0.5, rows[i - 1]["step"] + 0.5, color=PHASE_COLORS.get(ph, "#f5f5f5"), zorder=0)
            ax.text((rows[start]["step"] + rows[i - 1]["step"]) / 2, 1.02, ph, ha="center", va="bottom", fontsize=9)
            start = i
    for key, style in (("test_acc", "-"), ("retain_acc", "--"), ("forget_acc", "-."), ("asr", ":")):
        ys = np.array([r.get(key) if r.get(key) is not None else np.nan for r in rows], dtype=float)
        if np.isfinite(ys).any():
            ax.plot(steps, ys, style, marker="o", ms=3, label=key.replace("_", " "))
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("round (all phases)")
    ax.set_ylabel("accuracy / attack success rate")
    ax.legend(loc="lower left", fontsize=8, ncol=4)
    ax.set_title("Per-round metrics (forget/retain: federated evaluation; test/ASR: server hold-out)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_roc(roc: dict[str, dict[str, Any]], path: Path, members: str = "forget set") -> None:
    """MIA ROC curves per attack on log-log axes, one line per model."""
    attacks = sorted({a for m in roc.values() for a, c in m.items() if c})
    if not attacks:
        return
    fig, axes = plt.subplots(1, len(attacks), figsize=(4.5 * len(attacks), 4.2), squeeze=False)
    for ax, a in zip(axes[0], attacks, strict=True):
        for model, curves in roc.items():
            c = curves.get(a)
            if not c:
                continue
            fpr, tpr = np.asarray(c["fpr"]), np.asarray(c["tpr"])
            ok = (fpr > 0) & (tpr > 0)
            ax.loglog(fpr[ok], tpr[ok], label=model)
        lim = np.logspace(-3, 0, 50)
        ax.loglog(lim, lim, "k:", lw=0.8, label="chance")
        ax.set_xlim(1e-3, 1)
        ax.set_ylim(1e-3, 1.05)
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.set_title(f"MIA ({a}): {members} vs non-members")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
