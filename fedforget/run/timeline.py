"""The run on its timeline: training rounds, deletion requests that arrive between them,
and the serve points of ``deletion.policy`` (:mod:`fedforget.deletion.serving`).

    boundary 0 -> train round 0 -> boundary 1 -> ... -> train round T-1 -> boundary T
    at each boundary t: requests arriving at t become pending; the policy may serve a
    batch (delete -> the method's unlearning phases -> evidence); then training goes on
    without the deleted data (a client-level request removes the client).

A plain run (every request without ``at_round``) is the special case of one serve point
at boundary T, and gives the same numbers as the fixed train -> delete -> unlearn ->
retrain sequence. Positions are checkpointed (:mod:`fedforget.run.checkpoint`) every
``runtime.checkpoint_every`` rounds and at every serve point, so ``--resume`` repeats at
most the rounds since the last one (a serve point is repeated whole).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fedforget.config import DeletionRequest, ExperimentConfig
from fedforget.deletion.acceptance import judge
from fedforget.deletion.receipts.records import DeletionRecords
from fedforget.deletion.requests import arrival_round, describe, request_id, spec
from fedforget.deletion.serving import check_schedule, schedule
from fedforget.evaluation.metrics import param_distance
from fedforget.evaluation.requests import nonmember_signals, request_aucs, shadowless
from fedforget.federation import Federation, Scalars
from fedforget.run.checkpoint import load_position, save_position, truncate_metrics
from fedforget.run.evaluation import RunEvaluation
from fedforget.run.loop import PhaseRecord, RoundLoop
from fedforget.unlearning.procedure import Procedure
from fedforget.util.errors import ConfigError, FedForgetError
from fedforget.util.io import append_jsonl, atomic_save_npz, atomic_write_json
from fedforget.util.params import set_arrays

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
RELAPSE_FILE = "relapse.jsonl"  # forget accuracy of every served request, per training round


class TimelineHost(Protocol):
    """What the timeline reads and drives of the run (:class:`~fedforget.run.experiment.Experiment`)."""

    cfg: ExperimentConfig
    fed: Federation
    out: Path
    loop: RoundLoop
    evaluation: RunEvaluation
    records: DeletionRecords
    procedure: Procedure
    requests: tuple[DeletionRequest, ...]
    everyone: list[int]
    init: Arrays
    n_forget: dict[int, int]
    n_retain: dict[int, int]
    eval_model: Any
    nonmember: Any
    retrained: Arrays | None
    retrain_rounds: int | None

    @property
    def forgetters(self) -> list[int]: ...

    def fedavg_step(self, phase: str, participants: list[int], lr: float, *, seed_phase: str | None = None,
                    extra_conf: Scalars | None = None, observe: bool | None = None
                    ) -> Callable[[int, Arrays], tuple[Arrays, dict[str, Any]]]: ...

    def unlearn(self, original: Arrays) -> tuple[Arrays, PhaseRecord]: ...

    def retrain(self) -> Arrays: ...


def plan(exp: TimelineHost) -> dict[int, list[int]]:
    """The serve schedule (round -> request indices), checked against the method."""
    cfg = exp.cfg
    if not exp.requests:
        sc = cfg.deletion.stream
        raise ConfigError(
            f"deletion.stream generated no request (rate {sc.rate:g} per round from round {sc.start_round}, seed "
            f"{sc.seed}, training.rounds={cfg.training.rounds}) and deletion.requests is empty; raise "
            "deletion.stream.rate, move deletion.stream.start_round, or add a request"
        )
    arrivals = [arrival_round(r, cfg.training.rounds) for r in exp.requests]
    sched = schedule(cfg.deletion, arrivals, cfg.training.rounds)
    check_schedule(exp.procedure, cfg.unlearning.method, sched, cfg.training.rounds)
    return sched


def send_delete(exp: TimelineHost, served: list[int], current: list[int], *, final: bool = False) -> None:
    """Tell every client which requests are served (their data never trains again) and
    which are being served now (the forget set of the coming unlearning phases); ``final``:
    the final evaluation's view (everything served), not a new serve point."""
    conf = {"served": spec(served), "current": spec(current)}
    dels = exp.fed.send("delete", {p: ({}, dict(conf)) for p in exp.everyone})
    exp.n_forget = {p: int(m["n_forget"]) for p, (_, m) in dels.items()}
    exp.n_retain = {p: int(m["n_retain"]) for p, (_, m) in dels.items()}
    # Deletion ledger: ``received`` (at its arrival round) with the clients' commitments,
    # before any unlearning.
    rounds = exp.cfg.training.rounds
    for arrived in sorted({arrival_round(exp.requests[i], rounds) for i in current}):
        exp.records.on_request_received(
            [(request_id(i), exp.requests[i]) for i in current if arrival_round(exp.requests[i], rounds) == arrived],
            {p: m for p, (_, m) in dels.items()}, arrived)
    log.log(logging.DEBUG if final else logging.INFO, "%s %s: %d samples to forget on clients %s",
            "evaluating after" if final else "serving", [request_id(i) for i in current],
            sum(exp.n_forget.values()), exp.forgetters)


