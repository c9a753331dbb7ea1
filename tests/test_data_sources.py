"""Data beyond digits: synthetic images of any shape, synthetic token sequences, local
files (image folder, .npz, Parquet) validated on read, and per-dataset normalisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fedforget.config import DataConfig
from fedforget.data.datasets import hf_to_arrays, load_dataset
from fedforget.data.federation import build_federated_data
from fedforget.data.files import load_local_path
from fedforget.data.normalize import normalize_splits
from fedforget.data.synthetic import hash_tokens
from fedforget.util.errors import ConfigError, DataError
from tests.conftest import tiny_config


def test_synthetic_images_any_shape_and_deterministic() -> None:
    cfg = DataConfig(name="synthetic_images", image_shape=(3, 32, 32), synthetic_classes=10, synthetic_samples=200)
    a, b = load_dataset(cfg, 1), load_dataset(cfg, 1)
    assert a.x.shape == (200, 3, 32, 32) and a.x.dtype == np.float32 and a.num_classes == 10
    assert np.array_equal(a.x, b.x) and 0.0 <= a.x.min() and a.x.max() <= 1.0
    # class structure: the per-class means differ far more than the noise of a mean
    means = np.stack([a.x[a.y == k].mean(0) for k in range(3)])
    assert np.abs(means[0] - means[1]).mean() > 0.1


def test_synthetic_text_tokens() -> None:
    d = load_dataset(DataConfig(name="synthetic_text", text_length=20, vocab_size=50, synthetic_samples=100), 0)
    assert d.x.shape == (100, 20) and d.x.min() >= 0 and d.x.max() < 50
    assert np.array_equal(d.x, np.round(d.x)) and (d.x[:, 0] > 0).all()  # ids, never an empty text
    toks = hash_tokens(["The cat sat", "the CAT"], 4, 50)
    assert toks[0, 0] == toks[1, 0] and toks[0, 1] == toks[1, 1] and toks[1, 2] == 0


def test_hf_text_column_is_hashed() -> None:
    class Fake:  # the two things hf_to_arrays uses of a datasets.Dataset
        column_names = ["text", "label"]
        features: dict = {}

        def __len__(self) -> int:
            return 3

        def __getitem__(self, col: str) -> list:
            return {"text": ["good film", "bad film", "good"], "label": [1, 0, 1]}[col]

    d = hf_to_arrays(Fake(), text_length=5, vocab_size=32)
    assert d.x.shape == (3, 5) and d.num_classes == 2 and d.x[0, 0] == d.x[2, 0]


def _write_images(root: Path, mode: str = "RGB", size: tuple[int, int] = (6, 5)) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            arr = rng.integers(0, 255, size=(size[1], size[0], 3) if mode == "RGB" else size[::-1], dtype=np.uint8)
            Image.fromarray(arr, mode=mode).save(root / c / f"{i}.png")


def test_image_folder(tmp_path: Path) -> None:
    _write_images(tmp_path / "imgs")
    d = load_local_path(str(tmp_path / "imgs"))
    assert d.x.shape == (6, 3, 5, 6) and d.num_classes == 2 and list(d.y) == [0, 0, 0, 1, 1, 1]
    assert 0.0 <= d.x.min() and d.x.max() <= 1.0
    from PIL import Image

    Image.fromarray(np.zeros((7, 7, 3), np.uint8)).save(tmp_path / "imgs" / "dog" / "big.png")
    with pytest.raises(DataError, match="same size; dog/big.png"):
        load_local_path(str(tmp_path / "imgs"))


def test_npz_and_device_folder(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((10, 4)).astype(np.float32)
    y = np.arange(10) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    d = load_local_path(str(tmp_path / "d.npz"))
    assert d.num_classes == 3 and np.array_equal(d.x, x) and list(d.ids) == list(range(10))
    from fedforget.data.local import save_local_data

    save_local_data(tmp_path / "dev", d)  # the deployed-device format reads back the same
    again = load_local_path(str(tmp_path / "dev"))
    assert np.array_equal(again.x, d.x) and np.array_equal(again.ids, d.ids)


@pytest.mark.parametrize("arrays, fragment", [
    ({"x": np.array([[0.0, np.nan]] * 4), "y": np.array([0, 1, 0, 1])}, "finite numbers"),
    ({"x": np.array([0.0, 1.0, 2.0, 3.0]), "y": np.array([0, 1, 0, 1])}, "at least 2 dimensions"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 1, 2.7, 1])}, "labels y must be integers"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 1, 5, 1]), "num_classes": 3}, "labels must lie in [0, 2]"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 1, 0, 1]), "ids": np.array([1, 1, 2, 3])}, "ids must be unique"),
    ({"x": np.zeros((4, 2))}, "lacks arrays ['y']"),
])
def test_npz_is_validated_naming_the_file(tmp_path: Path, arrays: dict, fragment: str) -> None:
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError) as e:
        load_local_path(str(tmp_path / "bad.npz"))
    assert fragment in str(e.value) and "bad.npz" in str(e.value), str(e.value)


def test_parquet_features_lists_and_images(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import io

    import pyarrow.parquet as pq
    from PIL import Image

    pq.write_table(pa.table({"f1": [0.1, 0.2, 0.3], "f2": [1.0, 2.0, 3.0], "label": [0, 1, 1]}), tmp_path / "a.parquet")
    d = load_local_path(str(tmp_path / "a.parquet"))
    assert d.x.shape == (3, 2) and list(d.y) == [0, 1, 1]
    pq.write_table(pa.table({"x": [[1.0, 2.0], [3.0, 4.0]], "labels": [1, 0], "id": [7, 9]}), tmp_path / "b.parquet")
    d = load_local_path(str(tmp_path / "b.parquet"))
    assert d.x.shape == (2, 2) and list(d.ids) == [7, 9]
    pngs = []
    for v in (0, 255):
        buf = io.BytesIO()
        Image.fromarray(np.full((4, 4), v, np.uint8), mode="L").save(buf, format="PNG")
        pngs.append({"bytes": buf.getvalue(), "path": None})
    pq.write_table(pa.table({"image": pngs, "label": [0, 1]}), tmp_path / "c.parquet")
    d = load_local_path(str(tmp_path / "c.parquet"))
    assert d.x.shape == (2, 1, 4, 4) and d.x[1].min() == 1.0
    pq.write_table(pa.table({"f": [1.0], "colour": ["red"]}), tmp_path / "bad.parquet")
    with pytest.raises(DataError, match="no label column"):
        load_local_path(str(tmp_path / "bad.parquet"))


def test_local_data_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data.path must name"):
        tiny_config("data.name=local")
    with pytest.raises(DataError, match="does not exist"):
        load_local_path(str(tmp_path / "nope"))


def test_normalisation_is_fitted_on_train_only() -> None:
    base = ("data.name=synthetic_images", "data.image_shape=[2,6,6]", "model.name=cnn", "deletion.backdoor.enabled=false")
    fd = build_federated_data(tiny_config(*base, "data.normalize=standard"))
    axes = (0, 2, 3)
    assert np.allclose(fd.train.x.mean(axis=axes), 0, atol=1e-4) and np.allclose(fd.train.x.std(axis=axes), 1, atol=1e-3)
    raw = build_federated_data(tiny_config(*base))
    mean = raw.train.x.mean(axis=axes, dtype=np.float64)
    std = raw.train.x.std(axis=axes, dtype=np.float64)
    expect = (raw.test.x - mean.reshape(1, -1, 1, 1)) / std.reshape(1, -1, 1, 1)
    assert np.allclose(fd.test.x, expect, atol=1e-5)  # test normalised with the training pool's stats


def test_given_mean_std_and_errors() -> None:
    d = load_dataset(DataConfig(name="synthetic_images", image_shape=(3, 4, 4), synthetic_samples=20), 0)
    (n,) = normalize_splits(DataConfig(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)), d)
    assert np.allclose(n.x, (d.x - 0.5) / 0.25, atol=1e-6)
    with pytest.raises(ConfigError, match="one value per channel"):
        normalize_splits(DataConfig(mean=(0.5,), std=(0.2,)), d)
    with pytest.raises(ConfigError, match="data.mean and data.std"):
        tiny_config("data.mean=[0.5]")
