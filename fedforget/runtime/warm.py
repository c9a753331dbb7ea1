"""Warm client actors: start Flower's Ray actors as soon as Ray is up, and have each one
import what a client needs and build the run's data while the driver is still starting
(importing Flower, building the apps, starting the engine).

Without this, Flower creates its actors only when its engine starts, and every actor
paid its start-up serially on the first messages it handled: the process start and
importing Flower and the adapters on the ``partition`` query, importing torch and
fedforget and building the data (sklearn, flwr-datasets, pandas, matplotlib through
flwr-datasets) on ``setup``. That was 8 to 11 s of the overhead benchmark's 11 to 16 s
run on a 2-core machine (docs/performance.md, "Fixed costs").

:func:`start` creates as many actors as Flower's pool will hold, right after Ray is up;
:func:`fedforget.runtime.engine.patched_engine` hands them to Flower's pool in place of
the fresh ones it would create. Whatever the
pool does not take is killed, so a warm actor never holds resources Flower waits for.
"""

from __future__ import annotations

import gc
import importlib
import logging
import pickle
from typing import Any

from fedforget.runtime import pickling

log = logging.getLogger(__name__)

CLIENT_MODULES = ("clients.client_app", "fedforget.client.worker")  # what every client message needs


def warm_client(config_text: str, data: list[Any] | None = None) -> None:
    """Runs in each actor's constructor: import the ClientApp, the client worker and its
    registries (methods, attacks, evaluators), and take the run's federated data (``data``: ``[ObjectRef]`` of the driver's build, in a
    list so that Ray does not wait for it before the imports) or build it. The client
    worker's ``setup`` then finds it ready (fedforget.data.federation caches it per
    process). Never raises: a failure here only means the first message pays the
    cost, and that message reports any real error."""
    try:
        for name in CLIENT_MODULES:
            importlib.import_module(name)
        from fedforget.evaluation.attacks.base import ATTACKS
        from fedforget.evaluation.evaluators import EVALUATORS
        from fedforget.unlearning import UNLEARNERS

        for registry in (ATTACKS, EVALUATORS, UNLEARNERS):  # loaded on first use otherwise: attacks pull scipy
            registry.names()
        pickling.install()  # replies (Message, Context) with the C pickler
        from fedforget.config import load_config_text
        from fedforget.data.federation import adopt_federated_data, build_federated_data

        cfg = load_config_text(config_text)
        if data:
            import ray

            adopt_federated_data(cfg, ray.get(data[0]))
        else:
            build_federated_data(cfg)
        # What the warm-up made (modules, the data) lives as long as the actor. Without this,
        # the first full garbage collection walked it during the final evaluation: +0.3 s
        # in benchmarks/overhead.py (docs/performance.md, "Fixed costs").
        gc.collect()
        gc.freeze()
    except Exception as e:  # noqa: BLE001 - the first message raises it again, with context
        log.warning("client warm-up failed (%s: %s); the first message pays the start-up", type(e).__name__, e)


class ClientActor:
    """Stands in for Flower's ``ClientAppActor`` in its actor pool: the same ``run`` and
    ``terminate`` (flwr 1.42, flwr.simulation.ray_transport.ray_actor; engine.py checks
    the signature before the pool takes one), constructed warm. Unlike Flower's class it
    lives outside ``flwr.simulation``, whose package imports Flower's SuperLink stack
    (sqlalchemy, alembic, fastapi): 1.3 to 1.8 s in every actor that a client never uses."""

    def __init__(self, config_text: str, data: list[Any] | None = None) -> None:
        warm_client(config_text, data)

    def run(self, client_app_fn: Any, message: Any, cid: str, context: Any) -> tuple[str, Any, Any]:
        from flwr.clientapp.client_app import ClientAppException, LoadClientAppError

        try:
            app = client_app_fn()
            out = app(message=message, context=context)
        except LoadClientAppError:
            raise
        except Exception as ex:
            raise ClientAppException(str(ex)) from ex
        return cid, out, context

    def run_packed(self, blob: bytes) -> bytes:
        """:meth:`run` with the request and the reply each one pickled ``bytes``
        (:mod:`fedforget.runtime.dispatch`): ``(app_fn as bytes, message, cid, context)``
        in, ``(cid, message, context)`` out. ``app_fn`` arrives pickled the same way with
        every message and is unpickled once."""
        app_fn_bytes, message, cid, context = pickle.loads(blob)
        cache = self.__dict__.setdefault("_app_fns", {})
        app_fn = cache.get(app_fn_bytes)
        if app_fn is None:
            cache.clear()  # one app per run; never grows
            app_fn = cache[app_fn_bytes] = pickle.loads(app_fn_bytes)
        return pickling.dumps(self.run(app_fn, message, cid, context))

    def terminate(self) -> None:
        import ray

        ray.actor.exit_actor()


def start(n: int, client_resources: dict[str, float], config_text: str, data: Any = None) -> list[Any]:
    """Create ``n`` client actors (not waiting for them), each warming up in its
    constructor; ``data``: an ObjectRef of the run's federated data, built once by the
    driver. Needs Ray started, not Flower imported."""
    if n <= 0:
        return []
    import ray

    cls = ray.remote(ClientActor)
    return [cls.options(**client_resources).remote(config_text, [data] if data is not None else None)  # type: ignore[attr-defined]
            for _ in range(n)]


def kill(actors: list[Any]) -> None:
    """Kill actors Flower's pool did not take (their resources go back to Ray)."""
    if not actors:
        return
    import ray

    for a in actors:
        try:
            ray.kill(a)
        except Exception:  # noqa: BLE001 - Ray already gone or actor already dead
            pass
    actors.clear()
