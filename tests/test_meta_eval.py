"""``fedforget meta-eval`` (fedforget.studies.meta_eval): the documented command at tiny
sizes, and the faithfulness computation where the answer is known (a metric that sees
membership scores 1, a blind one 0.5)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fedforget.cli import main
from fedforget.studies.meta_eval import GROUPS, faithfulness_auc, group_metrics


def _sets(over: list[str]) -> list[str]:
    return [x for o in over for x in ("--set", o)]


@pytest.mark.slow
def test_documented_meta_eval_command(tmp_path: Path) -> None:
    # `fedforget meta-eval configs/compare.yaml` (docs/evaluation.md), at tiny sizes
    over = ["partition.num_clients=2", "training.rounds=2", "training.local_epochs=1",
            "deletion.requests=[{granularity: client, client: 0}]", "evaluation.shadow_models=2",
            f"evaluation.shadow_cache={tmp_path / 'cache'}"]
    assert main(["meta-eval", "configs/compare.yaml", "--out", str(tmp_path / "me"), *_sets(over)]) == 0
    res = json.loads((tmp_path / "me" / "meta_eval.json").read_text())
    assert set(res["metrics"]) == {"mia_auc_loss", "mia_auc_entropy", "mia_auc_confidence"}
    for m in res["metrics"].values():
        assert m["groups"] == 2 * 2 * GROUPS and 0 <= m["faithfulness"] <= 1 and m["shift_q4"] >= 0
        assert 0 <= m["faithfulness_relearn"] <= 1 and m["shift_relearn"] > 0  # relearning moved the shadows
    assert "| mia_auc_loss |" in (tmp_path / "me" / "meta_eval.md").read_text()
    rows = [json.loads(x) for x in (tmp_path / "me" / "federation" / "metrics.jsonl").read_text().splitlines()
            ] if (tmp_path / "me" / "federation" / "metrics.jsonl").exists() else []
    assert not [r for r in rows if r.get("phase") == "meta-relearn"]  # the relearning rounds are not run rows


def _signals(shift: float, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Shadow signals of K=4 models: forget samples the model trained on score ``shift``
    higher than unseen ones; held-out samples are IN half the shadows, like the pool."""
    rng = np.random.default_rng(seed)
    out = {}
    for s, n in (("forget", 200), ("heldout", 150)):
        inn = rng.uniform(size=(4, n)) < 0.5
        out[s] = {"in": inn, "sig.loss": rng.normal(0, 1, (4, n)) + shift * (inn & (s == "forget"))}
    return out


def test_faithfulness_is_one_for_a_metric_that_sees_membership_and_half_for_one_that_does_not() -> None:
    v, lab = group_metrics(_signals(3.0, 0), "loss", 0)
    assert len(v) == 4 * 2 * GROUPS and lab.sum() == 4 * GROUPS
    assert faithfulness_auc(v, lab) == 1.0
    assert v[lab == 1].min() > 0.8 and abs(np.median(v[lab == 0]) - 0.5) < 0.15
    blind = [faithfulness_auc(*group_metrics(_signals(0.0, s), "loss", 0)) for s in range(20)]
    assert abs(np.mean(blind) - 0.5) < 0.08
