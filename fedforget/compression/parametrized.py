"""Client-side compression of a model in place (torchao style): :func:`compress_`
registers one parametrization per compressed weight (``torch.nn.utils.parametrize``),
``w -> fake_quantize(w * mask)``, on the Linear/Conv weights :class:`ModelInfo` finds.
The optimiser sees the latent float weight; every forward pass uses the deployed one
(masked, on the integer grid, straight-through estimator). :func:`canonical_name` maps
the names parametrizations give back to the plain model's. See :mod:`fedforget.compression.core`
for how this fits the federation.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from fedforget.compression.quant import QuantSpec, fake_quantize, quantize_activation
from fedforget.compression.sparsity import compute_masks
from fedforget.config import CompressionConfig, QuantizationConfig, SparsityConfig
from fedforget.util.errors import FedForgetError


class CompressParam(nn.Module):
    """Parametrization ``w -> fake_quantize(w * mask)`` (either part optional)."""

    def __init__(self, spec: QuantSpec | None, mask: torch.Tensor | None) -> None:
        super().__init__()
        self.spec = spec
        self.use_mask = True
        self.register_buffer("mask", None if mask is None else mask.to(torch.float32))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.mask is not None and self.use_mask:
            w = w * self.mask
        if self.spec is not None:
            w = fake_quantize(w, self.spec)
        return w


@dataclass(frozen=True)
class ModelInfo:
    """Names and shapes of a plain (uncompressed) model."""

    shapes: dict[str, tuple[int, ...]]  # state_dict order
    params: tuple[str, ...]  # named_parameters order (the flat-vector order)
    weights: tuple[str, ...]  # Linear/Conv weights, in order

    @classmethod
    def of(cls, model: nn.Module) -> ModelInfo:
        kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
        weights = tuple(f"{n}.weight" if n else "weight" for n, m in model.named_modules() if isinstance(m, kinds))
        return cls(
            {k: tuple(v.shape) for k, v in model.state_dict().items()},
            tuple(n for n, _ in model.named_parameters()),
            weights,
        )

    def param_template(self) -> dict[str, tuple[int, ...]]:
        return {n: self.shapes[n] for n in self.params}


def _select(names: tuple[str, ...], patterns: tuple[str, ...]) -> list[str]:
    if not patterns:
        return list(names)
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def quant_targets(info: ModelInfo, qc: QuantizationConfig) -> list[str]:
    return _select(info.weights, qc.layers) if qc.bits else []


def prune_targets(info: ModelInfo, sc: SparsityConfig) -> list[str]:
    if sc.target <= 0:
        return []
    names = info.weights
    if sc.structure == "channels":
        names = names[:-1]  # never remove output classes of the classifier layer
    return _select(names, sc.layers)


def _split(name: str) -> tuple[str, str]:
    mod, _, attr = name.rpartition(".")
    return mod, attr


def compress_(
    model: nn.Module,
    config: CompressionConfig | QuantizationConfig | SparsityConfig,
    masks: dict[str, Any] | None = None,
) -> nn.Module:
    """Compress ``model`` in place (torchao style) and return it: quantized weights get
    fake quantization with a straight-through estimator, pruned weights a persistent mask.
    A :class:`SparsityConfig` without ``masks`` prunes one-shot by magnitude now."""
    if isinstance(config, QuantizationConfig):
        config = CompressionConfig(quantization=config)
    elif isinstance(config, SparsityConfig):
        config = CompressionConfig(sparsity=config)
    if is_compressed(model):
        raise FedForgetError("model is already compressed; build a fresh model to compress it again")
    info = ModelInfo.of(model)
    qc, sc = config.quantization, config.sparsity
    specs = {n: QuantSpec.from_config(qc) for n in quant_targets(info, qc)}
    if masks is None and sc.target > 0:
        masks = compute_masks(model, prune_targets(info, sc), sc.target, sc)
    tmasks = {k: torch.as_tensor(np.asarray(v)).bool() for k, v in (masks or {}).items()}
    with torch.no_grad():
        for name, m in tmasks.items():  # pruned latent weights start (and stay) at zero
            mod, attr = _split(name)
            getattr(model.get_submodule(mod), attr).mul_(m.to(torch.float32))
    for name in sorted(set(specs) | set(tmasks), key=list(info.shapes).index):
        mod, attr = _split(name)
        module = model.get_submodule(mod)
        parametrize.register_parametrization(module, attr, CompressParam(specs.get(name), tmasks.get(name)))
        if qc.activations and name in specs:
            bits = qc.bits
            module.register_forward_pre_hook(lambda _m, args, _b=bits: (quantize_activation(args[0], _b), *args[1:]))
    return model


def is_compressed(model: nn.Module) -> bool:
    return any(parametrize.is_parametrized(m) for m in model.modules())


def model_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """``{latent parameter name (as in model.named_parameters()): mask}`` of a compressed model."""
    out = {}
    for name, _p in model.named_parameters():
        if ".parametrizations." in name:
            mod, _, rest = name.partition(".parametrizations.")
            attr = rest.split(".")[0]
            par = model.get_submodule(mod).parametrizations[attr][0]
            if isinstance(par, CompressParam) and par.mask is not None:
                out[name] = par.mask
    return out


class unmasked:
    """Context manager: forward passes skip the sparsity masks (the latent pruned
    weights are zero, so outputs are unchanged) and gradients reach pruned entries: the
    dense gradient SAU needs to measure the forgetting capacity lost to pruning."""

    def __init__(self, model: nn.Module) -> None:
        self.pars = [m for m in model.modules() if isinstance(m, CompressParam)]

    def __enter__(self) -> None:
        for p in self.pars:
            p.use_mask = False

    def __exit__(self, *exc: object) -> None:
        for p in self.pars:
            p.use_mask = True


def canonical_name(name: str) -> str:
    if ".parametrizations." in name:
        mod, _, rest = name.partition(".parametrizations.")
        return f"{mod}.{rest.split('.')[0]}"
    if name.startswith("parametrizations."):
        return name.split(".")[1]
    return name
