"""``flwr run .`` with Flower's own CLI (1.42): its default local simulation federation has
2 SuperNodes, so a 10-client experiment must fail fast with a message saying how to set
the federation's size, and the documented command must then run.

Each test uses its own ``FLWR_HOME``; ``flwr run`` starts a detached local SuperLink
(``flower-superlink --simulation``) logging under it, which the test stops afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedforget.runtime.deploy import alive, process_tree

pytestmark = [pytest.mark.slow, pytest.mark.ray]

ROOT = Path(__file__).resolve().parents[1]
TINY = "training.rounds=1;unlearning.rounds=1;unlearning.recovery_rounds=0;evaluation.retrain=false;evaluation.attacks=[loss]"


def _superlinks_of(home: Path) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "flower-superlink" in cmd and str(home) in cmd:
                out.append(int(d.name))
    return out


@pytest.fixture
def flwr_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    home = tmp_path / "flwr-home"
    home.mkdir()
    env = {**os.environ, "FLWR_HOME": str(home), "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
           "FLWR_DISABLE_UPDATE_CHECK": "1"}
    try:
        yield env
    finally:
        pids = [p for s in _superlinks_of(home) for p in process_tree(s)]
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 15
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        for p in pids:
            if alive(p):
                os.kill(p, signal.SIGKILL)


def _flwr(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    res = subprocess.run(["flwr", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"flwr {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout


def _wait(env: dict[str, str], run_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = json.loads(_flwr(env, "ls", "--run-id", run_id, "--format", "json"))["runs"][0]
        if run["status"].startswith("finished"):
            return run
        time.sleep(2)
    pytest.fail(f"run {run_id} did not finish within {timeout:.0f}s")


def test_flwr_run_default_federation_fails_fast_with_the_fix(flwr_env: dict[str, str], tmp_path: Path) -> None:
    run_id = json.loads(_flwr(flwr_env, "run", ".", "--format", "json",
                              "--run-config", f'out-dir="{tmp_path / "out"}"'))["run-id"]
    run = _wait(flwr_env, str(run_id), timeout=180)  # measured: fails ~30 s after submission (loaded 2-core box)
    assert run["status"] == "finished:failed"
    log = _flwr(flwr_env, "log", str(run_id), "--show")
    assert "the simulation has 2 SuperNodes but the experiment needs 10" in log
    assert 'flwr run . --federation-config "num-supernodes=10"' in log
    assert "flwr federation simulation-config --num-supernodes 10" in log


def test_flwr_run_with_federation_size_set_completes(flwr_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    overrides = f"partition.num_clients=3;deletion.requests=[{{granularity: client, client: 1}}];{TINY}"
    run_id = json.loads(_flwr(flwr_env, "run", ".", "--format", "json", "--federation-config", "num-supernodes=3",
                              "--run-config", f'overrides="{overrides}" out-dir="{out}"'))["run-id"]
    run = _wait(flwr_env, str(run_id), timeout=400)
    assert run["status"] == "finished:completed", _flwr(flwr_env, "log", str(run_id), "--show")
    res = json.loads((out / "results.json").read_text())
    assert res["num_clients"] == 3 and res["forget"]["clients"] == [1]
