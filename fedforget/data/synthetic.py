"""Offline synthetic datasets of any shape, so that image and text pipelines are tested
without a download:

* :func:`make_synthetic_images`: ``(n, C, H, W)`` images in [0, 1] (e.g. 3x32x32 with 10
  classes: CIFAR-10-shaped). Each class has a smooth random template (a 4x4 grid per
  channel, upsampled) and every sample is its template, a random brightness shift and
  pixel noise -- learnable by a CNN in a few rounds, not linearly trivial.
* :func:`make_synthetic_text`: ``(n, L)`` token ids in [1, V) with 0 as padding. Each class
  has its own keyword distribution mixed with shared filler words and a random length.
"""

from __future__ import annotations

import numpy as np

from fedforget.data.arrays import ArrayData


def make_synthetic_images(n: int, shape: tuple[int, ...], classes: int, seed: int) -> ArrayData:
    c, h, w = (int(s) for s in shape)
    rng = np.random.default_rng(seed)
    grid = rng.uniform(0.0, 1.0, size=(classes, c, 4, 4))
    rows = np.minimum((np.arange(h) * 4) // h, 3)
    cols = np.minimum((np.arange(w) * 4) // w, 3)
    templates = grid[:, :, rows][:, :, :, cols]  # (classes, C, H, W), nearest upsampling
    y = rng.integers(0, classes, size=n)
    x = np.empty((n, c, h, w), dtype=np.float32)
    for s in range(0, n, 1024):  # in chunks: bounded float64 temporaries
        yy = y[s : s + 1024]
        shift = rng.normal(0.0, 0.1, size=(len(yy), 1, 1, 1))
        noise = rng.normal(0.0, 0.12, size=(len(yy), c, h, w))
        x[s : s + 1024] = np.clip(0.8 * templates[yy] + 0.1 + shift + noise, 0.0, 1.0)
    return ArrayData(x, y.astype(np.int64), np.arange(n, dtype=np.int64), classes)


def make_synthetic_text(n: int, length: int, vocab: int, classes: int, seed: int) -> ArrayData:
    rng = np.random.default_rng(seed)
    words = np.arange(1, vocab)
    k = max(2, min(16, (vocab - 1) // (2 * classes)))  # a few keywords per class: learnable in a few rounds
    keywords = [rng.choice(words, size=k, replace=False) for _ in range(classes)]
    y = rng.integers(0, classes, size=n)
    x = np.zeros((n, length), dtype=np.float32)
    lengths = rng.integers(max(1, length // 2), length + 1, size=n)
    for i in range(n):
        k = int(lengths[i])
        topical = rng.random(k) < 0.3
        toks = rng.choice(words, size=k)
        toks[topical] = rng.choice(keywords[y[i]], size=int(topical.sum()))
        x[i, :k] = toks
    return ArrayData(x, y.astype(np.int64), np.arange(n, dtype=np.int64), classes)


def hash_tokens(texts: list[str], length: int, vocab: int) -> np.ndarray:
    """Texts -> ``(n, length)`` token ids: lower-cased words hashed (crc32) into
    [1, vocab), truncated or padded with 0. No tokenizer download; collisions are the price."""
    import re
    import zlib

    out = np.zeros((len(texts), length), dtype=np.float32)
    for i, t in enumerate(texts):
        toks = [1 + zlib.crc32(w.encode()) % (vocab - 1) for w in re.findall(r"[a-z0-9']+", str(t).lower())[:length]]
        out[i, : len(toks)] = toks
    return out
