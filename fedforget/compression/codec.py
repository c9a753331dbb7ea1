"""Wire format of compressed models and vectors: one ``uint8`` buffer per payload.

Everything about one model (or one flat vector split into the model's tensors) goes
into a single byte buffer, so a Flower message carries one array (one header) and the
byte count is what the buffer holds. For each tensor of the template, in order::

    u8 flags                    bit0: sparse, bit1: quantized, bits 2-4: how the mask
                                travels (0 index, 1 bitmap, 2 full: every entry kept,
                                3 known: the receiver holds it, 4 Elias-Fano)
    [index]     u32 n_kept, indices of kept entries (u16 if numel <= 65536 else u32)
    [bitmap]    ceil(numel / 8) bytes, one bit per entry (np.packbits, little bit order)
    [known]     u32 CRC-32 of the mask's bitmap (the receiver checks it is the mask it holds)
    [eliasfano] the Elias-Fano code of the kept positions (fedforget.compression.eliasfano)
    [quantized] scale[C] (f16 symmetric, f32 affine), [affine] u8 zero_point[C],
                codes packed b bits each
                (only the kept entries when sparse), little-endian within a byte
    [float]     f32 values (only the kept entries when sparse)

The encoder picks, per tensor, the cheapest way to send the mask: ``4 + n_kept * 2``
bytes of indices (``* 4`` above 65536 entries), ``numel / 8`` bytes of bitmap, the
Elias-Fano code (about ``n_kept * (L + 1) + numel / 2**L`` bits, ``L = floor(log2(numel /
n_kept))``: half the bitmap at 10% density; the bitmap wins above about 25%), nothing when
every entry is kept, and only a checksum when the caller says the receiver already
holds this very mask (a client's reply carries the mask the server sent it in the same
exchange: :class:`~fedforget.compression.core.CompressedFederation` decodes replies with
the masks of their requests). The values cost the same every way. All decode to the
same mask and values: every encoding is lossless.

Codes are stored offset by ``qmin`` (so they are unsigned); 8-bit codes are one byte,
4-bit two per byte, 2-bit four per byte. The decoder needs the template (names and
shapes, known to both ends from the model config) and the :class:`QuantSpec` per tensor.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from fedforget.compression import eliasfano
from fedforget.compression.quant import QuantSpec, dequantize, quantize
from fedforget.util.errors import FedForgetError

Template = dict[str, tuple[int, ...]]


def pack_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned ints < 2**bits -> bytes, ``8 // bits`` values per byte."""
    v = np.asarray(values, dtype=np.uint8).reshape(-1)
    if bits == 8:
        return v.copy()
    per = 8 // bits
    pad = (-len(v)) % per
    v = np.concatenate([v, np.zeros(pad, np.uint8)]).reshape(-1, per)
    shifts = (np.arange(per, dtype=np.uint8) * bits).astype(np.uint8)
    return np.bitwise_or.reduce(v << shifts, axis=1).astype(np.uint8)


def unpack_bits(buf: np.ndarray, bits: int, n: int) -> np.ndarray:
    b = np.asarray(buf, dtype=np.uint8).reshape(-1)
    if bits == 8:
        return b[:n].copy()
    per = 8 // bits
    shifts = (np.arange(per, dtype=np.uint8) * bits).astype(np.uint8)
    out = (b[:, None] >> shifts) & np.uint8((1 << bits) - 1)
    return out.reshape(-1)[:n]


def _index_dtype(numel: int) -> type:
    return np.uint16 if numel <= 65536 else np.uint32


INDEX, BITMAP, FULL, KNOWN, ELIAS_FANO = 0, 1, 2, 3, 4  # how a mask travels (flags bits 2-4)
_PREFERENCE = (FULL, KNOWN, BITMAP, ELIAS_FANO, INDEX)  # ties go to the earlier


def _crc(mask: np.ndarray) -> bytes:
    return np.uint32(zlib.crc32(np.packbits(mask, bitorder="little").tobytes())).tobytes()


