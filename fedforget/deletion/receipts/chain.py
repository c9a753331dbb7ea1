"""The hash chain of an unlearning: model before -> each round's aggregate -> model after.

``links[0] = SHA-256("fedforget-chain\\0" || h_0)`` and
``links[i] = SHA-256(links[i-1] || h_i)``, where ``h_i`` are the model hashes in order
(:func:`fedforget.util.hashing.model_hash`). The head (last link) commits to the whole
sequence; a receipt signs it. Anyone holding the published models can recompute it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fedforget.util.errors import FedForgetError


class ChainError(FedForgetError):
    """A hash chain does not match its models."""


def chain_links(hashes: list[str]) -> list[str]:
    links, prev = [], b"fedforget-chain\0"
    for h in hashes:
        prev = hashlib.sha256(prev + h.encode()).digest()
        links.append(prev.hex())
        prev = bytes.fromhex(links[-1])
    return links


def build_chain(before: str, rounds: list[dict[str, Any]], after: str) -> dict[str, Any]:
    """``rounds``: ``{"step", "phase", "round", "model_hash"}`` of the global models produced
    while the request was unlearned, in order. The final model is appended when it is not
    already the last round's model."""
    models = [{"phase": "before", "model_hash": before}]
    models += [{k: r[k] for k in ("step", "phase", "round", "model_hash")} for r in rounds]
    if models[-1]["model_hash"] != after or len(models) == 1:
        models.append({"phase": "after", "model_hash": after})
    links = chain_links([m["model_hash"] for m in models])
    return {"models": models, "head": links[-1]}


def verify_chain(chain: dict[str, Any], before: str, after: str) -> None:
    """Raise :class:`ChainError` naming the first thing that does not hold."""
    models = chain.get("models") or []
    if len(models) < 2:
        raise ChainError("chain: needs at least the model before and the model after")
    if models[0]["model_hash"] != before:
        raise ChainError(f"chain: starts at {models[0]['model_hash'][:20]}…, not at model_hash_before {before[:20]}…")
    if models[-1]["model_hash"] != after:
        raise ChainError(f"chain: ends at {models[-1]['model_hash'][:20]}…, not at model_hash_after {after[:20]}…")
    head = chain_links([m["model_hash"] for m in models])[-1]
    if head != chain.get("head"):
        raise ChainError("chain: the head does not match the listed model hashes (a round hash was changed)")
