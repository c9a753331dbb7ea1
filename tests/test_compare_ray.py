"""`fedforget compare` on Flower + Ray runs through the same engine fixes as
`fedforget run` (fedforget.runtime.engine) and gives the in-process comparison's numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedforget.runtime.compare import run_compare
from tests.conftest import tiny_config

pytestmark = [pytest.mark.slow, pytest.mark.ray]

ROWS = "compare.methods=[{method: finetune}]"


def test_compare_on_ray_matches_in_process(tmp_path: Path, monkeypatch) -> None:
    from fedforget.runtime import compare as compare_mod

    installed: list[int] = []
    real = compare_mod.patched_engine

    def spy(*args, **kwargs):  # the engine fixes are installed, at the configured depth
        installed.append(kwargs.get("depth", -1))
        return real(*args, **kwargs)

    monkeypatch.setattr(compare_mod, "patched_engine", spy)
    got = {}
    for backend in ("inprocess", "ray"):
        cfg = tiny_config(ROWS, f"runtime.backend={backend}", "runtime.total_cpus=2")
        run_compare(cfg, tmp_path / backend)
        got[backend] = json.loads((tmp_path / backend / "comparison.json").read_text())["rows"]
    assert installed == [3]  # Ray only; auto depth without injected hangs
    assert set(got["ray"]) == set(got["inprocess"]) == {"original", "retrain", "finetune"}
    for name in got["ray"]:
        for key in ("test_acc", "forget_acc", "retain_acc"):
            assert got["ray"][name][key] == pytest.approx(got["inprocess"][name][key], abs=1e-9), (name, key)
