"""The evaluation part of a run (:class:`RunEvaluation`, held by
:class:`~fedforget.run.experiment.Experiment`): server-side test accuracy and backdoor
ASR, federated accuracy counts and attack signals, the per-round evaluation the round
loop calls, and the final evaluation that writes ``results.json`` and ``roc.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fedforget.config import ExperimentConfig
from fedforget.data.arrays import ArrayData
from fedforget.evaluation.evaluators.base import add_vs_retrained, run_evaluators
from fedforget.evaluation.evaluators.relearn import add_steps_to_recover
from fedforget.evaluation.metrics import param_distance
from fedforget.federation import Arrays, Federation
from fedforget.run.faults import FaultTolerantFederation
from fedforget.run.loop import PhaseRecord, RoundLoop
from fedforget.run.mia import FederatedMIA
from fedforget.training.local import accuracy_counts, predict_logits
from fedforget.util.io import atomic_write_json
from fedforget.util.params import set_arrays

RESULTS_VERSION = 1
COUNTS = ("forget_correct", "forget_n", "retain_correct", "retain_n", "forget_loss", "retain_loss")


def _accuracies(metrics: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Federation-wide forget and retain accuracy from the clients' counts (summed in
    partition order)."""
    tot: dict[str, float] = {}
    for p in sorted(metrics):
        for k in COUNTS:
            tot[k] = tot.get(k, 0.0) + float(metrics[p][k])
    return {
        "forget_acc": tot["forget_correct"] / tot["forget_n"] if tot.get("forget_n") else None,
        "retain_acc": tot["retain_correct"] / tot["retain_n"] if tot.get("retain_n") else None,
    }


class EvaluationHost(Protocol):
    """What :class:`RunEvaluation` reads of the run (the experiment provides it)."""

    cfg: ExperimentConfig
    fed: Federation
    out: Path
    eval_model: Any  # the model evaluations run on, on runtime.device
    test: ArrayData
    backdoor_test: ArrayData | None
    loop: RoundLoop
    faults: FaultTolerantFederation
    everyone: list[int]
    n_forget: dict[int, int]
    setup_s: float | None  # the setup phase, None before it ran

    @property
    def forgetters(self) -> list[int]: ...

    @property
    def retainers(self) -> list[int]: ...

    def fedavg_step(self, phase: str, participants: list[int], lr: float, *, seed_phase: str | None = None,
                    extra_conf: dict[str, Any] | None = None, observe: bool | None = None) -> Any: ...

    def select_clients(self, participants: list[int], phase: str, r: int, frac: float | None = None) -> list[int]: ...

    def note_sampled(self, key: str, clients: list[int]) -> None: ...


