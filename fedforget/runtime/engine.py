"""Latency fixes for Flower's simulation engine (flwr 1.42), applied only while
``fedforget run`` drives a simulation (see docs/performance.md for the profile).

Flower's engine moves server messages to its Ray workers with a thread that, every
0.1 s, asks the link state for one message per node (``get_message_ins(node, limit=1)``
scans every stored message for each node: O(nodes x messages) per sweep). At 10 clients
that is up to 0.1 s of dead time per exchange; at 1,000 clients a sweep costs more than
the clients' work. :func:`fast_extractor` replaces that thread's body with one that wakes
when the server stores a message and hands every undelivered message over in one pass
(still at most one message per node per pass, as Flower does).

Flower's Ray backend gives an actor its next message only once the driver has fetched
the previous reply, so each message also paid a full round trip with the actor idle;
:func:`pipelined_pool` lets each actor hold up to ``PIPELINE_DEPTH`` messages.

Both are installed by :func:`patched_engine` (a context manager) and removed on exit; if
Flower's internals do not look as expected, nothing is patched.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from queue import Queue
from typing import Any

log = logging.getLogger(__name__)

# Upper bound on how long a stored message can wait when a wake-up is missed.
IDLE_WAIT_S = 0.05


def fast_extractor(state: Any, queue: Queue, nodes_mapping: Any, f_stop: threading.Event) -> None:
    """Drop-in body for ``vce_api.add_messages_to_queue`` over an in-memory link state."""
    from flwr.supercore.date import now

    nodes = set(nodes_mapping.keys())
    wake = threading.Event()
    original_store = state.store_message_ins

    def store_and_wake(message: Any) -> Any:
        try:
            return original_store(message)
        finally:
            wake.set()

    state.store_message_ins = store_and_wake  # instance attribute; the class is untouched
    try:
        while not f_stop.is_set():
            wake.clear()
            batch = []
            with state.lock:
                pending = [
                    mid for mid, m in state.message_ins_store.items()
                    if m.metadata.delivered_at == "" and m.metadata.dst_node_id in nodes
                ]
                if pending:
                    state._check_stored_messages(set(pending))  # TTL / federation checks, as Flower does
                    seen: set[int] = set()
                    for mid in pending:
                        m = state.message_ins_store.get(mid)
                        if m is None or m.metadata.dst_node_id in seen:
                            continue
                        seen.add(m.metadata.dst_node_id)
                        batch.append(m)
                    stamp = now().isoformat()
                    for m in batch:
                        m.metadata.delivered_at = stamp
            for m in batch:
                queue.put(m)
            if not batch:
                wake.wait(IDLE_WAIT_S)
    finally:
        with contextlib.suppress(AttributeError):
            del state.store_message_ins


PIPELINE_DEPTH = 3  # messages in flight per Ray actor (PipelinedActorPool)


def pipelined_pool(base: type) -> type:
    """A subclass of Flower's ``BasicActorPool`` that hands each actor up to
    ``PIPELINE_DEPTH`` messages at once. Flower's pool gives an actor its next message
    only after the driver has fetched the previous reply, so every message paid the
    round trip (reply transfer, the driver's wake-up, the next message's pickling and
    transfer) with the actor idle: on 2 cores an actor was busy 46% of the time. With a
    second message already queued in the actor (Ray runs an actor's calls one at a time,
    in order), the actor starts it as soon as the first is done. The engine runs one
    worker thread per slot (``num_actors`` counts slots), each blocking on its own reply
    as before; messages and replies are unchanged."""

    class PipelinedActorPool(base):  # type: ignore[misc, valid-type]
        def add_actors_to_pool(self, num_actors: int) -> None:
            actors = [self.create_actor_fn() for _ in range(num_actors)]
            for _ in range(PIPELINE_DEPTH):  # slots interleaved: consecutive messages go to different actors
                self.pool.extend(actors)
            self.num_actors += num_actors * PIPELINE_DEPTH

        def terminate_all_actors(self) -> None:
            seen: set[int] = set()
            for actor in list(self.pool) + list(self._future_to_actor.values()):
                if id(actor) not in seen:
                    seen.add(id(actor))
                    actor.terminate.remote()

    return PipelinedActorPool


def _compatible(state_cls: Any) -> bool:
    return all(hasattr(state_cls, a) for a in ("store_message_ins", "_check_stored_messages"))


@contextlib.contextmanager
def patched_engine() -> Iterator[bool]:
    """Install :func:`fast_extractor` into Flower's simulation engine for the duration of
    the block; yields whether it was installed."""
    try:
        from flwr.server.superlink.fleet.vce import vce_api
        from flwr.server.superlink.fleet.vce.backend import raybackend
        from flwr.server.superlink.linkstate.in_memory_linkstate import InMemoryLinkState
    except ImportError:  # another Flower layout: run unpatched
        yield False
        return
    original = getattr(vce_api, "add_messages_to_queue", None)
    if original is None or not _compatible(InMemoryLinkState):
        log.warning("Flower's simulation engine has an unexpected layout; running without the latency fix")
        yield False
        return

    def extractor(state: Any, queue: Queue, nodes_mapping: Any, f_stop: threading.Event) -> None:
        if isinstance(state, InMemoryLinkState) and hasattr(state, "message_ins_store"):
            fast_extractor(state, queue, nodes_mapping, f_stop)
        else:
            original(state, queue, nodes_mapping, f_stop)

    vce_api.add_messages_to_queue = extractor
    pool_base = getattr(raybackend, "BasicActorPool", None)
    if pool_base is not None and all(hasattr(pool_base, a) for a in ("add_actors_to_pool", "terminate_all_actors", "submit")):
        raybackend.BasicActorPool = pipelined_pool(pool_base)
    try:
        yield True
    finally:
        vce_api.add_messages_to_queue = original
        if pool_base is not None:
            raybackend.BasicActorPool = pool_base
