"""Orthogonal projection onto the complement of the span of a set of directions.

If ``G`` stacks retain-loss gradients ``g_1..g_k`` (rows) and ``d`` is a forgetting update,
``project_orthogonal(d, G)`` returns ``d - G^T c`` with ``c = argmin ||G^T c - d||``: the
component of ``d`` orthogonal to every ``g_i``, so ``g_i . d' = 0`` and no retain loss
rises to first order. The least-squares solve (SVD-based ``gelsd``) is robust to linearly
dependent or duplicated directions; it runs in float64.
"""

from __future__ import annotations

import torch


def project_orthogonal(
    d: torch.Tensor,
    directions: torch.Tensor | None,
    mask: torch.Tensor | None = None,
    rcond: float | None = None,
) -> torch.Tensor:
    """Project ``d`` (shape ``(p,)``) onto the orthogonal complement of the rows of
    ``directions`` (shape ``(k, p)``). With ``mask`` (0/1, shape ``(p,)``) the projection
    is done inside the masked subspace: the result is zero off the mask and orthogonal to
    every masked direction ``g_i * mask`` (and so to ``g_i`` itself)."""
    if d.dim() != 1:
        raise ValueError(f"d must be a flat vector, got shape {tuple(d.shape)}")
    out_dtype = d.dtype
    v = d.to(torch.float64)
    if mask is not None:
        m = mask.to(torch.float64).reshape(-1)
        v = v * m
    if directions is None or directions.numel() == 0:
        return v.to(out_dtype)
    g = directions.to(torch.float64).reshape(-1, v.numel())
    if mask is not None:
        g = g * m
    keep = g.norm(dim=1) > 0
    g = g[keep]
    if g.shape[0] == 0:
        return v.to(out_dtype)
    # Normalise rows for conditioning: the span is unchanged.
    g = g / g.norm(dim=1, keepdim=True)
    sol = torch.linalg.lstsq(g.T, v.unsqueeze(1), rcond=rcond, driver="gelsd").solution
    out = v - (g.T @ sol).squeeze(1)
    return out.to(out_dtype)


def max_abs_cosine(d: torch.Tensor, directions: torch.Tensor) -> float:
    """Largest |cos| between ``d`` and any row of ``directions`` (0 when d is zero)."""
    d64 = d.to(torch.float64)
    g = directions.to(torch.float64).reshape(-1, d64.numel())
    nd = d64.norm()
    if nd == 0 or g.shape[0] == 0:
        return 0.0
    cos = (g @ d64) / (g.norm(dim=1).clamp_min(1e-300) * nd)
    return float(cos.abs().max())