class RunEvaluation:
    """Per-round and final evaluation of a run; keeps the evaluation time and ROC curves."""

    def __init__(self, host: EvaluationHost) -> None:
        self.host = host
        self.time_s = 0.0  # per-round evaluation, summed
        self.roc: dict[str, Any] = {}
        self.mia: FederatedMIA | None = None

    def reset(self) -> None:
        self.time_s, self.roc = 0.0, {}

    def server_eval(self, arrays: Arrays) -> dict[str, Any]:
        set_arrays(self.host.eval_model, arrays)
        c, n, _ = accuracy_counts(self.host.eval_model, self.host.test)
        out: dict[str, Any] = {"test_acc": c / n, "asr": None}
        if self.host.backdoor_test is not None and len(self.host.backdoor_test):
            logits = predict_logits(self.host.eval_model, self.host.backdoor_test)
            out["asr"] = float((logits.argmax(1) == self.host.cfg.deletion.backdoor.target).float().mean())
        return out

    def fed_eval(
        self, arrays: Arrays, attacks: tuple[str, ...], clients: list[int] | None = None,
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Federated accuracy counts (and attack signals) of ``clients`` (all by default)."""
        cfg = {"attacks": ",".join(attacks)}
        who = self.host.fed.partitions() if clients is None else clients
        replies = self.host.fed.send("evaluate", {p: (arrays, cfg) for p in who})
        sigs: dict[str, list[np.ndarray]] = {a: [] for a in attacks}
        for p in sorted(replies):
            arr = replies[p][0]
            for a in attacks:
                if f"signal.{a}" in arr:
                    sigs[a].append(np.asarray(arr[f"signal.{a}"]))
        out = _accuracies({p: m for p, (_, m) in replies.items()})
        return out, {a: np.concatenate(v) if v else np.zeros(0) for a, v in sigs.items()}

    def eval_round(self, arrays: Arrays) -> dict[str, Any]:
        t0 = time.perf_counter()
        out = self.server_eval(arrays)
        # A sample of clients per round (evaluation.clients_per_round), always with the
        # forget clients (forget accuracy is what a round is read by); all at the end.
        everyone = self.host.fed.partitions()
        sel = self.host.select_clients(everyone, "eval", self.host.loop.global_round, self.host.cfg.evaluation.clients_per_round)
        if len(sel) < len(everyone):
            sel = sorted(set(sel) | {p for p in self.host.forgetters if p in set(everyone)})
            self.host.note_sampled("eval_clients", sel)
        out.update(self.fed_eval(arrays, (), sel)[0])
        self.time_s += time.perf_counter() - t0
        return out

    def retain_fine_tune(self, r: int, arrays: Arrays) -> Arrays:
        """Round ``r`` of retain-only FedAvg fine-tuning (the ``relearn_retain`` evaluator):
        one local epoch at ``evaluation.relearn.lr`` on the retain clients, seeds of its own."""
        step = self.host.fedavg_step("relearn_retain", self.host.retainers, self.host.cfg.evaluation.relearn.lr,
                                     extra_conf={"epochs": 1}, observe=False)
        return step(r, arrays)[0]

    def final_eval(self, mia_eval: FederatedMIA, name: str, arrays: Arrays, rec: PhaseRecord | None,
                   extra_time: float = 0.0) -> dict[str, Any]:
        res = self.server_eval(arrays)
        # Membership inference across the federation (fedforget.run.mia): clients
        # return per-sample signals of their own data, never samples; and, in the same
        # exchange, their accuracy counts (one message per client and model, not two).
        mia = mia_eval.evaluate(name, arrays, counts=True)
        res.update(_accuracies(mia.pop("replies")))
        roc = mia.pop("roc")
        res.update(mia)
        if self.host.cfg.evaluation.evaluators:  # relearn / probe, run on the clients
            res["evaluators"] = run_evaluators(self.host.cfg, self.host.fed, arrays, name, server_eval=self.server_eval,
                                               fine_tune=self.retain_fine_tune)
        res["time_s"] = (rec.time_s if rec else 0.0) + extra_time
        res["bytes_down"] = rec.bytes_down if rec else 0
        res["bytes_up"] = rec.bytes_up if rec else 0
        res["bytes_sent"] = res["bytes_down"] + res["bytes_up"]
        self.roc[name] = roc
        return res

    def finish(
        self, original: Arrays | None, unlearned: Arrays, unl_rec: PhaseRecord, retrained: Arrays | None,
        t_start: float, original_rec: PhaseRecord | None = None, retrained_rec: PhaseRecord | None = None,
        before: Arrays | None = None,
    ) -> dict[str, Any]:
        """Final evaluation and results files (results.json, roc.json). ``before``: the model
        before unlearning when ``original`` is not evaluated here (a comparison row after the
        first), for the before/after attack (``evaluation.before_after``)."""
        cfg = self.host.cfg
        uc = cfg.unlearning
        mia = self.mia = FederatedMIA(cfg, self.host.fed, self.host.out, self.host.test, self.host.eval_model)
        mia.prepare(self.host.everyone)  # LiRA shadow federations, cached by config hash
        t_eval = time.perf_counter()
        ph = self.host.loop.phases
        models: dict[str, Any] = {}
        if original is not None:
            models["original"] = self.final_eval(mia, "original", original, original_rec or ph.get("train"))
        elif before is not None:
            mia.signals_only("original", before)
        models["unlearned"] = self.final_eval(mia, "unlearned", unlearned, unl_rec)
        models["unlearned"]["method"] = uc.method
        models["unlearned"]["combiner"] = uc.combiner
        if retrained is not None:
            models["retrained"] = self.final_eval(mia, "retrained", retrained, retrained_rec or ph.get("retrain"))
            for k, arr in (("original", original), ("unlearned", unlearned), ("retrained", retrained)):
                if arr is not None:
                    models[k]["distance_to_retrained"] = param_distance(arr, retrained)
        mia.resolve(models)  # the MIA-efficacy SVCs, computed in the background
        add_steps_to_recover(models, cfg, models.get("original", {}).get("forget_acc"))
        add_vs_retrained(models, cfg)  # quant_recovery / relearn_retain against the retrained model
        eval_s = time.perf_counter() - t_eval

        results = {
            "version": RESULTS_VERSION,
            "name": cfg.name,
            "config_digest": cfg.digest(),
            "num_clients": len(self.host.everyone),
            "forget": {
                "n_forget": sum(self.host.n_forget.values()),
                "clients": self.host.forgetters,
                "granularities": sorted({r.granularity for r in cfg.deletion.requests}),
                "backdoor": cfg.deletion.backdoor.enabled,
            },
            "models": models,
            "mia": mia.finish(models),
            "phases": {
                **({"setup": {"time_s": self.host.setup_s}} if self.host.setup_s is not None else {}),
                **{k: {"time_s": v.time_s, "rounds": v.rounds, "bytes_down": v.bytes_down, "bytes_up": v.bytes_up}
                   for k, v in ph.items()},
                "per_round_evaluation": {"time_s": self.time_s},
                "final_evaluation": {"time_s": eval_s},
            },
            "total_time_s": time.perf_counter() - t_start,
            "faults": {**self.host.faults.summary(), "makeup_rounds": self.host.loop.phases.get("unlearn_makeup", PhaseRecord()).rounds,
                       "requests_lost": 0},  # a request that cannot be served raises instead
        }
        atomic_write_json(self.host.out / "roc.json", self.roc)
        atomic_write_json(self.host.out / "results.json", results)
        return results
