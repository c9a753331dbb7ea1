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


class FakeBasePool:  # the parts of Flower's BasicActorPool the subclass relies on
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

    def add_actors_to_pool(self, num_actors: int) -> None:
        raise AssertionError("replaced by the subclass")

    def terminate_all_actors(self) -> None:
        raise AssertionError("replaced by the subclass")


def test_slots_interleave_and_terminate_once() -> None:
    pool = engine.pipelined_pool(FakeBasePool)()
    pool.add_actors_to_pool(2)
    assert len(pool.made) == 2  # two actors (processes), not six
    assert pool.num_actors == 2 * engine.PIPELINE_DEPTH  # the engine starts one worker thread per slot
    order = [pool.pool[-1 - i].name for i in range(len(pool.pool))]  # the order submit() pops them
    assert all(a != b for a, b in zip(order, order[1:], strict=False))  # consecutive messages: different actors
    assert sorted(order) == sorted(["a0", "a1"] * engine.PIPELINE_DEPTH)
    pool.submit(None, None)  # one slot busy: its actor still terminates, once
    pool.terminate_all_actors()
    assert [a.terminated for a in pool.made] == [1, 1]


def test_installed_only_inside_patched_engine() -> None:
    from flwr.server.superlink.fleet.vce.backend import raybackend

    original = raybackend.BasicActorPool
    with engine.patched_engine() as installed:
        assert installed
        assert raybackend.BasicActorPool is not original
        assert issubclass(raybackend.BasicActorPool, original)
    assert raybackend.BasicActorPool is original
