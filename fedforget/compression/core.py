"""Compressed models end to end: ``compress_`` (torchao style), the :class:`Compressor`
both ends of the federation share, and :class:`CompressedFederation`.

Client side, :func:`compress_` registers one parametrization per compressed weight
(``torch.nn.utils.parametrize``): ``w -> fake_quantize(w * mask)``. The parameter the
optimiser sees is the latent float weight (a training device); every forward pass, and
so every loss and gradient of training, unlearning and recovery, uses the deployed
weight: masked (pruned entries exactly zero, their gradient zero) and on the integer grid
(straight-through estimator). What the client sends is the deployed model, as integers.

Server side, :meth:`Compressor.postprocess` is the explicit aggregation step: the
server decodes the replies, averages in float (``weighted_average``), then prunes on
schedule, masks and re-quantizes. Masks travel with the global model as ``mask::<name>``
bool entries of the arrays dict (they are part of the model's identity: the retrained
model has its own); ``set_arrays`` ignores them.

Parametrizations reorder ``model.parameters()`` (the latent weight moves into
``module.parametrizations``); :meth:`Compressor.canonical` maps flat vectors of a
compressed model back to the plain model's parameter order, which is the order every
flat update and direction uses on the wire.

The model side (``compress_``, ``ModelInfo``, the parametrization) lives in
:mod:`fedforget.compression.parametrized`; this module re-exports it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from fedforget.compression import codec
from fedforget.compression.parametrized import (
    CompressParam,
    ModelInfo,
    _split,
    canonical_name,
    compress_,
    is_compressed,
    model_masks,
    prune_targets,
    quant_targets,
    unmasked,
)
from fedforget.compression.quant import QuantSpec, fake_quantize
from fedforget.compression.sparsity import compute_masks, sparsity_of, target_at
from fedforget.config import CompressionConfig, ModelConfig
from fedforget.federation import Exchange
from fedforget.util.errors import FedForgetError
from fedforget.util.params import set_arrays

__all__ = [
    "MASK_PREFIX", "PACKED", "VECTORS", "CompressParam", "CompressedFederation", "Compressor", "ModelInfo",
    "canonical_name", "compress_", "compressor_for", "is_compressed", "model_masks", "prune_targets",
    "quant_targets", "unmasked",
]

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
MASK_PREFIX = "mask::"
PACKED = "packed::"  # packed::model, packed::forget_update, packed::retain_dirs
VECTORS = ("forget_update", "retain_dirs")


# ---------------------------------------------------------------------------- compressor


@dataclass
class Compressor:
    """What the server and the clients do with compressed models (one per experiment
    config). Disabled (``enabled`` False) it is the identity everywhere."""

    cc: CompressionConfig
    info: ModelInfo
    training_rounds: int
    scratch: nn.Module | None = None  # a plain model of the same architecture (pruning)
    specs: dict[str, QuantSpec] = field(init=False)
    prunable: list[str] = field(init=False)
    vec_specs: dict[str, QuantSpec] = field(init=False)
    dir_specs: dict[str, QuantSpec] = field(init=False)
    last_masks: dict[str, np.ndarray] = field(init=False, default_factory=dict)
    # Client side: the masks that came in the last decoded ``packed::model`` (empty after
    # decoding anything else), i.e. masks the server holds for this exchange: a reply
    # sends them as ``KNOWN`` (a checksum, no mask bits; fedforget.compression.codec).
    received: dict[str, np.ndarray] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        qc = self.cc.quantization
        self.specs = {n: QuantSpec.from_config(qc) for n in quant_targets(self.info, qc)}
        self.prunable = prune_targets(self.info, self.cc.sparsity)
        self.vec_specs = (
            {n: QuantSpec(8, per_channel=True, symmetric=True) for n in self.info.params}
            if qc.bits and qc.update_bits == 8 else {}
        )
        # Retain directions travel at the client's own bits (4-bit clients: 4-bit
        # directions; never below 4), so that the unlearning phase's uplink shrinks like
        # the models do. The server projects onto the complement of the directions as
        # received: the applied update is exactly orthogonal to those; to the clients'
        # float gradients |cos| <= ||g - Q(g)|| / ||g||, measured 0.007 at 8 bits, 0.12 at
        # 4, 0.71 at 2 (hence the floor; docs/performance.md).
        self.dir_specs = (
            {n: QuantSpec(max(qc.bits, 4), per_channel=True, symmetric=True) for n in self.info.params}
            if qc.bits and qc.update_bits == 8 else {}
        )

    @property
    def enabled(self) -> bool:
        return self.cc.enabled

    # -------------------------------------------------------------- server
    @staticmethod
    def masks_of(arrays: Arrays | None) -> dict[str, np.ndarray]:
        if not arrays:
            return {}
        return {k[len(MASK_PREFIX):]: np.asarray(v, dtype=bool) for k, v in arrays.items() if k.startswith(MASK_PREFIX)}

    def project(self, arrays: Arrays, masks: dict[str, np.ndarray]) -> Arrays:
        """Mask and quantize: the nearest deployable model (masks not attached)."""
        out = {k: v for k, v in arrays.items() if not k.startswith(MASK_PREFIX)}
        for name, m in masks.items():
            out[name] = (np.asarray(out[name], dtype=np.float32) * m).astype(np.float32)
        with torch.no_grad():
            for name, spec in self.specs.items():
                if name in out:
                    out[name] = fake_quantize(torch.as_tensor(np.asarray(out[name], dtype=np.float32)), spec).numpy()
        return out

    def postprocess(self, new: Arrays, prev: Arrays | None, phase: str, r: int) -> Arrays:
        """After aggregation (or an applied unlearning update): prune on schedule (training
        and retraining rounds only; masks only grow), mask, re-quantize, attach masks."""
        if not self.enabled:
            return new
        masks = self.masks_of(prev)
        sc = self.cc.sparsity
        if self.prunable and phase in ("train", "retrain") and r >= 0:
            t = target_at(sc, r, self.training_rounds)
            if t > 0:
                if self.scratch is None:
                    raise FedForgetError("Compressor needs a scratch model to prune")
                set_arrays(self.scratch, new)
                cur = {k: torch.from_numpy(v) for k, v in masks.items()}
                masks = {k: v.numpy() for k, v in compute_masks(self.scratch, self.prunable, t, sc, cur).items()}
        out = self.project(new, masks)
        for name, m in masks.items():
            out[MASK_PREFIX + name] = m
        return out

    def flat_mask(self, arrays: Arrays) -> torch.Tensor | None:
        """0/1 over the flat parameter vector (plain order); None when nothing is pruned."""
        masks = self.masks_of(arrays)
        if not masks:
            return None
        parts = [
            torch.from_numpy(masks[n].reshape(-1).astype(np.float32)) if n in masks
            else torch.ones(int(np.prod(self.info.shapes[n])))
            for n in self.info.params
        ]
        return torch.cat(parts)

    def sparsity(self, arrays: Arrays) -> float:
        return sparsity_of({k: torch.from_numpy(v) for k, v in self.masks_of(arrays).items()})

    # -------------------------------------------------------------- wire
    def encode(self, arrays: Arrays, masks: dict[str, np.ndarray] | None = None,
               known: dict[str, np.ndarray] | None = None) -> Arrays:
        """Model entries (+ their ``mask::`` entries) -> ``packed::model``; flat
        ``forget_update`` / ``retain_dirs`` -> ``packed::<name>`` (8-bit per channel when
        quantized, surviving entries only when sparse). Other entries pass unchanged.
        ``known``: masks the receiver holds (a client's reply: :attr:`received`); a mask
        equal to its known one travels as a checksum only."""
        if not self.enabled:
            return arrays
        out: Arrays = {}
        model_keys = set(self.info.shapes)
        if model_keys <= set(arrays):
            m = self.masks_of(arrays) or (masks or {})
            out[PACKED + "model"] = codec.encode(arrays, self.info.shapes, self.specs, m, known=known)
        vmasks = masks if masks is not None else self.masks_of(arrays)
        ptemp = self.info.param_template()
        for key in VECTORS:
            if key in arrays:
                rows = np.atleast_2d(np.asarray(arrays[key], dtype=np.float32))
                specs = self.dir_specs if key == "retain_dirs" else self.vec_specs
                packed = [codec.encode(self._unflatten(r), ptemp, specs, vmasks, known=known) for r in rows]
                out[PACKED + key] = np.stack(packed) if packed else np.zeros((0, 0), np.uint8)
                if np.asarray(arrays[key]).ndim == 1:
                    out[PACKED + key] = out[PACKED + key][0]
        for k, v in arrays.items():
            if k not in model_keys and k not in VECTORS and not k.startswith(MASK_PREFIX):
                out[k] = v
        return out

    def decode(self, arrays: Arrays, keep_masks: bool = True, known: dict[str, np.ndarray] | None = None) -> Arrays:
        """Inverse of :meth:`encode`. ``known``: the masks the decoding side sent with the
        request this payload answers (server side: the request's ``mask::`` entries)."""
        self.received = {}
        if not self.enabled or not any(k.startswith(PACKED) for k in arrays):
            return arrays
        out: Arrays = {}
        for k, v in arrays.items():
            if k == PACKED + "model":
                dense, masks = codec.decode(v, self.info.shapes, self.specs, known)
                out.update(dense)
                self.last_masks = self.received = masks
                if keep_masks:
                    out.update({MASK_PREFIX + n: m for n, m in masks.items()})
            elif k.startswith(PACKED) and k[len(PACKED):] in VECTORS:
                name = k[len(PACKED):]
                buf = np.asarray(v, dtype=np.uint8)
                specs = self.dir_specs if name == "retain_dirs" else self.vec_specs
                rows = [self._flatten(codec.decode(b, self.info.param_template(), specs, known)[0])
                        for b in np.atleast_2d(buf)] if buf.size else []
                mat = np.stack(rows) if rows else np.zeros((0, self.numel), np.float32)
                out[name] = mat[0] if buf.ndim == 1 else mat
            else:
                out[k] = v
        return out

    @property
    def numel(self) -> int:
        return int(sum(np.prod(self.info.shapes[n]) for n in self.info.params))

    def _unflatten(self, flat: np.ndarray) -> Arrays:
        out, i = {}, 0
        for n in self.info.params:
            shape = self.info.shapes[n]
            k = int(np.prod(shape))
            out[n] = flat[i : i + k].reshape(shape)
            i += k
        if i != flat.size:
            raise FedForgetError(f"flat vector has {flat.size} entries, the model {i}")
        return out

    def _flatten(self, arrays: Arrays) -> np.ndarray:
        return np.concatenate([np.asarray(arrays[n], dtype=np.float32).reshape(-1) for n in self.info.params])

    def wrap(self, fed: Any) -> Any:
        return CompressedFederation(fed, self) if self.enabled else fed

    # -------------------------------------------------------------- client
    def load_(self, model: nn.Module, arrays: Arrays) -> nn.Module:
        """Load a (decoded) global model into a fresh plain ``model`` and compress it with
        the masks that travelled with it."""
        set_arrays(model, arrays)
        if not self.enabled:
            return model
        masks = self.masks_of(arrays)
        if masks:
            self.last_masks = masks
        return compress_(model, self.cc, masks=masks)

    def deployed(self, model: nn.Module) -> Arrays:
        """The deployed (masked, on-grid) weights under the plain model's names."""
        with torch.no_grad():
            out = {}
            for name in self.info.shapes:
                mod, attr = _split(name)
                out[name] = getattr(model.get_submodule(mod), attr).detach().cpu().numpy().astype(np.float32).copy()
        for name, m in self.last_masks.items():
            out[MASK_PREFIX + name] = m
        return out

    def deployed_flat(self, model: nn.Module) -> torch.Tensor:
        return torch.from_numpy(self._flatten(self.deployed(model)))

    def canonical(self, model: nn.Module, flat: torch.Tensor) -> torch.Tensor:
        """Reorder a flat vector (or rows) in ``model.parameters()`` order into the plain
        model's parameter order."""
        names = [canonical_name(n) for n, _ in model.named_parameters()]
        if names == list(self.info.params):
            return flat
        sizes = [int(np.prod(self.info.shapes[n])) for n in names]
        chunks = dict(zip(names, torch.split(flat, sizes, dim=-1), strict=True))
        return torch.cat([chunks[n] for n in self.info.params], dim=-1)

    def client_update(self, model: nn.Module, latent_update: torch.Tensor, w0: torch.Tensor) -> torch.Tensor:
        """The deployed update of a forgetting step: ``Q(mask * (w0 + u)) - w0`` in plain
        order, where ``u`` is the latent update an Unlearner returned (model order) and
        ``w0`` the deployed model it started from. Updates smaller than half a step vanish
        here, exactly as they would on the device."""
        u = self.canonical(model, latent_update.detach().to(torch.float32))
        latent = self._unflatten((w0 + u).numpy())
        deployed = self.project(latent, self.last_masks)
        return torch.from_numpy(self._flatten(deployed)) - w0

    def post_step(self) -> Callable[[nn.Module], None] | None:
        """``local_sgd`` hook: keep the latent pruned weights at exactly zero (momentum
        and weight decay never touch them since their gradient is masked)."""
        if not self.last_masks:
            return None

        def hook(model: nn.Module) -> None:
            with torch.no_grad():
                for name, m in model_masks(model).items():
                    model.get_parameter(name).mul_(m)

        return hook


@functools.lru_cache(maxsize=8)
def _info(model_cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> ModelInfo:
    from fedforget.models import build_model

    return ModelInfo.of(build_model(model_cfg, input_shape, num_classes, seed=0))


def compressor_for(cfg: Any, input_shape: tuple[int, ...], num_classes: int) -> Compressor:
    """The :class:`Compressor` of an :class:`~fedforget.config.ExperimentConfig`."""
    from fedforget.models import build_model

    info = _info(cfg.model, tuple(input_shape), int(num_classes))
    scratch = build_model(cfg.model, input_shape, num_classes, seed=0) if cfg.compression.sparsity.target > 0 else None
    return Compressor(cfg.compression, info, cfg.training.rounds, scratch)


class CompressedFederation:
    """A Federation whose array payloads travel compressed: requests are encoded (once
    per distinct arrays dict), replies decoded. Bytes are counted by the inner
    federation from what actually travels."""

    def __init__(self, inner: Any, comp: Compressor) -> None:
        self.inner = inner
        self.comp = comp

    @property
    def traffic(self) -> Any:
        return self.inner.traffic

    def partitions(self) -> list[int]:
        return self.inner.partitions()

    def _encode(self, requests: dict[int, tuple[Arrays, dict[str, Any]]]) -> dict[int, tuple[Arrays, dict[str, Any]]]:
        cache: dict[int, Arrays] = {}
        enc = {}
        for p, (arrays, conf) in requests.items():
            if id(arrays) not in cache:
                cache[id(arrays)] = self.comp.encode(arrays) if arrays else arrays
            enc[p] = (cache[id(arrays)], conf)
        return enc

    def _decode(self, request: Arrays, reply: Arrays) -> Arrays:
        # a reply may send the masks of its request as KNOWN (checksum only): decode with them
        return self.comp.decode(reply, keep_masks=False, known=self.comp.masks_of(request))

    def send(self, action: str, requests: dict[int, tuple[Arrays, dict[str, Any]]]) -> dict[int, tuple[Arrays, dict[str, Any]]]:
        replies = self.inner.send(action, self._encode(requests))
        return {p: (self._decode(requests[p][0], a), m) for p, (a, m) in replies.items()}

    def exchange(self, action: str, requests: dict[int, tuple[Arrays, dict[str, Any]]], timeout_s: float | None) -> Any:
        """Like :meth:`send`, reporting failures (fedforget.run.faults); a reply whose payload
        does not decode is one: the client sent what the codec cannot read."""
        inner = getattr(self.inner, "exchange", None)
        enc = self._encode(requests)
        ex = inner(action, enc, timeout_s) if inner is not None else Exchange(self.inner.send(action, enc), {})
        out = Exchange({}, dict(ex.failures))
        for p, (a, m) in ex.replies.items():
            try:
                out.replies[p] = (self._decode(requests[p][0], a), m)
            except Exception as e:  # noqa: BLE001 - any decoding error: the payload is not what was asked
                out.failures[p] = f"reply refused: its payload does not decode ({type(e).__name__}: {str(e)[:200]})"
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
