"""The one round loop (:class:`RoundLoop`): every phase of an experiment (train, unlearn,
recover, retrain, a method's own phases) runs its rounds through it. It times each round,
counts bytes, evaluates, writes the metrics row, reports progress, checkpoints and keeps
the run's position on the timeline (``global_round``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedforget.federation import Arrays, Federation
from fedforget.util.console import Progress
from fedforget.util.io import append_jsonl, atomic_save_npz

log = logging.getLogger(__name__)

Step = Callable[[int, Arrays], tuple[Arrays, dict[str, Any]]]


@dataclass
class PhaseRecord:
    time_s: float = 0.0  # wall time of the phase's work (messages + aggregation), no evaluation
    bytes_down: int = 0
    bytes_up: int = 0
    rounds: int = 0

    def copy(self) -> PhaseRecord:
        return PhaseRecord(self.time_s, self.bytes_down, self.bytes_up, self.rounds)

    def add(self, other: PhaseRecord, sign: int = 1) -> None:
        self.time_s += sign * other.time_s
        self.bytes_down += sign * other.bytes_down
        self.bytes_up += sign * other.bytes_up
        self.rounds += sign * other.rounds


@dataclass
class RoundLoop:
    """Runs ``step`` for each round of a phase; times it, counts bytes, evaluates, writes a
    metrics row, reports progress and checkpoints the phase's final model.

    ``hooks`` are called after every round with ``(phase, r, arrays, row)``; checkpoints
    (resume) and tests (interrupting a run) hang on them."""

    fed: Federation
    out_dir: Path
    evaluate: Callable[[Arrays], dict[str, Any]]
    every_round: bool
    global_round: int = 0
    phases: dict[str, PhaseRecord] = field(default_factory=dict)
    hooks: list[Callable[[str, int, Arrays, dict[str, Any]], None]] = field(default_factory=list)
    # Extra fields of every metrics row, taken after the round (e.g. the clients a fault
    # left out: fedforget.run.faults.FaultTolerantFederation.take_missing).
    row_fields: list[Callable[[], dict[str, Any]]] = field(default_factory=list)
    progress: Progress = field(default_factory=Progress)  # rounds done / total, elapsed, ETA (a terminal only)

    def run(self, phase: str, rounds: int, arrays: Arrays, step: Step, *, start: int = 0,
            evaluate_last: bool = True) -> Arrays:
        """Rounds ``start .. rounds-1`` of ``phase`` (``start > 0`` when resuming)."""
        self.phases.setdefault(phase, PhaseRecord())
        for r in range(start, rounds):
            arrays = self.round(phase, r, arrays, step, evaluate=self.every_round or (evaluate_last and r == rounds - 1),
                                total=rounds)
        atomic_save_npz(self.out_dir / "checkpoints" / f"{phase}.npz", arrays)
        return arrays

    def round(self, phase: str, r: int, arrays: Arrays, step: Step, *, evaluate: bool, total: int = 0,
              extra_row: dict[str, Any] | None = None) -> Arrays:
        """One round ``r`` of ``phase``: step, account, evaluate, metrics row, hooks."""
        rec = self.phases.setdefault(phase, PhaseRecord())
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
            "bytes_down": down, "bytes_up": up, **extra, **(extra_row or {}),
        }
        if evaluate:
            row.update(self.evaluate(arrays))
        for fields in self.row_fields:
            row.update(fields())
        append_jsonl(self.out_dir / "metrics.jsonl", row)
        # Console: each round at DEBUG (--verbose) and on the progress bar; a phase's last
        # round at INFO with the phase's totals (a round of unknown total: INFO).
        log.log(logging.DEBUG if total else logging.INFO, "[%s %d/%s] %s", phase, r + 1, total or "?", _progress(row))
        self.progress.update(phase, r + 1, total)
        if total and r + 1 == total:
            log.info("[%s] %d rounds, %.1f s: %s", phase, total, rec.time_s, _progress(row, with_time=False))
        for hook in self.hooks:
            hook(phase, r, arrays, row)
        return arrays


def _progress(row: dict[str, Any], with_time: bool = True) -> str:
    parts = [f"{k}={row[k]:.3f}" for k in ("test_acc", "retain_acc", "forget_acc", "asr") if row.get(k) is not None]
    if with_time:
        parts.append(f"{row['time_s']:.2f}s")
    if row.get("refused_clients"):
        parts.append(f"refused={sorted(int(c) for c in row['refused_clients'])}")
    return " ".join(parts)
