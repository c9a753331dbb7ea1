"""Per-dataset normalisation (``data.normalize``, ``data.mean`` / ``data.std``): features
become ``(x - mean) / std`` per channel (axis 1: image channels, or vector features).
``standard`` fits mean/std on the training pool only (held-out data never leaks into
them); given ``mean``/``std`` (e.g. CIFAR-10's published values) are used as they are.
The same transform is applied to the training pool, the test set and the non-member pool."""

from __future__ import annotations

import numpy as np

from fedforget.config import DataConfig
from fedforget.data.arrays import ArrayData
from fedforget.util.errors import ConfigError


def _apply(d: ArrayData, mean: np.ndarray, std: np.ndarray) -> ArrayData:
    shape = (1, -1) + (1,) * (d.x.ndim - 2)
    x = ((d.x - mean.reshape(shape)) / std.reshape(shape)).astype(np.float32)
    return ArrayData(x, d.y, d.ids, d.num_classes)


def channel_stats(d: ArrayData) -> tuple[np.ndarray, np.ndarray]:
    axes = (0,) + tuple(range(2, d.x.ndim))
    mean = d.x.mean(axis=axes, dtype=np.float64)
    std = d.x.std(axis=axes, dtype=np.float64)
    return mean, np.where(std > 1e-8, std, 1.0)


def normalize_splits(cfg: DataConfig, *splits: ArrayData) -> tuple[ArrayData, ...]:
    """Normalise ``splits`` (the first is the training pool); unchanged when off."""
    if cfg.normalize == "none" and not cfg.mean:
        return splits
    if cfg.name == "synthetic_text":
        raise ConfigError("data.normalize/mean/std must be off for token data (data.name 'synthetic_text')")
    channels = splits[0].x.shape[1]
    if cfg.mean:
        if len(cfg.mean) != channels:
            raise ConfigError(f"data.mean/data.std need one value per channel ({channels}), got {len(cfg.mean)}")
        mean, std = np.asarray(cfg.mean, np.float64), np.asarray(cfg.std, np.float64)
    else:
        mean, std = channel_stats(splits[0])
    return tuple(_apply(s, mean, std) for s in splits)
