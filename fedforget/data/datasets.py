"""Sources of samples: scikit-learn's bundled digits (default, no download), synthetic
generators (vectors, images of any shape, token sequences: fedforget.data.synthetic),
local files (image folders, .npz, Parquet: fedforget.data.files) and Hugging Face
datasets through flwr-datasets (online users; image or text columns).

Every dataset is an :class:`ArrayData`: float32 features, int64 labels and a global
sample id that stays attached through splits and partitions, so forget sets are stable.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.config import DataConfig
from fedforget.data.arrays import ArrayData
from fedforget.data.files import IMAGE_COLUMNS, LABEL_COLUMNS, TEXT_COLUMNS, load_local_path
from fedforget.data.synthetic import hash_tokens, make_synthetic_images, make_synthetic_text
from fedforget.util.errors import DataError

log = logging.getLogger(__name__)


def load_digits_data() -> ArrayData:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]  # (n, 1, 8, 8) in [0, 1]
    y = d.target.astype(np.int64)
    return ArrayData(x, y, np.arange(len(y), dtype=np.int64), 10)


def make_synthetic(n: int, features: int, classes: int, seed: int) -> ArrayData:
    """Gaussian class blobs in [0, 1]^features: linearly separable-ish, fast to learn."""
    rng = np.random.default_rng(seed)
    centers = rng.uniform(0.2, 0.8, size=(classes, features))
    y = rng.integers(0, classes, size=n)
    x = centers[y] + rng.normal(0, 0.08, size=(n, features))
    x = np.clip(x, 0.0, 1.0).astype(np.float32)
    return ArrayData(x, y.astype(np.int64), np.arange(n, dtype=np.int64), classes)


def hf_to_arrays(ds: Any, max_samples: int = 0, text_length: int = 32, vocab_size: int = 1000) -> ArrayData:
    """Convert a Hugging Face ``datasets.Dataset`` of images (or texts, hashed into
    ``vocab_size`` token ids of ``text_length``) + labels to :class:`ArrayData`."""
    cols = list(ds.column_names)
    img_col = next((c for c in IMAGE_COLUMNS if c in cols), None)
    txt_col = next((c for c in TEXT_COLUMNS if c in cols), None)
    lab_col = next((c for c in LABEL_COLUMNS if c in cols), None)
    if (img_col is None and txt_col is None) or lab_col is None:
        raise DataError(
            f"Hugging Face dataset has columns {cols}; fedforget needs an image column "
            f"({'/'.join(IMAGE_COLUMNS)}) or a text column ({'/'.join(TEXT_COLUMNS)}) and a label column "
            f"({'/'.join(LABEL_COLUMNS)})"
        )
    if max_samples and len(ds) > max_samples:
        ds = ds.select(range(max_samples))
    if img_col is None:
        x = hash_tokens(list(ds[txt_col]), text_length, vocab_size)
    else:
        x = np.stack([np.asarray(im, dtype=np.float32) for im in ds[img_col]])
        if x.ndim == 3:  # (n, H, W) grey
            x = x[:, None]
        elif x.ndim == 4:  # (n, H, W, C)
            x = np.transpose(x, (0, 3, 1, 2))
        if x.max() > 1.0:
            x = x / 255.0
    y = np.asarray(ds[lab_col], dtype=np.int64)
    feat = ds.features.get(lab_col) if hasattr(ds, "features") else None
    num_classes = int(getattr(feat, "num_classes", 0) or (int(y.max()) + 1))
    return ArrayData(x.astype(np.float32), y, np.arange(len(y), dtype=np.int64), num_classes)


def load_hf(name: str, split: str, max_samples: int = 0, text_length: int = 32, vocab_size: int = 1000) -> ArrayData:
    """Load a Hugging Face dataset through flwr-datasets (needs internet), or a dataset
    saved locally with ``Dataset.save_to_disk`` when ``name`` is an existing folder."""
    if Path(name).is_dir():
        import datasets

        ds = datasets.load_from_disk(name)
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise DataError(f"local dataset {name!r} has splits {list(ds)}, not {split!r}; set data.hf_split")
            ds = ds[split]
        return hf_to_arrays(ds, max_samples, text_length, vocab_size)
    from flwr_datasets import FederatedDataset

    try:
        fds = FederatedDataset(dataset=name, partitioners={split: 1})
        ds = fds.load_split(split)
    except Exception as e:  # network, unknown id, ...
        raise DataError(
            f"could not load Hugging Face dataset {name!r} (split {split!r}) through flwr-datasets: {e}. "
            "Check the dataset id and your connection, or use data.name: digits for the embedded data."
        ) from e
    return hf_to_arrays(ds, max_samples, text_length, vocab_size)


def load_dataset(cfg: DataConfig, seed: int) -> ArrayData:
    if cfg.name == "digits":
        return load_digits_data()
    if cfg.name == "synthetic":
        return make_synthetic(cfg.synthetic_samples, cfg.synthetic_features, cfg.synthetic_classes, seed)
    if cfg.name == "synthetic_images":
        return make_synthetic_images(cfg.synthetic_samples, cfg.image_shape, cfg.synthetic_classes, seed)
    if cfg.name == "synthetic_text":
        return make_synthetic_text(cfg.synthetic_samples, cfg.text_length, cfg.vocab_size, cfg.synthetic_classes, seed)
    if cfg.name == "local":
        return load_local_path(cfg.path)
    return load_hf(cfg.hf_dataset, cfg.hf_split, cfg.hf_max_samples, cfg.text_length, cfg.vocab_size)


def stamp_trigger(x: np.ndarray, size: int, value: float) -> np.ndarray:
    """Return a copy of ``x`` with the backdoor trigger: a ``size`` x ``size`` square in the
    bottom-right corner of every image, or the last ``size`` features of a vector."""
    out = np.array(x, copy=True)
    if out.ndim == 4:
        out[:, :, -size:, -size:] = value
    elif out.ndim == 2:
        out[:, -size:] = value
    else:
        raise DataError(f"cannot stamp a trigger on inputs of shape {x.shape[1:]}")
    return out
