"""Explicit randomness: one root seed derives every per-phase, per-round, per-client seed.

Library code never reseeds global generators; it builds local ``torch.Generator`` /
``numpy.random.Generator`` objects from derived seeds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def derive_seed(root: int, *keys: object) -> int:
    """A stable 63-bit seed from a root seed and any path of keys."""
    h = hashlib.blake2b(repr((int(root),) + tuple(keys)).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little") & ((1 << 63) - 1)


def np_rng(root: int, *keys: object) -> np.random.Generator:
    return np.random.default_rng(derive_seed(root, *keys))


def torch_gen(root: int, *keys: object) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(derive_seed(root, *keys))
    return g


@contextmanager
def torch_seeded(seed: int) -> Iterator[None]:
    """Run a block (e.g. model construction) under a seed without touching global state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
