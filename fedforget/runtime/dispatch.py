"""How Flower's actor pool hands a message to a client actor, made cheaper
(docs/performance.md, session 6). Installed by :func:`fedforget.runtime.engine.patched_engine`.

Flower calls ``actor.run.remote(app_fn, message, cid, context)``: Ray serialises each of
the four arguments on its own (its per-argument machinery cost more than the pickling),
pickles ``app_fn`` (a closure) by value with cloudpickle for every message, and
serialises the three-part reply the same way. Here the request is one ``bytes``
argument written by the C pickler (:func:`fedforget.runtime.pickling.dumps`), with
``app_fn`` pickled once per run and carried as bytes that the actor unpickles once
(:meth:`fedforget.runtime.warm.ClientActor.run_packed`); the reply is one ``bytes`` too.
Measured with a bare actor call (one quickstart ``fit`` message, 2-core machine): the
driver's submit 0.41-0.55 -> 0.26-0.30 ms of CPU, its fetch 0.17-0.26 -> 0.15-0.18 ms,
the actor's 0.79-1.05 -> 0.64-0.82 ms. Actors that are not fedforget's warm actors (the
pool created them itself) get Flower's call, unchanged.

Slots are taken as Flower takes them (the last idle one); errors take Flower's path:
what an actor raises comes out of ``ray.get`` as before, and Flower's ``process_message``
hands the slot back with ``add_actor_back_to_pool``.
"""

from __future__ import annotations

import pickle
from typing import Any

from fedforget.runtime import pickling


class _Packing:
    """Per pool, kept on it as ``_ff_packing``: which actors take packed calls, and the
    run's ``app_fn`` pickled once."""

    def __init__(self) -> None:
        self.can_pack: dict[Any, bool] = {}  # by actor handle (hashed by Ray's actor id), not id(): never stale
        self.app_fn: tuple[Any, bytes] = (None, b"")  # one attribute: read and replaced atomically


def submit(self: Any, actor_fn: Any, job: tuple[Any, Any, str, Any]) -> Any:
    """``BasicActorPool.submit``, with one packed argument for fedforget's actors."""
    st = self.__dict__.get("_ff_packing")
    if st is None:
        st = self.__dict__.setdefault("_ff_packing", _Packing())  # setdefault: one, whichever thread wins
    actor = self.pool.pop()
    app_fn, message, cid, context = job
    try:
        pack = st.can_pack.get(actor)
        if pack is None:
            pack = st.can_pack[actor] = hasattr(actor, "run_packed")
        if pack:
            fn, fn_bytes = st.app_fn
            if app_fn is not fn:  # once per run (per app_fn); the object is kept, so its id is never reused
                fn_bytes = pickling.dumps(app_fn)
                st.app_fn = (app_fn, fn_bytes)
            future = actor.run_packed.remote(pickling.dumps((fn_bytes, message, cid, context)))
        else:
            future = actor_fn(actor, app_fn, message, cid, context)
    except BaseException:
        self.pool.append(actor)  # nothing was submitted: the slot is idle again
        raise
    self._future_to_actor[future] = actor
    return future


def fetch_result_and_return_actor_to_pool(self: Any, future: Any) -> tuple[Any, Any]:
    """``BasicActorPool.fetch_result_and_return_actor_to_pool`` for packed replies too
    (``bytes``; Flower's actors return a tuple)."""
    import ray

    result = ray.get(future)  # raises what the actor raised; Flower then gives the slot back
    if isinstance(result, bytes):
        result = pickle.loads(result)
    self.add_actor_back_to_pool(future)
    _, out_message, context = result
    return out_message, context


METHODS = {"submit": submit, "fetch_result_and_return_actor_to_pool": fetch_result_and_return_actor_to_pool}
