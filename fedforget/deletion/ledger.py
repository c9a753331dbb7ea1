"""The deletion ledger: an append-only, crash-safe record of every deletion request.

One SQLite database per output folder (``<out>/ledger.sqlite``; ``sqlite3`` from the
standard library, WAL journal, ``synchronous=FULL``). Every state change of a request is
one transaction that appends an event row *and* updates the request's current row, so a
crash leaves either both or neither. Events are never updated or deleted (triggers refuse
it). Readers (``fedforget ledger DIR``) may open the database while a run writes it.

Life of a request::

    received --> unlearning --> served
       |              |-------> unverified   (the acceptance rule did not hold: no receipt)
       |              '-------> failed
       '----------------------> failed       (failed and unverified requests may be received again)

``received`` is written before any unlearning work starts; a crash leaves a ``received``
or ``unlearning`` entry that a resumed run serves (:meth:`Ledger.pending`). The ledger
holds sizes, hashes and statistics, never samples. It also records the hash of every
global model the run produces (:meth:`Ledger.record_model`), from which receipts build
their hash chains.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fedforget.util.errors import FedForgetError
from fedforget.util.io import atomic_write_json

LEDGER_FILE = "ledger.sqlite"
STATUSES = ("received", "unlearning", "served", "unverified", "failed")
# status -> statuses it may move to
_NEXT = {
    "received": {"unlearning", "failed"},
    "unlearning": {"unlearning", "served", "unverified", "failed"},  # unlearning again: a resumed run restarts it
    "served": set(),
    "unverified": {"received"},  # unlearned, but the acceptance rule did not hold: may be received again
    "failed": {"received"},  # a failed request may be received again (retried)
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    clients TEXT NOT NULL,            -- JSON list of client indices
    granularity TEXT NOT NULL,
    size INTEGER NOT NULL,            -- number of samples to forget (never the samples)
    received_round INTEGER NOT NULL,
    received_at TEXT NOT NULL,
    commitment TEXT,                  -- JSON: {client: {root, count, key}}
    method TEXT,
    model_hash_before TEXT,
    model_hash_after TEXT,
    served_round INTEGER,
    evidence TEXT,                    -- JSON
    status TEXT NOT NULL,
    reason TEXT,
    updated_at TEXT NOT NULL,
    last_event INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    status TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    step INTEGER NOT NULL,
    phase TEXT NOT NULL,
    round INTEGER NOT NULL,
    model_hash TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'ledger events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'ledger events are append-only'); END;
CREATE TRIGGER IF NOT EXISTS models_no_update BEFORE UPDATE ON models
    BEGIN SELECT RAISE(ABORT, 'ledger model hashes are append-only'); END;
CREATE TRIGGER IF NOT EXISTS models_no_delete BEFORE DELETE ON models
    BEGIN SELECT RAISE(ABORT, 'ledger model hashes are append-only'); END;
CREATE TRIGGER IF NOT EXISTS requests_no_delete BEFORE DELETE ON requests
    BEGIN SELECT RAISE(ABORT, 'ledger requests are never deleted'); END;
"""


