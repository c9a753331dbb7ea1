"""Deletion requests on the training timeline (fedforget.run.timeline, serving, stream):
served data never trains again, policies batch and keep their deadline, a stream with no
request is plain training, and runs resume to the same numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedforget.client.inprocess import InProcessFederation
from fedforget.config import DeletionConfig
from fedforget.data import build_federated_data
from fedforget.deletion.requests import stream_requests
from fedforget.deletion.serving import schedule
from fedforget.run.checkpoint import check_fresh_output, request_resume
from fedforget.run.experiment import Experiment
from fedforget.util.errors import ConfigError, FedForgetError
from fedforget.util.io import read_jsonl
from tests.conftest import tiny_config

STREAM = (
    "partition.num_clients=5", "training.rounds=6", "unlearning.rounds=1", "unlearning.recovery_rounds=1",
    "deletion.backdoor.enabled=false", "evaluation.every_round=true",
)
REQUESTS = ('deletion.requests=[{"granularity": "samples", "client": 0, "fraction": 0.3, "at_round": 2},'
            '{"granularity": "client", "client": 3, "at_round": 3},'
            '{"granularity": "class", "label": 2, "at_round": 5}]')


def _run(cfg, out, *, record=False, hook=None, resume=False):
    fed = InProcessFederation(cfg.partition.num_clients, out / "client-state")
    if record:
        for w in fed.workers.values():
            w.record_ids = True
    exp = Experiment(cfg, fed, out)
    if hook is not None:
        exp.loop.hooks.append(hook)
    if resume:
        request_resume(out)
    return exp.run(), fed


def _numbers(res):
    return {m: {k: v for k, v in d.items() if k in ("test_acc", "forget_acc", "retain_acc", "asr",
                                                    "distance_to_retrained")}
            for m, d in res["models"].items()}


# ---------------------------------------------------------------- policies (pure)
@settings(max_examples=60, deadline=None)
@given(arrivals=st.lists(st.integers(0, 12), min_size=1, max_size=8), d=st.integers(0, 4))
def test_deadline_is_never_exceeded_and_everything_is_served(arrivals, d):
    sched = schedule(DeletionConfig(policy="deadline", deadline=d), arrivals, 12)
    served = {i: t for t, batch in sched.items() for i in batch}
    assert sorted(served) == list(range(len(arrivals)))
    assert all(0 <= served[i] - a <= d for i, a in enumerate(arrivals))


def test_batched_serves_pending_requests_together():
    every = schedule(DeletionConfig(policy="batched", batch_every=4), [1, 2, 5, 9], 10)
    assert every == {4: [0, 1], 8: [2], 10: [3]}  # leftovers at the end of training
    k = schedule(DeletionConfig(policy="batched", batch_pending=2), [1, 2, 3, 7], 10)
    assert k == {2: [0, 1], 7: [2, 3]}  # the second pair as soon as it is complete
    assert schedule(DeletionConfig(policy="batched", batch_pending=2), [1, 2, 3], 10) == {2: [0, 1], 10: [2]}
    assert schedule(DeletionConfig(policy="immediate"), [1, 1, 4], 10) == {1: [0, 1], 4: [2]}


def test_batched_without_a_trigger_is_refused():
    with pytest.raises(ConfigError, match="batch_every"):
        tiny_config("deletion.policy=batched")


def test_stream_generator_is_seeded_and_mixed():
    cfg = tiny_config("partition.num_clients=10", "training.rounds=40", "deletion.stream.rate=0.3",
                      "deletion.stream.mix_class=1", "deletion.stream.seed=3")
    a, b = stream_requests(cfg, 4), stream_requests(cfg, 4)
    assert a == b and len(a) > 3
    assert {r.granularity for r in a} == {"samples", "class", "client"}
    assert all(1 <= r.at_round < 40 for r in a)
    assert sum(r.granularity == "client" for r in a) <= 5  # at least half of the clients stay


def test_federaser_refuses_several_serve_points():
    cfg = tiny_config(*STREAM, "unlearning.method=federaser",
                      'deletion.requests=[{"granularity": "client", "client": 3, "at_round": 2},'
                      '{"granularity": "client", "client": 1, "at_round": 4}]')
    with pytest.raises(ConfigError, match="one point only"):
        Experiment(cfg, InProcessFederation(5, "/nonexistent"), "/nonexistent").run()


def test_a_stream_that_generates_no_request_is_refused_before_training(tmp_path):
    # rate 0.001 per round over a few rounds draws no request (seed 0): a config error naming
    # the stream's settings, not a numpy error from building the forget sets
    cfg = tiny_config("deletion.requests=[]", "deletion.stream.rate=0.001", "training.rounds=3")
    with pytest.raises(ConfigError, match="deletion.stream generated no request"):
        Experiment(cfg, InProcessFederation(5, tmp_path / "state"), tmp_path / "out").run()
    assert not (tmp_path / "out" / "metrics.jsonl").exists()


# ---------------------------------------------------------------- runs
@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    out = tmp_path_factory.mktemp("stream")
    cfg = tiny_config(*STREAM, REQUESTS)
    res, fed = _run(cfg, out, record=True)
    return cfg, out, res, fed


def test_no_fit_uses_deleted_ids_after_serving(streamed):
    cfg, _out, res, fed = streamed
    fd = build_federated_data(cfg)
    checked = 0
    for p, w in fed.workers.items():
        gone = np.zeros(0, dtype=np.int64)
        used_before = np.zeros(0, dtype=np.int64)
        for kind, ids in w.used_ids:
            if kind == "delete":
                gone = ids
                continue
            assert not np.isin(ids, gone).any(), f"client {p} trained on deleted ids in a {kind} fit"
            if not len(gone):
                used_before = np.union1d(used_before, ids)
            checked += len(gone) > 0
        mine = np.concatenate([req[p] for req in fd.forget_by_request])
        assert np.isin(mine, used_before).all()  # the deleted data did train before its request
    assert checked > 0
    log = fed.workers[3].used_ids  # client 3 is deleted whole at round 3
    gone_at = [j for j, (k, ids) in enumerate(log) if k == "delete" and len(ids) == len(fd.partitions[3])][0]
    assert all(len(ids) == 0 for k, ids in log[gone_at:] if k != "delete")  # the deleted client is gone
    assert any(k == "train" and len(ids) for k, ids in log[:gone_at])


def test_per_request_records(streamed):
    _cfg, out, res, _fed = streamed
    recs = {r["id"]: r for r in res["requests"]}
    assert [recs[k]["served_round"] for k in ("r0", "r1", "r2")] == [2, 3, 5]  # immediate
    assert all(r["waited_rounds"] == 0 and r["cost"]["rounds"] > 0 for r in recs.values())
    for r in recs.values():
        assert 0 <= r["at_serve"]["forget_acc"] <= 1 and 0 <= r["at_end"]["reference_forget_acc"] <= 1
    assert res["timeline"]["serve_points"] == {"2": ["r0"], "3": ["r1"], "5": ["r2"]}
    relapse = read_jsonl(out / "relapse.jsonl")
    assert relapse[-1]["round"] == 6 and {"r0", "r1", "r2"} <= set(relapse[-1])
    saved = json.loads((out / "results.json").read_text())
    assert saved["timeline"]["requests"] == 3


def test_stream_without_requests_is_plain_training(tmp_path):
    base = ("training.rounds=3", "unlearning.rounds=1", "evaluation.retrain=false", "evaluation.every_round=true")
    plain, _ = _run(tiny_config(*base), tmp_path / "plain")
    quiet, _ = _run(tiny_config(*base, "deletion.stream.rate=0.000001"), tmp_path / "quiet")
    assert len(quiet["requests"]) == 1  # the stream generated nothing
    assert _numbers(plain) == _numbers(quiet)
    rows = [[{k: v for k, v in r.items() if "time" not in k} for r in read_jsonl(tmp_path / d / "metrics.jsonl")]
            for d in ("plain", "quiet")]
    assert rows[0] == rows[1]


class Crash(RuntimeError):
    pass


def _crash_at(phase, r):
    def hook(ph, rr, _arrays, _row):
        if ph == phase and rr == r:
            raise Crash(f"{phase} {r}")
    return hook


@pytest.mark.parametrize("phase,r", [("train", 3), ("unlearn", 0)])
def test_resume_gives_the_uninterrupted_numbers(tmp_path, streamed, phase, r):
    cfg = tiny_config(*STREAM, REQUESTS, "runtime.checkpoint_every=2")  # checkpoints do not move numbers
    ref = streamed[2]
    with pytest.raises(Crash):
        _run(cfg, tmp_path / "cut", hook=_crash_at(phase, r))
    res, _ = _run(cfg, tmp_path / "cut", resume=True)
    assert _numbers(res) == _numbers(ref)
    assert [x["served_round"] for x in res["requests"]] == [x["served_round"] for x in ref["requests"]]
    steps = [row["step"] for row in read_jsonl(tmp_path / "cut" / "metrics.jsonl")]
    assert steps == sorted(set(steps))  # repeated rounds are not counted twice


def test_output_folder_is_not_reused_without_resume(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "results.json").write_text("{}")
    with pytest.raises(FedForgetError, match="--resume.*--out"):
        check_fresh_output(tmp_path / "x", resume=False)
    with pytest.raises(FedForgetError, match="no checkpoint"):
        check_fresh_output(tmp_path / "x", resume=True)
    check_fresh_output(tmp_path / "new", resume=False)


def test_cli_refuses_a_used_folder_without_resume(tmp_path, caplog):
    from fedforget.cli import main

    (tmp_path / "metrics.jsonl").write_text("{}\n")
    assert main(["run", "configs/quickstart.yaml", "--out", str(tmp_path), "--set", "runtime.backend=inprocess"]) == 2
    assert "--resume" in caplog.text and "--out" in caplog.text
    assert main(["run", "configs/quickstart.yaml", "--out", str(tmp_path / "new"), "--resume"]) == 2
    assert "no checkpoint" in caplog.text


def test_policy_configs_for_the_side_by_side_runs():
    from fedforget.runtime.policies import markdown, policy_configs

    cfg = tiny_config(*STREAM, REQUESTS, "deletion.batch_every=2", "deletion.deadline=1")
    cfgs = policy_configs(cfg, ["immediate", "batched", "deadline", "retrain"], [0, 1])
    assert len(cfgs) == 8 and cfgs[("deadline", 1)].runtime.seed == 1
    assert cfgs[("batched", 0)].deletion.policy == "batched" and cfgs[("batched", 0)].deletion.batch_every == 2
    assert cfgs[("retrain", 0)].unlearning.method == "retrain"
    with pytest.raises(ConfigError, match="unknown policy 'fifo'"):
        policy_configs(cfg, ["fifo"], [0])
    row = {"policy": "batched", "cost_time_s": 1.0, "cost_time_s_std": 0.5}
    assert "| batched | 1.000 ± 0.500 |" in markdown({"rows": [row], "seeds": [0, 1]})


def test_every_streamed_request_is_in_the_ledger_with_its_rounds(streamed):
    from fedforget.deletion.ledger import Ledger

    _cfg, out, res, _fed = streamed
    with Ledger.open_readonly(out) as ledger:
        entries = {e["request_id"]: e for e in ledger.entries()}
    for r in res["requests"]:
        e = entries[r["id"]]
        assert e["status"] == "served"
        assert (e["received_round"], e["served_round"]) == (r["arrival_round"], r["served_round"])
