"""The unlearning part of a run (:class:`RunUnlearning`, held by
:class:`~fedforget.run.experiment.Experiment`): one ``unlearn`` exchange
(:meth:`RunUnlearning.collect_unlearn`), the server's update
(:meth:`RunUnlearning.apply_update`), the unlearning round step with its combiner and
the make-up rounds owed to forget clients that missed one."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import torch

from fedforget.config import ExperimentConfig
from fedforget.deletion.receipts.records import DeletionRecords
from fedforget.federation import Arrays, Federation, Scalars
from fedforget.run.faults import FaultTolerantFederation, PendingDeletions, UnservedDeletionError
from fedforget.run.loop import RoundLoop
from fedforget.unlearning.calibration import member_share, reference_options, should_stop
from fedforget.unlearning.combiners import COMBINERS, Combiner
from fedforget.unlearning.stability import check_finite_arrays, check_finite_updates
from fedforget.unlearning.subspace import (
    PerLayerSubspace,
    RetainSubspace,
    make_subspace,
    plan_method,
    projection_metrics,
)
from fedforget.util.device import model_device
from fedforget.util.params import flat_params, get_arrays, set_arrays, set_flat_params
from fedforget.util.seeding import derive_seed

log = logging.getLogger(__name__)


class UnlearningHost(Protocol):
    """What :class:`RunUnlearning` reads of the run (the experiment provides it)."""

    cfg: ExperimentConfig
    fed: Federation
    model: Any  # the server's CPU model: weight arithmetic
    eval_model: Any  # on runtime.device: calibration statistics
    compressor: Any
    nonmember: Any
    root: int
    loop: RoundLoop
    faults: FaultTolerantFederation
    records: DeletionRecords
    n_forget: dict[int, int]

    @property
    def forgetters(self) -> list[int]: ...

    @property
    def retainers(self) -> list[int]: ...

    def select_clients(self, participants: list[int], phase: str, r: int, frac: float | None = None) -> list[int]: ...


class RunUnlearning:
    """The unlearning exchange, update and round step of a run, and the deletions it owes
    (:class:`~fedforget.run.faults.PendingDeletions`)."""

    def __init__(self, host: UnlearningHost) -> None:
        self.host = host
        cfg = host.cfg
        # before any work: a rank the model cannot hold, or a projection that cannot fit the
        # server's memory at the round's most retain directions, is a ConfigError (plan_method)
        k = math.ceil(cfg.partition.num_clients * cfg.training.clients_per_round) * cfg.unlearning.retain_directions
        plan_method(cfg.unlearning.subspace, k, sum(t.numel() for t in host.model.parameters()),
                    cfg.runtime.max_server_memory_gb)
        self.pending = PendingDeletions()
        self.member_share: float | None = None  # of the last unlearn exchange (calibration)
        self._makeup = False
        self._unlearn_conf: Scalars = {}
        self._unlearn_arrays: Arrays = {}

    def collect_unlearn(
        self, arrays: Arrays, seed: int, *, forgetters: list[int] | None = None, retainers: list[int] | None = None,
        extra_arrays: Arrays | None = None, extra_conf: Scalars | None = None,
    ) -> tuple[list[tuple[torch.Tensor, float]], RetainSubspace | PerLayerSubspace | None]:
        """One ``unlearn`` exchange: forget clients return forgetting updates (weighted by
        their forget-set size), retain clients retain directions, folded into a retain
        subspace (fedforget.unlearning.subspace) one client at a time, each reply's
        directions released once folded. ``extra_arrays`` travel with the model (e.g.
        ``ref.*`` reference weights); ``extra_conf`` may name another ``objective`` or
        override ``local_steps``/``lr``."""
        fs = self.host.forgetters if forgetters is None else forgetters
        # Retain directions from a sample of retain clients (training.clients_per_round);
        # every forget client is asked: its data must be forgotten.
        rs = self.host.select_clients(self.host.retainers if retainers is None else retainers, "unlearn", seed)
        uc = self.host.cfg.unlearning
        segments = self.segments(arrays)
        # before any work: the projection's memory estimate against the server's (ConfigError)
        method = plan_method(uc.subspace, len(rs) * uc.retain_directions, segments[-1][1],
                             self.host.cfg.runtime.max_server_memory_gb) if rs else "exact"
        extra_conf = {**self._calibration_conf(arrays), **(extra_conf or {})}  # reference statistics
        payload = {**arrays, **(extra_arrays or {})}
        reqs = {
            p: (payload, {"seed": seed, "want_forget": p in fs, "want_retain": p in rs, **(extra_conf or {})})
            for p in sorted(set(fs) | set(rs))
        }
        replies = self.host.fed.send("unlearn", reqs)
        check_finite_updates(self.host.cfg.unlearning.method, replies)
        self.member_share = member_share([m for _, m in replies.values()])
        # A forget client that did not deliver owes a round (served by serve_pending).
        asked = [p for p in fs if self.host.n_forget.get(p, 0) > 0]
        delivered = {p for p, (a, _) in replies.items() if "forget_update" in a}
        self.pending.record(asked, delivered, self.host.faults.missing, makeup=self._makeup)
        self._unlearn_conf, self._unlearn_arrays = dict(extra_conf or {}), dict(extra_arrays or {})
        if asked and not delivered:  # no forget client answered: a zero forgetting update this round
            replies = {**replies, -1: ({"forget_update": np.zeros(self.flat(arrays).numel(), np.float32)}, {"n_forget": 1})}
        fupd = [
            (torch.from_numpy(np.asarray(a["forget_update"])), float(m["n_forget"]))
            for a, m in replies.values() if "forget_update" in a
        ]
        folding = [a for a, _ in replies.values() if "retain_dirs" in a]
        if not folding:
            return fupd, None
        device = torch.device("cpu") if method == "exact" else model_device(self.host.eval_model)
        mask = self.host.compressor.flat_mask(arrays)
        sub = make_subspace(uc.subspace, uc.projection, method, segments, device, mask)
        if fupd:  # the unprojected update: the denominator of the first-order figure
            sub.set_reference(Combiner.weighted_mean(fupd))
        for a in folding:  # one client at a time; its directions are released once folded
            sub.add(torch.from_numpy(np.asarray(a.pop("retain_dirs"))))
        return fupd, sub

    def segments(self, arrays: Arrays) -> list[tuple[int, int]]:
        """``(start, end)`` of each parameter tensor in the flat vector (flat_params order)."""
        set_arrays(self.host.model, arrays)
        out, i = [], 0
        for t in self.host.model.parameters():
            out.append((i, i + t.numel()))
            i += t.numel()
        return out

    def flat(self, arrays: Arrays) -> torch.Tensor:
        """The model's parameters as one float64 vector (the space updates live in)."""
        set_arrays(self.host.model, arrays)
        return flat_params(self.host.model).to(torch.float64).clone()

    def apply_update(self, arrays: Arrays, update: torch.Tensor, scale: float = 1.0) -> Arrays:
        """``arrays + scale * update`` (flat update over the parameters, float64 sum)."""
        mask = self.host.compressor.flat_mask(arrays)
        if mask is not None:  # pruned weights stay exactly zero
            update = update * mask.to(update.dtype)
        set_arrays(self.host.model, arrays)
        w = flat_params(self.host.model).to(torch.float64) + scale * update.to(torch.float64)
        set_flat_params(self.host.model, w.to(torch.float32))
        new = self.host.compressor.postprocess(get_arrays(self.host.model), arrays, "unlearn", -1)  # back onto the grid
        check_finite_arrays(self.host.cfg.unlearning.method, new, "an unlearning update")
        return new

    def _calibration_conf(self, arrays: Arrays) -> Scalars:
        """Reference statistics of the non-member pool under ``arrays`` (``opt.*``) for a
        calibrated unlearn message (fedforget.unlearning.calibration); {} when off."""
        uc = self.host.cfg.unlearning
        if uc.calibration != "target":
            return {}
        set_arrays(self.host.eval_model, arrays)
        return reference_options(self.host.eval_model, self.host.nonmember, uc.target_quantile, uc.settle_quantile)

    def unlearn_step(
        self, combiner: str | None = None, objective: str | None = None, seed_key: str = "unlearn",
        extra_conf: Scalars | None = None, forgetters: list[int] | None = None, extra_arrays: Arrays | None = None,
    ) -> Callable[[int, Arrays], tuple[Arrays, dict[str, Any]]]:
        """One unlearning round per call: :meth:`collect_unlearn`, combine with the
        registered ``combiner`` (default ``unlearning.combiner``), apply with ``server_lr``."""
        uc = self.host.cfg.unlearning
        comb = COMBINERS.get(combiner or uc.combiner)()
        conf = dict(extra_conf or {})
        if objective is not None:
            conf["objective"] = objective
        stopped: list[int] = []  # early stopping (calibration: target): the round it fired

        def step(r: int, arrays: Arrays) -> tuple[Arrays, dict[str, Any]]:
            if stopped:
                return arrays, {"early_stopped": stopped[0] + 1}
            fupd, retain = self.collect_unlearn(arrays, derive_seed(self.host.root, seed_key, r), extra_conf=conf,
                                                forgetters=forgetters, extra_arrays=extra_arrays)
            if uc.calibration == "target" and uc.early_stop and should_stop(self.member_share, uc.target_quantile):
                stopped.append(r)  # the forget set already looks like non-members: keep the model
                return arrays, {"early_stopped": r + 1, "member_share": self.member_share}
            update = comb.combine(fupd, retain, mask=self.host.compressor.flat_mask(arrays))
            extra: dict[str, Any] = {"update_norm": float(update.norm())}
            if self.member_share is not None:
                extra["member_share"] = self.member_share
            if retain is not None and retain.received:
                extra.update(projection_metrics(retain, update))
            new = self.apply_update(arrays, update, uc.server_lr)
            if self.host.compressor.enabled:  # what survived re-quantization, and its orthogonality
                applied = self.flat(new) - self.flat(arrays)
                extra["applied_update_norm"] = float(applied.norm())
                if retain is not None and retain.received and retain.method == "exact":
                    extra["applied_max_cos"] = retain.error(applied)["max_abs_cos"]
            return new, extra

        return step

    def serve_pending(self, arrays: Arrays) -> Arrays:
        """Make-up unlearning rounds (phase ``unlearn_makeup``) for forget clients that
        missed unlearning rounds, until every pending deletion is served; after
        ``runtime.makeup_rounds`` rounds, :class:`UnservedDeletionError` names the request."""
        done = 0
        while owed := self.pending.pending():
            if done >= self.host.cfg.runtime.makeup_rounds:
                err = self.pending.unserved_error(self.host.cfg, done)
                self.deletion_failed(err)
                raise err
            log.warning("forget client(s) %s missed unlearning rounds: make-up round %d", owed, done + 1)
            # the last unlearning exchange's objective and reference arrays (ref.*), for the owed clients
            step = self.unlearn_step(seed_key="unlearn-makeup", extra_conf=self._unlearn_conf, forgetters=owed,
                                     extra_arrays=self._unlearn_arrays)
            self._makeup = True
            try:
                arrays = self.host.loop.round("unlearn_makeup", done, arrays, step, evaluate=True)
            finally:
                self._makeup = False
            done += 1
        return arrays

    def deletion_failed(self, err: UnservedDeletionError) -> None:
        """Hook: a deletion request could not be served (the run ends with ``err``)."""
        log.error("%s", err)
        self.host.records.on_failed(str(err))  # the ledger entry says why

