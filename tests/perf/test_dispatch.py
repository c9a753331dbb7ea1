"""How the patched actor pool hands messages to actors (fedforget.runtime.dispatch):
fedforget's warm actors get one packed argument (app_fn pickled once per run) and reply
with one, other actors get Flower's call unchanged, and a slot comes back whether the
message succeeded or raised."""

from __future__ import annotations

import pickle
import threading
from typing import Any

import pytest

from fedforget.runtime import dispatch
from fedforget.runtime.warm import ClientActor


class Future:
    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value, self.error = value, error


class Method:
    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def remote(self, *args: Any) -> Future:
        try:
            return Future(self.fn(*args))
        except Exception as e:  # noqa: BLE001 - as Ray: raised again by ray.get
            return Future(error=e)


class PlainActor:
    """A pool actor without ``run_packed`` (as Flower's own ClientAppActor)."""

    def __init__(self, name: str) -> None:
        self.name = name


class PackingActor(PlainActor):
    """A warm fedforget actor: ``run_packed`` runs the real ClientActor method in process."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.actor = ClientActor.__new__(ClientActor)  # no warm-up: nothing to import or build
        self.blobs: list[bytes] = []

        def run_packed(blob: bytes) -> bytes:
            self.blobs.append(blob)
            return self.actor.run_packed(blob)

        self.run_packed = Method(run_packed)


class Pool:  # the parts of Flower's BasicActorPool the patched methods rely on
    submit = dispatch.submit
    fetch_result_and_return_actor_to_pool = dispatch.fetch_result_and_return_actor_to_pool

    def __init__(self, actors: list[Any], depth: int) -> None:
        self.pool = [a for _ in range(depth) for a in actors]  # as engine._adopting lays them out
        self._future_to_actor: dict[Any, Any] = {}

    def add_actor_back_to_pool(self, future: Any) -> None:  # Flower's
        self.pool.append(self._future_to_actor.pop(future))


@pytest.fixture(autouse=True)
def fake_ray_get(monkeypatch) -> None:
    import ray

    def get(f: Future) -> Any:
        if f.error is not None:
            raise f.error
        return f.value

    monkeypatch.setattr(ray, "get", get)


class App:
    """What Flower's ``app_fn`` returns: a callable ClientApp."""

    def __call__(self, message: Any, context: Any) -> Any:
        if message == "boom":
            raise ValueError("client failed")
        return ("reply", message)


LOADS = {"n": 0}


def load_app() -> App:  # module level: pickled by reference, as Flower's closure is by value
    LOADS["n"] += 1
    return App()


def flower_call(actor: Any, app_fn: Any, message: Any, cid: str, context: Any) -> Future:
    return Future((cid, ("flower", actor.name, message), context))


def test_packed_request_and_reply_app_fn_unpickled_once(monkeypatch) -> None:
    monkeypatch.setitem(LOADS, "n", 0)
    actor = PackingActor("w")
    pool = Pool([actor], depth=2)
    context = {"state": [1, 2, 3]}
    for i in range(3):
        f = pool.submit(flower_call, (load_app, f"m{i}", "7", context))
        out, ctx = pool.fetch_result_and_return_actor_to_pool(f)
        assert out == ("reply", f"m{i}") and ctx == context  # through pickle, both ways
    assert len(actor.blobs) == 3 and all(isinstance(b, bytes) for b in actor.blobs)
    fn_bytes = {pickle.loads(b)[0] for b in actor.blobs}
    assert len(fn_bytes) == 1  # app_fn pickled once by the driver ...
    assert LOADS["n"] == 3 and len(actor.actor._app_fns) == 1  # ... unpickled once by the actor, called per message
    assert len(pool.pool) == 2 and not pool._future_to_actor


def test_other_actors_get_flowers_call() -> None:
    plain, warm = PlainActor("p"), PackingActor("w")
    pool = Pool([plain, warm], depth=1)
    f1 = pool.submit(flower_call, (load_app, "x", "1", {}))
    f2 = pool.submit(flower_call, (load_app, "y", "2", {}))
    results = {pool._future_to_actor[f].name: pool.fetch_result_and_return_actor_to_pool(f)[0] for f in (f1, f2)}
    assert results == {"w": ("reply", "x"), "p": ("flower", "p", "y")}


def test_a_raising_client_gives_its_slot_back() -> None:
    """Flower's process_message: fetch raises, then add_actor_back_to_pool(future)."""
    actor = PackingActor("w")
    pool = Pool([actor], depth=1)
    f = pool.submit(flower_call, (load_app, "boom", "1", {}))
    assert pool.pool == []
    with pytest.raises(Exception, match="client failed"):
        pool.fetch_result_and_return_actor_to_pool(f)
    pool.add_actor_back_to_pool(f)
    assert pool.pool == [actor] and not pool._future_to_actor


def test_a_failed_submit_gives_the_slot_back() -> None:
    def broken(*args: Any) -> Future:
        raise RuntimeError("actor gone")

    actor = PlainActor("p")
    pool = Pool([actor], depth=1)
    with pytest.raises(RuntimeError, match="actor gone"):
        pool.submit(broken, (load_app, "x", "1", {}))
    assert pool.pool == [actor] and not pool._future_to_actor


def test_concurrent_submits_keep_every_slot() -> None:
    actors = [PlainActor(f"a{i}") for i in range(3)]
    pool = Pool(actors, depth=4)

    def work() -> None:
        for _ in range(200):
            f = pool.submit(flower_call, (load_app, "m", "1", {}))
            pool.fetch_result_and_return_actor_to_pool(f)

    threads = [threading.Thread(target=work) for _ in range(12)]  # one per slot, as the engine runs
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.name for a in pool.pool) == sorted([a.name for a in actors] * 4)
    assert not pool._future_to_actor
