"""Plain SGD (momentum, weight decay) with the exact update of ``torch.optim.SGD``.

Why not ``torch.optim.SGD``: constructing the first ``torch.optim`` optimizer in a process
imports ``torch._dynamo`` and parts of inductor, 2.2 s on a 2-core CPU. A Ray actor pays
that once, but a deployed ClientApp starts a fresh process for every message, so every
``fit`` paid it (docs/performance.md). The update below is PyTorch's own (dampening 0, no
Nesterov), step for step, so models are bit-identical to those trained with it
(tests/perf/test_optim.py).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


class SGD:
    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.momentum, self.weight_decay = float(lr), float(momentum), float(weight_decay)
        self._buf: list[torch.Tensor | None] = [None] * len(self.params)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            d_p = p.grad if self.weight_decay == 0 else p.grad.add(p, alpha=self.weight_decay)
            if self.momentum != 0:
                buf = self._buf[i]
                if buf is None:
                    buf = self._buf[i] = torch.clone(d_p).detach()
                else:
                    buf.mul_(self.momentum).add_(d_p)
                d_p = buf
            p.add_(d_p, alpha=-self.lr)
