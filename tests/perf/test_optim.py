"""fedforget.training.optim.SGD is torch.optim.SGD, bit for bit (it exists only to skip the 2 s
import torch.optim's first optimizer costs a fresh client process)."""

import pytest
import torch

from fedforget.training.optim import SGD


def _train(opt_cls, momentum: float, wd: float) -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 3))
    opt = opt_cls(model.parameters(), lr=0.07, momentum=momentum, weight_decay=wd)
    gen = torch.Generator().manual_seed(1)
    for _ in range(6):
        x, y = torch.randn(8, 5, generator=gen), torch.randint(0, 3, (8,), generator=gen)
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("momentum,wd", [(0.0, 0.0), (0.9, 0.0), (0.9, 1e-3), (0.5, 0.01)])
def test_same_weights_as_torch_sgd(momentum: float, wd: float) -> None:
    ours = _train(SGD, momentum, wd)
    ref = _train(torch.optim.SGD, momentum, wd)
    for a, b in zip(ours, ref, strict=True):
        assert torch.equal(a, b)
