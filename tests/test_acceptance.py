"""A deletion is served only on evidence (fedforget.deletion.acceptance): the rule itself,
the ledger's ``unverified`` status, and a poisoned run whose forget client never unlearns:
without the rule its request would be served with a signed receipt while the forget set is
still remembered; with it the request is ``unverified`` and no receipt is issued."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fedforget.config import AcceptanceConfig, load_config
from fedforget.deletion.acceptance import judge
from fedforget.deletion.ledger import Ledger, LedgerError, format_table
from fedforget.report.markdown import write_report
from fedforget.run.validate import validate_experiment
from fedforget.runtime.simulation import run_experiment

QUICKSTART = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"
FAST = ["runtime.backend=inprocess", "evaluation.every_round=false", "evaluation.retrain=false"]


def test_rule_needs_evidence_and_bounds_each_figure() -> None:
    cfg = AcceptanceConfig(max_mia_auc=0.6, max_asr=0.2)
    ok = judge(cfg, {"mia_auc": {"loss": 0.31, "entropy": 0.5}, "asr": 0.01})
    assert ok.verified and set(ok.checks) == {"mia_auc.loss", "mia_auc.entropy", "asr"} and ok.reason == ""
    bad = judge(cfg, {"mia_auc": {"loss": 0.7}, "asr": 0.9})
    assert not bad.verified and "mia_auc.loss=0.700 > 0.6" in bad.reason and "asr=0.900 > 0.2" in bad.reason
    assert not judge(cfg, {"asr": None, "forget_acc": 0.1}).verified  # no evidence: not verified
    assert "no evidence" in judge(cfg, {}).reason
    assert judge(AcceptanceConfig(enabled=False), {"asr": 1.0}).verified


def test_ledger_unverified_keeps_figures_and_may_be_received_again(tmp_path: Path) -> None:
    with Ledger(tmp_path) as ledger:
        ledger.received("r0", 3, "client", 10, 5)
        ledger.unlearning("r0", "sha256:aa", "oeu")
        ledger.unverified("r0", "sha256:bb", {"asr": 0.9}, 5, "asr=0.900 > 0.2")
        e = ledger.entry("r0")
        assert e["status"] == "unverified" and e["evidence"] == {"asr": 0.9} and "asr" in e["reason"]
        assert "unverified (asr=0.900" in format_table(ledger.entries())
        with pytest.raises(LedgerError, match="cannot become served"):
            ledger.served("r0", "sha256:bb", {}, 5)
        assert ledger.received("r0", 3, "client", 10, 6)["status"] == "received"


def _run(out: Path, *overrides: str) -> tuple[dict, dict]:
    cfg = validate_experiment(load_config(QUICKSTART, [*FAST, *overrides]))
    res = run_experiment(cfg, out, write_report=False)
    with Ledger.open_readonly(out) as ledger:
        (entry,) = ledger.entries()
    return res, entry


@pytest.mark.slow
def test_quickstart_serves_its_request_on_evidence(tmp_path: Path) -> None:
    res, entry = _run(tmp_path)
    acc = res["requests"][0]["acceptance"]
    assert entry["status"] == "served" and acc["verified"], acc
    assert acc["checks"]["asr"]["value"] < 0.05 and all(c["value"] < 0.45 for k, c in acc["checks"].items() if "auc" in k)
    assert (tmp_path / "receipts" / "r0.json").exists()


POISON = "runtime.faults=[{client: 3, phase: unlearn, round: -1, kind: zero, times: -1}]"  # never unlearns


@pytest.mark.slow
def test_poisoned_forgetting_is_never_served_with_a_receipt(tmp_path: Path) -> None:
    # without the rule: served and signed while the backdoor (the forget set) is remembered
    res, entry = _run(tmp_path / "off", POISON, "deletion.acceptance.enabled=false")
    at_serve = res["requests"][0]["at_serve"]
    assert entry["status"] == "served" and (tmp_path / "off" / "receipts" / "r0.json").exists()
    assert at_serve["asr"] > 0.5 and at_serve["forget_acc"] > 0.8, at_serve
    # with it (the default): unverified, with the figures, and no receipt
    res, entry = _run(tmp_path / "on", POISON)
    acc = res["requests"][0]["acceptance"]
    assert entry["status"] == "unverified" and not acc["verified"] and "asr=" in entry["reason"]
    assert entry["evidence"]["at_serve"]["asr"] == res["requests"][0]["at_serve"]["asr"] > 0.5
    assert not (tmp_path / "on" / "receipts" / "r0.json").exists()
    ledger_json = json.loads((tmp_path / "on" / "ledger.json").read_text())
    assert "unverified" in json.dumps(ledger_json)
    report = write_report(tmp_path / "on").read_text()  # the report says so
    assert "| r0 | **UNVERIFIED** (no receipt) |" in report and "asr" in report
