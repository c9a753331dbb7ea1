"""A quiet console (fedforget.util.console): fedforget's INFO lines, a progress display on a
terminal only, third-party records below WARNING only with --verbose, and no warning the
project causes (checked on a whole Ray run of the quickstart, at tiny sizes)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fedforget.util.console import ConsoleFilter, Progress

ROOT = Path(__file__).resolve().parents[1]


def _rec(name: str, level: int, msg: str = "m") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, None, None)


def test_filter_keeps_own_info_and_third_party_warnings() -> None:
    f = ConsoleFilter(verbose=False)
    assert f.filter(_rec("fedforget.run.loop", logging.INFO)) and f.filter(_rec("fedforget", logging.INFO))
    assert not f.filter(_rec("flwr", logging.DEBUG)) and not f.filter(_rec("alembic.runtime.plugins", logging.INFO))
    assert not f.filter(_rec("fedforgetx", logging.INFO))
    assert f.filter(_rec("ray", logging.WARNING)) and f.filter(_rec("flwr", logging.ERROR))
    dep = "DEPRECATED FEATURE: The `run_simulation` function is deprecated and will be removed"
    assert not f.filter(_rec("flwr", logging.WARNING, dep))
    v = ConsoleFilter(verbose=True)
    assert v.filter(_rec("flwr", logging.DEBUG)) and not v.filter(_rec("flwr", logging.WARNING, dep))


def test_progress_only_on_a_terminal() -> None:
    off = Progress(enabled=False)
    off.update("train", 1, 5)
    assert off.bar is None
    on = Progress(enabled=True)
    on.update("train", 1, 3)
    assert on.bar is not None and on.bar.n == 1 and on.bar.total == 3
    on.update("train", 3, 3)  # the phase's last round closes it
    assert on.bar is None


@pytest.mark.slow
@pytest.mark.ray
def test_quickstart_console_is_quiet(tmp_path: Path) -> None:
    sets = ["training.rounds=3", "unlearning.rounds=2", "evaluation.retrain=false", "evaluation.every_round=false",
            "runtime.total_cpus=2"]
    argv = [str(Path(sys.executable).parent / "fedforget"), "run", str(ROOT / "configs" / "quickstart.yaml"),
            "--out", str(tmp_path / "q"), *[a for s in sets for a in ("--set", s)]]
    p = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 0, p.stderr[-2000:]
    err = p.stderr
    for noise in ("DEBUG", "alembic", "UserWarning", "FutureWarning", "DEPRECATED", "non-writable"):
        assert noise not in err, f"{noise!r} on the console:\n{err}"
    info = [ln for ln in err.splitlines() if " INFO " in ln or " DEBUG " in ln]
    assert info and all(" fedforget" in ln for ln in info), err  # only fedforget's own INFO lines
    assert "[train] 3 rounds" in err and len(info) <= 25, err
