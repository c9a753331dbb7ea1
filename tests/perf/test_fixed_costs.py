"""Fixed costs of a Flower + Ray run (docs/performance.md, "Fixed costs"): the engine's
queues wake their readers when the run ends, the actor pool adopts warm actors, a client
takes the driver's data build, and the report shows every phase."""

from __future__ import annotations

import threading
import time
from queue import Empty

import pytest

from fedforget.data.federation import adopt_federated_data, build_federated_data
from fedforget.report.phases import phases_section
from fedforget.runtime.engine import WakeableQueue, _adopting
from tests.conftest import tiny_config


def test_closing_wakes_a_blocked_get_at_once() -> None:
    q = WakeableQueue()
    got: list[object] = []

    def reader() -> None:
        t0 = time.monotonic()
        try:
            q.get(timeout=30.0)
        except Empty:
            got.append(time.monotonic() - t0)

    th = threading.Thread(target=reader)
    th.start()
    time.sleep(0.05)
    q.close()
    th.join(5.0)
    assert got and got[0] < 5.0  # not the 30 s timeout


def test_a_closed_queue_still_hands_out_what_it_holds() -> None:
    q = WakeableQueue()
    q.put("reply")
    q.close()
    assert q.get(timeout=1.0) == "reply"
    with pytest.raises(Empty):
        q.get(timeout=1.0)
    with pytest.raises(Empty):
        q.get(block=False)


def test_an_open_queue_keeps_its_timeout() -> None:
    q = WakeableQueue()
    t0 = time.monotonic()
    with pytest.raises(Empty):
        q.get(timeout=0.1)
    assert time.monotonic() - t0 >= 0.09


class _Pool:
    """The parts of Flower's BasicActorPool that the adoption touches."""

    def __init__(self) -> None:
        self.pool: list[str] = []
        self.num_actors = 0
        self.created = 0

    def create_actor_fn(self) -> str:
        self.created += 1
        return f"fresh-{self.created - 1}"


def test_the_pool_takes_warm_actors_first_and_creates_the_rest() -> None:
    from fedforget.runtime.engine import PIPELINE_DEPTH

    warm = ["warm-0"]
    _Pool.add_actors_to_pool = _adopting(_Pool, warm)  # type: ignore[attr-defined]
    try:
        pool = _Pool()
        pool.add_actors_to_pool(3)  # type: ignore[attr-defined]
    finally:
        del _Pool.add_actors_to_pool  # type: ignore[attr-defined]
    # Flower pops idle actors from the end: the warm one serves first; every actor holds
    # PIPELINE_DEPTH slots (tests/perf/test_engine_pool.py)
    assert pool.pool == ["fresh-0", "fresh-1", "warm-0"] * PIPELINE_DEPTH
    assert pool.num_actors == 3 * PIPELINE_DEPTH and pool.created == 2 and warm == []


def test_an_adopted_data_build_is_used_as_is(monkeypatch) -> None:
    from fedforget.data import federation

    monkeypatch.setattr(federation, "_ADOPTED", {})
    built = build_federated_data(tiny_config())
    other = tiny_config("runtime.seed=12345")
    adopt_federated_data(other, built)  # as a Ray actor takes the driver's build
    assert build_federated_data(other) is built
    assert build_federated_data(tiny_config("runtime.seed=54321")) is not built


def test_the_report_marks_fixed_costs_and_what_no_phase_covers() -> None:
    res = {
        "phases": {"ray_start": {"time_s": 2.0}, "engine_start": {"time_s": 1.0}, "connect": {"time_s": 0.5},
                   "setup": {"time_s": 0.5}, "train": {"time_s": 1.0, "rounds": 2, "bytes_down": 10, "bytes_up": 10},
                   "ray_stop": {"time_s": 0.5}},
        "wall_time_s": 6.0, "total_time_s": 2.0,
    }
    text = "\n".join(phases_section(res))
    assert "| ray_start | Ray start" in text and "| train |  | 2 | 1.00 |" in text
    assert "Fixed costs (the phases described above) 4.5 s, the work 1.0 s; 0.5 s fall in no phase" in text
    assert "Whole run" not in "\n".join(phases_section({**res, "wall_time_s": None}))
