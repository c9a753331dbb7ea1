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
the previous reply, so each message also paid a full round trip with the actor idle: the
pool installed here lets each actor hold up to ``PIPELINE_DEPTH`` messages.

Two fixed costs are cut the same way (docs/performance.md, "Fixed costs"): the engine's
pool adopts the warm actors :mod:`fedforget.runtime.warm` started right after Ray, and
the engine's queues wake their idle readers when the run ends, instead of the reader
finding out at the end of its ``queue.get(timeout=1.0)`` (up to 1 s of every shutdown).

The replacements are installed by :func:`patched_engine` (a context manager) and removed
on exit; if Flower's internals do not look as expected, nothing is patched.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from queue import Empty, Queue
from typing import Any

log = logging.getLogger(__name__)

# Upper bound on how long a stored message can wait when a wake-up is missed.
IDLE_WAIT_S = 0.05


class WakeableQueue(Queue):
    """A ``queue.Queue`` whose blocked ``get`` raises ``Empty`` as soon as :meth:`close`
    is called (items already queued are still handed out)."""

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self.closed = False

    def close(self) -> None:
        with self.mutex:
            self.closed = True
            self.not_empty.notify_all()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not block or timeout is not None and timeout <= 0:
            return super().get(block, timeout)
        with self.not_empty:
            end = None if timeout is None else time.monotonic() + timeout
            while not self._qsize():
                if self.closed:
                    raise Empty
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    raise Empty
                self.not_empty.wait(left)
            item = self._get()
            self.not_full.notify()
            return item


def fast_extractor(state: Any, queue: Queue, nodes_mapping: Any, f_stop: threading.Event) -> None:
    """Drop-in body for ``vce_api.add_messages_to_queue`` over an in-memory link state.

    A message the ServerApp stores is handed to the engine's workers right there, in the
    storing thread, with the checks and the delivery mark Flower's sweep applies
    (``_check_stored_messages``, ``delivered_at``): this saves a thread hand-over per
    message on the round's critical path. The loop below remains for anything not
    handed over that way."""
    from flwr.supercore.date import now

    nodes = set(nodes_mapping.keys())
    wake = threading.Event()
    original_store = state.store_message_ins

    def deliver(message_id: str) -> bool:
        with state.lock:
            state._check_stored_messages({message_id})  # TTL / federation checks, as Flower does
            m = state.message_ins_store.get(message_id)
            if m is None or m.metadata.delivered_at != "" or m.metadata.dst_node_id not in nodes:
                return False
            m.metadata.delivered_at = now().isoformat()
        queue.put(m)
        return True

    def store_and_wake(message: Any) -> Any:
        message_id = None
        try:
            message_id = original_store(message)
            return message_id
        finally:
            if not (message_id and not f_stop.is_set() and deliver(message_id)):
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


def direct_injector(state: Any, queue: Queue, f_stop: threading.Event) -> None:
    """Drop-in body for ``vce_api.put_message_into_state``: the engine's workers store
    each reply into the link state themselves (``queue.put`` is replaced on this queue
    only), instead of handing it to this thread first: one thread hand-over less per
    message, on the way back to the ServerApp. The link state takes its own lock.
    Replies queued before the swap are still stored, here."""

    def put(message: Any, block: bool = True, timeout: float | None = None) -> None:
        state.store_message_res(message)

    queue.put = put  # type: ignore[method-assign]
    while not f_stop.is_set():
        try:
            state.store_message_res(queue.get(timeout=1.0))
        except Empty:
            pass


PIPELINE_DEPTH = 3  # messages in flight per Ray actor by default (see _adopting)


def pipeline_depth(rt: Any) -> int:
    """``runtime.pipeline_depth``, with 0 resolved: ``PIPELINE_DEPTH``, or 1 (Flower's own
    dispatch) when ``runtime.faults`` injects a hang, whose queued neighbours would
    otherwise wait with it and be left out of the round too."""
    if rt.pipeline_depth:
        return int(rt.pipeline_depth)
    return 1 if any(f.kind == "hang" for f in rt.faults) else PIPELINE_DEPTH


def _compatible(state_cls: Any) -> bool:
    return all(hasattr(state_cls, a) for a in ("store_message_ins", "_check_stored_messages"))


def _same_actor_api(ray_actor: Any) -> bool:
    """Flower's pool calls ``run(client_app_fn, message, cid, context)`` and ``terminate()``
    on its actors, as :class:`fedforget.runtime.warm.ClientActor` implements them."""
    import inspect

    base = getattr(ray_actor, "VirtualClientEngineActor", None)
    if base is None or not hasattr(base, "terminate"):
        return False
    params = [p for p in inspect.signature(base.run).parameters if not p.startswith("_ray")]  # Ray's tracing adds one
    return params == ["self", "client_app_fn", "message", "cid", "context"]


def _adopting(pool_cls: Any, warm: list[Any], depth: int = PIPELINE_DEPTH) -> Any:
    """``BasicActorPool.add_actors_to_pool`` that takes the warm actors first, creates the
    rest, and puts every actor into the pool ``depth`` times.

    Warm actors go to the end of the pool's idle list, which Flower pops from: messages
    reach warm actors before any actor it had to create cold.

    Pipelining: Flower's pool gives an actor its next message only after the driver has
    fetched the previous reply, so every message paid the round trip (reply transfer,
    the driver's wake-up, the next message's pickling and transfer) with the actor idle:
    on 2 cores an actor was busy 46% of the time (docs/performance.md, finding 14). With
    each actor in the idle list ``depth`` times (interleaved, so consecutive
    messages go to different actors), an actor already holds its next message when it
    finishes one (Ray runs an actor's calls one at a time, in order). ``num_actors``
    counts these slots, and the engine starts one worker thread per slot, each blocking
    on its own reply as before; messages and replies are Flower's. A message queued
    behind a client that hangs waits with it (:func:`pipeline_depth`)."""

    def add_actors_to_pool(self: Any, num_actors: int) -> None:
        from fedforget.runtime import warm as warm_mod

        take = min(num_actors, len(warm))
        adopted = warm[:take]
        del warm[:take]
        warm_mod.kill(warm)  # more than the pool holds: give their resources back
        actors = [self.create_actor_fn() for _ in range(num_actors - take)] + adopted
        for _ in range(depth):
            self.pool.extend(actors)
        self.num_actors += num_actors * depth
        log.debug("Flower's actor pool adopted %d warm actors, created %d, %d slots each",
                  take, num_actors - take, depth)

    return add_actors_to_pool


