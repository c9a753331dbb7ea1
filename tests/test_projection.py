"""The projected update is orthogonal to every retain direction (property tests)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fedforget.unlearning.combiners import COMBINERS
from fedforget.unlearning.projection import max_abs_cosine, project_orthogonal


@settings(max_examples=60, deadline=None)
@given(p=st.integers(5, 60), k=st.integers(1, 8), dup=st.booleans(), seed=st.integers(0, 10_000))
def test_projection_is_orthogonal_and_idempotent(p, k, dup, seed):
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(k, p, generator=g)
    if dup:  # linearly dependent rows: a combination and an exact duplicate
        dirs = torch.cat([dirs, dirs[:1] * 3.0, dirs[:1] + dirs[-1:]])
    d = torch.randn(p, generator=g) * 10
    out = project_orthogonal(d, dirs)
    scale = d.norm() * dirs.norm(dim=1).max()
    assert (dirs.double() @ out.double()).abs().max() <= 1e-4 * scale
    # idempotent; and it only removes what lies in the span
    assert torch.allclose(project_orthogonal(out, dirs), out, atol=1e-4 * float(d.norm()))
    assert out.norm() <= d.norm() * (1 + 1e-6)


@settings(max_examples=40, deadline=None)
@given(p=st.integers(6, 40), k=st.integers(1, 5), seed=st.integers(0, 10_000))
def test_projection_with_mask_stays_on_mask_and_orthogonal(p, k, seed):
    g = torch.Generator().manual_seed(seed)
    dirs = torch.randn(k, p, generator=g)
    mask = (torch.rand(p, generator=g) > 0.4).float()
    out = project_orthogonal(torch.randn(p, generator=g), dirs, mask=mask)
    assert (out[mask == 0] == 0).all()
    assert (dirs.double() @ out.double()).abs().max() < 1e-4


def test_vector_in_span_projects_to_zero_and_orthogonal_is_kept():
    dirs = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    assert project_orthogonal(torch.tensor([3.0, -2.0, 0]), dirs).abs().max() < 1e-6
    assert torch.allclose(project_orthogonal(torch.tensor([0, 0, 5.0]), dirs), torch.tensor([0, 0, 5.0]))
    assert torch.allclose(project_orthogonal(torch.tensor([1.0, 2, 3]), None), torch.tensor([1.0, 2, 3]))
    assert max_abs_cosine(torch.tensor([1.0, 1, 0]), dirs) > 0.7


def test_projected_combiner_weights_and_projects():
    dirs = torch.tensor([[1.0, 0, 0, 0]])
    ups = [(torch.tensor([1.0, 1, 0, 0]), 1.0), (torch.tensor([3.0, 0, 2, 0]), 3.0)]
    out = COMBINERS.get("projected")().combine(ups, dirs)
    mean = (ups[0][0] + 3 * ups[1][0]) / 4
    assert torch.allclose(out.float(), torch.tensor([0.0, float(mean[1]), float(mean[2]), 0]))
    assert torch.allclose(COMBINERS.get("mean")().combine(ups, dirs).float(), mean)
