"""Relearning attack, linear probe and the indistinguishability headline: formulas and
sanity checks (the probe recovers what a trained model learned, not what a never-trained
one did)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedforget.config import ModelConfig
from fedforget.data.datasets import ArrayData
from fedforget.evaluation.evaluators import EVALUATORS
from fedforget.evaluation.evaluators.probe import penultimate_features, probe_counts
from fedforget.evaluation.evaluators.relearn import (
    add_steps_to_recover,
    checkpoints,
    relearn_split,
    steps_to_recover,
)
from fedforget.evaluation.indistinguishability import headline, ulira
from fedforget.models import build_model
from fedforget.training.local import accuracy_counts, local_sgd
from tests.conftest import tiny_config


def _xor(n: int, seed: int) -> ArrayData:
    """Labels a linear probe cannot read off the raw (or randomly projected) inputs."""
    x = np.random.default_rng(seed).normal(size=(n, 10)).astype(np.float32)
    return ArrayData(x, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.int64), np.arange(n), 2)


@pytest.fixture(scope="module")
def xor_models() -> tuple[torch.nn.Module, torch.nn.Module, ArrayData]:
    train, forget = _xor(600, 1), _xor(200, 2)
    untrained = build_model(ModelConfig(name="mlp", hidden=32), (10,), 2, seed=0)
    trained = build_model(ModelConfig(name="mlp", hidden=32), (10,), 2, seed=0)
    local_sgd(trained, train, lr=0.1, batch_size=32, gen=torch.Generator().manual_seed(0), epochs=40, momentum=0.9)
    assert accuracy_counts(trained, forget)[0] / len(forget) > 0.85
    return trained, untrained, forget


def test_probe_recovers_learned_labels_but_not_from_an_untrained_model(xor_models) -> None:
    trained, untrained, forget = xor_models
    ct, nt = probe_counts(penultimate_features(trained, forget), forget.y, 0)
    cu, nu = probe_counts(penultimate_features(untrained, forget), forget.y, 0)
    assert nt == nu == len(forget)
    assert ct / nt > 0.75
    assert cu / nu < 0.70


def test_probe_evaluator_summarises_counts(xor_models) -> None:
    trained, _, forget = xor_models
    ev = EVALUATORS.get("probe")()
    cfg = tiny_config()
    rep = ev.client(cfg, trained, forget, forget, 0)
    empty = ev.client(cfg, trained, forget.take(np.arange(2)), forget, 0)
    assert empty == {"probe.correct": 0, "probe.n": 0}
    out = ev.summarise(cfg, [rep, empty, {"probe.correct": 10, "probe.n": 20}])
    assert out["n"] == rep["probe.n"] + 20
    assert out["probe_acc"] == pytest.approx((rep["probe.correct"] + 10) / (rep["probe.n"] + 20))


def test_relearn_curve_formulas(xor_models) -> None:
    trained, untrained, forget = xor_models
    assert checkpoints(20, 5) == [0, 5, 10, 15, 20] and checkpoints(7, 5) == [0, 5, 7]
    assert steps_to_recover({"0": 0.1, "5": 0.5, "10": 0.9}, 0.5) == 5
    assert steps_to_recover({"0": 0.1, "5": 0.4}, 0.5) is None
    cfg = tiny_config("evaluation.relearn.steps=10", "evaluation.relearn.every=5")
    ev = EVALUATORS.get("relearn")()
    rep = ev.client(cfg, untrained, forget, forget.take(np.arange(0)), 3)
    tune, test = relearn_split(forget, forget, 0.2, "forget", 3)
    assert len(tune) == 40 and len(test) == 160 and not set(tune.ids) & set(test.ids)
    assert rep["relearn.n"] == 160
    assert rep["relearn.correct.0"] == accuracy_counts(untrained, test)[0]  # step 0 = the model as received
    out = ev.summarise(cfg, [rep, {"relearn.n": 0}])
    assert list(out["curve"]) == ["0", "5", "10"]
    assert out["forget_acc_before"] == pytest.approx(rep["relearn.correct.0"] / 160)
    models = {"u": {"evaluators": {"relearn": out}}, "x": {}}
    add_steps_to_recover(models, cfg, 0.5)
    assert out["recover_target"] == pytest.approx(cfg.evaluation.relearn.recovered * 0.5)
    assert out["steps_to_recover"] == steps_to_recover(out["curve"], out["recover_target"])


def test_indistinguishability_headline() -> None:
    assert headline({"loss": {"auc_vs_retrained_scores": 0.5}, "entropy": {"auc_vs_retrained_scores": 0.5}}) == 1.0
    assert headline({"loss": {"auc_vs_retrained_scores": 1.0}, "entropy": {"auc_vs_retrained_scores": 0.0}}) == 0.0
    # symmetric: over-unlearning (AUC below 0.5) costs as much as under-unlearning
    assert headline({"a": {"auc_vs_retrained_scores": 0.3}, "mia_efficacy_gap": 0.1}) == pytest.approx(0.6)
    assert headline({"mia_efficacy_gap": 0.1}) is None


def test_ulira_flags_member_like_examples() -> None:
    g = np.random.default_rng(0)
    k, n = 16, 400
    shadow_in = np.zeros((k, n), bool)
    shadow_in[: k // 2] = True
    shadow = g.normal(size=(k, n))  # OUT shadows: phi ~ N(0, 1)
    retrained_like = ulira(g.normal(size=n), shadow, shadow_in)
    assert retrained_like["flagged"] == pytest.approx(0.05, abs=0.04)
    member_like = ulira(np.full(n, 4.0), shadow, shadow_in)
    assert member_like["flagged"] > 0.95


@pytest.mark.slow
def test_evaluators_and_ulira_end_to_end_send_only_scalars(tmp_path, monkeypatch) -> None:
    from fedforget.client.inprocess import InProcessFederation
    from fedforget.client.worker import ClientWorker
    from fedforget.run.experiment import Experiment

    cfg = tiny_config("evaluation.attacks=[loss,entropy,lira]", "evaluation.shadow_models=2",
                      f"evaluation.shadow_cache={tmp_path / 'cache'}", "training.rounds=2", "unlearning.rounds=1",
                      "deletion.backdoor.enabled=false", "evaluation.evaluators=[relearn,probe]",
                      "evaluation.relearn.steps=2", "evaluation.relearn.every=1")
    replies = []
    on_evaluate = ClientWorker.on_evaluate

    def recording(self, arrays, config):  # type: ignore[no-untyped-def]
        out = on_evaluate(self, arrays, config)
        replies.append((out, config))
        return out

    monkeypatch.setattr(ClientWorker, "on_evaluate", recording)
    fed = InProcessFederation(4, tmp_path / "state")
    res = Experiment(cfg, fed, tmp_path / "out").run()
    ev = [(arr, m) for (arr, m), conf in replies if "evaluator" in conf]
    assert ev and all(arr == {} and all(np.isscalar(v) for v in m.values()) for arr, m in ev)  # statistics only
    u = res["models"]["unlearned"]
    assert u["evaluators"]["probe"]["n"] == res["forget"]["n_forget"]
    assert list(u["evaluators"]["relearn"]["curve"]) == ["0", "1", "2"]
    ul = res["mia"]["vs_retrained"]["unlearned"]["ulira"]
    assert set(ul) == {"unlearned", "retrained"} and 0 <= ul["unlearned"]["flagged"] <= 1
    assert 0 <= u["indistinguishability"] <= 1 and res["models"]["retrained"]["indistinguishability"] == 1.0
