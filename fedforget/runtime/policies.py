"""Serving policies side by side (``fedforget policies CONFIG --seeds 0,1,2``).

Runs the streamed experiment once per policy and seed (each is a full run: the policy
changes the training trajectory, so nothing can be shared): ``immediate``, ``batched``
(``deletion.batch_every`` / ``batch_pending`` from the config), ``deadline``
(``deletion.deadline``) and ``retrain`` (exact but costly: every request served at once
by retraining from scratch without everything deleted so far). One table of total
serving cost, mean and max waiting, final utility and the final gap to the reference
(the federation retrained without every deleted request), mean ± std over the seeds.
Writes ``policies.json`` and ``policies.md`` in the output folder; every run keeps its
own folder (``<policy>/seed-<s>``) with results.json, the timeline and relapse plots.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.config import ExperimentConfig, config_from_dict
from fedforget.runtime.simulation import run_experiment
from fedforget.util.errors import ConfigError
from fedforget.util.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

POLICIES: dict[str, list[str]] = {
    "immediate": ["deletion.policy=immediate"],
    "batched": ["deletion.policy=batched"],
    "deadline": ["deletion.policy=deadline"],
    "retrain": ["deletion.policy=immediate", "unlearning.method=retrain"],
}
COLUMNS = (
    ("cost_time_s", "serving time s"), ("cost_mb", "serving MB"), ("cost_rounds", "serving rounds"),
    ("mean_wait_rounds", "mean wait"), ("max_wait_rounds", "max wait"), ("final_test_acc", "final test acc"),
    ("gap_test_acc", "test gap to ref"), ("gap_forget_acc", "forget gap to ref"),
)


def policy_configs(cfg: ExperimentConfig, policies: list[str], seeds: list[int]) -> dict[tuple[str, int], ExperimentConfig]:
    """One config per (policy, seed); fails before any run when a policy cannot serve."""
    unknown = sorted(set(policies) - set(POLICIES))
    if unknown:
        raise ConfigError(f"unknown policy {unknown[0]!r}; known: {', '.join(POLICIES)}")
    base = cfg.to_dict()
    out = {}
    for p in policies:
        for s in seeds:
            out[(p, s)] = config_from_dict(base, [*POLICIES[p], f"runtime.seed={s}", f"name={cfg.name}-{p}-{s}"])
    return out


def run_policies(cfg: ExperimentConfig, out_dir: str | Path, policies: list[str], seeds: list[int]) -> dict[str, Any]:
    out = Path(out_dir)
    cfgs = policy_configs(cfg, policies, seeds)
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in policies}
    for (p, s), c in cfgs.items():
        log.info("policy %s, seed %d", p, s)
        res = run_experiment(c, out / p / f"seed-{s}")
        tl = dict(res["timeline"])
        tl["cost_mb"] = tl["cost_bytes"] / 1e6
        runs[p].append({"seed": s, **tl})
    rows = []
    for p in policies:
        row: dict[str, Any] = {"policy": p, "seeds": [r["seed"] for r in runs[p]]}
        for key, _ in COLUMNS:
            vals = [r[key] for r in runs[p] if r.get(key) is not None]
            row[key] = float(np.mean(vals)) if vals else None
            row[f"{key}_std"] = float(np.std(vals)) if len(vals) > 1 else 0.0
        rows.append(row)
    summary = {"config": cfg.name, "seeds": seeds, "rows": rows, "runs": runs}
    atomic_write_json(out / "policies.json", summary)
    atomic_write_text(out / "policies.md", markdown(summary))
    return summary


def markdown(summary: dict[str, Any]) -> str:
    head = "| policy | " + " | ".join(label for _, label in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 1)]
    for row in summary["rows"]:
        cells = []
        for key, _ in COLUMNS:
            v, sd = row.get(key), row.get(f"{key}_std", 0.0)
            cells.append("-" if v is None else f"{v:.3f} ± {sd:.3f}" if isinstance(v, float) else str(v))
        lines.append(f"| {row['policy']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Mean ± std over seeds {summary['seeds']}. Cost: the serving phases' wall time, bytes and rounds "
                 "(training excluded); wait in training rounds between arrival and serve; gaps: final model minus "
                 "the federation retrained without every deleted request.")
    return "\n".join(lines) + "\n"
