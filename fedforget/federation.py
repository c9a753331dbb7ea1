"""The server's view of a federation, free of Flower.

:class:`Federation` is what the experiment talks to: send one action with per-client
arrays and config, get per-client replies. ``strategies.flower_federation`` implements it
over Flower's Grid (simulation or deployment); :class:`InProcessFederation` calls
:class:`~fedforget.client.ClientWorker` objects directly (fast tests, debugging).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fedforget.faults import Exchange, InjectedFault

Arrays = dict[str, np.ndarray]
Scalars = dict[str, Any]


@dataclass
class Traffic:
    """Bytes of array payloads that crossed the network, counted from the payloads."""

    sent: int = 0  # server -> clients
    received: int = 0  # clients -> server
    messages: int = 0


class Federation(Protocol):
    traffic: Traffic

    def partitions(self) -> list[int]:
        """Partition ids of the connected clients (after ``setup``)."""
        ...

    def send(self, action: str, requests: dict[int, tuple[Arrays, Scalars]]) -> dict[int, tuple[Arrays, Scalars]]:
        """Send ``action`` to each partition in ``requests``; return replies by partition."""
        ...


def arrays_nbytes(arrays: Arrays) -> int:
    return int(sum(np.asarray(a).nbytes for a in arrays.values()))


@dataclass
class InProcessFederation:
    """Clients as plain objects in this process (no Flower, no Ray)."""

    num_clients: int
    state_root: Path
    traffic: Traffic = field(default_factory=Traffic)

    def __post_init__(self) -> None:
        # Imported here: the Flower adapters use this module's wire types without torch.
        from fedforget.client import ClientWorker

        self.workers = {p: ClientWorker(p, Path(self.state_root) / f"partition-{p}") for p in range(self.num_clients)}

    def partitions(self) -> list[int]:
        return list(self.workers)

    def send(self, action: str, requests: dict[int, tuple[Arrays, Scalars]]) -> dict[int, tuple[Arrays, Scalars]]:
        return {p: self._one(p, action, arrays, cfg) for p, (arrays, cfg) in requests.items()}

    def _one(self, p: int, action: str, arrays: Arrays, cfg: Scalars) -> tuple[Arrays, Scalars]:
        self.traffic.sent += arrays_nbytes(arrays)
        self.traffic.messages += 1
        reply = self.workers[p].handle(action, {k: np.array(v) for k, v in arrays.items()}, dict(cfg))
        self.traffic.received += arrays_nbytes(reply[0])
        self.traffic.messages += 1
        return reply

    def exchange(self, action: str, requests: dict[int, tuple[Arrays, Scalars]], timeout_s: float | None) -> Exchange:
        """Like :meth:`send`, but a client that fails by fault injection, or answers after
        ``timeout_s`` (its late reply is dropped), is reported in ``failures``
        (fedforget.faults). Any other exception raises: in process it is a bug, not a fault."""
        ex = Exchange()
        for p, (arrays, cfg) in requests.items():
            t0 = time.monotonic()
            try:
                reply = self._one(p, action, arrays, cfg)
            except InjectedFault as e:  # in process, any other exception is a bug: it raises
                ex.failures[p] = f"{type(e).__name__}: {e}"
            else:
                ex.replies[p] = reply
            if timeout_s is not None and time.monotonic() - t0 > timeout_s:  # late: the reply is dropped
                ex.replies.pop(p, None)
                ex.failures[p] = f"no reply within {timeout_s:g}s"
        return ex
