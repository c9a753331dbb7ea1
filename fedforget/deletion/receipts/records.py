"""What the experiment calls to keep the deletion ledger and issue receipts.

The run calls, each a no-op when nothing is pending:

* :meth:`DeletionRecords.start` -- when the output folder is prepared;
* :meth:`~DeletionRecords.round_hook` -- a RoundLoop hook: the hash of every global model
  (the links of the hash chains);
* :meth:`~DeletionRecords.on_request_received` -- the clients answered a deletion message
  (sizes and commitments), before any unlearning;
* :meth:`~DeletionRecords.on_unlearning` -- unlearning of the pending requests starts;
* :meth:`~DeletionRecords.on_served` / :meth:`~DeletionRecords.on_failed` -- the published
  model and the evidence; writes ``<out>/receipts/<request_id>.json``;
* :meth:`~DeletionRecords.on_unverified` -- the acceptance rule did not hold
  (fedforget.deletion.acceptance): ``unverified``, with the figures, no receipt;
* :meth:`~DeletionRecords.on_final_evidence` -- the run's final evaluation (vs the
  retrained model) added to the receipts of this run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.deletion.ledger import LEDGER_FILE, Ledger
from fedforget.deletion.receipts.chain import build_chain
from fedforget.deletion.receipts.receipt import issue_receipt, load_receipt
from fedforget.deletion.receipts.signing import load_or_create_key
from fedforget.util.hashing import model_hash
from fedforget.util.io import atomic_save_npz

log = logging.getLogger(__name__)

RECEIPTS_DIR = "receipts"
KEYS_DIR = "keys"
MODELS_DIR = "models"
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
    (default ``$FEDFORGET_RECEIPT_KEYS`` or ``<out>/keys``, generated on first use;
    ``fedforget deploy certs`` writes one beside the TLS files)."""

    def __init__(self, out_dir: str | Path, key_dir: str | Path | None = None) -> None:
        self.out = Path(out_dir)
        self.key_dir = Path(key_dir or os.environ.get("FEDFORGET_RECEIPT_KEYS", "") or self.out / KEYS_DIR)
        self.ledger: Ledger | None = None
        self._unlearning_seq: dict[str, int] = {}
        self._chains: dict[str, dict[str, Any]] = {}  # of the requests served in this run
        self.run_info: dict[str, Any] = {}
        self._model_files: dict[str, str] = {}

    # ------------------------------------------------------------------ lifecycle
    def start(self, fresh: bool = True) -> Ledger:
        """Open the folder's ledger. ``fresh`` (a new run): an earlier run's ledger in the
        folder is moved with its receipts to ``<out>/previous/<utc time>/``, never deleted.
        A resumed run (``fresh=False``) keeps it, so that it serves the pending requests."""
        self.close()
        old = [n for n in (LEDGER_FILE, f"{LEDGER_FILE}-wal", f"{LEDGER_FILE}-shm", "ledger.json", RECEIPTS_DIR)
               if (self.out / n).exists()]
        if fresh and LEDGER_FILE in old:
            dest = self.out / "previous" / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
            dest.mkdir(parents=True, exist_ok=True)
            for name in old:
                (self.out / name).rename(dest / name)
            log.warning("the deletion ledger of an earlier run in %s and its receipts were moved to %s", self.out, dest)
        self.ledger = Ledger(self.out)
        return self.ledger

    def close(self) -> None:
        if self.ledger is not None:
            self.ledger.close()
            self.ledger = None

    # ------------------------------------------------------------------ hooks
    def round_hook(self, phase: str, r: int, arrays: Mapping[str, np.ndarray], row: Mapping[str, Any]) -> None:
        """A :class:`~fedforget.run.loop.RoundLoop` hook: record the global model's hash."""
        if self.ledger is not None:
            self.ledger.record_model(int(row.get("step", 0)), phase, r + 1, model_hash(arrays))

    def on_request_received(
        self, requests: Sequence[tuple[str, Any]], replies: Mapping[int, Mapping[str, Any]], round: int,
    ) -> list[str]:
        """``requests``: ``(request_id, request)`` pairs (``request.granularity``,
        ``request.client``); ``replies``: each client's answer to the deletion message
        (``n_forget`` and its ``commit_*``). Records each request not yet served as
        ``received`` (before any unlearning) and returns their ids."""
        ledger = self.ledger or self.start(fresh=False)
        n_forget = {int(c): int(m.get("n_forget", 0)) for c, m in replies.items()}
        served = {e["request_id"] for e in ledger.entries() if e["status"] in ("served", "unverified")}
        ids = []
        for rid, r in requests:
            if rid in served:  # told again (a final evaluation, a resumed run): nothing new (unverified stays so)
                continue
            clients = request_clients(str(r.granularity), int(r.client), n_forget)
            commitment = {
                str(c): {"key": str(replies[c]["commit_key"]), "root": str(replies[c]["commit_root"]),
                         "count": int(replies[c]["commit_count"])}
                for c in clients if c in replies and "commit_root" in replies[c]
            }
            size = sum(n_forget.get(c, 0) for c in clients)
            ledger.received(rid, clients, str(r.granularity), size, round, commitment)
            ids.append(rid)
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
        request_ids: Sequence[str] | None = None, per_request: Mapping[str, Mapping[str, Any]] | None = None,
        run: Mapping[str, Any] | None = None,
    ) -> list[Path]:
        """The model published for ``request_ids`` (default: every request being unlearned)
        and the evidence (``per_request[rid]`` merged into each one's): mark them served and
        write one signed receipt each. Returns the receipt paths."""
        if self.ledger is None:
            return []
        if request_ids is None:
            request_ids = [e["request_id"] for e in self.ledger.pending() if e["status"] == "unlearning"]
        if run is not None:
            self.run_info = dict(run)
        after = model_hash(model)
        self._model_files[after] = f"{MODELS_DIR}/{after.removeprefix('sha256:')[:16]}.npz"
        atomic_save_npz(self.out / self._model_files[after], dict(model))  # the published model, by hash
        paths = []
        for rid in request_ids:
            ev = {**evidence, **((per_request or {}).get(rid) or {})}
            self.ledger.served(rid, after, ev, served_round)
            e = self.ledger.entry(rid)
            rounds = [m for m in self.ledger.models(self._unlearning_seq.get(rid, 0))
                      if m["phase"] not in CHAIN_EXCLUDED_PHASES]
            self._chains[rid] = build_chain(str(e["model_hash_before"]), rounds, after)
            paths.append(self._issue(rid))
        if paths:
            self.ledger.export_json(self.out / "ledger.json")
            log.info("deletion served: %s; receipts in %s", ", ".join(request_ids), self.out / RECEIPTS_DIR)
        return paths

    def on_unverified(
        self, model: Mapping[str, np.ndarray], served_round: int, evidence: Mapping[str, Mapping[str, Any]],
        reasons: Mapping[str, str],
    ) -> None:
        """The model published for the requests of ``reasons`` (request id -> why), on
        which the server's acceptance rule (fedforget.deletion.acceptance) did not hold:
        each is ``unverified`` with its ``evidence`` and gets no receipt."""
        if self.ledger is None or not reasons:
            return
        after = model_hash(model)
        self._model_files[after] = f"{MODELS_DIR}/{after.removeprefix('sha256:')[:16]}.npz"
        atomic_save_npz(self.out / self._model_files[after], dict(model))  # kept, by hash, for an audit
        for rid, why in reasons.items():
            self.ledger.unverified(rid, after, dict(evidence.get(rid) or {}), served_round, why)
            log.warning("deletion request %s NOT served: the acceptance rule did not hold (%s); it is unverified in "
                        "the ledger, no receipt issued", rid, why)
        self.ledger.export_json(self.out / "ledger.json")

    def on_final_evidence(self, results: Mapping[str, Any]) -> list[Path]:
        """The run's final evaluation (``results.json``: the final model vs the retrained
        one, attack AUCs) added to every served request of the ledger; their receipts are
        issued again with it (requests served before a resume: from their receipt's chain)."""
        if self.ledger is None:
            return []
        self.run_info = {"name": results.get("name"), "config_digest": results.get("config_digest"), **self.run_info}
        final = {"final": evidence_from_results(results)}
        paths = []
        for e in self.ledger.entries():
            rid = e["request_id"]
            if e["status"] != "served" or not self._known_chain(rid, str(e["model_hash_after"])):
                continue
            self.ledger.add_evidence(rid, final)
            paths.append(self._issue(rid))
        if paths:
            self.ledger.export_json(self.out / "ledger.json")
        return paths

    def _known_chain(self, rid: str, after: str) -> bool:
        """Whether the chain of ``rid`` is known: served in this process, or by an earlier
        process of this run whose receipt is on disk."""
        if rid in self._chains:
            return True
        p = self.out / RECEIPTS_DIR / f"{rid}.json"
        if not p.exists():
            return False
        body = load_receipt(p)["body"]
        if body.get("model_hash_after") != after:
            return False
        self._chains[rid] = body["chain"]
        if body.get("model_file"):
            self._model_files[after] = body["model_file"]
        return True

    def _issue(self, rid: str) -> Path:
        assert self.ledger is not None
        e = self.ledger.entry(rid)
        body = {
            "request_id": rid, "clients": e["clients"], "granularity": e["granularity"], "size": e["size"],
            "received_round": e["received_round"], "received_at": e["received_at"],
            "served_round": e["served_round"], "commitment": e["commitment"] or {}, "method": e["method"],
            "model_hash_before": e["model_hash_before"], "model_hash_after": e["model_hash_after"],
            "model_file": self._model_files.get(str(e["model_hash_after"])),  # relative to the output folder
            "chain": self._chains[rid], "evidence": e["evidence"], "run": dict(self.run_info),
            "issued_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        p = self.out / RECEIPTS_DIR / f"{rid}.json"
        issue_receipt(load_or_create_key(self.key_dir), body, p)
        return p

    def on_failed(self, reason: str, request_ids: Sequence[str] | None = None) -> None:
        """Mark ``request_ids`` (default: every pending request) failed, naming why."""
        if self.ledger is None:
            return
        for rid in request_ids if request_ids is not None else [e["request_id"] for e in self.ledger.pending()]:
            self.ledger.failed(rid, reason)
        self.ledger.export_json(self.out / "ledger.json")
