"""Flower's messages through Ray with the C pickler (docs/performance.md, finding 15).

Flower's Ray backend passes each ``Message`` and the node's ``Context`` to an actor as
task arguments, and the actor returns them: Ray pickles all four with its cloudpickle,
whose Python-level ``reducer_override`` runs for every object in them (the message's
metadata, records, every ``Array`` and dict). Both are plain data of importable classes,
which the standard library's C pickler writes 3-4x faster (0.04 against 0.15 ms for a
quickstart ``fit`` message on the project's 2-core machine). :func:`install` registers
that pickler for the two classes with Ray, in the process that calls it: the driver
(requests) and each client actor (replies). The bytes carry ``pickle.loads`` as their
reader, so the receiving process needs nothing registered, and a process without it
still reads and writes them as before. An object the C pickler cannot write (a lambda in
a record, say) goes through cloudpickle as before.
"""

from __future__ import annotations

import logging
import pickle
from typing import Any

log = logging.getLogger(__name__)


def dumps(obj: Any) -> bytes:
    """``pickle.dumps``, or cloudpickle's for what the C pickler refuses."""
    try:
        return pickle.dumps(obj, protocol=5)
    except Exception:  # noqa: BLE001 - e.g. a local function inside a record
        from ray import cloudpickle

        return cloudpickle.dumps(obj, protocol=5)


def _classes() -> tuple[type, ...]:
    from flwr.app import Context, Message

    return (Message, Context)


def install() -> bool:
    """Register :func:`dumps` / ``pickle.loads`` with Ray for Flower's ``Message`` and
    ``Context`` in this process; False (nothing changed) where Ray or Flower lack the API."""
    try:
        import ray.util

        for cls in _classes():
            ray.util.register_serializer(cls, serializer=dumps, deserializer=pickle.loads)
        return True
    except Exception as e:  # noqa: BLE001 - another Ray/Flower layout: Ray's default pickling
        log.debug("kept Ray's default pickling of Flower messages (%s: %s)", type(e).__name__, e)
        return False


def uninstall() -> None:
    """Undo :func:`install` in this process (the driver, when the run ends)."""
    try:
        import ray.util

        for cls in _classes():
            ray.util.deregister_serializer(cls)
    except Exception:  # noqa: BLE001 - not installed, or Ray already gone
        pass