def request_metrics(exp: TimelineHost, arrays: Arrays, indices: list[int],
                    attacks: tuple[str, ...] = ()) -> dict[int, dict[str, Any]]:
    """Forget accuracy and loss of ``arrays`` on each listed request's data (clients
    return counts per request, never samples) and how many of its samples carry the
    backdoor trigger; with ``attacks``, on the same exchange, each request's attack AUCs
    against the server's non-member pool (fedforget.evaluation.requests)."""
    if not indices:
        return {}
    conf = {"relapse": spec(indices), **({"attacks": ",".join(attacks)} if attacks else {})}
    replies = exp.fed.send("evaluate", {p: (arrays, dict(conf)) for p in exp.everyone})
    tot: dict[int, list[float]] = {i: [0.0, 0.0, 0.0, 0.0] for i in indices}
    sigs: dict[int, dict[str, list[np.ndarray]]] = {i: {a: [] for a in attacks} for i in indices}
    for p in sorted(replies):
        arr, m = replies[p]
        for i in indices:
            n = float(m.get(f"{i}.n", 0))
            tot[i][0] += float(m.get(f"{i}.correct", 0))
            tot[i][1] += n
            tot[i][2] += float(m.get(f"{i}.loss", 0.0))  # summed over the samples
            tot[i][3] += float(m.get(f"{i}.triggered", 0))
            for a in attacks:
                if f"req.{i}.{a}" in arr:
                    sigs[i][a].append(np.asarray(arr[f"req.{i}.{a}"]))
    out: dict[int, dict[str, Any]] = {
        i: {"forget_acc": c / n if n else None, "forget_loss": s / n if n else None, "n": n, "n_triggered": int(k)}
        for i, (c, n, s, k) in tot.items()}
    if attacks:
        set_arrays(exp.eval_model, arrays)
        non = nonmember_signals(exp.eval_model, exp.nonmember, attacks)
        for i in indices:
            members = {a: np.concatenate(v) if v else np.zeros(0) for a, v in sigs[i].items()}
            out[i]["mia_auc"] = request_aucs(members, non)
            out[i]["mia_n"] = int(len(next(iter(members.values()))))
            out[i]["mia_n_nonmembers"] = int(len(exp.nonmember))
    return out


def with_asr(per: dict[int, dict[str, Any]], asr: float | None) -> dict[int, dict[str, Any]]:
    """The model's backdoor ASR on each request whose forget set carries the trigger
    (``None`` on the others: their data says nothing about the backdoor)."""
    for m in per.values():
        m["asr"] = asr if m.get("n_triggered") else None
    return per


def reference(exp: TimelineHost, rounds: int) -> Arrays:
    """The federation retrained from scratch for ``rounds`` rounds without everything
    served so far (same init and per-round seeds as training); reused when the method
    (``retrain``) has just computed it."""
    if exp.retrained is not None and exp.retrain_rounds == rounds:
        return exp.retrained
    exp.retrained, exp.retrain_rounds = None, rounds
    return exp.retrain()


