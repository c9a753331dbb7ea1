"""Model parameters as named NumPy arrays (what travels) and as one flat vector (what
projections and directions work on)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def get_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def set_arrays(model: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    sd = model.state_dict()
    missing = set(sd) - set(arrays)
    if missing:
        raise ValueError(f"parameter arrays lack {sorted(missing)[:3]}")
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
