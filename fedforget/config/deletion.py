"""The ``deletion`` section of the experiment configuration: deletion requests, the
backdoor probe, generated request streams and the serving policy. Part of
:mod:`fedforget.config`'s public surface (``from fedforget.config import DeletionConfig``
keeps working)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from fedforget.config.fields import _check, _nonneg, _pos, _unit_closed


@dataclass(frozen=True)
class DeletionRequest:
    """One deletion request. ``granularity``:

    * ``samples``: ``fraction`` of client ``client``'s data, or the global ``ids`` listed;
    * ``class``: every client's samples of ``label``;
    * ``client``: everything client ``client`` contributed.
    """

    granularity: Literal["samples", "class", "client"] = "client"
    client: int = field(default=-1, metadata=_check(lambda v: v >= -1, "a client index >= 0"))
    fraction: float = field(default=0.0, metadata=_unit_closed())
    ids: tuple[int, ...] = ()
    label: int = field(default=-1, metadata=_check(lambda v: v >= -1, "a class label >= 0"))
    # When it arrives (fedforget.run.loop): -1 = after training (one deletion moment, as in a
    # plain run); t >= 0 = after t training rounds, served by ``deletion.policy``.
    at_round: int = field(default=-1, metadata=_check(lambda v: v >= -1, "-1 (after training) or a round >= 0"))


@dataclass(frozen=True)
class BackdoorConfig:
    """Backdoor probe: a trigger stamped on part of the forget set, relabelled to ``target``."""

    enabled: bool = False
    fraction: float = field(default=0.5, metadata=_check(lambda v: 0 < v <= 1, "a float in (0, 1]"))
    target: int = field(default=0, metadata=_nonneg())
    size: int = field(default=2, metadata=_pos("int"))  # trigger square side, in pixels
    value: float = 1.0


@dataclass(frozen=True)
class StreamConfig:
    """Generated deletion requests (fedforget.deletion.requests): Poisson arrivals of ``rate``
    requests per training round in rounds [``start_round``, ``end_round``] (-1 = the last
    training round), granularities drawn with weights ``mix_*``; a ``samples`` request
    deletes ``fraction`` of one client's data. ``rate: 0`` = off."""

    rate: float = field(default=0.0, metadata=_nonneg("float"))
    mix_samples: float = field(default=1.0, metadata=_nonneg("float"))
    mix_class: float = field(default=0.0, metadata=_nonneg("float"))
    mix_client: float = field(default=1.0, metadata=_nonneg("float"))
    fraction: float = field(default=0.2, metadata=_check(lambda v: 0 < v <= 1, "a float in (0, 1]"))
    start_round: int = field(default=1, metadata=_nonneg())
    end_round: int = field(default=-1, metadata=_check(lambda v: v >= -1, "-1 (last round) or a round >= 0"))
    max_requests: int = field(default=0, metadata=_nonneg())  # 0 = no limit
    seed: int = 0


@dataclass(frozen=True)
class AcceptanceConfig:
    """The server's acceptance rule before a request is marked served and its receipt
    signed (fedforget.deletion.acceptance), on the statistics it already has at the serve
    point: every attack AUC of the request's samples against the non-member pool at most
    ``max_mia_auc``, and the backdoor ASR (where the request's data carries the trigger) at
    most ``max_asr``. A request that fails, or has no such statistic (no
    ``evaluation.attacks``, no trigger), is ``unverified`` in the ledger, without a receipt.
    ``enabled: false`` serves every request as before."""

    enabled: bool = True
    max_mia_auc: float = field(default=0.6, metadata=_unit_closed())
    max_asr: float = field(default=0.2, metadata=_unit_closed())


@dataclass(frozen=True)
class DeletionConfig:
    """``policy`` serves requests that arrive during training (``at_round`` or ``stream``):
    ``immediate`` at once; ``batched`` every ``batch_every`` rounds or when ``batch_pending``
    are pending; ``deadline`` in batches, no request waiting more than ``deadline`` rounds."""

    requests: tuple[DeletionRequest, ...] = (DeletionRequest(),)
    backdoor: BackdoorConfig = BackdoorConfig()
    stream: StreamConfig = StreamConfig()
    policy: Literal["immediate", "batched", "deadline"] = "immediate"
    batch_every: int = field(default=0, metadata=_nonneg())
    batch_pending: int = field(default=0, metadata=_nonneg())
    deadline: int = field(default=0, metadata=_nonneg())
    acceptance: AcceptanceConfig = AcceptanceConfig()
