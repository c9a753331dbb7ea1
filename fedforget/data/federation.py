"""The simulated federation's data: client partitions, held-out test set, non-member pool
for attacks, forget sets and the optional backdoor probe, all derived from the config."""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np

from fedforget.config import (
    DataConfig,
    DeletionConfig,
    DeletionRequest,
    ExperimentConfig,
    PartitionConfig,
    TrainingConfig,
)
from fedforget.data.datasets import ArrayData, load_dataset, stamp_trigger
from fedforget.data.forget import forget_sets_by_request
from fedforget.data.normalize import normalize_splits
from fedforget.data.partition import partition_ids
from fedforget.deletion.requests import timeline_requests
from fedforget.util.errors import DataError
from fedforget.util.seeding import derive_seed, np_rng

CLIENT_MEMO_BYTES = 256 * 1024 * 1024  # FederatedData.client's per-process memo

# The run's arrays are read-only on purpose (every client of a process shares them; numpy
# refuses a write, which would be a bug), and the tensors torch.from_numpy makes of them
# are model inputs that nothing writes. torch's UserWarning about non-writable arrays
# (printed once per Ray actor) says nothing here: this message only, filtered once.
warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)


@dataclass(frozen=True)
class FederatedData:
    train: ArrayData  # the pool the clients hold (backdoor already stamped on poisoned ids)
    test: ArrayData  # held-out, never trained on
    nonmember: ArrayData  # held-out reference pool for membership inference
    partitions: tuple[np.ndarray, ...]  # global ids per client
    forget: tuple[np.ndarray, ...]  # forget ids per client
    poisoned: np.ndarray  # ids carrying the backdoor trigger (subset of the forget ids)
    backdoor_target: int  # -1 when the probe is off
    trigger_size: int
    trigger_value: float
    # Every request of the run (deletion.requests + deletion.stream, fedforget.deletion.requests) and,
    # per request, the forget ids per client (``forget`` is their union).
    requests: tuple[DeletionRequest, ...] = ()
    forget_by_request: tuple[tuple[np.ndarray, ...], ...] = ()

    @property
    def num_clients(self) -> int:
        return len(self.partitions)

    def client(self, c: int) -> ArrayData:
        """Client ``c``'s samples. A long-lived process (a Ray actor handles the same
        clients' messages over and over) selects them once per client, keeping up to
        ``CLIENT_MEMO_BYTES`` of selections (the data is immutable)."""
        memo = self.__dict__.setdefault("_clients", {})  # frozen dataclass: a private per-instance memo
        got = memo.get(c)
        if got is None:
            got = self.train.select_ids(self.partitions[c])
            held = self.__dict__.get("_clients_bytes", 0)  # a running total: no sum over the memo per miss
            if held + got.x.nbytes <= CLIENT_MEMO_BYTES:
                for arr in (got.x, got.y, got.ids):
                    arr.setflags(write=False)  # shared from now on, like the pool it came from
                memo[c] = got
                self.__dict__["_clients_bytes"] = held + got.x.nbytes
        return got

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_clients", None)  # a process's memo does not travel (Ray shares the data)
        state.pop("_clients_bytes", None)
        return state

    def client_forget(self, c: int) -> ArrayData:
        return self.train.select_ids(self.forget[c])

    def client_retain(self, c: int) -> ArrayData:
        return self.train.select_ids(np.setdiff1d(self.partitions[c], self.forget[c]))

    def backdoor_test(self) -> ArrayData | None:
        """Test samples not of the target class, with the trigger stamped (for ASR)."""
        if self.backdoor_target < 0:
            return None
        keep = self.test.y != self.backdoor_target
        t = self.test.take(keep)
        return ArrayData(stamp_trigger(t.x, self.trigger_size, self.trigger_value), t.y, t.ids, t.num_classes)


def _split(data: ArrayData, frac: float, seed: int) -> tuple[ArrayData, ArrayData]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(data))
    counts = np.bincount(data.y)
    strat = data.y if counts[counts > 0].min() >= 2 else None
    a, b = train_test_split(idx, test_size=frac, random_state=seed % (2**32), stratify=strat)
    return data.take(np.sort(a)), data.take(np.sort(b))


