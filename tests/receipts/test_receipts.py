"""Commitments, hash chains and signed receipts: a receipt verifies; any tampering fails
with a message naming what failed."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from fedforget.deletion.receipts.commitment import CommitmentError, commit, verify_commitment
from fedforget.deletion.receipts.receipt import load_receipt, verify_receipt
from fedforget.deletion.receipts.records import DeletionRecords
from fedforget.util.hashing import model_hash


def _samples(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 8, 8), dtype=np.float32), rng.integers(0, 10, n), np.arange(100, 100 + n)


def test_commitment_verifies_only_against_the_committed_samples():
    x, y, ids = _samples(7)
    c = commit(x, y, ids, "req-0")
    verify_commitment(c.public(), x, y, ids, c.salt)  # same samples, any order of ids
    perm = np.random.default_rng(1).permutation(7)
    verify_commitment(c.public(), x[perm], y[perm], ids[perm], c.salt)
    x2 = x.copy()
    x2[3, 0, 0, 0] += 1e-3
    for args, what in (((x2, y, ids), "not the committed samples"),
                       ((x, (y + 1) % 10, ids), "not the committed samples"),
                       ((x[:6], y[:6], ids[:6]), "commits to 7 samples"),
                       ((*_samples(7, seed=5)[:2], ids), "not the committed samples")):
        with pytest.raises(CommitmentError, match=what):
            verify_commitment(c.public(), *args, c.salt)
    with pytest.raises(CommitmentError, match="not the committed samples"):
        verify_commitment(c.public(), x, y, ids, b"\0" * 32)  # wrong salt
    assert commit(x, y, ids, "req-0").root != c.root  # a fresh salt hides equal sets


def _served_receipt(tmp_path):
    rng = np.random.default_rng(0)
    models = [{"w": rng.random((4, 3)).astype(np.float32)} for _ in range(4)]
    rec = DeletionRecords(tmp_path)
    rec.start()
    x, y, ids = _samples(5)
    from fedforget.deletion.receipts.commitment import save_secret

    c = commit(x, y, ids, "req-0")
    save_secret(tmp_path / "dev", c, ids)
    replies = {0: {"n_forget": 0}, 1: {"n_forget": 5, "commit_key": c.key, "commit_root": c.root, "commit_count": 5}}
    from fedforget.config import DeletionRequest

    rec.on_request_received([("req-0", DeletionRequest("client", 1))], replies, round=3)
    rec.on_unlearning(models[0], "oeu")
    for i, m in enumerate(models[1:3]):
        rec.round_hook("unlearn", i, m, {"step": 4 + i})
    rec.round_hook("retrain", 0, {"w": np.zeros(1)}, {"step": 6})  # a baseline: not in the chain
    [path] = rec.on_served(models[3], {"unlearned": {"forget_acc": 0.41}}, served_round=7)
    [path2] = rec.on_final_evidence({"name": "t", "models": {"unlearned": {"forget_acc": 0.4, "mia": {"loss": {"auc": 0.5}}}}})
    assert path2 == path
    rec.close()
    return path, models, (x, y, ids, c)


def test_receipt_verifies_and_names_what_was_tampered(tmp_path):
    path, models, _ = _served_receipt(tmp_path)
    r = load_receipt(path)
    v = verify_receipt(r)
    assert v.ok, v.lines()
    assert [m["phase"] for m in r["body"]["chain"]["models"]] == ["before", "unlearn", "unlearn", "after"]
    assert r["body"]["model_hash_after"] == model_hash(models[3])
    assert r["body"]["evidence"]["final"]["unlearned"]["mia_auc"] == {"loss": 0.5}
    assert r["body"]["evidence"]["unlearned"]["forget_acc"] == 0.41

    def fails(mutate, *names):
        t = copy.deepcopy(r)
        mutate(t)
        res = verify_receipt(t)
        assert not res.ok
        failed = {f.split(":")[0] for f in res.failures()}
        assert failed == set(names), res.lines()

    fails(lambda t: t["body"].__setitem__("model_hash_after", model_hash(models[2])), "signature", "chain")
    fails(lambda t: t["body"]["evidence"]["unlearned"].__setitem__("forget_acc", 0.05), "signature")
    fails(lambda t: t["body"]["chain"]["models"][1].__setitem__("model_hash", "sha256:00"), "signature", "chain")
    fails(lambda t: t["signature"].__setitem__("value", "00" * 64), "signature")
    key = r["signature"]["public_key"]
    assert verify_receipt(r, trusted_public_key=key).ok
    bad = verify_receipt(r, trusted_public_key="11" * 32)
    assert not bad.ok and "other than the trusted server key" in bad.failures()[0]


def test_device_checks_its_commitment(tmp_path):
    path, _, (x, y, ids, c) = _served_receipt(tmp_path)
    r = load_receipt(path)
    from fedforget.data.datasets import ArrayData
    from fedforget.data.local import save_local_data

    dev = tmp_path / "dev"
    save_local_data(dev, ArrayData(x, y.astype(np.int64), ids.astype(np.int64), 10))
    assert verify_receipt(r, device_dir=dev).ok
    x2 = x.copy()
    x2[0] += 0.5  # the device holds other samples under the same ids
    save_local_data(dev, ArrayData(x2, y.astype(np.int64), ids.astype(np.int64), 10))
    v = verify_receipt(r, device_dir=dev)
    assert not v.ok and "commitment[1]" in v.failures()[0] and "not the committed samples" in v.failures()[0]


def test_a_crashed_request_is_served_after_resume_and_a_fresh_run_moves_old_records_aside(tmp_path):
    from fedforget.config import DeletionRequest

    m0, m1 = {"w": np.zeros(3, np.float32)}, {"w": np.ones(3, np.float32)}
    replies = {2: {"n_forget": 4, "commit_key": "k", "commit_root": "sha256:ab", "commit_count": 4}}
    rec = DeletionRecords(tmp_path)
    rec.start()
    rec.on_request_received([("r0", DeletionRequest("client", 2))], replies, round=5)
    rec.on_unlearning(m0, "oeu")
    rec.close()  # the process dies mid-unlearning

    resumed = DeletionRecords(tmp_path)
    resumed.start(fresh=False)
    assert [(e["request_id"], e["status"]) for e in resumed.ledger.pending()] == [("r0", "unlearning")]
    assert resumed.on_request_received([("r0", DeletionRequest("client", 2))], replies, round=5) == ["r0"]
    resumed.on_unlearning(m0, "oeu")
    [path] = resumed.on_served(m1, {}, served_round=7)
    assert verify_receipt(load_receipt(path)).ok
    assert resumed.on_request_received([("r0", DeletionRequest("client", 2))], replies, round=9) == []  # served
    resumed.close()
    again = DeletionRecords(tmp_path)  # resumed after the serve point: the final evidence still lands
    again.start(fresh=False)
    assert again.on_final_evidence({"models": {"unlearned": {"forget_acc": 0.3}}}) == [path]
    r = load_receipt(path)
    assert verify_receipt(r).ok and r["body"]["evidence"]["final"]["unlearned"]["forget_acc"] == 0.3
    again.close()

    fresh = DeletionRecords(tmp_path)
    fresh.start()
    assert fresh.ledger.entries() == []
    [old] = (tmp_path / "previous").iterdir()
    assert (old / "ledger.sqlite").exists() and (old / "receipts" / "r0.json").exists()
    fresh.close()