class Timeline:
    def __init__(self, exp: TimelineHost, t_start: float) -> None:
        self.exp = exp
        self.cfg = exp.cfg
        self.t_start = t_start
        self.sched = plan(exp)
        self.served: list[int] = []
        self.records: dict[int, dict[str, Any]] = {}
        self.serve_cost = PhaseRecord()
        self.original: Arrays | None = None
        self.served_here = False  # restored position: after the serve point of its boundary
        self.attacks = shadowless(exp.cfg.evaluation.attacks)  # per-request AUCs (fedforget.evaluation.requests)

    # ------------------------------------------------------------------ helpers
    def elapsed(self) -> float:
        return time.perf_counter() - self.t_start

    def participants(self) -> list[int]:
        """Clients still in the federation: a served client-level request removes one."""
        n = self.exp.n_retain
        return [p for p in self.exp.everyone if not self.served or n.get(p, 1) > 0]

    def checkpoint(self, t: int, arrays: Arrays, served_here: bool = False) -> None:
        """Position at boundary ``t``: before its serve point, or after it (``served_here``)."""
        lp = self.exp.loop
        position = {
            "t": t, "served_here": served_here, "step": lp.global_round, "served": self.served,
            "elapsed_s": self.elapsed(),
            "records": {str(i): r for i, r in self.records.items()},
            "serve_cost": vars(self.serve_cost),
            "phases": {k: vars(v) for k, v in lp.phases.items()},
        }
        models = {"arrays": arrays, **({"original": self.original} if self.original is not None else {})}
        save_position(self.exp.out, position, models)

    def restore(self) -> tuple[int, Arrays] | None:
        got = load_position(self.exp.out)
        if got is None:
            return None
        position, models = got
        if position.get("done"):
            raise FedForgetError(f"the run in {self.exp.out} has finished (results.json); nothing to resume")
        self.served_here = bool(position.get("served_here"))
        lp = self.exp.loop
        lp.global_round = int(position["step"])
        lp.phases = {k: PhaseRecord(**v) for k, v in position["phases"].items()}
        self.served = [int(i) for i in position["served"]]
        self.records = {int(i): r for i, r in position["records"].items()}
        self.serve_cost = PhaseRecord(**position["serve_cost"])
        self.original = models.get("original")
        self.t_start = time.perf_counter() - float(position["elapsed_s"])
        for name in ("metrics.jsonl", RELAPSE_FILE):
            truncate_metrics(self.exp.out / name, lp.global_round)
        if self.served:  # the clients' view of what is deleted, as it was there
            send_delete(self.exp, self.served, self.records[self.served[-1]]["batch"])
        log.info("resuming at training round %d (step %d; %d request(s) served)", position["t"], lp.global_round,
                 len(self.served))
        return int(position["t"]), models["arrays"]

    # ------------------------------------------------------------------ run
    def run(self, resume: bool = False) -> dict[str, Any]:
        exp, cfg = self.exp, self.cfg
        T = cfg.training.rounds
        every = cfg.runtime.checkpoint_every
        start, arrays = 0, exp.init
        if resume and (got := self.restore()) is not None:
            start, arrays = got
        for t in range(start, T + 1):
            done_here = t == start and self.served_here  # resumed after this boundary's serve point
            if t == T and not done_here:
                atomic_save_npz(exp.out / "checkpoints" / "train.npz", arrays)  # the trained model
            if (t in self.sched or (every and t % every == 0 and t > start) or t == T) and not done_here:
                self.checkpoint(t, arrays)
            for i, r in enumerate(exp.requests):
                if arrival_round(r, T) == t and i not in self.records:
                    self.records[i] = {"id": request_id(i), "request": describe(r), "arrival_round": t,
                                       "arrival_s": self.elapsed()}
            if t in self.sched and not done_here:
                if t == T and not self.served:
                    self.original = arrays  # the plain run's trained model
                arrays = self.serve(t, self.sched[t], arrays)
                self.checkpoint(t, arrays, served_here=True)  # a resumed run never serves a request twice
            if t < T:
                step = exp.fedavg_step("train", self.participants(), cfg.training.lr)
                evaluate = cfg.evaluation.every_round or t == T - 1
                arrays = exp.loop.round("train", t, arrays, step, total=T, evaluate=evaluate)
                if evaluate and self.served:
                    self.relapse(t, arrays)
        return self.finish(arrays)

    def serve(self, t: int, batch: list[int], arrays: Arrays) -> Arrays:
        exp = self.exp
        self.served.extend(batch)
        send_delete(exp, self.served, batch)
        exp.retrained, exp.retrain_rounds = None, t  # a ``retrain`` method retrains the rounds so far
        unlearned, rec = exp.unlearn(arrays)
        self.serve_cost.add(rec)
        done_s = self.elapsed()
        general, per = self.evidence(unlearned, batch)
        if self.cfg.evaluation.retrain_at == "each" and t > 0:
            ref_general, ref_per = self.evidence(reference(exp, t), batch)
            general.update({f"reference_{k}": v for k, v in ref_general.items()})
            for i in batch:
                per[i].update({f"reference_{k}": v for k, v in ref_per[i].items()})
        for i in batch:
            self.records[i].update({
                "served_round": t, "waited_rounds": t - self.records[i]["arrival_round"],
                "waited_s": done_s - self.records[i]["arrival_s"], "batch": batch,
                "cost": {"time_s": rec.time_s, "bytes_down": rec.bytes_down, "bytes_up": rec.bytes_up,
                         "rounds": rec.rounds, "batch_size": len(batch)},
                "at_serve": {**general, **per[i]},
            })
        # A deletion is served only on evidence (fedforget.deletion.acceptance): a request whose
        # figures fail the acceptance rule is unverified in the ledger, without a receipt.
        verdicts = {i: judge(self.cfg.deletion.acceptance, {**general, **per[i]}) for i in batch}
        for i in batch:
            self.records[i]["acceptance"] = verdicts[i].as_dict()
        evidence = {request_id(i): {"at_serve": {**general, **per[i]}, "acceptance": verdicts[i].as_dict()} for i in batch}
        if ok := [request_id(i) for i in batch if verdicts[i].verified]:
            exp.records.on_served(unlearned, {}, t, ok, per_request=evidence)  # ledger + signed receipts
        exp.records.on_unverified(unlearned, t, evidence,
                                  {request_id(i): verdicts[i].reason for i in batch if not verdicts[i].verified})
        return unlearned

    def evidence(self, arrays: Arrays, batch: list[int]) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
        """Server-side metrics (test accuracy, ASR) and each request's forget metrics, attack
        AUCs and (where its data carries the trigger) ASR."""
        general = dict(self.exp.evaluation.server_eval(arrays))
        return general, with_asr(request_metrics(self.exp, arrays, batch, self.attacks), general.get("asr"))

    def relapse(self, t: int, arrays: Arrays) -> None:
        """Forget metrics of every served request after training round ``t``."""
        m = request_metrics(self.exp, arrays, self.served)
        row = {"step": self.exp.loop.global_round, "round": t + 1,
               **{request_id(i): m[i]["forget_acc"] for i in self.served}}
        append_jsonl(self.exp.out / RELAPSE_FILE, row)

    def finish(self, arrays: Arrays) -> dict[str, Any]:
        exp, cfg = self.exp, self.cfg
        T = cfg.training.rounds
        send_delete(exp, self.served, self.served, final=True)  # final evaluation: everything deleted
        retrained = reference(exp, T) if cfg.evaluation.retrain else None
        plain = len(self.sched) == 1 and T in self.sched
        results = exp.evaluation.finish(self.original if plain else None, arrays, self.serve_cost, retrained, self.t_start)
        models = results["models"]
        final = with_asr(request_metrics(exp, arrays, self.served, self.attacks), models["unlearned"].get("asr"))
        ref = (with_asr(request_metrics(exp, retrained, self.served, self.attacks), models["retrained"].get("asr"))
               if retrained is not None else {})
        for i in self.served:
            self.records[i]["at_end"] = {**final[i], **{f"reference_{k}": v for k, v in ref.get(i, {}).items()}}
        results["requests"] = [self.records[i] for i in sorted(self.records)]
        results["timeline"] = self.summary(results, arrays, retrained)
        atomic_write_json(exp.out / "results.json", results)
        exp.records.on_final_evidence(results)  # receipts re-issued with the evidence vs the retrained model
        save_position(exp.out, {"t": T + 1, "step": exp.loop.global_round, "done": True, "served": self.served,
                                "elapsed_s": self.elapsed(), "records": {}, "serve_cost": vars(self.serve_cost),
                                "phases": {k: vars(v) for k, v in exp.loop.phases.items()}}, {})
        return results

    def summary(self, results: dict[str, Any], arrays: Arrays, retrained: Arrays | None) -> dict[str, Any]:
        recs = [self.records[i] for i in self.served]
        waits = [r["waited_rounds"] for r in recs]
        models = results["models"]
        out: dict[str, Any] = {
            "policy": self.cfg.deletion.policy,
            "serve_points": {str(t): [request_id(i) for i in b] for t, b in sorted(self.sched.items())},
            "requests": len(recs),
            "cost_time_s": self.serve_cost.time_s,
            "cost_bytes": self.serve_cost.bytes_down + self.serve_cost.bytes_up,
            "cost_rounds": self.serve_cost.rounds,
            "mean_wait_rounds": float(np.mean(waits)) if waits else 0.0,
            "max_wait_rounds": max(waits) if waits else 0,
            "max_wait_s": max((r["waited_s"] for r in recs), default=0.0),
            "final_test_acc": models["unlearned"].get("test_acc"),
        }
        if retrained is not None:
            ref = models["retrained"]
            out["reference_test_acc"] = ref.get("test_acc")
            out["gap_test_acc"] = _gap(models["unlearned"].get("test_acc"), ref.get("test_acc"))
            out["gap_forget_acc"] = _gap(models["unlearned"].get("forget_acc"), ref.get("forget_acc"))
            out["distance_to_reference"] = param_distance(arrays, retrained)
        return out


def _gap(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else float(a - b)

