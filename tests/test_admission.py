"""Replies checked at the door (fedforget.run.admission): each kind of bad reply is refused
with its reason, in unit tests and in whole runs (in process and on Ray), where the refused
client is handled like a failed one and the run ends within noise of a clean run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fedforget.federation import CORRUPT_KINDS, corrupt_reply
from fedforget.run.admission import Admission
from fedforget.runtime.simulation import run_experiment
from tests.conftest import tiny_config

MODEL = {"w": np.ones((3, 2), np.float32), "b": np.zeros(2, np.float32)}
REFUSED_BY = {
    "nan": "non-finite", "shape": "has shape", "dtype": "float64", "missing": "missing tensor",
    "extra": "unexpected tensor", "num_examples": "the client declared at setup", "scale": "x the median",
}


def _fit_reply(p: int, step: float = 0.1) -> tuple[dict, dict]:
    return {k: v + step * (1 + p % 3) for k, v in MODEL.items()}, {"num_examples": 50, "loss": 0.5}


def _checked(kind: str, action: str = "fit") -> dict[int, str]:
    adm = Admission(numel=8, max_norm_ratio=10.0)
    assert adm.check("setup", {}, {p: ({}, {"num_examples": 100}) for p in range(4)}) == {}
    adm.begin()
    if action == "fit":
        requests = {p: (MODEL, {"phase": "train"}) for p in range(4)}
        replies = {p: _fit_reply(p) for p in range(4)}
    else:
        requests = {p: (MODEL, {"want_forget": p == 0, "want_retain": p > 0}) for p in range(4)}
        replies = {0: ({"forget_update": np.full(8, 0.1, np.float32)}, {"n_forget": 20, "n_retain": 0})}
        replies |= {p: ({"retain_dirs": np.ones((2, 8), np.float32)}, {"n_forget": 0, "n_retain": 30}) for p in (1, 2, 3)}
    replies[0] = corrupt_reply(kind, requests[0][0], replies[0])
    return adm.check(action, requests, replies)


@pytest.mark.parametrize("kind", sorted(REFUSED_BY))
def test_each_bad_fit_reply_is_refused_alone_with_its_reason(kind: str) -> None:
    refused = _checked(kind)
    assert list(refused) == [0], refused
    assert REFUSED_BY[kind] in refused[0], refused[0]


@pytest.mark.parametrize("kind", ["nan", "shape", "dtype", "missing", "extra", "num_examples"])
def test_each_bad_unlearn_reply_is_refused(kind: str) -> None:
    refused = _checked(kind, "unlearn")
    assert list(refused) == [0], refused


def test_clean_and_lazy_replies_pass() -> None:
    assert _checked("zero") == {}  # well formed: only a deletion's acceptance rule can see it
    adm = Admission(numel=8)
    reqs = {p: (MODEL, {}) for p in range(3)}
    assert adm.check("fit", reqs, {p: _fit_reply(p) for p in range(3)}) == {}
    bad = {0: ({}, {"num_examples": 0}), 1: ({}, {"num_examples": 2.5}), 2: ({}, {"num_examples": "x"})}
    assert set(adm.check("setup", {}, bad)) == {0, 1, 2}


def test_norm_bound_needs_two_peers_and_can_be_turned_off() -> None:
    reqs = {p: (MODEL, {}) for p in range(3)}
    huge = corrupt_reply("scale", MODEL, _fit_reply(0))
    assert Admission(8).check("fit", reqs, {0: huge, 1: _fit_reply(1)}) == {}  # one peer: not judged
    assert list(Admission(8).check("fit", reqs, {0: huge, 1: _fit_reply(1), 2: _fit_reply(2)})) == [0]
    assert Admission(8, max_norm_ratio=0).check("fit", reqs, {0: huge, 1: _fit_reply(1), 2: _fit_reply(2)}) == {}


def test_every_corrupt_kind_is_covered() -> None:
    assert set(REFUSED_BY) | {"zero"} == set(CORRUPT_KINDS)


# ------------------------------------------------------------------------- whole runs
SMALL = ["training.rounds=3", "unlearning.rounds=2", "unlearning.recovery_rounds=1", "evaluation.retrain=false",
         "evaluation.attacks=[loss]", "deletion.backdoor.enabled=false"]


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_experiment(tiny_config(*SMALL), tmp_path_factory.mktemp("clean"), write_report=False)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(REFUSED_BY))
def test_a_bad_training_reply_is_refused_and_the_run_completes(tmp_path: Path, clean: dict, kind: str) -> None:
    # client 2 corrupts its reply in training round 2, on its retry too: left out of that round
    cfg = tiny_config(*SMALL, f"runtime.faults=[{{client: 2, phase: train, round: 2, kind: {kind}, times: 2}}]")
    res = run_experiment(cfg, tmp_path, write_report=False)
    train = [r for r in _rows(tmp_path) if r["phase"] == "train"]
    assert "refused_clients" not in train[0] and "refused_clients" not in train[2]
    assert REFUSED_BY[kind] in train[1]["refused_clients"]["2"]
    assert "reply refused" in train[1]["missing_clients"]["2"] and train[1]["clients"] == 3
    assert res["faults"]["refused"] == 2 and res["faults"]["left_out"] == 1
    u, c = res["models"]["unlearned"], clean["models"]["unlearned"]
    assert np.isfinite(u["test_acc"]) and abs(u["test_acc"] - c["test_acc"]) <= 0.05, (u["test_acc"], c["test_acc"])


@pytest.mark.slow
def test_a_refused_forgetting_update_is_made_up(tmp_path: Path, clean: dict) -> None:
    cfg = tiny_config(*SMALL, "runtime.faults=[{client: 1, phase: unlearn, round: 1, kind: nan, times: 2}]")
    res = run_experiment(cfg, tmp_path, write_report=False)
    rows = _rows(tmp_path)
    unl = [r for r in rows if r["phase"] == "unlearn"]
    assert "non-finite" in unl[0]["refused_clients"]["1"]
    assert [r["phase"] for r in rows].count("unlearn_makeup") == 1
    assert res["faults"]["refused"] == 2 and res["faults"]["makeup_rounds"] == 1 and res["faults"]["requests_lost"] == 0
    assert abs(res["models"]["unlearned"]["test_acc"] - clean["models"]["unlearned"]["test_acc"]) <= 0.05


@pytest.mark.slow
def test_an_undecodable_compressed_reply_is_refused(tmp_path: Path) -> None:
    cfg = tiny_config(*SMALL, "compression.quantization.bits=8",
                      "runtime.faults=[{client: 2, phase: train, round: 2, kind: nan}]")
    res = run_experiment(cfg, tmp_path, write_report=False)
    train = [r for r in _rows(tmp_path) if r["phase"] == "train"]
    assert "does not decode" in train[1]["refused_clients"]["2"]
    assert train[1]["retried_clients"] == [2] and train[1]["clients"] == 4  # its retry answered well
    assert res["faults"]["refused"] == 1 and res["faults"]["left_out"] == 0


@pytest.mark.slow
@pytest.mark.ray
def test_every_bad_reply_kind_is_refused_on_ray(tmp_path: Path) -> None:
    """Every corrupting kind, injected on the client inside a Ray actor (at most two bad
    clients of four per round, so each round keeps the minimum fraction), is refused at the
    server, counted, and its client left out; the run completes with a finite model."""
    plan = [(1, 0, "nan"), (1, 2, "shape"), (2, 3, "dtype"), (2, 0, "missing"), (3, 2, "extra"),
            (3, 3, "num_examples"), (4, 0, "scale")]  # (round, client, kind); client 1 holds the deletion
    assert {k for _, _, k in plan} == set(REFUSED_BY)
    faults = ", ".join(f"{{client: {c}, phase: train, round: {r}, kind: {k}, times: 2}}" for r, c, k in plan)
    cfg = tiny_config(*SMALL, "training.rounds=5", "runtime.backend=ray", "runtime.total_cpus=2",
                      "runtime.client_timeout_s=60", f"runtime.faults=[{faults}]")
    res = run_experiment(cfg, tmp_path, write_report=False)
    train = [r for r in _rows(tmp_path) if r["phase"] == "train"]
    for r, c, k in plan:
        why = train[r - 1].get("refused_clients", {}).get(str(c), "")
        assert REFUSED_BY[k] in why, (r, c, k, train[r - 1].get("refused_clients"))
    assert res["faults"]["refused"] == 2 * len(plan) and res["faults"]["left_out"] == len(plan)
    assert np.isfinite(res["models"]["unlearned"]["test_acc"])
