"""A federation of :class:`~fedforget.client.worker.ClientWorker` objects in this process
(no Flower, no Ray): fast tests, debugging, and the ``inprocess`` backend."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fedforget.client.worker import ClientWorker
from fedforget.federation import Arrays, Exchange, InjectedFault, Scalars, Traffic, arrays_nbytes


@dataclass
class InProcessFederation:
    """Clients as plain objects in this process (no Flower, no Ray)."""

    num_clients: int
    state_root: Path
    traffic: Traffic = field(default_factory=Traffic)

    def __post_init__(self) -> None:
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
        (fedforget.run.faults). Any other exception raises: in process it is a bug, not a fault."""
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
