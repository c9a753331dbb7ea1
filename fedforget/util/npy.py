"""The ``.npy`` bytes of an array, fast: what ``np.save`` writes and ``np.load`` reads,
without their per-call header formatting and parsing.

Flower's ``Array`` carries a NumPy array as its ``.npy`` serialisation (``np.save`` into
a ``BytesIO``; ``Array.numpy()`` is ``np.load``). Both ends of every message pay that:
on the quickstart's 10-client rounds, building and parsing the headers was about a sixth
of a Ray actor's time per message (docs/performance.md, finding 10). Here the header of
each (dtype, shape) is written once and reused, and reading parses a header once and
then views the payload with ``np.frombuffer``. The bytes are exactly ``np.save``'s
(``tests/perf/test_npy.py``), so any Flower peer, old or new, reads them as before.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np

_MAGIC = b"\x93NUMPY"


@lru_cache(maxsize=4096)
def _header(descr: str, shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    d = {"descr": descr, "fortran_order": False, "shape": shape}
    try:
        np.lib.format.write_array_header_1_0(buf, d)
    except ValueError:  # header too long for format 1.0, as np.save falls back
        buf = io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, d)
    return buf.getvalue()


def encode(a: np.ndarray) -> bytes:
    """``np.save(buf, a, allow_pickle=False)``'s bytes for a C-ordered copy of ``a``."""
    a = np.asarray(a, order="C")  # C-ordered; a 0-d array stays 0-d
    if a.dtype.hasobject:
        raise ValueError("object arrays cannot travel (np.save with allow_pickle=False refuses them too)")
    return _header(np.lib.format.dtype_to_descr(a.dtype), tuple(a.shape)) + a.tobytes()


@lru_cache(maxsize=4096)
def _parse(header: bytes) -> tuple[np.dtype, tuple[int, ...], bool, int]:
    """(dtype, shape, Fortran order, element count) of a header."""
    buf = io.BytesIO(header)
    major, _minor = np.lib.format.read_magic(buf)
    read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read(buf, max_header_size=len(header) + 1)
    return dtype, tuple(shape), bool(fortran), math.prod(shape)


def decode(data: bytes) -> np.ndarray:
    """The array in ``.npy`` bytes (what ``np.load`` returns: a writable array)."""
    if len(data) < 10 or data[:6] != _MAGIC:
        raise ValueError("not .npy bytes (no NumPy magic string)")
    major = data[6]
    if major == 1:
        end = 10 + int.from_bytes(data[8:10], "little")
    elif major == 2:
        end = 12 + int.from_bytes(data[8:12], "little")
    else:  # 3.0 (utf-8 field names) and anything newer: NumPy's own reader
        return np.load(io.BytesIO(data), allow_pickle=False)
    dtype, shape, fortran, count = _parse(bytes(data[:end]))
    if dtype.hasobject:
        raise ValueError("object arrays cannot travel (np.load with allow_pickle=False refuses them too)")
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=end)
    out = flat.reshape(shape[::-1]).T if fortran else flat.reshape(shape)
    return out.copy()  # writable and independent of the message's buffer, as np.load's
