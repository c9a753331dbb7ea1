"""What the experiment calls to keep the deletion ledger and issue receipts.

The run loop needs five calls, each a no-op when nothing is pending:

* :meth:`DeletionRecords.start` -- once, when the output folder is prepared (``fresh``:
  a new run moves an older ledger and its receipts aside, never deletes them);
* :meth:`~DeletionRecords.on_round` -- every metrics row of the round loop (records the
  global model's hash, the links of the hash chains);
* :meth:`~DeletionRecords.on_request_received` -- when clients have answered a deletion
  request (their sizes and commitments), before any unlearning;
* :meth:`~DeletionRecords.on_unlearning` -- unlearning of the pending requests starts
  from a model;
* :meth:`~DeletionRecords.on_served` / :meth:`~DeletionRecords.on_failed` -- the published
  model and the evidence; writes ``<out>/receipts/<request_id>.json``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.hashing import model_hash
from fedforget.ledger import LEDGER_FILE, Ledger
from fedforget.receipts.chain import build_chain
from fedforget.receipts.receipt import issue_receipt
from fedforget.receipts.signing import load_or_create_key

log = logging.getLogger(__name__)

RECEIPTS_DIR = "receipts"
KEYS_DIR = "keys"
CHAIN_EXCLUDED_PHASES = frozenset({"retrain", "shadow"})  # baselines, not the published model's line
EVIDENCE_KEYS = ("test_acc", "retain_acc", "forget_acc", "asr", "distance_to_retrained",
                 "forget_confidence", "forget_entropy")


def request_clients(granularity: str, client: int, n_forget: Mapping[int, int]) -> list[int]:
    """Clients a request concerns: its client (``samples``/``client``), or every client
    holding data to forget (``class``)."""
    if granularity == "class" or client < 0:
        return sorted(c for c, n in n_forget.items() if n > 0)
    return [int(client)]


def evidence_from_results(results: Mapping[str, Any]) -> dict[str, Any]:
    """The forgetting evidence of a results dict (``models.unlearned`` and, where it
    exists, ``models.retrained``): accuracies, ASR, distance, attack AUCs."""
    out: dict[str, Any] = {}
    for name in ("unlearned", "retrained", "original"):
        m = (results.get("models") or {}).get(name)
        if not m:
            continue
        ev = {k: m[k] for k in EVIDENCE_KEYS if m.get(k) is not None}
        mia = m.get("mia") or {}
        ev["mia_auc"] = {a: v.get("auc") for a, v in mia.items() if isinstance(v, Mapping) and "auc" in v}
        out[name] = ev
    return out


class DeletionRecords:
    """Ledger + receipts of one output folder. ``key_dir`` holds the server's signing key
    (default ``<out>/keys``; ``fedforget deploy certs`` writes one beside the TLS files)."""

    def __init__(self, out_dir: str | Path, key_dir: str | Path | None = None) -> None:
        self.out = Path(out_dir)
        self.key_dir = Path(key_dir) if key_dir else self.out / KEYS_DIR
        self.ledger: Ledger | None = None
        self._unlearning_seq: dict[str, int] = {}
        self._round_hashes = False

    # ------------------------------------------------------------------ lifecycle
    def start(self, fresh: bool = True) -> Ledger:
        """Open the ledger. ``fresh``: a new run; an older ledger and receipts in the folder
        are moved to ``<out>/previous/<utc time>/`` (a resumed run passes ``fresh=False``)."""
        if self.ledger is not None:
            self.ledger.close()
        old = [p for p in (self.out / LEDGER_FILE, self.out / RECEIPTS_DIR) if p.exists()]
        if fresh and old:
            dest = self.out / "previous" / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            dest.mkdir(parents=True, exist_ok=True)
            for p in old:
                p.rename(dest / p.name)
            for suffix in ("-wal", "-shm"):
                side = self.out / f"{LEDGER_FILE}{suffix}"
                if side.exists():
                    side.rename(dest / side.name)
            log.info("an earlier deletion ledger and its receipts were moved to %s", dest)
        self.ledger = Ledger(self.out)
        return self.ledger

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None

    # ------------------------------------------------------------------ hooks
    def on_round(self, row: Mapping[str, Any]) -> None:
        """A metrics row of the round loop; rows carry the global model's ``model_hash``."""
        if self.ledger is None or not row.get("model_hash"):
            return
        self.ledger.record_model(int(row.get("step", 0)), str(row.get("phase", "")), int(row.get("round", 0)),
                                 str(row["model_hash"]))

    def on_request_received(
        self, requests: Sequence[Mapping[str, Any]], replies: Mapping[int, Mapping[str, Any]], round: int,
    ) -> list[str]:
        """``requests``: ``{"request_id", "granularity", "client"}`` each; ``replies``: each
        client's answer to the deletion message (``n_forget`` and its ``commit_*``).
        Records every request as ``received`` and returns their ids."""
        ledger = self.ledger or self.start(fresh=False)
        n_forget = {int(c): int(m.get("n_forget", 0)) for c, m in replies.items()}
        ids = []
        for r in requests:
            clients = request_clients(str(r["granularity"]), int(r.get("client", -1)), n_forget)
            commitment = {
                str(c): {"key": str(replies[c]["commit_key"]), "root": str(replies[c]["commit_root"]),
                         "count": int(replies[c]["commit_count"])}
                for c in clients if c in replies and "commit_root" in replies[c]
            }
            size = sum(n_forget.get(c, 0) for c in clients)
            ledger.received(str(r["request_id"]), clients, str(r["granularity"]), size, round, commitment)
            ids.append(str(r["request_id"]))
        return ids

    def on_unlearning(self, model: Mapping[str, np.ndarray], method: str, request_ids: Sequence[str] | None = None) -> str:
        """Unlearning of ``request_ids`` (default: every pending request) starts from ``model``."""
        if self.ledger is None:
            return ""
        h = model_hash(model)
        for rid in request_ids if request_ids is not None else [e["request_id"] for e in self.ledger.pending()]:
            self.ledger.unlearning(rid, h, method)
            self._unlearning_seq[rid] = self.ledger.model_seq()
        return h

    def on_served(
        self, model: Mapping[str, np.ndarray], evidence: Mapping[str, Any], served_round: int,
        request_ids: Sequence[str] | None = None, run: Mapping[str, Any] | None = None,
    ) -> list[Path]:
        """The model published for ``request_ids`` (default: every request being unlearned):
        mark them served and write one signed receipt each. Returns the receipt paths."""
        if self.ledger is None:
            return []
        pending = {e["request_id"]: e for e in self.ledger.pending()}
        rids = list(request_ids) if request_ids is not None else [r for r, e in pending.items() if e["status"] == "unlearning"]
        if not rids:
            return []
        t0 = time.perf_counter()
        after = model_hash(model)
        key = load_or_create_key(self.key_dir)
        paths = []
        for rid in rids:
            self.ledger.served(rid, after, dict(evidence), served_round)
            e = self.ledger.entry(rid)
            rounds = [m for m in self.ledger.models(self._unlearning_seq.get(rid, 0))
                      if m["phase"] not in CHAIN_EXCLUDED_PHASES]
            body = {
                "request_id": rid, "clients": e["clients"], "granularity": e["granularity"], "size": e["size"],
                "received_round": e["received_round"], "received_at": e["received_at"],
                "served_round": e["served_round"], "commitment": e["commitment"] or {}, "method": e["method"],
                "model_hash_before": e["model_hash_before"], "model_hash_after": after,
                "chain": build_chain(str(e["model_hash_before"]), rounds, after),
                "evidence": e["evidence"], "run": dict(run or {}),
                "issued_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            p = self.out / RECEIPTS_DIR / f"{rid}.json"
            issue_receipt(key, body, p)
            paths.append(p)
        self.ledger.export_json(self.out / "ledger.json")
        log.info("deletion served: %s; receipts in %s (%.2fs)", ", ".join(rids), self.out / RECEIPTS_DIR,
                 time.perf_counter() - t0)
        return paths

    def on_failed(self, reason: str, request_ids: Sequence[str] | None = None) -> None:
        """Mark ``request_ids`` (default: every pending request) failed, naming why."""
        if self.ledger is None:
            return
        for rid in request_ids if request_ids is not None else [e["request_id"] for e in self.ledger.pending()]:
            self.ledger.failed(rid, reason)
        self.ledger.export_json(self.out / "ledger.json")
