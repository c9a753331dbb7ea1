"""End to end on the in-process federation (no Flower): results contract, determinism,
and that unlearning moves the model toward the retrained one on the backdoor probe."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fedforget.data import build_federated_data
from fedforget.runtime import run_experiment
from fedforget.util.io import load_npz, read_jsonl
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    # digits with a quickstart-like recipe on 4 clients: the backdoor probe is learned
    cfg = tiny_config("data.name=digits", "model.hidden=64", "training.rounds=6", "training.local_epochs=2",
                      "training.lr=0.05", "unlearning.rounds=6", "unlearning.local_steps=20",
                      "evaluation.every_round=true")
    res = run_experiment(cfg, out)
    return out, res


def test_results_contract_and_files(tiny_run):
    out, res = tiny_run
    for f in ("config.yaml", "metrics.jsonl", "results.json", "roc.json", "report.md", "accuracy.png", "roc.png"):
        assert (out / f).exists(), f
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["models"].keys() >= {"original", "unlearned", "retrained"}
    for name, m in on_disk["models"].items():
        for k in ("test_acc", "retain_acc", "forget_acc", "time_s", "bytes_sent"):
            assert isinstance(m[k], int | float), (name, k)
        for k in ("test_acc", "retain_acc", "forget_acc", "asr"):
            assert 0.0 <= m[k] <= 1.0, (name, k, m[k])
        assert set(m["mia"]) == {"loss", "entropy"}
        assert all(0.0 <= v["auc"] <= 1.0 for v in m["mia"].values())
        assert m["bytes_sent"] > 0 and m["time_s"] > 0
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["phase"] for r in rows].count("train") == 6
    assert {"unlearn", "recover", "retrain"} <= {r["phase"] for r in rows}
    # the projected update is orthogonal to the retain directions it was projected against
    assert all(r["proj_max_cos"] < 1e-3 for r in rows if r["phase"] == "unlearn")
    assert (out / "checkpoints" / "train.npz").exists()
    report = (out / "report.md").read_text()
    assert "| **unlearned** |" in report and "roc.png" in report


def test_unlearning_moves_toward_retrained_on_backdoor_probe(tiny_run):
    _, res = tiny_run
    m = res["models"]
    o, u, r = m["original"], m["unlearned"], m["retrained"]
    assert o["asr"] > 0.5, "the probe must be learned for the test to mean anything"
    assert abs(u["asr"] - r["asr"]) < abs(o["asr"] - r["asr"]) / 2
    assert u["forget_acc"] < o["forget_acc"]
    assert u["test_acc"] >= r["test_acc"] - 0.05
    assert u["distance_to_retrained"] < o["distance_to_retrained"] * 2  # not thrown far off


def test_same_config_same_numbers(tmp_path):
    cfg = tiny_config("training.rounds=2", "unlearning.rounds=1", "evaluation.retrain=false")
    a = run_experiment(cfg, tmp_path / "a", write_report=False)
    b = run_experiment(cfg, tmp_path / "b", write_report=False)
    for name in a["models"]:
        for k in ("test_acc", "forget_acc", "retain_acc", "asr"):
            assert a["models"][name][k] == b["models"][name][k]
    wa, wb = load_npz(tmp_path / "a/checkpoints/unlearn.npz"), load_npz(tmp_path / "b/checkpoints/unlearn.npz")
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    c = run_experiment(tiny_config("training.rounds=2", "unlearning.rounds=1", "evaluation.retrain=false",
                                   "runtime.seed=1"), tmp_path / "c", write_report=False)
    assert any(a["models"]["original"][k] != c["models"]["original"][k] for k in ("test_acc", "asr", "retain_acc"))


@pytest.mark.parametrize("request_", [
    {"granularity": "samples", "client": 0, "fraction": 0.3},
    {"granularity": "class", "label": 2},
])
def test_other_granularities_run(tmp_path, request_):
    from fedforget.config import config_from_dict
    from tests.conftest import TINY

    cfg = config_from_dict({**TINY, "deletion": {"requests": [request_], "backdoor": {"enabled": False}},
                            "training": {**TINY["training"], "rounds": 3}})
    res = run_experiment(cfg, tmp_path, write_report=False)
    u = res["models"]["unlearned"]
    fd = build_federated_data(cfg)
    assert res["forget"]["n_forget"] == sum(len(f) for f in fd.forget) > 0
    if request_["granularity"] == "samples":
        assert res["forget"]["clients"] == [0] and len(fd.forget[0]) == round(0.3 * len(fd.partitions[0]))
    else:
        assert len(res["forget"]["clients"]) > 1  # every client holding class 2 forgets it
    assert u["asr"] is None and 0 <= u["forget_acc"] <= 1 and 0 <= u["retain_acc"] <= 1
