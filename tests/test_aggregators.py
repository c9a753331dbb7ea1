"""Robust aggregation (fedforget.training.aggregators): median and trimmed mean equal
Flower's FedMedian / FedTrimmedAvg definitions, norm clipping bounds each update, and a
run with one client sending a huge update survives with a robust rule (checks off)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flwr.server.strategy.aggregate import aggregate_median, aggregate_trimmed_avg

from fedforget.training.aggregators import AGGREGATORS, aggregate, clip_updates
from fedforget.util.errors import ConfigError
from fedforget.util.params import weighted_average
from tests.conftest import tiny_config


def _models(n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"w": rng.normal(size=(3, 4)).astype(np.float32), "b": rng.normal(size=4).astype(np.float32)}
            for _ in range(n)]


@pytest.mark.parametrize("n", [1, 4, 7])
def test_median_and_trimmed_mean_match_flower(n: int) -> None:
    models = _models(n)
    flwr_in = [([m["w"], m["b"]], 10 * (i + 1)) for i, m in enumerate(models)]
    med = aggregate("median", models, [10.0] * n)
    for got, want in zip((med["w"], med["b"]), aggregate_median(flwr_in), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    for cut in (0.0, 0.2, 0.3):
        tm = aggregate("trimmed_mean", models, [1.0] * n, trim_fraction=cut)
        for got, want in zip((tm["w"], tm["b"]), aggregate_trimmed_avg(flwr_in, cut), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert med["w"].dtype == np.float32


def test_fedavg_is_the_weighted_average() -> None:
    models = _models(3)
    got = aggregate("fedavg", models, [1.0, 2.0, 5.0])
    want = weighted_average(models, [1.0, 2.0, 5.0])
    assert all(np.array_equal(got[k], want[k]) for k in want)
    assert set(AGGREGATORS.names()) >= {"fedavg", "median", "trimmed_mean"}


def test_clipping_bounds_each_update_and_keeps_small_ones() -> None:
    prev = {"w": np.zeros((3, 4), np.float32), "b": np.zeros(4, np.float32), "mask::w": np.ones((3, 4), bool)}
    big = {"w": np.full((3, 4), 100.0, np.float32), "b": np.full(4, 100.0, np.float32)}
    small = {"w": np.full((3, 4), 0.01, np.float32), "b": np.zeros(4, np.float32)}
    cb, cs = clip_updates([big, small], prev, 1.0)
    assert abs(np.sqrt(np.sum(cb["w"].astype(np.float64) ** 2) + np.sum(cb["b"].astype(np.float64) ** 2)) - 1.0) < 1e-5
    assert cs is small


def test_robust_rules_resist_one_huge_update() -> None:
    honest = _models(6, seed=1)
    prev = {k: np.zeros_like(v) for k, v in honest[0].items()}
    evil = {k: v * 1e6 for k, v in honest[0].items()}
    clean = aggregate("fedavg", honest, [1.0] * 6)
    for name, kw in (("median", {}), ("trimmed_mean", {"trim_fraction": 0.2}), ("fedavg", {"clip_norm": 5.0})):
        got = aggregate(name, [*honest, evil], [1.0] * 7, prev, **kw)
        assert np.abs(got["w"] - clean["w"]).max() < 3.0, name
    assert np.abs(aggregate("fedavg", [*honest, evil], [1.0] * 7)["w"]).max() > 1e4


def test_unknown_aggregation_is_refused_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"training.aggregation must be one of .*median.*got 'krum'"):
        tiny_config("training.aggregation=krum")


SMALL = ["training.rounds=3", "unlearning.rounds=2", "unlearning.recovery_rounds=1", "evaluation.retrain=false",
         "evaluation.attacks=[loss]", "deletion.backdoor.enabled=false", "runtime.check_replies=false",
         "runtime.faults=[{client: 2, phase: train, round: 2, kind: scale}]"]


@pytest.mark.slow
def test_median_training_survives_a_huge_update_without_the_door_check(tmp_path: Path) -> None:
    from fedforget.runtime.simulation import run_experiment

    clean = run_experiment(tiny_config(*SMALL[:-2]), tmp_path / "clean", write_report=False)
    plain = run_experiment(tiny_config(*SMALL), tmp_path / "fedavg", write_report=False)
    robust = run_experiment(tiny_config(*SMALL, "training.aggregation=median"), tmp_path / "median", write_report=False)
    c, r = (x["models"]["original"]["test_acc"] for x in (clean, robust))
    assert abs(r - c) <= 0.1, (c, r)

    def largest(run: str) -> float:  # the trained model's largest weight (argmax hides a scaled ReLU net)
        with np.load(tmp_path / run / "checkpoints" / "train.npz") as z:
            return max(float(np.abs(z[k]).max()) for k in z.files if z[k].dtype.kind == "f")

    assert largest("fedavg") > 1e3 * largest("clean") and largest("median") < 3 * largest("clean")
    assert plain["faults"]["refused"] == 0
