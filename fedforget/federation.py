"""The server's view of a federation, free of Flower.

:class:`Federation` is what the experiment talks to: send one action with per-client
arrays and config, get per-client replies. ``strategies.flower_federation`` implements it
over Flower's Grid (simulation or deployment); :class:`InProcessFederation` calls
:class:`~fedforget.client.ClientWorker` objects directly (fast tests, debugging).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fedforget.client import ClientWorker

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
        self.workers = {p: ClientWorker(p, Path(self.state_root) / f"partition-{p}") for p in range(self.num_clients)}

    def partitions(self) -> list[int]:
        return list(self.workers)

    def send(self, action: str, requests: dict[int, tuple[Arrays, Scalars]]) -> dict[int, tuple[Arrays, Scalars]]:
        out = {}
        for p, (arrays, cfg) in requests.items():
            self.traffic.sent += arrays_nbytes(arrays)
            reply = self.workers[p].handle(action, {k: np.array(v) for k, v in arrays.items()}, dict(cfg))
            self.traffic.received += arrays_nbytes(reply[0])
            self.traffic.messages += 2
            out[p] = reply
        return out
