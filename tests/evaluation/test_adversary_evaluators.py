"""Quantization recovery and retain-only relearning (fedforget.evaluation.evaluators),
the binned membership statistics they send, and their comparison-table columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fedforget.compression.quant import QuantSpec
from fedforget.evaluation.evaluators.quant_recovery import ptq_, ptq_arrays
from fedforget.evaluation.histograms import NBINS, WIDTH, hist_auc
from fedforget.evaluation.metrics import mia_metrics
from fedforget.util.params import get_arrays


def test_histogram_auc_is_the_exact_auc_up_to_ties_within_a_bin() -> None:
    rng = np.random.default_rng(0)
    pos, neg = rng.normal(1.0, 2.0, 400), rng.normal(0.0, 2.0, 300)
    bins = [np.clip(np.floor((v + 15) / WIDTH), 0, NBINS - 1).astype(int) for v in (pos, neg)]
    hp, hn = (np.bincount(b, minlength=NBINS) for b in bins)
    exact = mia_metrics(pos, neg, curve=False)["auc"]
    same_bin = (bins[0][:, None] == bins[1][None, :]).mean()
    assert abs(hist_auc(hp, hn) - exact) <= same_bin / 2 + 1e-12
    assert exact > 0.6  # the case is not trivial
    assert hist_auc(hp, np.zeros(NBINS)) is None


def test_ptq_is_round_to_nearest_per_output_channel() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    before = get_arrays(net)
    for bits in (8, 4):
        q = ptq_arrays(before, QuantSpec(bits))
        qmax = 2 ** (bits - 1) - 1
        for k, w in before.items():
            if w.ndim < 2:
                np.testing.assert_array_equal(q[k], w)  # biases stay float
                continue
            # independent: per row, scale = max|w| / qmax (rounded to float16 as it travels)
            s = (np.abs(w).max(1, keepdims=True) / qmax).astype(np.float16).astype(np.float32)
            want = np.clip(np.round(w / s), -qmax, qmax) * s
            np.testing.assert_allclose(q[k], want, rtol=0, atol=1e-6)
            assert len(np.unique(q[k][0])) <= 2 * qmax + 1
        # the client-side (in-place on the model) and server-side (on arrays) roundings agree
        m = ptq_(torch.nn.Sequential(torch.nn.Linear(7, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)), None)
        m.load_state_dict({k: torch.from_numpy(v) for k, v in before.items()})
        got = get_arrays(ptq_(m, QuantSpec(bits)))
        for k in before:
            np.testing.assert_array_equal(got[k], q[k])
    assert not np.allclose(ptq_arrays(before, QuantSpec(4))["0.weight"], before["0.weight"])


@pytest.mark.slow
def test_compare_reports_the_adversary_columns_and_the_relearning_gap(tmp_path: Path) -> None:
    """Tiny federation whose default unlearning only suppresses: retain-only fine-tuning
    brings the unlearned model's forget accuracy above the retrained model's, and the table
    says so (the gap is the difference of the two curves, not hidden)."""
    from fedforget.runtime.compare import run_compare
    from fedforget.studies.compare import markdown_table
    from tests.conftest import tiny_config

    cfg = tiny_config("evaluation.evaluators=[quant_recovery,relearn_retain]", "evaluation.before_after=true",
                      "compare.methods=[{method: oeu}]")
    run_compare(cfg, tmp_path)
    rows = json.loads((tmp_path / "comparison.json").read_text())["rows"]
    table = markdown_table(rows)
    for col in ("B/A AUC", "Q4 forget %", "Q4 ASR %", "Q4 recov.", "RR forget %", "RR gap"):
        assert col in table
    for name in ("oeu", "retrain"):
        r = rows[name]
        assert r["before_after"]["loss_diff"]["all"]["auc"] is not None
        assert set(r["evaluators"]["quant_recovery"]["grids"]) == {"fp", "int8", "int4"}
    u, ret = rows["oeu"]["evaluators"]["relearn_retain"], rows["retrain"]["evaluators"]["relearn_retain"]
    last = str(cfg.evaluation.relearn_retain_rounds)
    gap = u["curve"][last]["forget_acc"] - ret["curve"][last]["forget_acc"]
    assert u["vs_retrained"]["forget_acc_gap_after"] == pytest.approx(gap)
    assert u["curve"][last]["forget_acc"] > u["curve"]["0"]["forget_acc"]  # relearning brought it back
    assert gap > 0  # above the retrained model: reported as a positive gap
    q = rows["oeu"]["evaluators"]["quant_recovery"]
    assert q["vs_retrained"]["int4"]["forget_acc_gap"] == pytest.approx(
        q["grids"]["int4"]["forget_acc"] - rows["retrain"]["evaluators"]["quant_recovery"]["grids"]["int4"]["forget_acc"])
    # the retrain row's own gaps are zero by construction
    assert ret["vs_retrained"]["forget_acc_gap_after"] == 0.0
    # the run's report carries the three sections
    from fedforget.report.markdown import write_report

    text = write_report(tmp_path / "methods" / "oeu").read_text()
    for title in ("## Before/after attack", "## Quantization recovery", "## Retain-only relearning"):
        assert title in text
