"""Client sampling in every phase (issue 9): sampled ids in metrics.jsonl, per-round
evaluation of a sample (plus the forget clients), all clients at the end."""

import json

from fedforget.client.inprocess import InProcessFederation
from fedforget.runtime import run_experiment
from tests.conftest import tiny_config


def test_every_phase_samples_and_records_ids(tmp_path) -> None:
    cfg = tiny_config(
        "partition.num_clients=10", "training.clients_per_round=0.3", "evaluation.clients_per_round=0.2",
        "evaluation.every_round=true", "training.rounds=2", "unlearning.rounds=1", "evaluation.attacks=[loss]",
        "deletion.backdoor.enabled=false",
    )
    run_experiment(cfg, tmp_path, write_report=False)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    phases = {r["phase"] for r in rows}
    assert {"train", "unlearn", "recover", "retrain"} <= phases
    for r in rows:
        assert 1 <= len(r["clients_sampled"]) <= 4, r  # 30% of 10 (+ the forget client in unlearning)
        assert len(r["eval_clients"]) <= 3, r  # 20% of 10, plus forget client 1 once it is known
        if r["phase"] != "train":
            assert 1 in r["eval_clients"], r
        if "clients" in r:  # FedAvg rounds: exactly the sampled clients trained
            assert r["clients"] == len(r["clients_sampled"])
    train = [r["clients_sampled"] for r in rows if r["phase"] == "train"]
    retrain = [r["clients_sampled"] for r in rows if r["phase"] == "retrain"]
    assert train[0] != train[1]  # a new sample each round
    assert all(1 not in s for s in retrain)  # the deleted client is not sampled any more


def test_sampling_is_reproducible(tmp_path) -> None:
    from fedforget.run.experiment import Experiment

    cfg = tiny_config("partition.num_clients=10", "training.clients_per_round=0.3")
    picks = []
    for d in ("a", "b"):
        exp = Experiment(cfg, InProcessFederation(10, tmp_path / d), tmp_path / d)
        picks.append([exp.select_clients(list(range(10)), "train", r) for r in range(3)])
    assert picks[0] == picks[1]
    assert all(len(p) == 3 for p in picks[0])
