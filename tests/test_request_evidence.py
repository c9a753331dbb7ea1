"""Per-request evidence on the timeline (fedforget.run.timeline, fedforget.evaluation.requests):
attack AUCs of each request's own samples against the server's non-member pool, at serve
time and at the end, beside the reference's; the backdoor ASR only where the request's
data carries the trigger."""

from __future__ import annotations

import numpy as np
import pytest

from fedforget.client.inprocess import InProcessFederation
from fedforget.data import build_federated_data
from fedforget.evaluation.metrics import mia_metrics
from fedforget.evaluation.requests import request_aucs, shadowless
from fedforget.run.experiment import Experiment
from tests.conftest import tiny_config
from tests.test_timeline import REQUESTS

ATTACKS = ("loss", "confidence", "entropy", "modified_entropy")
EVIDENCE = (
    "partition.num_clients=5", "training.rounds=6", "unlearning.rounds=1", "unlearning.recovery_rounds=0",
    "deletion.backdoor.enabled=true", "deletion.backdoor.fraction=0.05", "evaluation.retrain_at=each",
    'evaluation.attacks=["loss", "confidence", "entropy", "modified_entropy"]', REQUESTS,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("evidence")
    cfg = tiny_config(*EVIDENCE)
    res = Experiment(cfg, InProcessFederation(5, out / "client-state"), out).run()
    return cfg, res, out


def _auc_ok(aucs):
    assert set(aucs) == set(ATTACKS)
    assert all(v is not None and 0.0 <= v <= 1.0 for v in aucs.values())


def test_aucs_at_serve_and_at_end_beside_the_reference(run):
    _cfg, res, _out = run
    assert len(res["requests"]) == 3
    for r in res["requests"]:
        for when in ("at_serve", "at_end"):
            _auc_ok(r[when]["mia_auc"])
            _auc_ok(r[when]["reference_mia_auc"])  # retrain_at=each: at serve; the final reference at the end


def test_aucs_use_only_the_request_samples(run):
    cfg, res, _out = run
    fd = build_federated_data(cfg)
    for i, r in enumerate(res["requests"]):
        size = sum(len(ids) for ids in fd.forget_by_request[i])
        for when in ("at_serve", "at_end"):
            ev = r[when]
            assert ev["mia_n"] == ev["n"] == size
            assert ev["mia_n_nonmembers"] == len(fd.nonmember)


def test_asr_only_where_the_trigger_marks_the_request(run):
    cfg, res, _out = run
    fd = build_federated_data(cfg)
    triggered = 0
    for i, r in enumerate(res["requests"]):
        ids = np.concatenate(fd.forget_by_request[i])
        k = int(np.isin(ids, fd.poisoned).sum())
        triggered += k > 0
        for when in ("at_serve", "at_end"):
            ev = r[when]
            assert ev["n_triggered"] == k
            assert (ev["asr"] is not None) == (k > 0)
            assert (ev["reference_asr"] is not None) == (k > 0)
        if k:
            assert r["at_end"]["asr"] == res["models"]["unlearned"]["asr"]
            assert r["at_end"]["reference_asr"] == res["models"]["retrained"]["asr"]
    assert triggered


def test_request_aucs_are_sklearn_aucs():
    rng = np.random.default_rng(0)
    m, n = {"loss": rng.normal(1, 1, 30)}, {"loss": rng.normal(0, 1, 50), "entropy": rng.normal(0, 1, 50)}
    assert request_aucs(m, n) == {"loss": mia_metrics(m["loss"], n["loss"])["auc"]}
    assert shadowless(("loss", "lira", "modified_entropy")) == ("loss", "modified_entropy")


def test_report_table_has_the_auc_and_asr_columns(run):
    from fedforget.report.markdown import write_report

    _cfg, res, out = run
    text = write_report(out).read_text()
    assert "AUC loss serve / end / ref" in text and "AUC modified_entropy serve / end / ref" in text
    assert "ASR % serve / end / ref" in text
    r0 = res["requests"][0]
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if "AUC loss serve / end / ref" in line)
    row = next(line for line in lines[header:] if line.startswith("| r0 |"))  # the requests table's row
    assert f"{r0['at_serve']['mia_auc']['loss']:.3f} / {r0['at_end']['mia_auc']['loss']:.3f}" in row
