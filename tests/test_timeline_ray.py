"""A streamed run interrupted in process and resumed under Flower's simulation engine
(Ray): same numbers as the uninterrupted in-process run (positions are backend-free)."""

from __future__ import annotations

import pytest

from fedforget.run.checkpoint import request_resume
from fedforget.runtime import run_experiment
from tests.conftest import tiny_config
from tests.test_timeline import REQUESTS, STREAM, Crash, _crash_at, _numbers, _run

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def test_streamed_run_resumes_on_ray_with_the_in_process_numbers(tmp_path):
    cfg = tiny_config(*STREAM, REQUESTS, "runtime.checkpoint_every=2", "evaluation.every_round=false")
    ref, _ = _run(cfg, tmp_path / "ref")
    with pytest.raises(Crash):
        _run(cfg, tmp_path / "cut", hook=_crash_at("train", 3))
    request_resume(tmp_path / "cut")
    ray_cfg = tiny_config(*STREAM, REQUESTS, "runtime.checkpoint_every=2", "evaluation.every_round=false",
                          "runtime.backend=ray", "runtime.cpus_per_client=0.5")
    res = run_experiment(ray_cfg, tmp_path / "cut", write_report=False)
    got, want = _numbers(res), _numbers(ref)
    for m in want:  # accuracies exactly; the L2 distance to the size of the float sums' order on Ray
        assert {k: v for k, v in got[m].items() if k != "distance_to_retrained"} == \
            {k: v for k, v in want[m].items() if k != "distance_to_retrained"}
        assert got[m]["distance_to_retrained"] == pytest.approx(want[m]["distance_to_retrained"], rel=1e-3, abs=1e-6)
    assert [r["served_round"] for r in res["requests"]] == [2, 3, 5]
