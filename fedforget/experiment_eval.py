"""The evaluation side of :class:`~fedforget.experiment.Experiment` (a mixin): server-side
test accuracy and backdoor ASR, federated accuracy counts and attack signals, the
per-round evaluation the round loop calls, and the final evaluation that writes
``results.json`` and ``roc.json``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fedforget.config import ExperimentConfig
from fedforget.data.arrays import ArrayData
from fedforget.evaluation.evaluators.base import run_evaluators
from fedforget.evaluation.evaluators.relearn import add_steps_to_recover
from fedforget.evaluation.metrics import param_distance
from fedforget.evaluation.server import FederatedMIA
from fedforget.faults import FaultTolerantFederation
from fedforget.federation import Arrays, Federation
from fedforget.io import atomic_write_json
from fedforget.params import set_arrays
from fedforget.runloop import PhaseRecord, RoundLoop
from fedforget.training import accuracy_counts, predict_logits

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


class ExperimentEvaluation:
    """Evaluation methods of :class:`~fedforget.experiment.Experiment`, which sets the
    attributes declared here."""

    cfg: ExperimentConfig
    fed: Federation
    out: Path
    model: Any
    eval_model: Any  # the model evaluations run on, on runtime.device
    test: ArrayData
    backdoor_test: ArrayData | None
    loop: RoundLoop
    faults: FaultTolerantFederation
    everyone: list[int]
    n_forget: dict[int, int]
    mia: FederatedMIA
    _sampled: dict[str, list[int]]
    _eval_time: float
    _roc: dict[str, Any]
    setup_s: float | None  # the setup phase (Experiment.setup), None before it ran

    if TYPE_CHECKING:
        @property
        def forgetters(self) -> list[int]: ...

        def _select(self, participants: list[int], phase: str, r: int, frac: float | None = None) -> list[int]: ...

    def _server_eval(self, arrays: Arrays) -> dict[str, Any]:
        set_arrays(self.eval_model, arrays)
        c, n, _ = accuracy_counts(self.eval_model, self.test)
        out: dict[str, Any] = {"test_acc": c / n, "asr": None}
        if self.backdoor_test is not None and len(self.backdoor_test):
            logits = predict_logits(self.eval_model, self.backdoor_test)
            out["asr"] = float((logits.argmax(1) == self.cfg.deletion.backdoor.target).float().mean())
        return out

    def _fed_eval(
        self, arrays: Arrays, attacks: tuple[str, ...], clients: list[int] | None = None,
    ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Federated accuracy counts (and attack signals) of ``clients`` (all by default)."""
        cfg = {"attacks": ",".join(attacks)}
        who = self.fed.partitions() if clients is None else clients
        replies = self.fed.send("evaluate", {p: (arrays, cfg) for p in who})
        sigs: dict[str, list[np.ndarray]] = {a: [] for a in attacks}
        for p in sorted(replies):
            arr = replies[p][0]
            for a in attacks:
                if f"signal.{a}" in arr:
                    sigs[a].append(np.asarray(arr[f"signal.{a}"]))
        out = _accuracies({p: m for p, (_, m) in replies.items()})
        return out, {a: np.concatenate(v) if v else np.zeros(0) for a, v in sigs.items()}

    def _eval_round(self, arrays: Arrays) -> dict[str, Any]:
        t0 = time.perf_counter()
        out = self._server_eval(arrays)
        # A sample of clients per round (evaluation.clients_per_round), always with the
        # forget clients (forget accuracy is what a round is read by); all at the end.
        everyone = self.fed.partitions()
        sel = self._select(everyone, "eval", self.loop.global_round, self.cfg.evaluation.clients_per_round)
        if len(sel) < len(everyone):
            sel = sorted(set(sel) | {p for p in self.forgetters if p in set(everyone)})
            self._sampled["eval_clients"] = sel
        out.update(self._fed_eval(arrays, (), sel)[0])
        self._eval_time += time.perf_counter() - t0
        return out

    def _final_eval(self, name: str, arrays: Arrays, rec: PhaseRecord | None, extra_time: float = 0.0) -> dict[str, Any]:
        res = self._server_eval(arrays)
        # Membership inference across the federation (fedforget.evaluation.server): clients
        # return per-sample signals of their own data, never samples; and, in the same
        # exchange, their accuracy counts (one message per client and model, not two).
        mia = self.mia.evaluate(name, arrays, counts=True)
        res.update(_accuracies(mia.pop("replies")))
        roc = mia.pop("roc")
        res.update(mia)
        if self.cfg.evaluation.evaluators:  # relearn / probe, run on the clients
            res["evaluators"] = run_evaluators(self.cfg, self.fed, arrays, name)
        res["time_s"] = (rec.time_s if rec else 0.0) + extra_time
        res["bytes_down"] = rec.bytes_down if rec else 0
        res["bytes_up"] = rec.bytes_up if rec else 0
        res["bytes_sent"] = res["bytes_down"] + res["bytes_up"]
        self._roc[name] = roc
        return res

    def finish(
        self, original: Arrays | None, unlearned: Arrays, unl_rec: PhaseRecord, retrained: Arrays | None,
        t_start: float, original_rec: PhaseRecord | None = None, retrained_rec: PhaseRecord | None = None,
    ) -> dict[str, Any]:
        """Final evaluation and results files (results.json, roc.json)."""
        cfg = self.cfg
        uc = cfg.unlearning
        self.mia = FederatedMIA(cfg, self.fed, self.out, self.test, self.eval_model)
        self.mia.prepare(self.everyone)  # LiRA shadow federations, cached by config hash
        t_eval = time.perf_counter()
        ph = self.loop.phases
        models: dict[str, Any] = {}
        if original is not None:
            models["original"] = self._final_eval("original", original, original_rec or ph.get("train"))
        models["unlearned"] = self._final_eval("unlearned", unlearned, unl_rec)
        models["unlearned"]["method"] = uc.method
        models["unlearned"]["combiner"] = uc.combiner
        if retrained is not None:
            models["retrained"] = self._final_eval("retrained", retrained, retrained_rec or ph.get("retrain"))
            for k, arr in (("original", original), ("unlearned", unlearned), ("retrained", retrained)):
                if arr is not None:
                    models[k]["distance_to_retrained"] = param_distance(arr, retrained)
        self.mia.resolve(models)  # the MIA-efficacy SVCs, computed in the background
        add_steps_to_recover(models, cfg, models.get("original", {}).get("forget_acc"))
        eval_s = time.perf_counter() - t_eval

        results = {
            "version": RESULTS_VERSION,
            "name": cfg.name,
            "config_digest": cfg.digest(),
            "num_clients": len(self.everyone),
            "forget": {
                "n_forget": sum(self.n_forget.values()),
                "clients": self.forgetters,
                "granularities": sorted({r.granularity for r in cfg.deletion.requests}),
                "backdoor": cfg.deletion.backdoor.enabled,
            },
            "models": models,
            "mia": self.mia.finish(models),
            "phases": {
                **({"setup": {"time_s": self.setup_s}} if self.setup_s is not None else {}),
                **{k: {"time_s": v.time_s, "rounds": v.rounds, "bytes_down": v.bytes_down, "bytes_up": v.bytes_up}
                   for k, v in ph.items()},
                "per_round_evaluation": {"time_s": self._eval_time},
                "final_evaluation": {"time_s": eval_s},
            },
            "total_time_s": time.perf_counter() - t_start,
            "faults": {**self.faults.summary(), "makeup_rounds": self.loop.phases.get("unlearn_makeup", PhaseRecord()).rounds,
                       "requests_lost": 0},  # a request that cannot be served raises instead
        }
        atomic_write_json(self.out / "roc.json", self._roc)
        atomic_write_json(self.out / "results.json", results)
        return results
