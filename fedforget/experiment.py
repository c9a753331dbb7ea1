"""One experiment, end to end, over any :class:`~fedforget.federation.Federation`:

    setup -> federated training (FedAvg) -> deletion request -> unlearning rounds
          -> recovery rounds -> retrain-from-scratch baseline -> evaluation -> results

The round loop lives here once (:class:`RoundLoop`); checkpoints, the metrics sink and
progress reporting hang on it. Flower appears nowhere: ``strategies/`` supplies a
Federation backed by Flower's Grid.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedforget.combiners import COMBINERS
from fedforget.config import ExperimentConfig
from fedforget.data.federation import build_federated_data
from fedforget.evaluation.attacks.base import signals
from fedforget.evaluation.metrics import mia_metrics, param_distance
from fedforget.federation import Arrays, Federation, Scalars
from fedforget.io import append_jsonl, atomic_save_npz, atomic_write_json, atomic_write_text
from fedforget.models import build_model
from fedforget.params import flat_params, get_arrays, set_arrays, set_flat_params, weighted_average
from fedforget.projection import max_abs_cosine
from fedforget.seeding import derive_seed, np_rng
from fedforget.training import accuracy_counts, predict_logits

log = logging.getLogger(__name__)

RESULTS_VERSION = 1


@dataclass
class PhaseRecord:
    time_s: float = 0.0  # wall time of the phase's work (messages + aggregation), no evaluation
    bytes_down: int = 0
    bytes_up: int = 0
    rounds: int = 0


@dataclass
class RoundLoop:
    """Runs ``step`` for each round of a phase; times it, counts bytes, evaluates, writes a
    metrics row, reports progress and checkpoints the phase's final model."""

    fed: Federation
    out_dir: Path
    evaluate: Callable[[Arrays], dict[str, Any]]
    every_round: bool
    global_round: int = 0
    phases: dict[str, PhaseRecord] = field(default_factory=dict)

    def run(self, phase: str, rounds: int, arrays: Arrays, step: Callable[[int, Arrays], tuple[Arrays, dict[str, Any]]]) -> Arrays:
        rec = self.phases.setdefault(phase, PhaseRecord())
        for r in range(rounds):
            s0, r0 = self.fed.traffic.sent, self.fed.traffic.received
            t0 = time.perf_counter()
            arrays, extra = step(r, arrays)
            dt = time.perf_counter() - t0
            down, up = self.fed.traffic.sent - s0, self.fed.traffic.received - r0
            rec.time_s += dt
            rec.bytes_down += down
            rec.bytes_up += up
            rec.rounds += 1
            self.global_round += 1
            row: dict[str, Any] = {
                "phase": phase, "round": r + 1, "step": self.global_round, "time_s": dt,
                "bytes_down": down, "bytes_up": up, **extra,
            }
            if self.every_round or r == rounds - 1:
                row.update(self.evaluate(arrays))
            append_jsonl(self.out_dir / "metrics.jsonl", row)
            log.info("[%s %d/%d] %s", phase, r + 1, rounds, _progress(row))
        atomic_save_npz(self.out_dir / "checkpoints" / f"{phase}.npz", arrays)
        return arrays


def _progress(row: dict[str, Any]) -> str:
    parts = [f"{k}={row[k]:.3f}" for k in ("test_acc", "retain_acc", "forget_acc", "asr") if row.get(k) is not None]
    parts.append(f"{row['time_s']:.2f}s")
    return " ".join(parts)


