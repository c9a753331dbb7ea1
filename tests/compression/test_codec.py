"""Wire codec (issue 9): every mask encoding decodes exactly, the encoder picks the
cheapest one per tensor, and sparse payloads stay within their byte bounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fedforget.compression import QuantSpec
from fedforget.compression.codec import (
    BITMAP,
    ELIAS_FANO,
    FULL,
    INDEX,
    KNOWN,
    decode,
    encode,
    mask_bytes,
    mask_encoding,
)
from fedforget.compression.quant import dequantize, quantize
from fedforget.util.errors import FedForgetError

SPECS = [None, QuantSpec(8, per_channel=True, symmetric=True), QuantSpec(4, per_channel=True, symmetric=False),
         QuantSpec(2, per_channel=False, symmetric=False)]


def _tensor(rows: int, cols: int, density: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = rng.random((rows, cols)) < density
    return (rng.normal(size=(rows, cols)) * mask).astype(np.float32), mask


def _expected(w: np.ndarray, mask: np.ndarray, spec: QuantSpec | None) -> np.ndarray:
    if spec is None:
        return w * mask
    codes, scale, zp = quantize(torch.from_numpy(w.copy()), spec)
    return (dequantize(codes, scale, zp, spec).numpy() * mask).astype(np.float32)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 12), cols=st.integers(1, 40), density=st.floats(0.0, 1.0),
       seed=st.integers(0, 10_000), spec_i=st.integers(0, len(SPECS) - 1),
       mode=st.sampled_from([None, INDEX, BITMAP, FULL, ELIAS_FANO, KNOWN]))
def test_every_mask_encoding_roundtrips_exactly(rows, cols, density, seed, spec_i, mode):
    w, mask = _tensor(rows, cols, density, seed)
    if mode == FULL:
        mask[:] = True
    spec = SPECS[spec_i]
    template = {"w": (rows, cols), "b": (rows,)}
    b = np.random.default_rng(seed + 1).normal(size=rows).astype(np.float32)
    specs = {"w": spec} if spec is not None else {}
    known = {"w": mask.copy()} if mode == KNOWN else None  # the receiver's own mask
    buf = encode({"w": w, "b": b}, template, specs, {"w": mask}, mask_mode=mode, known=known)
    dec, masks = decode(buf, template, specs, known)
    np.testing.assert_array_equal(masks["w"], mask)
    np.testing.assert_array_equal(dec["w"], _expected(w, mask, spec))  # bit-exact, pruned entries exactly 0
    np.testing.assert_array_equal(dec["b"], b)
    assert set(masks) == {"w"}


@pytest.mark.parametrize("mode", [INDEX, ELIAS_FANO, None])
def test_large_tensor_roundtrips_with_u32_indices_and_elias_fano(mode):
    w, mask = _tensor(1, 70_000, 0.01, 3)
    if mode == INDEX:
        assert len(mask_encoding(mask, INDEX)[1]) == 4 + 4 * int(mask.sum())  # u32 above 65536 entries
    if mode is None:  # 1% density: Elias-Fano (~9.6 bits per kept entry) beats u32 indices (32)
        assert mask_encoding(mask)[0] == ELIAS_FANO
    dec, masks = decode(encode({"w": w}, {"w": w.shape}, {}, {"w": mask}, mask_mode=mode), {"w": w.shape}, {})
    np.testing.assert_array_equal(dec["w"], w)
    np.testing.assert_array_equal(masks["w"], mask)


@pytest.mark.parametrize("density", [0.0, 0.01, 0.05, 0.0625, 0.08, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("numel", [1, 7, 64, 9472, 70_000])
def test_encoder_picks_the_smallest_mask_encoding(density, numel):
    mask = np.zeros(numel, bool)
    mask[np.random.default_rng(numel).permutation(numel)[: int(round(density * numel))]] = True
    sizes = mask_bytes(int(mask.sum()), numel)
    mode, pos = mask_encoding(mask)
    assert len(pos) == sizes[mode] == min(sizes.values())
    for other in sizes:
        assert len(mask_encoding(mask, other)[1]) == sizes[other]
    # the whole payload: flags + chosen mask + kept float32 values, nothing else
    w = np.where(mask, 1.5, 0.0).astype(np.float32)
    assert encode({"w": w}, {"w": (numel,)}, {}, {"w": mask}).nbytes == 1 + min(sizes.values()) + 4 * int(mask.sum())


def test_full_mode_refused_for_a_partial_mask():
    with pytest.raises(FedForgetError, match="full"):
        mask_encoding(np.array([True, False]), FULL)


@pytest.mark.parametrize("density", [0.02, 0.1, 0.25, 0.5, 0.75, 1.0])
def test_sparse_float_payload_bytes_bound(density):
    """A masked float32 tensor costs at most ``density + 1/32`` of dense (the bitmap), and
    nothing beyond its values when fully kept: never more than dense, whatever the pruning
    schedule's current density (u16 indices alone cost 113% of dense at 24% sparsity)."""
    numel = 9472  # the quickstart MLP's prunable weights
    w, mask = _tensor(1, numel, density, 0)
    dense = 4 * numel
    n = encode({"w": w}, {"w": (1, numel)}, {}, {"w": mask}).nbytes
    assert n <= 1 + dense * (float(mask.mean()) + 1 / 32)
    if density == 1.0:
        assert n == 1 + dense
    if density == 0.1:
        assert n <= 0.14 * dense  # u16 index + value: 0.15


def test_sparse90_quantized_payload_is_small():
    w, mask = _tensor(128, 64, 0.1, 1)
    spec = QuantSpec(8, per_channel=True, symmetric=True)
    n = encode({"w": w}, {"w": w.shape}, {"w": spec}, {"w": mask}).nbytes
    assert n <= 0.07 * 4 * w.size  # bitmap 1/32 + 8-bit codes of 10% + scales
