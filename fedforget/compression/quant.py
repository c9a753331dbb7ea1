"""Uniform integer quantization of weights with PyTorch's own fake-quantize ops.

A tensor ``w`` quantized to ``b`` bits is ``(q - z) * s`` with integer codes ``q`` in
``[qmin, qmax]``, scale ``s`` and zero point ``z`` (one per tensor or per output channel):

* symmetric: ``q`` in ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` (restricted range, so 2 bits is
  ternary), ``z = 0``, ``s = max|w| / qmax``;
* affine: ``q`` in ``[0, 2^b - 1]``, ``s = (max(w, 0) - min(w, 0)) / (2^b - 1)``,
  ``z = round(-min / s)``; zero is exactly representable.

Symmetric scales are rounded to float16 (that is how they travel) before use, so the
grid the client trains on, the grid on the wire and the grid the server re-quantizes to
are the same numbers, and quantizing an on-grid tensor again returns it unchanged. Affine
scales travel as float32: with a rounded scale the largest weight may land one code short
of ``qmax`` and the re-derived grid would shift; in float32 re-quantizing is idempotent up
to float rounding.

:func:`fake_quantize` is ``torch.fake_quantize_per_channel_affine`` /
``torch.fake_quantize_per_tensor_affine``: forward ``(clamp(round(w/s + z)) - z) * s``,
backward the straight-through estimator (gradient passed where ``w`` is in range).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fedforget.config import QuantizationConfig


@dataclass(frozen=True)
class QuantSpec:
    bits: int
    per_channel: bool = True
    symmetric: bool = True

    @classmethod
    def from_config(cls, qc: QuantizationConfig) -> QuantSpec:
        return cls(qc.bits, qc.granularity == "per_channel", qc.symmetric)

    @property
    def qmin(self) -> int:
        return -(2 ** (self.bits - 1) - 1) if self.symmetric else 0

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1 if self.symmetric else 2**self.bits - 1

    def channels(self, w: torch.Tensor) -> int:
        return int(w.shape[0]) if (self.per_channel and w.dim() >= 2) else 1


def _fp16(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float16).to(torch.float32)


@torch.no_grad()
def qparams(w: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale float32 (C,), zero point int32 (C,)) of ``w``; C = channels or 1."""
    c = spec.channels(w)
    flat = w.detach().to(torch.float32).reshape(c, -1)
    if spec.symmetric:
        amax = flat.abs().amax(dim=1)
        scale = _fp16(amax / spec.qmax)
        zp = torch.zeros(c, dtype=torch.int32, device=w.device)
    else:
        lo = flat.amin(dim=1).clamp(max=0.0)
        hi = flat.amax(dim=1).clamp(min=0.0)
        scale = (hi - lo) / (spec.qmax - spec.qmin)  # float32: see the module docstring
        ok = scale > 0
        zp = torch.where(ok, torch.round(spec.qmin - lo / torch.where(ok, scale, 1.0)), 0.0)
        zp = zp.clamp(spec.qmin, spec.qmax).to(torch.int32)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # all-zero channel: any scale
    return scale, zp


def fake_quantize(w: torch.Tensor, spec: QuantSpec, scale: torch.Tensor | None = None,
                  zp: torch.Tensor | None = None) -> torch.Tensor:
    """Quantize-dequantize ``w`` (differentiable with the straight-through estimator);
    qparams from ``w`` itself (detached) unless given."""
    if scale is None or zp is None:
        scale, zp = qparams(w, spec)
    if spec.channels(w) > 1:
        return torch.fake_quantize_per_channel_affine(w, scale, zp, 0, spec.qmin, spec.qmax)
    return torch.fake_quantize_per_tensor_affine(w, scale.reshape(()), zp.reshape(()), spec.qmin, spec.qmax)


@torch.no_grad()
def quantize(w: torch.Tensor, spec: QuantSpec) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integer codes (int32, shape of ``w``), scale, zero point with
    ``fake_quantize(w) == (codes - zp) * scale`` (per channel along dim 0)."""
    scale, zp = qparams(w, spec)
    fq = fake_quantize(w.to(torch.float32), spec, scale, zp)
    c = spec.channels(w)
    shape = (c,) + (1,) * (w.dim() - 1) if c > 1 else ()
    s, z = scale.reshape(shape), zp.reshape(shape)
    codes = torch.round(fq / s).to(torch.int32) + z
    return codes.clamp(spec.qmin, spec.qmax), scale, zp


def dequantize(codes: torch.Tensor, scale: torch.Tensor, zp: torch.Tensor, spec: QuantSpec) -> torch.Tensor:
    c = scale.numel()
    shape = (c,) + (1,) * (codes.dim() - 1) if c > 1 else ()
    return (codes.to(torch.float32) - zp.reshape(shape).to(torch.float32)) * scale.reshape(shape)


@torch.no_grad()
def grid_error(w: torch.Tensor, spec: QuantSpec) -> float:
    """Largest distance of ``w`` from its quantization grid, in units of the step
    (0 when every entry sits on the grid; 0.5 is the worst possible)."""
    scale, zp = qparams(w, spec)
    c = spec.channels(w)
    shape = (c,) + (1,) * (w.dim() - 1) if c > 1 else ()
    u = w.to(torch.float64) / scale.reshape(shape).to(torch.float64)  # (q - z): integer on the grid
    return float((u - torch.round(u)).abs().max()) if w.numel() else 0.0


def quantize_activation(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Dynamic per-tensor affine fake quantization of an activation (straight-through)."""
    spec = QuantSpec(bits, per_channel=False, symmetric=False)
    scale, zp = qparams(x, spec)
    return fake_quantize(x, spec, scale, zp)