class OneThreadPerWorker(ThreadPoolExecutor):
    """Flower's engine runs ``backend.num_workers`` worker loops (one per pool slot) in a
    ``ThreadPoolExecutor()`` of the default size, ``min(32, cores + 4)``: 6 threads on 2
    cores, so slots beyond 6 never got a thread. Threads start as loops are submitted,
    so this one has exactly one per slot."""

    def __init__(self, max_workers: int | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(max_workers or 4096, *args, **kwargs)


def _terminate_each_once(self: Any) -> None:
    """``BasicActorPool.terminate_all_actors`` for a pool that lists an actor once per
    slot (and not at all while all its slots are busy)."""
    seen: set[int] = set()
    for actor in [*self.pool, *self._future_to_actor.values()]:
        if id(actor) not in seen:
            seen.add(id(actor))
            actor.terminate.remote()


@contextlib.contextmanager
def patched_engine(warm_actors: list[Any] | None = None, depth: int = PIPELINE_DEPTH) -> Iterator[bool]:
    """Install :func:`fast_extractor` and :class:`WakeableQueue` into Flower's simulation
    engine for the duration of the block, and have its actor pool adopt ``warm_actors``
    (:mod:`fedforget.runtime.warm`), each actor holding ``depth`` messages
    (:func:`pipeline_depth`); yields whether the engine was patched. Warm actors that are
    not adopted are killed on exit (or at once when nothing can be patched)."""
    from fedforget.runtime import dispatch, pickling
    from fedforget.runtime import warm as warm_mod

    warm = warm_actors if warm_actors is not None else []
    try:
        from flwr.server.superlink.fleet.vce import vce_api
        from flwr.server.superlink.linkstate.in_memory_linkstate import InMemoryLinkState
        from flwr.simulation.ray_transport import ray_actor
    except ImportError:  # another Flower layout: run unpatched
        warm_mod.kill(warm)
        yield False
        return
    original = getattr(vce_api, "add_messages_to_queue", None)
    if getattr(vce_api, "put_message_into_state", None) is None:
        original = None  # another Flower layout: run unpatched
    pool_cls = getattr(ray_actor, "BasicActorPool", None)
    if (original is None or not _compatible(InMemoryLinkState) or getattr(vce_api, "Queue", None) is not Queue
            or getattr(vce_api, "ThreadPoolExecutor", None) is not ThreadPoolExecutor
            or pool_cls is None
            or not all(hasattr(pool_cls, a) for a in ("add_actors_to_pool", "terminate_all_actors", *dispatch.METHODS))
            or not _same_actor_api(ray_actor)):
        log.warning("Flower's simulation engine has an unexpected layout; running without the latency fixes")
        warm_mod.kill(warm)
        yield False
        return
    queues: list[WakeableQueue] = []

    class TrackedQueue(WakeableQueue):
        def __init__(self, maxsize: int = 0) -> None:
            super().__init__(maxsize)
            queues.append(self)

    def extractor(state: Any, queue: Queue, nodes_mapping: Any, f_stop: threading.Event) -> None:
        try:
            if isinstance(state, InMemoryLinkState) and hasattr(state, "message_ins_store"):
                fast_extractor(state, queue, nodes_mapping, f_stop)
            else:
                original(state, queue, nodes_mapping, f_stop)
        finally:
            if f_stop.is_set():  # the run is over: wake the workers and the injector now
                for q in queues:
                    q.close()

    def injector(state: Any, queue: Queue, f_stop: threading.Event) -> None:
        if isinstance(state, InMemoryLinkState) and hasattr(state, "store_message_res"):
            direct_injector(state, queue, f_stop)
        else:
            original_injector(state, queue, f_stop)

    original_add = pool_cls.add_actors_to_pool
    original_injector = vce_api.put_message_into_state
    vce_api.add_messages_to_queue = extractor
    vce_api.put_message_into_state = injector
    vce_api.Queue = TrackedQueue
    vce_api.ThreadPoolExecutor = OneThreadPerWorker
    original_terminate = pool_cls.terminate_all_actors
    pool_cls.add_actors_to_pool = _adopting(pool_cls, warm, max(1, int(depth)))
    pool_cls.terminate_all_actors = _terminate_each_once
    originals = {name: getattr(pool_cls, name) for name in dispatch.METHODS}
    for name, fn in dispatch.METHODS.items():
        setattr(pool_cls, name, fn)
    pickling.install()  # requests; the warm actors install it for their replies
    try:
        yield True
    finally:
        pickling.uninstall()
        vce_api.add_messages_to_queue = original
        vce_api.put_message_into_state = original_injector
        vce_api.Queue = Queue
        vce_api.ThreadPoolExecutor = ThreadPoolExecutor
        pool_cls.add_actors_to_pool = original_add
        pool_cls.terminate_all_actors = original_terminate
        for name, fn in originals.items():
            setattr(pool_cls, name, fn)
        warm_mod.kill(warm)
