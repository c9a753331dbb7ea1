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


# Injected kinds that answer, with a corrupted reply (the server's admission check,
# fedforget.run.admission, must refuse all but ``zero``: a lazy client that never trained
# or unlearned sends a well-formed reply; only the acceptance rule of a deletion sees it).
CORRUPT_KINDS = ("nan", "shape", "dtype", "missing", "extra", "num_examples", "scale", "zero")


def apply_injected(config: Scalars) -> str | None:
    """Client side: honour (and strip) a fault-injection mark in a request's config. Raises
    for ``raise`` and ``hang``; returns a :data:`CORRUPT_KINDS` kind for
    :func:`corrupt_reply` to apply to the reply, else ``None``."""
    kind = config.pop("fault.kind", None)
    hang_s = float(config.pop("fault.hang_s", 0.0))
    if kind is None:
        return None
    if kind == "hang":
        time.sleep(hang_s)
        raise InjectedFault(f"injected hang of {hang_s:g}s")
    if kind in CORRUPT_KINDS:
        return str(kind)
    raise InjectedFault("injected fault")


def corrupt_reply(kind: str, request: Arrays, reply: tuple[Arrays, Scalars]) -> tuple[Arrays, Scalars]:
    """Client side (tests): ``reply`` corrupted as ``kind`` says. The first float tensor
    (by name) gets a NaN (``nan``), loses its last entry (``shape``) or becomes float64
    (``dtype``); ``missing`` drops it, ``extra`` adds a tensor; ``num_examples`` claims 10^9
    samples; ``scale`` multiplies the update (reply - request, or a forgetting update) by
    10^6; ``zero`` sends no update at all (the request's model, a zero forgetting update).
    A compressed payload (``packed::*``) is truncated instead: it no longer decodes."""
    arrays, scalars = dict(reply[0]), dict(reply[1])
    if kind == "num_examples":
        scalars.update({k: 10**9 for k in ("num_examples", "n_forget") if k in scalars})
        return arrays, scalars
    if kind == "extra":
        arrays["extra.tensor"] = np.zeros(3, np.float32)
        return arrays, scalars
    packed = sorted(k for k in arrays if k.startswith("packed::"))
    if packed:
        arrays[packed[0]] = np.asarray(arrays[packed[0]]).reshape(-1)[: max(0, np.asarray(arrays[packed[0]]).size // 2)]
        return arrays, scalars
    floats = sorted(k for k, v in arrays.items() if np.asarray(v).dtype.kind == "f")
    if not floats:
        return arrays, scalars
    first = floats[0]
    a = np.array(arrays[first])
    if kind == "nan":
        a.reshape(-1)[0] = np.nan
        arrays[first] = a
    elif kind == "shape":
        arrays[first] = a.reshape(-1)[:-1]
    elif kind == "dtype":
        arrays[first] = a.astype(np.float64)
    elif kind == "missing":
        del arrays[first]
    elif kind in ("scale", "zero"):
        factor = 1e6 if kind == "scale" else 0.0
        for k in floats:
            v = np.asarray(arrays[k])
            base = np.asarray(request[k]) if k in request and np.shape(request[k]) == v.shape else np.zeros_like(v)
            arrays[k] = (base + factor * (v - base)).astype(v.dtype)
    return arrays, scalars
