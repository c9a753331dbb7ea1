"""Model parameters as named NumPy arrays (what travels) and as one flat vector (what
projections and directions work on)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def get_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def _plain_loading(model: nn.Module) -> bool:
    """Whether ``load_state_dict`` would only copy each tensor in place: no module
    customises loading (BatchNorm does, for instance) and none has a loading hook."""
    base = nn.Module._load_from_state_dict
    return all(
        type(m)._load_from_state_dict is base and not m._load_state_dict_pre_hooks
        and not m._load_state_dict_post_hooks for m in model.modules()
    )


def set_arrays(model: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    sd = model.state_dict(keep_vars=True)
    missing = set(sd) - set(arrays)
    if missing:
        raise ValueError(f"parameter arrays lack {sorted(missing)[:3]}")
    if _plain_loading(model):  # what load_state_dict does then, without its per-module walk
        for k, t in sd.items():
            if tuple(np.shape(arrays[k])) != tuple(t.shape):
                raise RuntimeError(f"size mismatch for {k}: copying an array of shape {tuple(np.shape(arrays[k]))}, "
                                   f"the model has {tuple(t.shape)}")
        with torch.no_grad():
            for k, t in sd.items():
                a = np.asarray(arrays[k])
                if t.device.type == "cpu" and t.is_contiguous() and t.dtype != torch.bfloat16:
                    t.detach().numpy()[...] = a  # numpy casts like copy_; read-only inputs need no copy
                else:
                    t.copy_(torch.from_numpy(np.array(a)))
        return
    model.load_state_dict({k: torch.as_tensor(np.asarray(arrays[k])).to(sd[k].dtype) for k in sd})


def flat_params(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def set_flat_params(model: nn.Module, flat: torch.Tensor) -> None:
    i = 0
    with torch.no_grad():
        for p in model.parameters():
            n = p.numel()
            p.copy_(flat[i : i + n].view_as(p))
            i += n


def flat_grad(model: nn.Module) -> torch.Tensor:
    return torch.cat(
        [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in model.parameters()]
    )


def weighted_average(arrays: list[dict[str, np.ndarray]], weights: list[float]) -> dict[str, np.ndarray]:
    """FedAvg of named arrays, computed in float64 and cast back to each array's dtype."""
    w = np.asarray(weights, dtype=np.float64)
    if len(arrays) == 0 or w.sum() <= 0:
        raise ValueError("weighted_average needs at least one update with a positive weight")
    w = w / w.sum()
    out = {}
    for k, ref in arrays[0].items():
        acc = sum(wi * a[k].astype(np.float64) for wi, a in zip(w, arrays, strict=True))
        out[k] = np.asarray(acc).astype(ref.dtype)
    return out