class LedgerError(FedForgetError):
    """A ledger operation is not allowed (unknown request, forbidden status change) or the
    ledger file cannot be read."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _dumps(obj: Any) -> str:
    from fedforget.util.io import _json_default

    return json.dumps(obj, sort_keys=True, default=_json_default)


class Ledger:
    """The deletion ledger of one output folder. ``Ledger(out_dir)`` opens (creating) it
    for writing; :meth:`open_readonly` opens an existing one for reading only."""

    def __init__(self, out_dir: str | Path, *, readonly: bool = False) -> None:
        p = Path(out_dir)
        self.path = p if p.suffix == ".sqlite" else p / LEDGER_FILE
        self.readonly = readonly
        self._lock = threading.Lock()
        if readonly:
            if not self.path.exists():
                raise LedgerError(f"no deletion ledger at {self.path}; run an experiment into that folder first")
            uri = f"file:{self.path.resolve()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        self._db.row_factory = sqlite3.Row

    @classmethod
    def open_readonly(cls, out_dir: str | Path) -> Ledger:
        return cls(out_dir, readonly=True)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        if self.readonly:
            raise LedgerError(f"{self.path} is open read-only")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _change(self, request_id: str, status: str, fields: dict[str, Any], data: dict[str, Any]) -> None:
        with self._tx() as db:
            row = db.execute("SELECT status FROM requests WHERE request_id = ?", (request_id,)).fetchone()
            if row is None:
                raise LedgerError(f"deletion request {request_id!r} is not in the ledger {self.path}; "
                                  "record it with received() first")
            if status not in _NEXT[row["status"]]:
                raise LedgerError(f"deletion request {request_id!r} is {row['status']}; it cannot become {status}")
            at = _now()
            seq = db.execute("INSERT INTO events (request_id, status, at, data) VALUES (?, ?, ?, ?)",
                             (request_id, status, at, _dumps(data))).lastrowid
            sets = ", ".join(f"{k} = ?" for k in fields)
            db.execute(f"UPDATE requests SET {sets}{', ' if sets else ''}status = ?, updated_at = ?, last_event = ? "
                       "WHERE request_id = ?", (*fields.values(), status, at, seq, request_id))

    def received(
        self, request_id: str, client: int | Sequence[int], granularity: str, size: int, round: int,
        commitment: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record a new request (before any work on it starts). Receiving a request that is
        already pending (``received``/``unlearning``, e.g. after a crash) changes nothing."""
        clients = [int(client)] if isinstance(client, int) else sorted(int(c) for c in client)
        data = {"clients": clients, "granularity": granularity, "size": int(size), "round": int(round),
                "commitment": commitment}
        with self._tx() as db:
            row = db.execute("SELECT status FROM requests WHERE request_id = ?", (request_id,)).fetchone()
            if row is not None and row["status"] in ("received", "unlearning"):
                pass  # already pending: idempotent
            elif row is not None and row["status"] == "served":
                raise LedgerError(f"deletion request {request_id!r} was already served (ledger {self.path}); "
                                  "give a new request a new id, or write the run into a new output folder")
            else:
                at = _now()
                seq = db.execute("INSERT INTO events (request_id, status, at, data) VALUES (?, 'received', ?, ?)",
                                 (request_id, at, _dumps(data))).lastrowid
                db.execute(
                    "INSERT OR REPLACE INTO requests (request_id, clients, granularity, size, received_round, "
                    "received_at, commitment, status, updated_at, last_event) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'received', ?, ?)",
                    (request_id, _dumps(clients), granularity, int(size), int(round), at,
                     _dumps(commitment) if commitment is not None else None, at, seq),
                )
        return self.entry(request_id)

    def unlearning(self, request_id: str, model_hash_before: str, method: str) -> None:
        """Unlearning of ``request_id`` starts now, from the model with this hash."""
        self._change(request_id, "unlearning", {"model_hash_before": model_hash_before, "method": method},
                     {"model_hash_before": model_hash_before, "method": method})

    def served(self, request_id: str, model_hash_after: str, evidence: dict[str, Any], served_round: int) -> None:
        """The published model ``model_hash_after`` no longer carries the request's data,
        by the ``evidence`` given (accuracies, attack AUCs, ...)."""
        self._change(request_id, "served",
                     {"model_hash_after": model_hash_after, "evidence": _dumps(evidence), "served_round": int(served_round)},
                     {"model_hash_after": model_hash_after, "served_round": int(served_round)})

    def unverified(self, request_id: str, model_hash_after: str, evidence: dict[str, Any], served_round: int,
                   reason: str) -> None:
        """Unlearning of ``request_id`` ended with the model ``model_hash_after``, but the
        server's acceptance rule (fedforget.deletion.acceptance) did not hold on the
        ``evidence``: not served, no receipt; ``reason`` names the figures."""
        self._change(request_id, "unverified",
                     {"model_hash_after": model_hash_after, "evidence": _dumps(evidence), "served_round": int(served_round),
                      "reason": str(reason)},
                     {"model_hash_after": model_hash_after, "served_round": int(served_round), "reason": str(reason)})

    def add_evidence(self, request_id: str, evidence: dict[str, Any]) -> None:
        """Evidence computed after the request was served (e.g. the run's final evaluation
        against the retrained model), merged into the entry's evidence; status stays ``served``."""
        with self._tx() as db:
            row = db.execute("SELECT status, evidence FROM requests WHERE request_id = ?", (request_id,)).fetchone()
            if row is None or row["status"] != "served":
                raise LedgerError(f"deletion request {request_id!r} is not served; evidence is added to served requests only")
            merged = {**(json.loads(row["evidence"]) if row["evidence"] else {}), **evidence}
            at = _now()
            seq = db.execute("INSERT INTO events (request_id, status, at, data) VALUES (?, 'served', ?, ?)",
                             (request_id, at, _dumps({"evidence_added": sorted(evidence)}))).lastrowid
            db.execute("UPDATE requests SET evidence = ?, updated_at = ?, last_event = ? WHERE request_id = ?",
                       (_dumps(merged), at, seq, request_id))

    def failed(self, request_id: str, reason: str) -> None:
        self._change(request_id, "failed", {"reason": str(reason)}, {"reason": str(reason)})

    def record_model(self, step: int, phase: str, round: int, model_hash: str) -> None:
        """The global model after round ``round`` of ``phase`` (global step ``step``)."""
        with self._tx() as db:
            db.execute("INSERT INTO models (step, phase, round, model_hash, at) VALUES (?, ?, ?, ?, ?)",
                       (int(step), phase, int(round), model_hash, _now()))

    # ------------------------------------------------------------------ reading
    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            with self._lock:
                return self._db.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as e:
            raise LedgerError(f"cannot read the deletion ledger {self.path}: {e}") from e

    def entry(self, request_id: str) -> dict[str, Any]:
        rows = self._read("SELECT * FROM requests WHERE request_id = ?", (request_id,))
        if not rows:
            raise LedgerError(f"deletion request {request_id!r} is not in the ledger {self.path}")
        return self._entry(rows[0])

    def entries(self, *, with_events: bool = False) -> list[dict[str, Any]]:
        """Every request, in the order received (current status derived from its events)."""
        out = [self._entry(r) for r in self._read("SELECT * FROM requests ORDER BY received_at, request_id")]
        if with_events:
            for e in out:
                e["events"] = self.events(e["request_id"])
        return out

    def pending(self) -> list[dict[str, Any]]:
        """Requests received but neither served nor failed (what a resumed run must serve)."""
        return [e for e in self.entries() if e["status"] in ("received", "unlearning")]

    def events(self, request_id: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM events ORDER BY seq", ()
        if request_id is not None:
            sql, args = "SELECT * FROM events WHERE request_id = ? ORDER BY seq", (request_id,)
        return [{"seq": r["seq"], "request_id": r["request_id"], "status": r["status"], "at": r["at"],
                 **json.loads(r["data"])} for r in self._read(sql, args)]

    def models(self, after_seq: int = 0) -> list[dict[str, Any]]:
        """Global model hashes recorded after event/model sequence ``after_seq``."""
        return [dict(r) for r in self._read("SELECT * FROM models WHERE seq > ? ORDER BY seq", (int(after_seq),))]

    def model_seq(self) -> int:
        """The sequence number of the last recorded model (0 if none)."""
        rows = self._read("SELECT COALESCE(MAX(seq), 0) AS s FROM models")
        return int(rows[0]["s"])

    @staticmethod
    def _entry(r: sqlite3.Row) -> dict[str, Any]:
        e = dict(r)
        e["clients"] = json.loads(e["clients"])
        for k in ("commitment", "evidence"):
            e[k] = json.loads(e[k]) if e[k] is not None else None
        e.pop("last_event", None)
        return e

    def export_json(self, path: str | Path) -> Path:
        """Write every entry with its events to ``path`` (atomically)."""
        atomic_write_json(path, {"ledger": str(self.path), "entries": self.entries(with_events=True)})
        return Path(path)


def format_table(entries: list[dict[str, Any]]) -> str:
    """A plain-text table of ledger entries for ``fedforget ledger``."""
    cols = ("request_id", "status", "clients", "granularity", "size", "received_round", "method",
            "served_round", "model_hash_after")
    rows = []
    for e in entries:
        cells = []
        for c in cols:
            v = e.get(c)
            if c == "clients":
                v = ",".join(str(x) for x in v)
            elif c == "model_hash_after" and v:
                v = str(v)[:19] + "…"
            elif c == "status" and e.get("reason"):
                v = f"{v} ({e['reason'][:40]})"
            cells.append("" if v is None else str(v))
        rows.append(cells)
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
    line = lambda cells: "  ".join(s.ljust(w) for s, w in zip(cells, widths, strict=True)).rstrip()  # noqa: E731
    out = [line(list(cols)), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    if not rows:
        out.append("(no deletion requests)")
    return "\n".join(out)