def mask_bytes(n_kept: int, numel: int, known: bool = False) -> dict[int, int]:
    """Bytes each mask encoding would take (``FULL`` only when every entry is kept,
    ``KNOWN`` only when the receiver holds this mask)."""
    out = {INDEX: 4 + n_kept * np.dtype(_index_dtype(numel)).itemsize, BITMAP: -(-numel // 8),
           ELIAS_FANO: eliasfano.nbytes(n_kept, numel)}
    if n_kept == numel:
        out[FULL] = 0
    if known:
        out[KNOWN] = 4
    return out


def mask_encoding(mask: np.ndarray, mode: int | None = None, known: np.ndarray | None = None) -> tuple[int, bytes]:
    """The cheapest encoding of a flat bool ``mask`` (or the one ``mode`` names): ``(mode, bytes)``.
    ``known``: the mask the receiver holds for this tensor (``KNOWN`` is offered when equal)."""
    m = np.asarray(mask, dtype=bool).reshape(-1)
    n_kept = int(m.sum())
    same = known is not None and np.array_equal(np.asarray(known, dtype=bool).reshape(-1), m)
    sizes = mask_bytes(n_kept, m.size, known=same)
    if mode is None:
        mode = min(sizes, key=lambda k: (sizes[k], _PREFERENCE.index(k)))
    elif mode not in sizes:
        raise FedForgetError(f"mask encoding {mode} cannot carry this mask (full needs every entry kept, "
                             "known needs the receiver's mask to be this one)")
    if mode == FULL:
        return mode, b""
    if mode == KNOWN:
        return mode, _crc(m)
    if mode == BITMAP:
        return mode, np.packbits(m, bitorder="little").tobytes()
    if mode == ELIAS_FANO:
        return mode, eliasfano.encode(np.flatnonzero(m), m.size)
    keep = np.flatnonzero(m).astype(_index_dtype(m.size))
    return mode, np.uint32(n_kept).tobytes() + keep.tobytes()


def encode(
    arrays: dict[str, np.ndarray],
    template: Template,
    specs: dict[str, QuantSpec],
    masks: dict[str, np.ndarray] | None = None,
    mask_mode: int | None = None,
    known: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Pack the template's tensors of ``arrays`` into one uint8 buffer. ``specs`` names the
    quantized tensors; ``masks`` (bool) the sparse ones (entries off the mask are dropped:
    they must be zero). ``known``: the masks the receiver already holds (a reply to the
    message that carried them). Each mask travels in its cheapest encoding unless
    ``mask_mode`` (``INDEX``, ``BITMAP``, ``FULL``, ``KNOWN``, ``ELIAS_FANO``; tests) names one."""
    masks = masks or {}
    known = known or {}
    parts: list[bytes] = []
    for name, shape in template.items():
        w = np.asarray(arrays[name], dtype=np.float32).reshape(shape)
        flat = w.reshape(-1)
        spec = specs.get(name)
        mask = masks.get(name)
        keep, mode, pos = None, 0, b""
        if mask is not None:
            m = np.asarray(mask, dtype=bool).reshape(-1)
            keep = np.flatnonzero(m)
            mode, pos = mask_encoding(m, mask_mode, known.get(name))
        parts.append(bytes([(1 if mask is not None else 0) | (2 if spec is not None else 0) | (mode << 2)]))
        parts.append(pos)
        if spec is not None:
            codes, scale, zp = quantize(torch.from_numpy(w.copy()), spec)
            parts.append(scale.numpy().astype(np.float16 if spec.symmetric else np.float32).tobytes())
            if not spec.symmetric:
                parts.append(zp.numpy().astype(np.uint8).tobytes())
            c = codes.reshape(-1).numpy()
            if keep is not None:
                c = c[keep]
            parts.append(pack_bits((c - spec.qmin).astype(np.uint8), spec.bits).tobytes())
        else:
            parts.append((flat[keep] if keep is not None else flat).astype(np.float32).tobytes())
    return np.frombuffer(b"".join(parts), dtype=np.uint8).copy()


def decode(
    buf: np.ndarray, template: Template, specs: dict[str, QuantSpec], known: dict[str, np.ndarray] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Inverse of :func:`encode`: dense float32 arrays and the masks that travelled.
    ``known``: the masks this receiver sent (what a ``KNOWN`` mask refers to)."""
    known = known or {}
    b = np.asarray(buf, dtype=np.uint8).tobytes()
    pos = 0
    out: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(b):
            raise FedForgetError("compressed payload is truncated or does not match the model template")
        chunk = b[pos : pos + n]
        pos += n
        return chunk

    for name, shape in template.items():
        numel = int(np.prod(shape)) if shape else 1
        flags = take(1)[0]
        keep = None
        if flags & 1:
            mode = (flags >> 2) & 7
            if mode == INDEX:
                n_kept = int(np.frombuffer(take(4), np.uint32)[0])
                dt = _index_dtype(numel)
                keep = np.frombuffer(take(n_kept * np.dtype(dt).itemsize), dt).astype(np.int64)
                if keep.size and int(keep.max()) >= numel:
                    raise FedForgetError(f"compressed payload indexes past the end of {name!r}")
                m = np.zeros(numel, dtype=bool)
                m[keep] = True
            elif mode == BITMAP:
                bits = np.frombuffer(take(-(-numel // 8)), np.uint8)
                m = np.unpackbits(bits, count=numel, bitorder="little").astype(bool)
                keep = np.flatnonzero(m)
            elif mode == FULL:
                m = np.ones(numel, dtype=bool)
                keep = np.arange(numel)
            elif mode == KNOWN:
                crc = take(4)
                if name not in known or np.asarray(known[name]).size != numel:
                    raise FedForgetError(f"compressed payload refers to a mask of {name!r} that the receiver does not hold")
                m = np.asarray(known[name], dtype=bool).reshape(-1)
                if _crc(m) != crc:
                    raise FedForgetError(f"compressed payload was pruned with another mask of {name!r} than the one "
                                         "the receiver sent; sender and receiver disagree on the model")
                keep = np.flatnonzero(m)
            elif mode == ELIAS_FANO:
                keep, used = eliasfano.decode(b[pos:], numel)
                take(used)
                m = np.zeros(numel, dtype=bool)
                m[keep] = True
            else:
                raise FedForgetError(f"compressed payload has an unknown mask encoding {mode} for {name!r}")
            masks[name] = m.reshape(shape)
        n_vals = numel if keep is None else len(keep)
        if flags & 2:
            spec = specs.get(name)
            if spec is None:
                raise FedForgetError(f"payload quantizes {name!r} but the receiver's config does not")
            c = spec.channels(torch.empty(shape))
            sdt = np.float16 if spec.symmetric else np.float32
            scale = torch.from_numpy(np.frombuffer(take(np.dtype(sdt).itemsize * c), sdt).astype(np.float32))
            zp = torch.zeros(c, dtype=torch.int32)
            if not spec.symmetric:
                zp = torch.from_numpy(np.frombuffer(take(c), np.uint8).astype(np.int32))
            nbytes = -(-n_vals * spec.bits // 8)
            codes_kept = unpack_bits(np.frombuffer(take(nbytes), np.uint8), spec.bits, n_vals).astype(np.int32) + spec.qmin
            zpf = zp.numpy()
            if keep is None:
                codes = codes_kept
            else:  # pruned entries decode to exactly zero: code = zero point of their channel
                chan = np.arange(numel) // max(numel // c, 1) if c > 1 else np.zeros(numel, np.int64)
                codes = zpf[chan].astype(np.int32)
                codes[keep] = codes_kept
            w = dequantize(torch.from_numpy(codes.reshape(shape)), scale, zp, spec).numpy()
        else:
            vals = np.frombuffer(take(4 * n_vals), np.float32)
            w = np.zeros(numel, np.float32)
            if keep is None:
                w[:] = vals
            else:
                w[keep] = vals
            w = w.reshape(shape)
        out[name] = w.astype(np.float32)
    if pos != len(b):
        raise FedForgetError(f"compressed payload has {len(b) - pos} trailing bytes; sender and receiver disagree on the model")
    return out, masks
