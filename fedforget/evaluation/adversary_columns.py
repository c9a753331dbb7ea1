"""Comparison-table columns of the adversarial evaluations (docs/evaluation.md): the
before/after attack, quantization recovery and retain-only relearning, read from a row of
``models.<model>`` in results.json. A column appears only where some row measured it, so
tables of runs without these evaluations are unchanged."""

from __future__ import annotations

from typing import Any

# (column, markdown header, path into the row, shown as a percentage)
ADVERSARY = (
    ("ba_auc", "B/A AUC", ("before_after", "loss_diff", "all", "auc"), False),
    ("ba_tpr_1pct", "B/A TPR@1%", ("before_after", "loss_diff", "all", "tpr_at_1pct_fpr"), False),
    ("ba_lr_auc", "B/A LR AUC", ("before_after", "lr", "all", "auc"), False),
    ("q8_forget_acc", "Q8 forget %", ("evaluators", "quant_recovery", "grids", "int8", "forget_acc"), True),
    ("q4_forget_acc", "Q4 forget %", ("evaluators", "quant_recovery", "grids", "int4", "forget_acc"), True),
    ("q4_asr", "Q4 ASR %", ("evaluators", "quant_recovery", "server", "int4", "asr"), True),
    ("q4_mia_auc", "Q4 MIA AUC", ("evaluators", "quant_recovery", "grids", "int4", "mia_auc"), False),
    ("q4_recovery", "Q4 recov.", ("evaluators", "quant_recovery", "vs_retrained", "int4", "recovery"), False),
    ("rr_forget_acc", "RR forget %", ("evaluators", "relearn_retain", "forget_acc_after"), True),
    ("rr_asr", "RR ASR %", ("evaluators", "relearn_retain", "asr_after"), True),
    ("rr_gap", "RR gap", ("evaluators", "relearn_retain", "vs_retrained", "forget_acc_gap_after"), False),
)
HEADERS = {c: h for c, h, _, _ in ADVERSARY}
PERCENT = tuple(c for c, _, _, p in ADVERSARY if p)


def cell(row: dict[str, Any], path: tuple[str, ...]) -> Any:
    v: Any = row
    for k in path:
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v


def adversary_columns(rows: dict[str, dict[str, Any]]) -> list[str]:
    """The columns some row has a value for."""
    return [c for c, _, path, _ in ADVERSARY if any(cell(r, path) is not None for r in rows.values())]


def adversary_cells(row: dict[str, Any], columns: list[str]) -> list[Any]:
    paths = {c: path for c, _, path, _ in ADVERSARY}
    return [cell(row, paths[c]) for c in columns]