def _data_key(cfg: ExperimentConfig) -> tuple[DataConfig, PartitionConfig, DeletionConfig, int, int]:
    rounds = cfg.training.rounds if cfg.deletion.stream.rate > 0 else 0  # the stream's horizon
    return cfg.data, cfg.partition, cfg.deletion, cfg.runtime.seed, rounds


_ADOPTED: dict[tuple[DataConfig, PartitionConfig, DeletionConfig, int, int], FederatedData] = {}


def build_federated_data(cfg: ExperimentConfig) -> FederatedData:
    """Deterministic in the data-relevant sections only; cached on them (they are frozen,
    hashable dataclasses), so every message of a run reuses one build."""
    key = _data_key(cfg)
    if key in _ADOPTED:
        return _ADOPTED[key]
    return _build_cached(*key)


def adopt_federated_data(cfg: ExperimentConfig, data: FederatedData) -> None:
    """Take ``data``, built by another process from the same config, as this process's
    build of ``cfg``'s data: a simulated client on Ray receives the driver's build instead
    of deriving the same arrays again (fedforget.runtime.warm)."""
    _ADOPTED[_data_key(cfg)] = data


@functools.lru_cache(maxsize=4)
def _build_cached(
    data_cfg: DataConfig, part_cfg: PartitionConfig, del_cfg: DeletionConfig, seed: int, rounds: int = 0
) -> FederatedData:
    cfg = ExperimentConfig(data=data_cfg, partition=part_cfg, deletion=del_cfg,
                           training=TrainingConfig(rounds=max(rounds, 1)))
    full = load_dataset(cfg.data, derive_seed(seed, "data"))
    rest, test = _split(full, cfg.data.test_fraction, derive_seed(seed, "split-test"))
    nm_frac = cfg.data.nonmember_fraction / (1.0 - cfg.data.test_fraction)
    train, nonmember = _split(rest, nm_frac, derive_seed(seed, "split-nonmember"))
    train, test, nonmember = normalize_splits(cfg.data, train, test, nonmember)  # fitted on train only
    parts = partition_ids(train.ids, train.y, cfg.partition, derive_seed(seed, "partition"))
    labels_by_id = dict(zip(train.ids.tolist(), train.y.tolist(), strict=True))
    requests = timeline_requests(cfg, train.num_classes)
    per_request = forget_sets_by_request(requests, parts, labels_by_id, derive_seed(seed, "forget"))
    # No request at all (a stream that generated none): empty forget sets here; the run's
    # timeline refuses it before any training with the settings that fix it.
    forget = [np.unique(np.concatenate([req[c] for req in per_request] or [np.zeros(0, np.int64)])).astype(np.int64)
              for c in range(len(parts))]
    bd = cfg.deletion.backdoor
    poisoned = np.zeros(0, dtype=np.int64)
    if bd.enabled and sum(len(f) for f in forget):  # the trigger marks forget data (none: nothing to mark)
        if bd.target >= train.num_classes:
            raise DataError(f"deletion.backdoor.target={bd.target} is not a class of a {train.num_classes}-class dataset")
        all_forget = np.concatenate(forget)
        k = max(1, int(round(bd.fraction * len(all_forget))))
        poisoned = np.sort(np_rng(seed, "backdoor").choice(all_forget, size=k, replace=False))
        mask = np.isin(train.ids, poisoned)
        x = train.x.copy()
        x[mask] = stamp_trigger(train.x[mask], bd.size, bd.value)
        y = train.y.copy()
        y[mask] = bd.target
        train = ArrayData(x, y, train.ids, train.num_classes)
    for arr in (train.x, train.y, test.x, nonmember.x):
        arr.setflags(write=False)
    return FederatedData(
        train=train,
        test=test,
        nonmember=nonmember,
        partitions=tuple(parts),
        forget=tuple(forget),
        poisoned=poisoned,
        backdoor_target=bd.target if bd.enabled else -1,
        trigger_size=bd.size,
        trigger_value=bd.value,
        requests=requests,
        forget_by_request=tuple(tuple(req) for req in per_request),
    )
