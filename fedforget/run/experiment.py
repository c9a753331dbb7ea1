"""One experiment, end to end, over any :class:`~fedforget.federation.Federation`:

    setup -> federated training (FedAvg) -> deletion request -> unlearning rounds
          -> recovery rounds -> retrain-from-scratch baseline -> evaluation -> results

The round loop lives in one place (:class:`~fedforget.run.loop.RoundLoop`); checkpoints,
the metrics sink and progress reporting hang on it. Flower appears nowhere: ``strategies/``
supplies a Federation backed by Flower's Grid. The experiment is composed, not inherited:
it holds its evaluation (:class:`~fedforget.run.evaluation.RunEvaluation`: per round and
final, results files) and its unlearning part (:class:`~fedforget.run.unlearning.RunUnlearning`:
the exchange, the update, make-up rounds), each typed against the small protocol of what
it reads; procedures see the experiment as a
:class:`~fedforget.unlearning.context.RoundContext` and the timeline as a
:class:`~fedforget.run.timeline.TimelineHost`.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedforget.compression import compressor_for
from fedforget.config import ExperimentConfig
from fedforget.data.federation import build_federated_data
from fedforget.deletion.receipts.records import DeletionRecords
from fedforget.federation import Arrays, Federation, Scalars
from fedforget.models import build_model
from fedforget.run.admission import Admission
from fedforget.run.checkpoint import take_resume_request
from fedforget.run.evaluation import RunEvaluation
from fedforget.run.faults import (
    FaultPolicy,
    FaultTolerantFederation,
)
from fedforget.run.loop import PhaseRecord, RoundLoop
from fedforget.run.timeline import Timeline
from fedforget.run.unlearning import RunUnlearning
from fedforget.run.validate import validate_experiment
from fedforget.training.aggregators import aggregate
from fedforget.unlearning.procedure import Procedure, resolve_procedure
from fedforget.util.device import CPU, device_for, place
from fedforget.util.io import atomic_write_text
from fedforget.util.params import flat_params, get_arrays
from fedforget.util.seeding import derive_seed, np_rng

log = logging.getLogger(__name__)


class Experiment:
    """One experiment on a federation; see the module docstring for its parts."""

    def __init__(self, cfg: ExperimentConfig, fed: Federation, out_dir: str | Path) -> None:
        self._t_created = time.perf_counter()  # the ``setup`` phase runs from here to the setup exchange's end
        self.setup_s: float | None = None
        self.cfg = validate_experiment(cfg)  # registered names, before any work
        self.fed = fed
        self.out = Path(out_dir)
        self.root = cfg.runtime.seed
        data = build_federated_data(cfg)
        # The server holds only held-out data: the test set, its triggered copy (ASR) and
        # the non-member reference pool. Client partitions and forget sets stay client-side.
        self.test = data.test
        self.nonmember = data.nonmember
        self.backdoor_test = data.backdoor_test()
        self.requests = data.requests  # every request of the run, on its timeline (fedforget.deletion.requests)
        self.model = build_model(cfg.model, data.test.input_shape, data.test.num_classes, seed=0)
        # Server evaluations (accuracy, ASR, attack references) run on runtime.device,
        # resolved in this process (fedforget.util.device). Weight arithmetic (aggregation,
        # updates, the float64 projection, whose SVD-based lstsq is CPU-only) stays on
        # self.model, on the CPU.
        self.device = device_for(cfg.runtime.device)
        self.eval_model = self.model if self.device == CPU else place(copy.deepcopy(self.model), self.device)
        self.n_forget: dict[int, int] = {}
        self.n_retain: dict[int, int] = {}
        # Compressed clients (fedforget.compression): payloads travel encoded and the
        # server masks / re-quantizes after every aggregation. Identity when it is off.
        self.compressor = compressor_for(cfg, data.test.input_shape, data.test.num_classes)
        # Client faults (fedforget.run.faults): retry once, leave out, minimum fraction per
        # phase; forget clients that miss unlearning rounds are owed make-up rounds.
        # Replies are checked at the door (fedforget.run.admission), decoded: the faults layer
        # wraps the codec, so a refused or undecodable reply is handled as a failed client.
        rt = cfg.runtime
        admission = Admission(int(flat_params(self.model).numel()), rt.max_update_norm_ratio) if rt.check_replies else None
        self.faults = FaultTolerantFederation(self.compressor.wrap(fed), FaultPolicy.from_config(cfg), admission)
        self.fed = self.faults
        self.evaluation = RunEvaluation(self)
        self.unlearning = RunUnlearning(self)
        self.loop = RoundLoop(self.fed, self.out, self.evaluation.eval_round, cfg.evaluation.every_round)
        self.loop.row_fields.append(self.faults.take_missing)
        self._sampled: dict[str, list[int]] = {}  # client sampling of the round (metrics row)
        self.loop.row_fields.append(self._take_sampled)
        # Deletion ledger + receipts (fedforget.deletion.receipts.records): model hashes of every round.
        self.records = DeletionRecords(self.out)
        self.loop.hooks.append(self.records.round_hook)
        # The unlearning method's server side (see fedforget.unlearning.procedure) and
        # the context it works in: participants, the initial model, a storage folder.
        self.procedure: Procedure = resolve_procedure(cfg.unlearning.method)(cfg)
        self.train_observers: list[Procedure] = [self.procedure]
        self.storage = self.out / "storage"
        self.everyone: list[int] = []
        self.init: Arrays = {}
        self.retrained: Arrays | None = None
        self.retrain_rounds: int | None = None  # streamed requests: the rounds trained so far

    # ------------------------------------------------------------------ helpers
    def _init_arrays(self) -> Arrays:
        m = build_model(self.cfg.model, self.test.input_shape, self.test.num_classes, derive_seed(self.root, "init"))
        return self.compressor.postprocess(get_arrays(m), None, "init", -1)

    def select_clients(self, participants: list[int], phase: str, r: int, frac: float | None = None) -> list[int]:
        """The clients of round ``r`` of ``phase``: a share ``frac`` (default
        ``training.clients_per_round``) drawn from the root seed, so the same config samples
        the same clients; recorded in the round's metrics row."""
        frac = self.cfg.training.clients_per_round if frac is None else frac
        if frac >= 1.0 or not participants:
            return participants
        k = max(1, int(round(frac * len(participants))))
        sel = sorted(np_rng(self.root, "select", phase, r).choice(participants, size=k, replace=False).tolist())
        if phase != "eval":
            self.note_sampled("clients_sampled", sorted(set(self._sampled.get("clients_sampled", [])) | set(sel)))
        return sel

    def note_sampled(self, key: str, clients: list[int]) -> None:
        """Record a client sampling of this round for its metrics row."""
        self._sampled[key] = clients

    def _take_sampled(self) -> dict[str, Any]:
        """Metrics-row fields: the clients sampled in this round (then forgotten)."""
        out, self._sampled = self._sampled, {}
        return out

    # ------------------------------------------------------------------ phases
    @property
    def forgetters(self) -> list[int]:
        """Clients holding data to forget (known after the deletion request)."""
        return [p for p, n in self.n_forget.items() if n > 0]

    @property
    def retainers(self) -> list[int]:
        """Clients holding retain data (known after the deletion request)."""
        return [p for p in sorted(self.n_retain) if self.n_retain[p] > 0]

    def fit_clients(
        self, phase: str, r: int, arrays: Arrays, participants: list[int], lr: float, *,
        seed_phase: str | None = None, extra_conf: Scalars | None = None,
    ) -> dict[int, tuple[Arrays, Scalars]]:
        """Send ``fit`` for round ``r`` of ``phase`` to (a selection of) ``participants``;
        return their replies (local models, ``num_examples``, ``loss``)."""
        # Training and retraining share per-round seeds: the retrained federation
        # differs from the original only by the deleted data.
        sp = seed_phase or ("train" if phase == "retrain" else phase)
        conf: Scalars = {"phase": phase, "seed": derive_seed(self.root, "fit", sp, r), "lr": lr, **(extra_conf or {})}
        sel = self.select_clients(participants, sp, r)
        return self.fed.send("fit", {p: (arrays, conf) for p in sel})

    def fedavg_step(
        self, phase: str, participants: list[int], lr: float, *, seed_phase: str | None = None,
        extra_conf: Scalars | None = None, observe: bool | None = None,
    ) -> Callable[[int, Arrays], tuple[Arrays, dict[str, Any]]]:
        """One FedAvg round per call: ``fit`` on ``participants`` (``train`` uses all local
        data, any other phase the retain data only). ``extra_conf`` is merged into the
        clients' config (e.g. ``epochs``); training rounds are shown to
        ``train_observers`` (``observe`` defaults to ``phase == "train"``)."""
        observe = phase == "train" if observe is None else observe

        def step(r: int, arrays: Arrays) -> tuple[Arrays, dict[str, Any]]:
            replies = self.fit_clients(phase, r, arrays, participants, lr, seed_phase=seed_phase, extra_conf=extra_conf)
            if observe:
                for obs in self.train_observers:
                    obs.on_train_round(self, r, arrays, replies)
            ups = [(a, float(m["num_examples"])) for a, m in replies.values() if float(m["num_examples"]) > 0]
            if not ups:
                return arrays, {"clients": 0}
            tc = self.cfg.training  # fedavg, or a robust rule (fedforget.training.aggregators)
            new = aggregate(tc.aggregation, [a for a, _ in ups], [w for _, w in ups], arrays,
                            trim_fraction=tc.trim_fraction, clip_norm=tc.clip_norm)
            new = self.compressor.postprocess(new, arrays, phase, r)  # prune on schedule, mask, re-quantize
            loss = float(np.mean([float(m["loss"]) for _, m in replies.values() if float(m["num_examples"]) > 0]))
            return new, {"clients": len(ups), "train_loss": loss}

        return step

    def recover(self, arrays: Arrays, phase: str = "recover") -> Arrays:
        """``unlearning.recovery_rounds`` FedAvg rounds on the retain clients."""
        uc = self.cfg.unlearning
        if not uc.recovery_rounds:
            return arrays
        return self.loop.run(phase, uc.recovery_rounds, arrays, self.fedavg_step(phase, self.retainers, uc.recovery_lr))

    def retrain(self) -> Arrays:
        """The retrain-from-scratch model (same init and per-round seeds as training,
        retain data only); computed once per experiment."""
        if self.retrained is None:
            tc = self.cfg.training
            rounds = tc.rounds if self.retrain_rounds is None else self.retrain_rounds
            self.retrained = self.loop.run("retrain", rounds, self.init, self.fedavg_step("retrain", self.retainers, tc.lr))
        return self.retrained

    # ------------------------------------------------- the unlearning part (RoundContext)
    def flat(self, arrays: Arrays) -> torch.Tensor:
        return self.unlearning.flat(arrays)

    def apply_update(self, arrays: Arrays, update: torch.Tensor, scale: float = 1.0) -> Arrays:
        return self.unlearning.apply_update(arrays, update, scale)

    def collect_unlearn(
        self, arrays: Arrays, seed: int, *, forgetters: list[int] | None = None, retainers: list[int] | None = None,
        extra_arrays: Arrays | None = None, extra_conf: Scalars | None = None,
    ) -> tuple[list[tuple[torch.Tensor, float]], Any]:  # (forget updates, retain subspace or None)
        return self.unlearning.collect_unlearn(arrays, seed, forgetters=forgetters, retainers=retainers,
                                               extra_arrays=extra_arrays, extra_conf=extra_conf)

    def unlearn_step(
        self, combiner: str | None = None, objective: str | None = None, seed_key: str = "unlearn",
        extra_conf: Scalars | None = None, forgetters: list[int] | None = None, extra_arrays: Arrays | None = None,
    ) -> Callable[[int, Arrays], tuple[Arrays, dict[str, Any]]]:
        return self.unlearning.unlearn_step(combiner, objective, seed_key, extra_conf, forgetters, extra_arrays)

    def serve_pending(self, arrays: Arrays) -> Arrays:
        return self.unlearning.serve_pending(arrays)

    # ------------------------------------------------------------------ run
    def prepare(self, resume: bool = False) -> None:
        """Output folder, resolved config, empty metrics file (kept when resuming)."""
        self.out.mkdir(parents=True, exist_ok=True)
        if not resume:
            (self.out / "metrics.jsonl").unlink(missing_ok=True)
        atomic_write_text(self.out / "config.yaml", self.cfg.to_yaml())
        self.records.start(fresh=not resume)  # <out>/ledger.sqlite (a resumed run keeps it and serves its pending requests)
        self.evaluation.reset()

    def setup(self) -> list[int]:
        """Send the experiment to every client; build the initial model. Its phase,
        ``setup``, also counts building the server's side (data, model) since construction."""
        conf = {"experiment": self.cfg.to_yaml()}  # once: a YAML dump per client cost 24 s at 1,000 clients
        replies = self.fed.send("setup", {p: ({}, conf) for p in self.fed.partitions()})
        self.everyone = sorted(replies)
        log.info("federation of %d clients ready (%s samples)", len(self.everyone),
                 sum(int(m["num_examples"]) for _, m in replies.values()))
        self.init = self._init_arrays()
        self.setup_s = time.perf_counter() - self._t_created
        return self.everyone

    def train(self) -> Arrays:
        tc = self.cfg.training
        return self.loop.run("train", tc.rounds, self.init, self.fedavg_step("train", self.everyone, tc.lr))

    def delete(self) -> None:
        """The deletion request: clients report sizes only."""
        dels = self.fed.send("delete", {p: ({}, {}) for p in self.everyone})
        self.n_forget = {p: int(m["n_forget"]) for p, (_, m) in dels.items()}
        self.n_retain = {p: int(m["n_retain"]) for p, (_, m) in dels.items()}
        log.info("deletion request: %d samples to forget on clients %s",
                 sum(self.n_forget.values()), self.forgetters)

    def unlearn(self, original: Arrays) -> tuple[Arrays, PhaseRecord]:
        """Run the method's procedure; its cost is the sum of the phases it ran."""
        before = {k: PhaseRecord(v.time_s, v.bytes_down, v.bytes_up, v.rounds) for k, v in self.loop.phases.items()}
        self.records.on_unlearning(original, self.cfg.unlearning.method)  # ledger: pending requests -> unlearning
        arrays = self.procedure.unlearn(self, original)
        arrays = self.serve_pending(arrays)  # no-op unless a forget client missed rounds
        rec = PhaseRecord()
        for k, v in self.loop.phases.items():
            b = before.get(k, PhaseRecord())
            rec.time_s += v.time_s - b.time_s
            rec.bytes_down += v.bytes_down - b.bytes_down
            rec.bytes_up += v.bytes_up - b.bytes_up
            rec.rounds += v.rounds - b.rounds
        return arrays, rec

    def run(self) -> dict[str, Any]:
        """The run on its timeline (fedforget.run.timeline): training rounds, deletion requests
        arriving between them and served by ``deletion.policy``, the reference, evaluation.
        When every request comes after training: train -> delete -> unlearn -> retrain."""
        resume = take_resume_request(self.out)
        timeline = Timeline(self, time.perf_counter())  # refuses a schedule the method cannot serve
        self.prepare(resume=resume)
        timeline.t_start = time.perf_counter()
        self.setup()
        return timeline.run(resume)
