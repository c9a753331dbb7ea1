"""A :class:`fedforget.federation.Federation` over Flower's Message API (``Grid``).

Actions map to Flower message types: ``fit``/``unlearn`` -> ``train.<action>``,
``evaluate`` -> ``evaluate.evaluate``, ``setup``/``delete``/``partition`` ->
``query.<action>``. Node ids are mapped to partition ids with a ``query.partition``
message. Bytes are counted from the serialized array payloads that actually travel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.common.constant import SType
from flwr.serverapp import Grid

from fedforget.federation import Arrays, Exchange, Scalars, Traffic
from fedforget.util import npy
from fedforget.util.errors import FedForgetError

log = logging.getLogger(__name__)

CATEGORY = {"fit": "train", "unlearn": "train", "evaluate": "evaluate", "setup": "query",
            "delete": "query", "partition": "query"}
POLL_MIN_S, POLL_MAX_S = 0.001, 0.05  # reply polling (see FlowerFederation._send_and_receive)
WINDOW = 128  # most messages in flight at once (ibid.)


def to_array(a: np.ndarray) -> Array:
    """``Array(a)`` (Flower's ``.npy`` serialisation), with the header cached (fedforget.util.npy)."""
    a = np.asarray(a, order="C")
    return Array(dtype=str(a.dtype), shape=tuple(a.shape), stype=SType.NUMPY, data=npy.encode(a))


def from_array(a: Array) -> np.ndarray:
    """``a.numpy()``, with the header parsed once per (dtype, shape) (fedforget.util.npy)."""
    return npy.decode(a.data) if a.stype == SType.NUMPY else a.numpy()


def to_record(arrays: Arrays, config: Scalars) -> RecordDict:
    rd = RecordDict()
    rec = ArrayRecord()  # filled item by item: ArrayRecord(array_dict=...) builds every Array again
    for k, v in arrays.items():
        rec[k] = to_array(v)
    rd["arrays"] = rec
    rd["config"] = ConfigRecord({k: v for k, v in config.items()})
    return rd


def from_record(rd: RecordDict) -> tuple[Arrays, Scalars]:
    # rd[...] directly: rd.array_records / rd.config_records build a filtered view per access
    rec = rd.get("arrays")
    arrays = {k: from_array(a) for k, a in rec.items()} if isinstance(rec, ArrayRecord) else {}
    conf = rd.get("config")
    cfg = dict(conf) if isinstance(conf, ConfigRecord) else {}
    return arrays, cfg


def payload_bytes(rd: RecordDict) -> int:
    # rd.values(), not rd.array_records: that builds a filtered view on every access
    return int(sum(len(a.data) for rec in rd.values() if isinstance(rec, ArrayRecord) for a in rec.values()))


SIMULATION_SETTLE_S = 1.0  # simulation: all virtual SuperNodes are registered at start, at once


def is_simulation(grid: Grid) -> bool:
    """Flower's simulation runtime (``fedforget run``'s Ray backend, ``flwr run .`` on
    the local SuperLink) drives the ServerApp through an in-memory grid."""
    return type(grid).__name__ == "InMemoryGrid"


def too_few_supernodes(have: int, need: int) -> str:
    return (
        f"the simulation has {have} SuperNodes but the experiment needs {need} (partition.num_clients={need}). "
        f"Set the federation's size for this run: flwr run . --federation-config \"num-supernodes={need}\" "
        f"(or for every run: flwr federation simulation-config --num-supernodes {need}), or lower "
        f"partition.num_clients: flwr run . --run-config 'overrides=\"partition.num_clients={have}\"' "
        "(deletion.requests must then name clients below it)"
    )


class ReplySignal:
    """Which replies the engine has stored since the ServerApp last looked, and an event
    that wakes the ServerApp when one is (:func:`reply_signal`)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._lock = threading.Lock()
        self._arrived: set[str] = set()
        self._unknown = False  # a reply whose request id could not be read: pull everything

    def stored(self, message: Any) -> None:
        rid = getattr(getattr(message, "metadata", None), "reply_to_message_id", None)
        with self._lock:
            if rid:
                self._arrived.add(str(rid))
            else:
                self._unknown = True
        self.event.set()

    def clear(self) -> None:
        self.event.clear()

    def wait(self, timeout: float) -> bool:
        return self.event.wait(timeout)

    def take(self, ids: set[str]) -> set[str] | None:
        """The ``ids`` whose replies were stored since the last call (others are dropped:
        late replies of an earlier exchange); None when every id must be pulled."""
        with self._lock:
            got = None if self._unknown else self._arrived & ids
            self._arrived.clear()
            self._unknown = False
            return got


def reply_signal(grid: Grid) -> ReplySignal | None:
    """Simulation: a :class:`ReplySignal` the engine feeds whenever it stores a reply, so
    that the ServerApp wakes on replies instead of polling for them (docs/performance.md,
    finding 11), and pulls only the replies that arrived: Flower's ``get_message_res``
    checks every message id it is asked about (TTL, federation, node availability), and
    asking for every message in flight on every reply made a round's pulls quadratic
    (finding 18). The in-memory grid's link state is the one Flower's engine stores
    replies into; its ``store_message_res`` is wrapped on the instance (the class is
    untouched). ``None`` (poll) on any other grid, e.g. a deployment's gRPC grid."""
    state = getattr(grid, "state", None)
    store = getattr(state, "store_message_res", None)
    if not is_simulation(grid) or store is None:
        return None
    signal = ReplySignal()

    def store_and_wake(message: Any) -> Any:
        try:
            return store(message)
        finally:
            signal.stored(message)

    state.store_message_res = store_and_wake  # type: ignore[union-attr]
    return signal


class FlowerFederation:
    _replied: ReplySignal | None = None  # reply_signal(grid); None: poll

    def __init__(self, grid: Grid, expected_nodes: int, timeout_s: float = 600.0) -> None:
        self.grid = grid
        self.traffic = Traffic()
        self.timeout_s = timeout_s
        self._replied = reply_signal(grid)
        if hasattr(grid, "pull_interval"):  # anyone else's send_and_receive on this grid
            grid.pull_interval = POLL_MIN_S
        t0 = time.monotonic()
        simulated = is_simulation(grid)
        nodes: list[int] = []
        changed = t0
        while len(nodes) < expected_nodes:
            now_nodes = list(grid.get_node_ids())
            if len(now_nodes) != len(nodes):
                nodes, changed = now_nodes, time.monotonic()
            if len(nodes) >= expected_nodes:
                break
            if simulated and nodes and time.monotonic() - changed > SIMULATION_SETTLE_S:  # no node joins later
                log.error("%s", msg := too_few_supernodes(len(nodes), expected_nodes))
                raise FedForgetError(msg)
            if time.monotonic() - t0 > timeout_s:
                raise FedForgetError(
                    f"only {len(nodes)} of {expected_nodes} SuperNodes connected after {timeout_s:.0f}s; "
                    "start more SuperNodes or lower partition.num_clients"
                )
            time.sleep(0.5)
        replies = self._exchange("partition", {n: ({}, {}) for n in nodes})
        self.node_of: dict[int, int] = {}
        for node, (_, m) in replies.items():
            p = int(m["partition_id"])
            if p in self.node_of:
                raise FedForgetError(f"two SuperNodes claim partition-id {p}; give each a unique --node-config partition-id")
            self.node_of[p] = node
        missing = sorted(set(range(expected_nodes)) - set(self.node_of))
        if missing:
            raise FedForgetError(f"no SuperNode holds partitions {missing}; partition-ids must be 0..{expected_nodes - 1}")

    def _send_and_receive(self, msgs: list[Message], timeout: float | None = None,
                          on_replies: Callable[[list[Message]], None] | None = None) -> list[Message]:
        """``Grid.send_and_receive`` with an adaptive pull interval: Flower's sleeps a
        fixed ``pull_interval`` (0.1 s in simulation) between pulls, which dominated a
        round of small clients (docs/performance.md). Here the wait starts at
        ``POLL_MIN_S`` and grows to ``POLL_MAX_S`` while no reply comes. At most ``WINDOW``
        messages are in flight: every pull (and Flower's delivery) scans the messages in
        flight, so pushing 1,000 at once made an exchange quadratic in the clients.
        ``on_replies`` sees each batch of replies as it arrives, so that decoding them
        overlaps the clients still working instead of delaying the round's end."""
        pending = list(msgs)
        ids: set[str] = set()
        end = time.monotonic() + (self.timeout_s if timeout is None else timeout)
        out: list[Message] = []
        wait = POLL_MIN_S
        replied = self._replied
        full = True  # the first pull asks for every id
        while (ids or pending) and time.monotonic() < end:
            if pending and len(ids) < WINDOW:
                n = WINDOW - len(ids)
                ids.update(self.grid.push_messages(pending[:n]))
                pending = pending[n:]
            if replied is not None:
                replied.clear()  # before the pull: a reply stored after it wakes the wait below
                # only the replies stored since the last pull; everything after a quiet wait,
                # for what the link state answers itself (an expired message, a node gone)
                ready = replied.take(ids)
                if full:
                    ready = None
                got = list(self.grid.pull_messages(ids if ready is None else ready)) if ready != set() else []
                full = False
            else:
                got = list(self.grid.pull_messages(ids))
            if got:
                out.extend(got)
                ids.difference_update(m.metadata.reply_to_message_id for m in got)
                wait = POLL_MIN_S
                if on_replies is not None:
                    on_replies(got)
            elif replied is not None:
                full = not replied.wait(POLL_MAX_S)
            else:
                time.sleep(wait)
                wait = min(POLL_MAX_S, wait * 1.5)
        return out

    def partitions(self) -> list[int]:
        return sorted(self.node_of)

    def _exchange(self, action: str, by_node: dict[int, tuple[Arrays, Scalars]], failures: dict[int, str] | None = None,
                  timeout: float | None = None) -> dict[int, tuple[Arrays, Scalars]]:
        """Replies by node. A node that fails or does not answer raises, or with a
        ``failures`` dict is recorded there (node -> why; fedforget.run.faults)."""
        mtype = f"{CATEGORY[action]}.{action}"
        msgs = []
        last: tuple[Any, Any, RecordDict, int] | None = None
        for node, (arrays, cfg) in by_node.items():
            # A round sends the same model and config to every client (the same objects):
            # encode them once and share the record; Flower never mutates a sent one.
            if last is None or last[0] is not arrays or last[1] is not cfg:
                content = to_record(arrays, cfg)
                last = (arrays, cfg, content, payload_bytes(content))
            self.traffic.sent += last[3]
            msgs.append(Message(content=last[2], dst_node_id=node, message_type=mtype))
        # An error reply may come from the SuperLink itself (e.g. an offline node): match
        # replies to requests by message id, not by sender.
        sent_to: dict[str, int] = {}
        out: dict[int, tuple[Arrays, Scalars]] = {}
        failed: dict[int, str] = {}

        def decode(replies: list[Message]) -> None:
            for rep in replies:
                if rep.metadata.reply_to_message_id not in sent_to:  # ids are assigned as messages are pushed
                    sent_to.update((m.metadata.message_id, node) for m, node in zip(msgs, by_node, strict=True))
                node = sent_to.get(rep.metadata.reply_to_message_id, rep.metadata.src_node_id)
                if rep.has_error():
                    failed[node] = rep.error.reason
                    continue
                self.traffic.received += payload_bytes(rep.content)
                out[node] = from_record(rep.content)

        replies = self._send_and_receive(msgs, timeout, decode)
        if failed and failures is None:
            node, reason = next(iter(failed.items()))
            raise FedForgetError(f"client on node {node} failed on {mtype!r}: {reason}")
        if failures is not None:
            failures.update({n: f"client failed on {mtype!r}: {reason}" for n, reason in failed.items()})
        self.traffic.messages += len(msgs) + len(replies)
        lost = sorted(set(by_node) - set(out) - set(failures or {}))
        if lost and failures is None:
            raise FedForgetError(f"no reply to {mtype!r} from nodes {lost} within {self.timeout_s:.0f}s")
        for n in lost:
            failures[n] = f"no reply within {self.timeout_s if timeout is None else timeout:g}s"  # type: ignore[index]
        return out

    def exchange(self, action: str, requests: dict[int, tuple[Arrays, Scalars]], timeout_s: float | None) -> Exchange:
        """Like :meth:`send`, reporting failed or silent clients instead of raising. After
        a failure, SuperNodes that (re)connected since are mapped to their partitions, so
        that the retry reaches a restarted SuperNode under its new node id."""
        part_of = {n: p for p, n in self.node_of.items()}
        failures: dict[int, str] = {}
        replies = self._exchange(action, {self.node_of[p]: req for p, req in requests.items()}, failures, timeout_s)
        if failures:
            self._remap_nodes(timeout_s)
        # Partition order, not arrival order: sums and stacked retain directions must not
        # depend on which client answered first (two-node runs differed in the 4th digit).
        by_part = {part_of[n]: rep for n, rep in replies.items()}
        return Exchange({p: by_part[p] for p in sorted(by_part)}, {part_of[n]: w for n, w in failures.items()})

    def _remap_nodes(self, timeout_s: float | None) -> None:
        new = [n for n in self.grid.get_node_ids() if n not in set(self.node_of.values())]
        if not new:
            return
        failures: dict[int, str] = {}
        for node, (_, m) in self._exchange("partition", {n: ({}, {}) for n in new}, failures, timeout_s).items():
            p = int(m["partition_id"])
            log.warning("partition %d is now served by SuperNode %d (was %s)", p, node, self.node_of.get(p))
            self.node_of[p] = node

    def send(self, action: str, requests: dict[int, tuple[Arrays, Scalars]]) -> dict[int, tuple[Arrays, Scalars]]:
        by_node = {self.node_of[p]: req for p, req in requests.items()}
        part_of = {n: p for p, n in self.node_of.items()}
        got = {part_of[n]: rep for n, rep in self._exchange(action, by_node).items()}
        return {p: got[p] for p in sorted(got)}  # partition order, as in process: same sums, same numbers


def describe(obj: Any) -> str:  # small helper for error messages
    return type(obj).__name__
