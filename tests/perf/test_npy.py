"""fedforget.util.npy writes exactly np.save's bytes and reads them back like np.load."""

from __future__ import annotations

import io

import numpy as np
import pytest

from fedforget.util import npy

CASES = [
    np.arange(12, dtype=np.float32).reshape(3, 4),
    np.zeros((0, 5), dtype=np.float64),
    np.array(3.5, dtype=np.float32),  # 0-d
    np.array([True, False, True]),
    np.arange(10, dtype=np.uint8),
    np.arange(6, dtype=np.int64).reshape(1, 2, 3),
    np.arange(6, dtype=">i4"),  # big-endian
    np.ones((2, 3), dtype=np.float16),
    np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),  # travels C-ordered
    np.arange(20, dtype=np.float32)[::2],  # non-contiguous view
]


def _np_save(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a, order="C"), allow_pickle=False)
    return buf.getvalue()


@pytest.mark.parametrize("a", CASES, ids=lambda a: f"{a.dtype.str}{a.shape}")
def test_bytes_equal_np_save_and_round_trip(a: np.ndarray) -> None:
    data = npy.encode(a)
    assert data == _np_save(a)
    back = npy.decode(data)
    assert back.dtype == a.dtype and back.shape == a.shape
    np.testing.assert_array_equal(back, a)
    assert back.flags.writeable
    back[...] = 0  # independent of the message's bytes


def test_reads_what_np_save_wrote_fortran_and_v2() -> None:
    f = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(3, 4))
    buf = io.BytesIO()
    np.save(buf, f, allow_pickle=False)  # fortran_order=True header
    np.testing.assert_array_equal(npy.decode(buf.getvalue()), f)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.arange(5.0), version=(2, 0))
    np.testing.assert_array_equal(npy.decode(buf.getvalue()), np.arange(5.0))


def test_refuses_what_is_not_npy() -> None:
    with pytest.raises(ValueError, match="magic"):
        npy.decode(b"not an array at all")
    with pytest.raises(ValueError, match="object"):
        npy.encode(np.array([{"a": 1}], dtype=object))


def test_flower_array_round_trip() -> None:
    pytest.importorskip("flwr")
    from strategies.flower_federation import from_array, to_array

    a = np.random.default_rng(0).standard_normal((7, 3)).astype(np.float32)
    arr = to_array(a)
    np.testing.assert_array_equal(arr.numpy(), a)  # Flower's own reader agrees
    np.testing.assert_array_equal(from_array(arr), a)
    from flwr.app import Array

    assert arr.data == Array(a).data  # byte-identical to Flower's own serialisation
