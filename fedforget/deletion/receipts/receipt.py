"""Deletion receipts: what the server states about a served request, signed.

A receipt is one JSON file ``{"receipt_version": 1, "body": {...}, "signature": {...}}``.
The body holds the request (id, clients, granularity, size, rounds), the clients'
commitments (Merkle roots, never samples), the method, the hashes of the model before and
after, the hash chain of the unlearning rounds and the evidence (forget-set accuracy,
confidence/entropy, ASR, attack AUCs vs the retrained model). :func:`verify_receipt`
checks the signature, the chain and, given a device's samples and salt, the commitment;
and a zero-knowledge bundle beside the receipt when there is one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedforget.deletion.receipts.chain import ChainError, verify_chain
from fedforget.deletion.receipts.signing import SignatureError, sign, verify_signature
from fedforget.util.errors import FedForgetError
from fedforget.util.io import atomic_write_json

RECEIPT_VERSION = 1


class ReceiptError(FedForgetError):
    """A receipt cannot be read or does not verify; the message names every check that failed."""


def issue_receipt(key: Any, body: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """Sign ``body`` with the server's ``key`` and write the receipt to ``path`` (atomically)."""
    receipt = {"receipt_version": RECEIPT_VERSION, "body": body, "signature": sign(key, body)}
    atomic_write_json(path, receipt)
    return receipt


def load_receipt(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        r = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ReceiptError(f"cannot read the receipt {p}: {e}") from e
    if not isinstance(r, dict) or r.get("receipt_version") != RECEIPT_VERSION or "body" not in r:
        raise ReceiptError(f"{p} is not a fedforget receipt (version {RECEIPT_VERSION} with a body)")
    return r


@dataclass
class Verification:
    """The outcome of every check: ``(name, ok, detail)``."""

    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append((name, ok, detail))

    @property
    def ok(self) -> bool:
        return all(ok for _, ok, _ in self.checks)

    def failures(self) -> list[str]:
        return [f"{n}: {d}" for n, ok, d in self.checks if not ok]

    def lines(self) -> list[str]:
        return [f"{'OK  ' if ok else 'FAIL'} {n}: {d}" for n, ok, d in self.checks]


def verify_receipt(
    receipt: dict[str, Any], *, trusted_public_key: str | None = None, device_dir: str | Path | None = None,
    zk_dir: str | Path | None = None, rebuild_vk: bool = False,
) -> Verification:
    """Check the receipt; never raises on a failed check (see :attr:`Verification.ok`)."""
    v = Verification()
    body = receipt.get("body", {})
    try:
        verify_signature(body, receipt.get("signature", {}), trusted_public_key)
        who = "the trusted server key" if trusted_public_key else "the public key in the receipt (pass --public-key to pin it)"
        v.add("signature", True, f"Ed25519 signature by {who}")
    except SignatureError as e:
        v.add("signature", False, str(e).removeprefix("signature: "))
    try:
        verify_chain(body.get("chain", {}), str(body.get("model_hash_before")), str(body.get("model_hash_after")))
        v.add("chain", True, f"{len(body['chain']['models'])} models from model_hash_before to model_hash_after")
    except (ChainError, KeyError, TypeError) as e:
        v.add("chain", False, str(e).removeprefix("chain: "))
    if device_dir is not None:
        _check_device(v, body, Path(device_dir))
    if zk_dir is not None:
        from fedforget.deletion.receipts.zk import verify_bundle

        for name, ok, detail in verify_bundle(Path(zk_dir), body, rebuild_vk=rebuild_vk):
            v.add(name, ok, detail)
    return v


def _check_device(v: Verification, body: dict[str, Any], device_dir: Path) -> None:
    """Recompute each commitment the device holds a secret for from its samples + salt."""
    from fedforget.deletion.receipts.commitment import (
        CommitmentError,
        find_secret,
        load_secret,
        verify_commitment,
    )
    from fedforget.deletion.receipts.device import device_forget_samples

    found = 0
    for client, public in sorted((body.get("commitment") or {}).items()):
        try:
            secret_path = find_secret(device_dir, str(public["key"]), int(client))
        except CommitmentError as e:
            if len(body.get("commitment") or {}) == 1:
                v.add(f"commitment[{client}]", False, str(e))
            continue
        found += 1
        try:
            secret = load_secret(secret_path)
            x, y, ids = device_forget_samples(secret_path, secret)
            verify_commitment(public, x, y, ids, secret["salt"])
            v.add(f"commitment[{client}]", True, f"{public['count']} samples on the device give root {public['root'][:23]}…")
        except FedForgetError as e:
            v.add(f"commitment[{client}]", False, str(e))
    if found == 0 and len(body.get("commitment") or {}) != 1:
        v.add("commitment", False, f"no commitment secret of clients {sorted(body.get('commitment') or {})} under {device_dir}")
