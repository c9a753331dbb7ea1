"""Client faults (fedforget.run.faults): retry once, leave out, minimum fraction, make-up
unlearning rounds for forget clients, fault injection; in process (fast) and on Ray."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedforget.client.inprocess import InProcessFederation
from fedforget.config import FaultInjection
from fedforget.deletion.ledger import Ledger
from fedforget.federation import InjectedFault, apply_injected
from fedforget.run.experiment import Experiment
from fedforget.run.faults import (
    ClientFaultError,
    FaultPolicy,
    FaultTolerantFederation,
    PendingDeletions,
    UnservedDeletionError,
)
from fedforget.runtime.simulation import run_experiment
from fedforget.util.errors import ConfigError
from tests.conftest import tiny_config

# Client 1 holds the deletion (tiny config: granularity client, client 1).
SMALL = ["training.rounds=3", "unlearning.rounds=2", "unlearning.recovery_rounds=1", "evaluation.retrain=false",
         "evaluation.attacks=[loss]", "deletion.backdoor.enabled=false"]
# A training round where client 2 raises twice (left out) and one where client 3 raises
# once (its retry answers); the forget client hangs past the timeout twice in unlearning
# round 1 (left out, owed a round, served by a make-up round).


def faults(timeout_s: float) -> list[str]:
    return [f"runtime.client_timeout_s={timeout_s}",
            "runtime.faults=[{client: 2, phase: train, round: 2, times: 2}, {client: 3, phase: train, round: 3},"
            f" {{client: 1, phase: unlearn, round: 1, kind: hang, hang_s: {timeout_s + 0.5}, times: 2}}]"]


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def _check_survived(out: Path, res: dict, timeout_s: float) -> None:
    rows = _rows(out)
    train = [r for r in rows if r["phase"] == "train"]
    assert "missing_clients" not in train[0]
    assert list(train[1]["missing_clients"]) == ["2"] and "InjectedFault" in train[1]["missing_clients"]["2"]
    assert train[1]["clients"] == 3  # left out of that round's aggregation
    assert train[2]["retried_clients"] == [3] and train[2]["clients"] == 4
    unl = [r for r in rows if r["phase"] == "unlearn"]
    assert f"no reply within {timeout_s:g}s" in unl[0]["missing_clients"]["1"]
    makeup = [r for r in rows if r["phase"] == "unlearn_makeup"]
    assert len(makeup) == 1 and "missing_clients" not in makeup[0]  # the forget client answered
    # the make-up round comes before recovery: the deletion is served by unlearning
    phases = [r["phase"] for r in rows]
    assert phases.index("unlearn_makeup") < phases.index("recover")
    f = res["faults"]
    assert f["injected"] == 5 and f["left_out"] == 2 and f["retried_ok"] >= 1  # >1: a slow cold start
    assert f["makeup_rounds"] == 1 and f["requests_lost"] == 0
    assert res["forget"]["clients"] == [1] and res["models"]["unlearned"]["forget_acc"] is not None


def test_raise_in_training_and_hang_in_unlearning_in_process(tmp_path: Path) -> None:
    cfg = tiny_config(*SMALL, *faults(3))
    res = run_experiment(cfg, tmp_path, write_report=False)
    _check_survived(tmp_path, res, 3)


def test_forget_client_failing_for_good_ends_run_naming_the_request(tmp_path: Path) -> None:
    cfg = tiny_config(*SMALL, "runtime.makeup_rounds=2",
                      "runtime.faults=[{client: 1, phase: unlearn, round: -1, times: -1}]")
    exp = Experiment(cfg, InProcessFederation(4, tmp_path / "state"), tmp_path / "out")
    with pytest.raises(UnservedDeletionError, match=r"deletion.requests\[0\] \(client, client 1\) was not served") as ei:
        exp.run()
    assert ei.value.requests == [0] and ei.value.clients == [1]
    assert "InjectedFault" in str(ei.value) and "runtime.makeup_rounds=2" in str(ei.value)
    with Ledger.open_readonly(tmp_path / "out") as ledger:  # the request is marked failed, with why
        (entry,) = ledger.entries(with_events=True)
    assert entry["status"] == "failed" and entry["clients"] == [1]
    assert "was not served" in entry["events"][-1]["reason"]
    rows = _rows(tmp_path / "out")
    assert [r["phase"] for r in rows].count("unlearn_makeup") == 2
    assert not any(r["phase"] == "recover" for r in rows)  # never recovered as if served
    assert not (tmp_path / "out" / "results.json").exists()


def test_below_min_fraction_fails_the_round_clearly(tmp_path: Path) -> None:
    cfg = tiny_config(*SMALL, "runtime.min_clients_fraction={train: 0.75}",
                      "runtime.faults=[{client: 0, round: 1, times: -1}, {client: 2, round: 1, times: -1}]")
    with pytest.raises(ClientFaultError, match=r"train round 1 failed: only 2 of 4 clients answered 'fit'.*"
                       r"runtime.min_clients_fraction.train=0.75.*client 0: InjectedFault"):
        run_experiment(cfg, tmp_path, write_report=False)


def test_delete_needs_every_client(tmp_path: Path) -> None:
    cfg = tiny_config(*SMALL, "runtime.faults=[{client: 1, phase: delete, times: -1}]")
    with pytest.raises(ClientFaultError, match=r"delete round 1 failed: only 3 of 4.*every client must answer"):
        run_experiment(cfg, tmp_path, write_report=False)


def test_bad_fault_config_fails_before_work() -> None:
    with pytest.raises(ConfigError, match=r"runtime.faults\[0\].client must be a client index in \[0, 3\]"):
        tiny_config("runtime.faults=[{client: 7}]")
    with pytest.raises(ConfigError, match=r"runtime.faults\[0\].kind must be one of"):
        tiny_config("runtime.faults=[{client: 1, kind: explode}]")
    with pytest.raises(ConfigError, match=r"runtime.min_clients_fraction must be a float in \[0, 1\]"):
        tiny_config("runtime.min_clients_fraction=2")


def test_injection_policy_and_client_hook() -> None:
    pol = FaultPolicy(1.0, FaultPolicy.from_config(tiny_config()).fractions,
                      (FaultInjection(client=2, phase="train", round=3, kind="hang", times=1),))
    assert pol.injection(2, "train", 3, 0) == {"fault.kind": "hang", "fault.hang_s": 2.0}
    assert pol.injection(2, "train", 3, 1) == {}  # the retry is not injected (times=1)
    assert pol.injection(2, "train", 2, 0) == {} and pol.injection(1, "train", 3, 0) == {}
    assert pol.min_fraction("delete") == 1.0 and pol.min_fraction("train") == 0.5
    conf = {"fault.kind": "raise", "fault.hang_s": 0.0, "lr": 0.1}
    with pytest.raises(InjectedFault):
        apply_injected(conf)
    assert conf == {"lr": 0.1}  # stripped
    apply_injected(conf)  # no mark: nothing happens


def test_pending_deletions_owe_and_pay_back() -> None:
    pd = PendingDeletions()
    pd.record([1, 2], {2}, {"1": "unlearn: boom"})
    pd.record([1, 2], {1, 2}, {})  # a normal round does not pay back a missed one
    assert pd.pending() == [1] and pd.last_error[1] == "unlearn: boom"
    pd.record([1], set(), {}, makeup=True)  # a missed make-up round owes nothing more
    assert pd.owed[1] == 1
    pd.record([1], {1}, {}, makeup=True)
    assert pd.pending() == []


def test_fault_tolerant_federation_without_failures_is_transparent(tmp_path: Path) -> None:
    cfg = tiny_config()
    inner = InProcessFederation(4, tmp_path)
    fed = FaultTolerantFederation(inner, FaultPolicy.from_config(cfg))
    rep = fed.send("setup", {p: ({}, {"experiment": cfg.to_yaml()}) for p in fed.partitions()})
    assert sorted(rep) == [0, 1, 2, 3] and fed.take_missing() == {} and fed.summary()["failed_attempts"] == 0
    assert fed.traffic is inner.traffic


@pytest.mark.slow
@pytest.mark.ray
def test_raise_in_training_and_hang_in_unlearning_on_ray(tmp_path: Path) -> None:
    # Ray workers start cold (torch imports) and a round's replies share one deadline:
    # a longer timeout than in process.
    cfg = tiny_config(*SMALL, "runtime.backend=ray", "runtime.total_cpus=2", *faults(15))
    res = run_experiment(cfg, tmp_path, write_report=False)
    _check_survived(tmp_path, res, 15)


@pytest.mark.parametrize("method", ["fedosd", "conmu", "neggrad_plus", "projected_ga"])
def test_methods_with_own_procedures_make_up_a_missed_round(tmp_path: Path, method: str) -> None:
    """Procedures that call collect_unlearn themselves (reference arrays, own objective)
    survive a round in which the only forget client fails, and make it up."""
    cfg = tiny_config("training.rounds=2", "unlearning.rounds=2", "evaluation.retrain=false", "evaluation.attacks=[loss]",
                      "deletion.backdoor.enabled=false", f"unlearning.method={method}",
                      "runtime.faults=[{client: 1, phase: unlearn, round: 1, times: 2}]")
    res = run_experiment(cfg, tmp_path, write_report=False)
    assert res["faults"]["left_out"] == 1 and res["faults"]["makeup_rounds"] == 1 and res["faults"]["requests_lost"] == 0
    makeup = [r for r in _rows(tmp_path) if r["phase"] == "unlearn_makeup"]
    assert len(makeup) == 1 and "missing_clients" not in makeup[0]
