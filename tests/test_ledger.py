"""The deletion ledger: append-only, one transaction per state change, readable while written."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3

import numpy as np
import pytest

from fedforget.deletion.ledger import Ledger, LedgerError, format_table
from fedforget.util.hashing import model_hash


def test_model_hash_is_of_exact_bytes_dtype_shape_and_order_free():
    a = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(3, np.float32)}
    h = model_hash(a)
    assert h == model_hash(dict(reversed(list(a.items()))))  # insertion order does not matter
    assert h != model_hash({**a, "w": a["w"].reshape(3, 2)})  # shape matters
    assert h != model_hash({**a, "w": a["w"].astype(np.float64)})  # dtype matters
    w = a["w"].copy()
    w.flat[0] = np.nextafter(w.flat[0], np.float32(1))  # one ulp
    assert h != model_hash({**a, "w": w})
    assert h != model_hash({"x": a["w"], "b": a["b"]})  # names matter


def test_life_of_a_request_and_export(tmp_path):
    with Ledger(tmp_path) as led:
        led.received("r0", 3, "client", 164, 20, {"3": {"key": "k", "root": "sha256:ab", "count": 164}})
        assert led.entry("r0")["status"] == "received"
        led.unlearning("r0", "sha256:before", "oeu")
        led.served("r0", "sha256:after", {"unlearned": {"forget_acc": 0.4}}, 27)
        e = led.entry("r0")
        assert (e["status"], e["model_hash_before"], e["model_hash_after"], e["served_round"]) == (
            "served", "sha256:before", "sha256:after", 27)
        assert e["clients"] == [3] and e["size"] == 164 and e["evidence"]["unlearned"]["forget_acc"] == 0.4
        assert [ev["status"] for ev in led.events("r0")] == ["received", "unlearning", "served"]
        assert led.pending() == []
        out = json.loads(led.export_json(tmp_path / "ledger.json").read_text())
        assert out["entries"][0]["events"][-1]["status"] == "served"
        assert "r0" in format_table(led.entries())


def test_forbidden_changes_name_the_request_and_status(tmp_path):
    with Ledger(tmp_path) as led:
        with pytest.raises(LedgerError, match="'nope' is not in the ledger"):
            led.unlearning("nope", "h", "oeu")
        led.received("r1", [0, 2], "class", 10, 5)
        with pytest.raises(LedgerError, match="'r1' is received; it cannot become served"):
            led.served("r1", "h", {}, 6)
        led.received("r1", [0, 2], "class", 10, 5)  # a pending request received again: unchanged
        assert len(led.events("r1")) == 1
        led.failed("r1", "client 2 never answered")
        assert led.entry("r1")["reason"] == "client 2 never answered"
        led.received("r1", [0, 2], "class", 10, 9)  # a failed request may be received again
        led.unlearning("r1", "h0", "oeu")
        led.served("r1", "h1", {}, 12)
        with pytest.raises(LedgerError, match="already served"):
            led.received("r1", [0, 2], "class", 10, 13)


def test_events_are_append_only_in_the_database(tmp_path):
    with Ledger(tmp_path) as led:
        led.received("r0", 1, "client", 5, 0)
    db = sqlite3.connect(tmp_path / "ledger.sqlite")
    for sql in ("UPDATE events SET status = 'served'", "DELETE FROM events", "DELETE FROM requests"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only|never deleted"):
            db.execute(sql)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def _writer(path: str, n: int) -> None:
    with Ledger(path) as led:
        for i in range(n):
            led.received(f"r{i}", i % 4, "samples", i, i)
            led.unlearning(f"r{i}", f"h{i}", "oeu")
            led.record_model(i, "unlearn", 1, f"m{i}")
            led.served(f"r{i}", f"h{i + 1}", {"i": i}, i + 1)


def test_concurrent_reader_while_a_run_writes(tmp_path):
    n = 60
    with Ledger(tmp_path):
        pass  # create the file so the reader can open it read-only
    proc = mp.get_context("spawn").Process(target=_writer, args=(str(tmp_path), n))
    proc.start()
    reads = 0
    with Ledger.open_readonly(tmp_path) as reader:
        while proc.is_alive() or reads == 0:
            for e in reader.entries():  # each read is one consistent snapshot
                if e["status"] == "served":
                    assert e["model_hash_after"] and e["evidence"] is not None
                assert e["status"] in ("received", "unlearning", "served")
            reads += 1
        proc.join(60)
        assert proc.exitcode == 0
        assert [e["status"] for e in reader.entries()] == ["served"] * n
        with pytest.raises(LedgerError, match="read-only"):
            reader.failed("r0", "x")
    assert reads >= 1


def test_readonly_open_of_a_missing_ledger_says_how_to_fix(tmp_path):
    with pytest.raises(LedgerError, match="run an experiment into that folder"):
        Ledger.open_readonly(tmp_path / "nothing")
