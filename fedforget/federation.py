"""The federation protocol: what the server and its clients exchange, free of Flower.

:class:`Federation` is what the run talks to: send one action with per-client arrays and
config, get per-client replies. ``strategies.flower_federation`` implements it over
Flower's Grid (simulation or deployment); :class:`~fedforget.client.inprocess.InProcessFederation`
calls :class:`~fedforget.client.worker.ClientWorker` objects directly (fast tests,
debugging). Backends report an exchange as an :class:`Exchange` (replies plus failures);
:func:`apply_injected` is the client's side of fault injection (``fedforget.run.faults``).

Layer: the bottom, beside ``fedforget.util`` (imports only ``fedforget.util.errors``), so
both sides and the Flower adapters use these wire types without importing torch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from fedforget.util.errors import FedForgetError

Arrays = dict[str, np.ndarray]
Scalars = dict[str, Any]
Requests = dict[int, tuple[Arrays, Scalars]]


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


class InjectedFault(FedForgetError):
    """Raised by a client on the server's fault-injection mark (tests only)."""


@dataclass
class Exchange:
    """The outcome of one exchange: replies by partition and failures (partition -> why)."""

    replies: Requests = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)


def apply_injected(config: Scalars) -> None:
    """Client side: honour (and strip) a fault-injection mark in a request's config."""
    kind = config.pop("fault.kind", None)
    hang_s = float(config.pop("fault.hang_s", 0.0))
    if kind is None:
        return
    if kind == "hang":
        time.sleep(hang_s)
        raise InjectedFault(f"injected hang of {hang_s:g}s")
    raise InjectedFault("injected fault")
