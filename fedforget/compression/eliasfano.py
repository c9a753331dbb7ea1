"""Elias-Fano code of a sorted set of positions: how a sparse mask travels compactly.

P. Elias, "Efficient storage and retrieval by content and address of static files",
J. ACM 21(2), 1974; R. M. Fano, "On the number of bits required to implement an
associative memory", MIT Project MAC memo 61, 1971.

``n`` distinct positions in ``[0, u)`` are split into ``L = floor(log2(u / n))`` low bits,
stored as they are (``n * L`` bits), and the high part ``x >> L``, stored in unary as one
set bit at ``(x_i >> L) + i`` of a bit vector of ``n + ((u - 1) >> L) + 1`` bits. That is
``n * L + n + u / 2**L`` bits, less than ``n * (3 + log2(u / n)) + 1``: 5.25 bits per kept
entry at 10% density, against 10 for a bitmap and 16 for u16 indices, and within 12% of
the entropy of a random mask of that density (4.69 bits per kept entry). Lossless; encoding and decoding are vectorised (no loop over entries).

Layout: ``u32 n``, then the low bits (little bit order, entry after entry, least
significant bit first), then the high bit vector (``np.packbits``, little bit order).
"""

from __future__ import annotations

import numpy as np

from fedforget.util.errors import FedForgetError


def low_bits(n: int, u: int) -> int:
    """``L``: how many low bits of each position are stored verbatim."""
    return (u // n).bit_length() - 1 if 0 < n <= u else 0


def nbytes(n: int, u: int) -> int:
    """Bytes of the code of ``n`` positions in ``[0, u)``."""
    if n == 0:
        return 4
    lb = low_bits(n, u)
    return 4 + -(-n * lb // 8) + -(-(n + ((u - 1) >> lb) + 1) // 8)


def encode(positions: np.ndarray, u: int) -> bytes:
    """The code of the strictly increasing ``positions`` (ints in ``[0, u)``)."""
    x = np.asarray(positions, dtype=np.int64).reshape(-1)
    n = x.size
    if n and (x[0] < 0 or x[-1] >= u or np.any(np.diff(x) <= 0)):
        raise FedForgetError(f"Elias-Fano needs strictly increasing positions in [0, {u}); got others")
    head = np.uint32(n).tobytes()
    if n == 0:
        return head
    lb = low_bits(n, u)
    low = x & ((1 << lb) - 1)
    low_part = np.packbits(((low[:, None] >> np.arange(lb)) & 1).astype(np.uint8).reshape(-1), bitorder="little")
    high = np.zeros(n + ((u - 1) >> lb) + 1, dtype=np.uint8)
    high[(x >> lb) + np.arange(n)] = 1
    return head + low_part.tobytes() + np.packbits(high, bitorder="little").tobytes()


def decode(buf: bytes, u: int) -> tuple[np.ndarray, int]:
    """``(positions, bytes read)`` from the start of ``buf``; a clear error when the code
    is truncated or does not describe increasing positions in ``[0, u)``."""
    if len(buf) < 4:
        raise FedForgetError("Elias-Fano code is truncated (no count)")
    n = int(np.frombuffer(buf[:4], np.uint32)[0])
    if n == 0:
        return np.zeros(0, np.int64), 4
    if n > u:
        raise FedForgetError(f"Elias-Fano code holds {n} positions, more than the tensor's {u} entries")
    size = nbytes(n, u)
    if len(buf) < size:
        raise FedForgetError("Elias-Fano code is truncated")
    lb = low_bits(n, u)
    n_low = -(-n * lb // 8)
    bits = np.unpackbits(np.frombuffer(buf[4 : 4 + n_low], np.uint8), count=n * lb, bitorder="little")
    low = (bits.reshape(n, lb).astype(np.int64) << np.arange(lb)).sum(axis=1) if lb else np.zeros(n, np.int64)
    n_high = n + ((u - 1) >> lb) + 1
    ones = np.flatnonzero(np.unpackbits(np.frombuffer(buf[4 + n_low : size], np.uint8), count=n_high, bitorder="little"))
    if ones.size != n:
        raise FedForgetError(f"Elias-Fano code is corrupt: {ones.size} high parts for {n} positions")
    x = ((ones - np.arange(n)) << lb) | low
    if x[-1] >= u or np.any(np.diff(x) <= 0):
        raise FedForgetError(f"Elias-Fano code is corrupt: positions not increasing in [0, {u})")
    return x, size
