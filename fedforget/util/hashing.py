"""Content hashes of models: SHA-256 over the exact bytes of every array, in sorted name
order, each prefixed by its name, dtype and shape, so that two models hash alike only if
they are bit-for-bit the same (a reordered, re-typed or reshaped array changes the hash).

Used by the deletion ledger and receipts (fedforget.deletion.ledger, fedforget.deletion.receipts) and by the
round loop, which records the hash of every global model it produces.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

HASH_PREFIX = "sha256:"


def model_hash(arrays: Mapping[str, np.ndarray]) -> str:
    """``"sha256:<hex>"`` of named arrays (a model's state as :func:`fedforget.util.params.get_arrays`
    returns it, or any payload of named arrays)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(np.asarray(arrays[name]))
        header = f"{name}\0{a.dtype.str}\0{','.join(str(d) for d in a.shape)}\0"
        h.update(len(header).to_bytes(8, "little"))
        h.update(header.encode())
        h.update(a.nbytes.to_bytes(8, "little"))
        h.update(a.tobytes())
    return HASH_PREFIX + h.hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