class Experiment:
    def __init__(self, cfg: ExperimentConfig, fed: Federation, out_dir: str | Path) -> None:
        self.cfg = cfg
        self.fed = fed
        self.out = Path(out_dir)
        self.root = cfg.runtime.seed
        data = build_federated_data(cfg)
        # The server holds only held-out data: the test set, its triggered copy (ASR) and
        # the non-member reference pool. Client partitions and forget sets stay client-side.
        self.test = data.test
        self.nonmember = data.nonmember
        self.backdoor_test = data.backdoor_test()
        self.model = build_model(cfg.model, data.test.input_shape, data.test.num_classes, seed=0)
        self.n_forget: dict[int, int] = {}
        self.n_retain: dict[int, int] = {}
        self.loop = RoundLoop(fed, self.out, self._eval_round, cfg.evaluation.every_round)

    # ------------------------------------------------------------------ helpers
    def _init_arrays(self) -> Arrays:
        m = build_model(self.cfg.model, self.test.input_shape, self.test.num_classes, derive_seed(self.root, "init"))
        return get_arrays(m)

    def _server_eval(self, arrays: Arrays) -> dict[str, Any]:
        set_arrays(self.model, arrays)
        c, n, _ = accuracy_counts(self.model, self.test)
        out: dict[str, Any] = {"test_acc": c / n, "asr": None}
        if self.backdoor_test is not None and len(self.backdoor_test):
            logits = predict_logits(self.model, self.backdoor_test)
            out["asr"] = float((logits.argmax(1) == self.cfg.deletion.backdoor.target).float().mean())
        return out

    def _fed_eval(self, arrays: Arrays, attacks: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        cfg = {"attacks": ",".join(attacks)}
        replies = self.fed.send("evaluate", {p: (arrays, cfg) for p in self.fed.partitions()})
        tot: dict[str, float] = {}
        sigs: dict[str, list[np.ndarray]] = {a: [] for a in attacks}
        for p in sorted(replies):
            arr, m = replies[p]
            for k in ("forget_correct", "forget_n", "retain_correct", "retain_n", "forget_loss", "retain_loss"):
                tot[k] = tot.get(k, 0.0) + float(m[k])
            for a in attacks:
                if f"signal.{a}" in arr:
                    sigs[a].append(np.asarray(arr[f"signal.{a}"]))
        out = {
            "forget_acc": tot["forget_correct"] / tot["forget_n"] if tot.get("forget_n") else None,
            "retain_acc": tot["retain_correct"] / tot["retain_n"] if tot.get("retain_n") else None,
        }
        return out, {a: np.concatenate(v) if v else np.zeros(0) for a, v in sigs.items()}

    def _eval_round(self, arrays: Arrays) -> dict[str, Any]:
        t0 = time.perf_counter()
        out = self._server_eval(arrays)
        out.update(self._fed_eval(arrays, ())[0])
        self._eval_time += time.perf_counter() - t0
        return out

    def _select(self, participants: list[int], phase: str, r: int) -> list[int]:
        frac = self.cfg.training.clients_per_round
        if frac >= 1.0:
            return participants
        k = max(1, int(round(frac * len(participants))))
        return sorted(np_rng(self.root, "select", phase, r).choice(participants, size=k, replace=False).tolist())

    # ------------------------------------------------------------------ phases
    def _fedavg_step(self, phase: str, participants: list[int], lr: float) -> Callable[[int, Arrays], tuple[Arrays, dict[str, Any]]]:
        def step(r: int, arrays: Arrays) -> tuple[Arrays, dict[str, Any]]:
            # Training and retraining share per-round seeds: the retrained federation
            # differs from the original only by the deleted data.
            seed_phase = "train" if phase == "retrain" else phase
            conf: Scalars = {"phase": phase, "seed": derive_seed(self.root, "fit", seed_phase, r), "lr": lr}
            sel = self._select(participants, seed_phase, r)
            replies = self.fed.send("fit", {p: (arrays, conf) for p in sel})
            ups = [(a, float(m["num_examples"])) for a, m in replies.values() if float(m["num_examples"]) > 0]
            if not ups:
                return arrays, {"clients": 0}
            new = weighted_average([a for a, _ in ups], [w for _, w in ups])
            loss = float(np.mean([float(m["loss"]) for _, m in replies.values() if float(m["num_examples"]) > 0]))
            return new, {"clients": len(ups), "train_loss": loss}

        return step

    def _unlearn_step(self) -> Callable[[int, Arrays], tuple[Arrays, dict[str, Any]]]:
        uc = self.cfg.unlearning
        combiner = COMBINERS.get(uc.combiner)()
        forgetters = [p for p, n in self.n_forget.items() if n > 0]
        retainers = [p for p, n in self.n_retain.items() if n > 0]
        participants = sorted(set(forgetters) | set(retainers))

        def step(r: int, arrays: Arrays) -> tuple[Arrays, dict[str, Any]]:
            seed = derive_seed(self.root, "unlearn", r)
            reqs = {
                p: (arrays, {"seed": seed, "want_forget": p in forgetters, "want_retain": p in retainers})
                for p in participants
            }
            replies = self.fed.send("unlearn", reqs)
            fupd = [
                (torch.from_numpy(np.asarray(a["forget_update"])), float(m["n_forget"]))
                for a, m in replies.values() if "forget_update" in a
            ]
            dirs = [torch.from_numpy(np.asarray(a["retain_dirs"])) for a, _ in replies.values() if "retain_dirs" in a]
            retain = torch.cat(dirs) if dirs else None
            update = combiner.combine(fupd, retain)
            set_arrays(self.model, arrays)
            w = flat_params(self.model).to(torch.float64) + uc.server_lr * update.to(torch.float64)
            set_flat_params(self.model, w.to(torch.float32))
            extra: dict[str, Any] = {"update_norm": float(update.norm())}
            if retain is not None and retain.numel():
                extra["proj_max_cos"] = max_abs_cosine(update, retain)
            return get_arrays(self.model), extra

        return step

    # ------------------------------------------------------------------ evaluation
    def _final_eval(self, name: str, arrays: Arrays, rec: PhaseRecord | None, extra_time: float = 0.0) -> dict[str, Any]:
        attacks = self.cfg.evaluation.attacks
        res = self._server_eval(arrays)
        fed, member = self._fed_eval(arrays, attacks)
        res.update(fed)
        set_arrays(self.model, arrays)
        nm = signals(attacks, predict_logits(self.model, self.nonmember), torch.from_numpy(self.nonmember.y))
        mia, roc = {}, {}
        for a in attacks:
            m = mia_metrics(member[a], nm[a])
            roc[a] = m.pop("roc", None)
            mia[a] = m
        res["mia"] = mia
        res["time_s"] = (rec.time_s if rec else 0.0) + extra_time
        res["bytes_down"] = rec.bytes_down if rec else 0
        res["bytes_up"] = rec.bytes_up if rec else 0
        res["bytes_sent"] = res["bytes_down"] + res["bytes_up"]
        self._roc[name] = roc
        return res

    # ------------------------------------------------------------------ run
    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        (self.out / "metrics.jsonl").unlink(missing_ok=True)
        atomic_write_text(self.out / "config.yaml", cfg.to_yaml())
        self._eval_time = 0.0
        self._roc: dict[str, Any] = {}
        t_start = time.perf_counter()

        replies = self.fed.send("setup", {p: ({}, {"experiment": cfg.to_yaml()}) for p in self.fed.partitions()})
        everyone = sorted(replies)
        log.info("federation of %d clients ready (%s samples)", len(everyone),
                 sum(int(m["num_examples"]) for _, m in replies.values()))

        init = self._init_arrays()
        tc = cfg.training
        original = self.loop.run("train", tc.rounds, init, self._fedavg_step("train", everyone, tc.lr))

        # The deletion request: clients report sizes only.
        dels = self.fed.send("delete", {p: ({}, {}) for p in everyone})
        self.n_forget = {p: int(m["n_forget"]) for p, (_, m) in dels.items()}
        self.n_retain = {p: int(m["n_retain"]) for p, (_, m) in dels.items()}
        log.info("deletion request: %d samples to forget on clients %s",
                 sum(self.n_forget.values()), [p for p, n in self.n_forget.items() if n])
        retainers = [p for p in everyone if self.n_retain[p] > 0]

        uc = cfg.unlearning
        unlearned = self.loop.run("unlearn", uc.rounds, original, self._unlearn_step())
        if uc.recovery_rounds:
            unlearned = self.loop.run("recover", uc.recovery_rounds, unlearned,
                                      self._fedavg_step("recover", retainers, uc.recovery_lr))

        retrained = None
        if cfg.evaluation.retrain:
            retrained = self.loop.run("retrain", tc.rounds, init, self._fedavg_step("retrain", retainers, tc.lr))

        t_eval = time.perf_counter()
        ph = self.loop.phases
        models: dict[str, Any] = {
            "original": self._final_eval("original", original, ph.get("train")),
        }
        unl_rec = PhaseRecord(
            time_s=ph["unlearn"].time_s + (ph["recover"].time_s if "recover" in ph else 0.0),
            bytes_down=ph["unlearn"].bytes_down + (ph["recover"].bytes_down if "recover" in ph else 0),
            bytes_up=ph["unlearn"].bytes_up + (ph["recover"].bytes_up if "recover" in ph else 0),
        )
        models["unlearned"] = self._final_eval("unlearned", unlearned, unl_rec)
        models["unlearned"]["method"] = uc.method
        models["unlearned"]["combiner"] = uc.combiner
        if retrained is not None:
            models["retrained"] = self._final_eval("retrained", retrained, ph.get("retrain"))
            for k, arr in (("original", original), ("unlearned", unlearned), ("retrained", retrained)):
                models[k]["distance_to_retrained"] = param_distance(arr, retrained)
        eval_s = time.perf_counter() - t_eval

        results = {
            "version": RESULTS_VERSION,
            "name": cfg.name,
            "config_digest": cfg.digest(),
            "num_clients": len(everyone),
            "forget": {
                "n_forget": sum(self.n_forget.values()),
                "clients": [p for p, n in self.n_forget.items() if n],
                "granularities": sorted({r.granularity for r in cfg.deletion.requests}),
                "backdoor": cfg.deletion.backdoor.enabled,
            },
            "models": models,
            "phases": {
                **{k: {"time_s": v.time_s, "rounds": v.rounds, "bytes_down": v.bytes_down, "bytes_up": v.bytes_up}
                   for k, v in ph.items()},
                "per_round_evaluation": {"time_s": self._eval_time},
                "final_evaluation": {"time_s": eval_s},
            },
            "total_time_s": time.perf_counter() - t_start,
        }
        atomic_write_json(self.out / "roc.json", self._roc)
        atomic_write_json(self.out / "results.json", results)
        return results
