"""Statistics over seeds (fedforget.studies.stats, fedforget.studies.seeds) checked against
numpy/scipy on fixed numbers, and ``fedforget compare --seeds`` end to end."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from fedforget.studies.seeds import (
    aggregate,
    latex_table,
    seed_config,
    seeds_of,
    write_seed_comparison,
)
from fedforget.studies.stats import paired_difference, summarize
from fedforget.util.errors import ConfigError
from tests.conftest import tiny_config

VALUES = [0.91, 0.87, 0.95, 0.89, 0.93]


def test_summary_matches_numpy_and_scipy() -> None:
    s = summarize(VALUES)
    assert s is not None and s.n == 5
    assert s.mean == pytest.approx(np.mean(VALUES))
    assert s.std == pytest.approx(np.std(VALUES, ddof=1))
    lo, hi = sps.t.interval(0.95, df=4, loc=np.mean(VALUES), scale=sps.sem(VALUES))
    assert (s.ci_low, s.ci_high) == (pytest.approx(lo), pytest.approx(hi))
    # by hand: t_{0.975, 4} = 2.776445...
    assert s.ci_high - s.mean == pytest.approx(2.7764451 * np.std(VALUES, ddof=1) / math.sqrt(5), rel=1e-6)


def test_summary_edge_cases() -> None:
    assert summarize([]) is None and summarize([None, float("nan")]) is None
    one = summarize([0.5, None])
    assert one is not None and (one.n, one.mean, one.std, one.ci_low, one.ci_high) == (1, 0.5, 0.0, 0.5, 0.5)
    assert summarize([2.0, 2.0, 2.0]).ci_low == 2.0  # type: ignore[union-attr]


def test_paired_difference_matches_a_paired_t_interval() -> None:
    a = [0.80, 0.84, 0.79]
    b = [0.75, 0.80, 0.78]
    d = paired_difference(a, b)
    diffs = np.subtract(a, b)
    lo, hi = sps.t.interval(0.95, df=2, loc=diffs.mean(), scale=sps.sem(diffs))
    assert d is not None and d.mean == pytest.approx(diffs.mean()) and d.ci_low == pytest.approx(lo)
    assert d.ci_high == pytest.approx(hi)
    # the paired t-test rejects "no difference" exactly when the CI excludes 0
    p = sps.ttest_rel(a, b).pvalue
    assert (p < 0.05) == (d.ci_low > 0 or d.ci_high < 0)
    assert paired_difference([1.0, None], [0.5, 0.2]).n == 1  # type: ignore[union-attr]


def _summary(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rows = {
        "original": {"method": "(trained model)", "test_acc": 0.95, "forget_acc": 0.9, "mia": {"loss": {"auc": 0.6}}},
        "retrain": {"method": "retrain", "test_acc": 0.94, "forget_acc": 0.70 + 0.01 * seed, "time_s": 10.0 + seed,
                    "mia": {"loss": {"auc": 0.5}}},
        "oeu": {"method": "oeu", "test_acc": 0.9 + 0.01 * rng.random(), "forget_acc": 0.72 + 0.01 * seed,
                "time_s": 1.0 + seed, "mia": {"loss": {"auc": 0.52 + 0.01 * seed}}},
    }
    if seed == 2:
        rows["bad"] = {"method": "gradient_ascent", "diverged": True}
    return {"name": "t", "rows": rows}


def test_aggregate_per_metric_and_paired(tmp_path: Path) -> None:
    per_seed = {s: _summary(s) for s in (0, 1, 2)}
    agg = aggregate(per_seed)
    fa = [r["rows"]["oeu"]["forget_acc"] for r in per_seed.values()]
    st = agg["stats"]["oeu"]["forget_acc"]
    assert st["mean"] == pytest.approx(np.mean(fa)) and st["std"] == pytest.approx(np.std(fa, ddof=1))
    assert agg["stats"]["oeu"]["mia_auc_loss"]["mean"] == pytest.approx(0.53)
    d = agg["paired_vs_retrain"]["oeu"]["forget_acc"]
    assert d["mean"] == pytest.approx(0.02) and d["ci_low"] == pytest.approx(0.02)  # constant difference
    assert agg["stats"]["bad"]["diverged_seeds"] == [2] and agg["stats"]["bad"]["test_acc"] is None

    out = write_seed_comparison(tmp_path, "t", per_seed, 1.0)
    assert out["seeds"] == [0, 1, 2]
    with open(tmp_path / "comparison.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 3 + 1 and {r["seed"] for r in rows} == {"0", "1", "2"}  # per-seed rows
    assert float(next(r for r in rows if r["row"] == "oeu" and r["seed"] == "1")["forget_acc"]) == pytest.approx(0.73)
    md = (tmp_path / "comparison.md").read_text()
    assert "Mean ± std over 3 seeds" in md and "95% confidence intervals" in md and "Paired difference" in md
    assert "72.0 [" not in md and "73.0 ± 1.0" in md  # forget acc % of oeu: mean 73.0, std 1.0
    tex = (tmp_path / "table.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"73.0 $\pm$ 1.0" in tex and "MIA AUC loss" in tex
    assert (tmp_path / "comparison_bars.png").stat().st_size > 0
    assert json.loads((tmp_path / "comparison.json").read_text())["stats"]["retrain"]["time_s"]["n"] == 3
    assert latex_table(agg).count(r"\\") == 1 + 4  # header + one line per row


def test_seed_configs() -> None:
    cfg = tiny_config("runtime.seeds=[3, 5]")
    assert seeds_of(cfg) == [3, 5] and seeds_of(tiny_config()) == [0]
    one = seed_config(cfg, 5)
    assert one.runtime.seed == 5 and one.runtime.seeds == () and one.training == cfg.training
    with pytest.raises(ConfigError, match="must not repeat"):
        seeds_of(tiny_config("runtime.seeds=[1, 1]"))


@pytest.mark.slow
def test_compare_three_seeds_on_the_quickstart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fedforget.cli import main

    out = tmp_path / "c"
    rc = main(["compare", "configs/quickstart.yaml", "--seeds", "0,1,2", "--out", str(out),
               "--set", "runtime.backend=inprocess", "--set", "training.rounds=2", "--set", "unlearning.rounds=1",
               "--set", "unlearning.recovery_rounds=0", "--set", "evaluation.every_round=false",
               "--set", "compare.methods=[{method: oeu}]"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "Mean ± std over 3 seeds (0, 1, 2)" in printed and "95% confidence intervals" in printed
    for s in (0, 1, 2):
        assert (out / f"seed-{s}" / "comparison.md").exists() and (out / f"seed-{s}" / "table.tex").exists()
        assert len(list((out / f"seed-{s}" / "train-cache").iterdir())) == 1  # training cached per seed
    summary = json.loads((out / "comparison.json").read_text())
    assert summary["stats"]["oeu"]["test_acc"]["n"] == 3 and summary["paired_vs_retrain"]["oeu"]["test_acc"]["n"] == 3
    accs = [summary["per_seed"][str(s)]["oeu"]["test_acc"] for s in (0, 1, 2)]
    assert len(set(accs)) > 1  # the seeds really differ
    assert (out / "table.tex").exists() and main(["report", "--latex", str(out)]) == 0
