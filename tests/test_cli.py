"""The console script: bad input fails early with a clear message, no traceback."""

from __future__ import annotations

import logging

from fedforget.cli import main


def test_validate_prints_resolved_config(capsys):
    assert main(["validate", "configs/quickstart.yaml", "--set", "training.rounds=3"]) == 0
    assert "rounds: 3" in capsys.readouterr().out


def test_bad_override_fails_before_work(tmp_path, caplog):
    with caplog.at_level(logging.ERROR):
        rc = main(["run", "configs/quickstart.yaml", "--out", str(tmp_path / "o"), "--set", "unlearning.lr=-1"])
    assert rc == 2
    assert "unlearning.lr must be a float > 0, got -1" in caplog.text
    assert not (tmp_path / "o").exists()  # nothing started


def test_missing_config_file(caplog):
    with caplog.at_level(logging.ERROR):
        assert main(["run", "nope.yaml"]) == 2
    assert "does not exist" in caplog.text


def test_run_inprocess_and_report(tmp_path, capsys):
    out = tmp_path / "r"
    rc = main(["run", "configs/quickstart.yaml", "--out", str(out), "--set", "runtime.backend=inprocess",
               "--set", "training.rounds=2", "--set", "unlearning.rounds=1", "--set", "evaluation.retrain=false",
               "--set", "evaluation.every_round=false"])
    assert rc == 0 and "| **unlearned** |" in capsys.readouterr().out
    (out / "report.md").unlink()
    assert main(["report", str(out)]) == 0 and (out / "report.md").exists()
