"""The pipelined actor pool (fedforget.runtime.engine): each Ray actor holds up to
PIPELINE_DEPTH messages, consecutive messages go to different actors, and every actor is
terminated once."""

from __future__ import annotations

from fedforget.runtime import engine


class FakeActor:
    def __init__(self, name: str) -> None:
        self.name = name
        self.terminated = 0
        self.terminate = self  # actor.terminate.remote()

    def remote(self) -> None:
        self.terminated += 1


class FakePool:  # the parts of Flower's BasicActorPool the patched methods rely on
    def __init__(self) -> None:
        self.pool: list[FakeActor] = []
        self.num_actors = 0
        self._future_to_actor: dict[object, FakeActor] = {}
        self.made: list[FakeActor] = []

    def create_actor_fn(self) -> FakeActor:
        self.made.append(FakeActor(f"a{len(self.made)}"))
        return self.made[-1]

    def submit(self, fn, job):  # Flower's: pop an idle slot, remember which actor runs the job
        actor = self.pool.pop()
        future = object()
        self._future_to_actor[future] = actor
        return future


def test_slots_interleave_and_terminate_once() -> None:
    FakePool.add_actors_to_pool = engine._adopting(FakePool, [])  # type: ignore[attr-defined]
    FakePool.terminate_all_actors = engine._terminate_each_once  # type: ignore[attr-defined]
    try:
        pool = FakePool()
        pool.add_actors_to_pool(2)  # type: ignore[attr-defined]
        assert len(pool.made) == 2  # two actors (processes), not six
        assert pool.num_actors == 2 * engine.PIPELINE_DEPTH  # the engine starts one worker thread per slot
        order = [pool.pool[-1 - i].name for i in range(len(pool.pool))]  # the order submit() pops them
        assert all(a != b for a, b in zip(order, order[1:], strict=False))  # consecutive messages: different actors
        assert sorted(order) == sorted(["a0", "a1"] * engine.PIPELINE_DEPTH)
        a0 = pool.made[0]  # every slot of a0 busy: in no idle slot, yet terminated (once)
        pool.pool = [a for a in pool.pool if a is not a0]
        pool._future_to_actor = {object(): a0 for _ in range(engine.PIPELINE_DEPTH)}
        pool.terminate_all_actors()  # type: ignore[attr-defined]
        assert [a.terminated for a in pool.made] == [1, 1]
    finally:
        del FakePool.add_actors_to_pool, FakePool.terminate_all_actors  # type: ignore[attr-defined]


def test_installed_only_inside_patched_engine() -> None:
    from flwr.simulation.ray_transport.ray_actor import BasicActorPool

    from fedforget.runtime import dispatch

    add, terminate = BasicActorPool.add_actors_to_pool, BasicActorPool.terminate_all_actors
    flowers = {name: getattr(BasicActorPool, name) for name in dispatch.METHODS}
    with engine.patched_engine() as installed:
        assert installed
        assert BasicActorPool.add_actors_to_pool is not add
        assert BasicActorPool.terminate_all_actors is engine._terminate_each_once
        assert all(getattr(BasicActorPool, name) is fn for name, fn in dispatch.METHODS.items())
    assert BasicActorPool.add_actors_to_pool is add and BasicActorPool.terminate_all_actors is terminate
    assert all(getattr(BasicActorPool, name) is fn for name, fn in flowers.items())


def test_depth_from_config_and_off_for_injected_hangs() -> None:
    import pytest

    from fedforget.util.errors import ConfigError
    from tests.conftest import tiny_config

    assert engine.pipeline_depth(tiny_config().runtime) == engine.PIPELINE_DEPTH  # auto
    assert engine.pipeline_depth(tiny_config("runtime.pipeline_depth=1").runtime) == 1  # Flower's own dispatch
    hang = "runtime.faults=[{client: 1, phase: unlearn, round: 1, kind: hang}]"
    assert engine.pipeline_depth(tiny_config(hang).runtime) == 1  # a hang's queued neighbours would wait with it
    assert engine.pipeline_depth(tiny_config(hang, "runtime.pipeline_depth=2").runtime) == 2  # asked for
    raising = "runtime.faults=[{client: 1, phase: train, round: 1, kind: raise}]"
    assert engine.pipeline_depth(tiny_config(raising).runtime) == engine.PIPELINE_DEPTH
    with pytest.raises(ConfigError, match="pipeline_depth"):
        tiny_config("runtime.pipeline_depth=-1")


def test_depth_one_is_flowers_pool() -> None:
    FakePool.add_actors_to_pool = engine._adopting(FakePool, [], depth=1)  # type: ignore[attr-defined]
    try:
        pool = FakePool()
        pool.add_actors_to_pool(2)  # type: ignore[attr-defined]
        assert [a.name for a in pool.pool] == ["a0", "a1"] and pool.num_actors == 2
    finally:
        del FakePool.add_actors_to_pool  # type: ignore[attr-defined]


def test_engine_gets_one_thread_per_slot() -> None:
    """Flower's engine runs one worker loop per pool slot in a default-size executor
    (min(32, cores + 4) threads); with more slots than that, the extra loops never ran.
    Inside patched_engine every loop gets a thread of its own, and Flower's class is put
    back afterwards."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from flwr.server.superlink.fleet.vce import vce_api

    slots = 48  # more than any default executor holds
    barrier = threading.Barrier(slots, timeout=10)
    with engine.patched_engine([], depth=3) as patched:
        assert patched
        assert vce_api.ThreadPoolExecutor is engine.OneThreadPerWorker
        with vce_api.ThreadPoolExecutor() as ex:  # as vce_api.start_and_shutdown builds it
            done = [ex.submit(barrier.wait) for _ in range(slots)]  # passes only if all run at once
        assert all(f.exception() is None for f in done)
    assert vce_api.ThreadPoolExecutor is ThreadPoolExecutor
