"""Serving policies: when pending deletion requests are served (``deletion.policy``).

Requests arrive at round boundaries (after ``t`` training rounds, ``t = 0 .. rounds``;
``rounds`` = after training). At each boundary a policy looks at what is pending and
names the requests it serves now, all together (one unlearning run per serve point):

* ``immediate``: every pending request, at once (no request waits);
* ``batched``: everything pending, every ``batch_every`` rounds and/or as soon as
  ``batch_pending`` requests are pending;
* ``deadline``: everything pending, as soon as the oldest has waited ``deadline`` rounds
  (so no request waits longer than ``deadline`` rounds; later arrivals ride along).

Whatever is still pending after training is served at the end. Arrivals are known from
the config (:mod:`fedforget.deletion.requests`), so the whole schedule is computed before any work
starts and a method that cannot serve it is refused up front (:func:`check_schedule`).
"""

from __future__ import annotations

from typing import Any

from fedforget.config import DeletionConfig
from fedforget.util.errors import ConfigError


def serve_now(policy: DeletionConfig, t: int, pending: dict[int, int], last_round: int) -> list[int]:
    """Request indices served at boundary ``t`` (``pending``: index -> arrival round)."""
    if not pending:
        return []
    if t >= last_round or policy.policy == "immediate":
        return sorted(pending)
    if policy.policy == "batched":
        due = (policy.batch_every > 0 and t % policy.batch_every == 0) or (
            policy.batch_pending > 0 and len(pending) >= policy.batch_pending
        )
        return sorted(pending) if due else []
    # deadline
    return sorted(pending) if t - min(pending.values()) >= policy.deadline else []


def schedule(policy: DeletionConfig, arrivals: list[int], last_round: int) -> dict[int, list[int]]:
    """Serve round -> request indices, for requests arriving at ``arrivals[i]``."""
    out: dict[int, list[int]] = {}
    pending: dict[int, int] = {}
    for t in range(last_round + 1):
        pending.update({i: a for i, a in enumerate(arrivals) if a == t})
        now = serve_now(policy, t, pending, last_round)
        if now:
            out[t] = now
            for i in now:
                del pending[i]
    return out


def check_schedule(procedure: Any, method: str, sched: dict[int, list[int]], last_round: int) -> None:
    """Refuse a method that cannot serve this schedule, saying why."""
    if getattr(procedure, "replays_history", False) and len(sched) > 1:
        rounds = ", ".join(str(t) for t in sorted(sched))
        raise ConfigError(
            f"unlearning.method {method!r} replays the updates stored since round 0, which an earlier "
            f"deletion invalidates, so it can serve requests at one point only; this run would serve at "
            f"rounds {rounds}. Use "
            "deletion.policy=batched with deletion.batch_every >= training.rounds, or another method"
        )
    if getattr(procedure, "replays_history", False) and 0 in sched:
        raise ConfigError(
            f"unlearning.method {method!r} replays updates stored during training, but a request would be "
            "served at round 0, before any training round; give it at_round >= 1 or serve it later"
        )
