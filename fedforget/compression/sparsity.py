"""Magnitude pruning masks computed with ``torch.nn.utils.prune``.

Masks only grow: the pruning methods run inside ``prune``'s ``PruningContainer`` on top
of the current mask (``custom_from_mask``), so a weight pruned once stays pruned, and the
amount asked for is taken from the still-unpruned weights. ``unstructured`` pruning is
global (one L1 threshold over every prunable tensor, ``prune.global_unstructured``) or
layer-wise (``prune.l1_unstructured`` per tensor); ``channels`` removes whole output
channels by L2 norm (``prune.ln_structured(dim=0)``).

:func:`target_at` is the schedule: one-shot (the target at ``start_round``) or gradual
with the cubic schedule of Zhu & Gupta, "To prune, or not to prune", ICLR-W 2018:
``s_t = s_f * (1 - (1 - (t - t0) / (t1 - t0))^3)``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import prune

from fedforget.config import SparsityConfig


def target_at(sc: SparsityConfig, r: int, training_rounds: int) -> float:
    """Sparsity the global model should have after training round ``r`` (0-based)."""
    if sc.target <= 0 or r < sc.start_round:
        return 0.0
    if sc.schedule == "one_shot":
        return sc.target
    end = sc.end_round if sc.end_round >= 0 else max(sc.start_round, training_rounds // 2 - 1)
    if r >= end or end == sc.start_round:
        return sc.target
    frac = (r - sc.start_round + 1) / (end - sc.start_round + 1)
    return sc.target * (1.0 - (1.0 - frac) ** 3)


def _module_of(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    mod_name, _, attr = name.rpartition(".")
    return model.get_submodule(mod_name), attr


@torch.no_grad()
def compute_masks(
    model: nn.Module,
    names: list[str],
    target: float,
    sc: SparsityConfig,
    current: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Masks (bool, per name) bringing the prunable tensors ``names`` of ``model`` to
    sparsity ``target``, never un-pruning what ``current`` already pruned. ``model`` is
    not modified (a copy is pruned)."""
    m = copy.deepcopy(model)
    current = current or {}
    pairs = [_module_of(m, n) for n in names]
    for n, (mod, attr) in zip(names, pairs, strict=True):
        base = current.get(n)
        prune.custom_from_mask(mod, attr, base.to(torch.float32) if base is not None else torch.ones_like(getattr(mod, attr)))
    if sc.structure == "channels":
        for mod, attr in pairs:
            w = getattr(mod, attr)
            rows_pruned = int((getattr(mod, attr + "_mask").reshape(w.shape[0], -1).sum(1) == 0).sum())
            want = int(round(target * w.shape[0]))
            if want > rows_pruned:
                prune.ln_structured(mod, attr, amount=want - rows_pruned, n=2, dim=0)
    elif sc.scope == "global":
        total = sum(getattr(mod, attr).numel() for mod, attr in pairs)
        pruned = sum(int((getattr(mod, attr + "_mask") == 0).sum()) for mod, attr in pairs)
        want = int(round(target * total))
        if want > pruned:
            prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=want - pruned)
    else:
        for mod, attr in pairs:
            mask = getattr(mod, attr + "_mask")
            want = int(round(target * mask.numel()))
            pruned = int((mask == 0).sum())
            if want > pruned:
                prune.l1_unstructured(mod, attr, amount=want - pruned)
    return {n: getattr(mod, attr + "_mask").detach().clone().bool() for n, (mod, attr) in zip(names, pairs, strict=True)}


def sparsity_of(masks: dict[str, torch.Tensor]) -> float:
    total = sum(m.numel() for m in masks.values())
    return float(sum(int((~m).sum()) for m in masks.values()) / total) if total else 0.0
