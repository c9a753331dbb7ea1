"""Partitioning (flwr-datasets) and forget-set construction."""

from __future__ import annotations

import numpy as np
import pytest

from fedforget.config import DeletionRequest, PartitionConfig
from fedforget.data import build_federated_data, build_forget_sets, partition_ids, stamp_trigger
from fedforget.data.datasets import hf_to_arrays, load_digits_data, load_hf
from fedforget.util.errors import DataError
from tests.conftest import tiny_config


@pytest.fixture(scope="module")
def digits():
    return load_digits_data()


@pytest.mark.parametrize("scheme", ["iid", "dirichlet", "pathological"])
def test_partitions_are_disjoint_cover_and_deterministic(digits, scheme):
    cfg = PartitionConfig(num_clients=6, scheme=scheme, alpha=0.5, classes_per_client=2)
    parts = partition_ids(digits.ids, digits.y, cfg, seed=3)
    allids = np.concatenate(parts)
    assert len(parts) == 6 and all(len(p) > 0 for p in parts)
    assert len(np.unique(allids)) == len(allids)  # disjoint
    if scheme != "pathological":  # pathological drops nothing either, but may leave classes unassigned
        assert set(allids) == set(digits.ids.tolist())
    again = partition_ids(digits.ids, digits.y, cfg, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    other = partition_ids(digits.ids, digits.y, cfg, seed=4)
    if scheme != "pathological":
        assert not all(np.array_equal(a, b) for a, b in zip(parts, other, strict=True))
    if scheme == "pathological":
        for p in parts:
            assert len(np.unique(digits.y[p])) <= 2


def test_dirichlet_small_alpha_is_skewed(digits):
    parts = partition_ids(digits.ids, digits.y, PartitionConfig(num_clients=5, scheme="dirichlet", alpha=0.1), 0)
    iid = partition_ids(digits.ids, digits.y, PartitionConfig(num_clients=5, scheme="iid"), 0)

    def skew(ps):
        return np.mean([np.bincount(digits.y[p], minlength=10).max() / len(p) for p in ps])

    assert skew(parts) > skew(iid) + 0.15


def test_partition_errors(digits):
    with pytest.raises(DataError, match="cannot be split"):
        partition_ids(digits.ids[:3], digits.y[:3], PartitionConfig(num_clients=5), 0)
    with pytest.raises(DataError, match="classes_per_client"):
        partition_ids(digits.ids, digits.y, PartitionConfig(num_clients=3, scheme="pathological", classes_per_client=11), 0)


def test_forget_sets_for_each_granularity():
    parts = [np.array([0, 1, 2, 3]), np.array([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]), np.array([14, 15])]
    labels = {i: i % 3 for i in range(16)}
    f = build_forget_sets((DeletionRequest("client", client=0),), parts, labels, 0)
    assert f[0].tolist() == [0, 1, 2, 3] and len(f[1]) == 0 and len(f[2]) == 0
    f = build_forget_sets((DeletionRequest("class", label=2),), parts, labels, 0)
    assert all(labels[int(i)] == 2 for c in f for i in c)
    assert sum(len(c) for c in f) == sum(1 for i in range(16) if i % 3 == 2)
    f = build_forget_sets((DeletionRequest("samples", client=1, fraction=0.3),), parts, labels, 0)
    assert len(f[1]) == 3 and set(f[1]) <= set(parts[1])
    assert np.array_equal(f[1], build_forget_sets((DeletionRequest("samples", client=1, fraction=0.3),), parts, labels, 0)[1])
    f = build_forget_sets((DeletionRequest("samples", client=1, ids=(5, 9)),), parts, labels, 0)
    assert f[1].tolist() == [5, 9]
    # several requests from several clients combine
    f = build_forget_sets(
        (DeletionRequest("samples", client=1, ids=(5,)), DeletionRequest("client", client=2), DeletionRequest("class", label=0)),
        parts, labels, 0,
    )
    assert f[2].tolist() == [14, 15] and 5 in f[1] and 0 in f[0] and 3 in f[0]


def test_forget_ids_must_belong_to_the_client():
    parts = [np.array([0, 1]), np.array([2, 3])]
    with pytest.raises(DataError, match="not held by client 0"):
        build_forget_sets((DeletionRequest("samples", client=0, ids=(3,)),), parts, {i: 0 for i in range(4)}, 0)
    with pytest.raises(DataError, match="no client holds samples of class 5"):
        build_forget_sets((DeletionRequest("class", label=5),), parts, {i: 0 for i in range(4)}, 0)


def test_federated_data_splits_and_backdoor():
    cfg = tiny_config()
    fd = build_federated_data(cfg)
    train_ids = set(fd.train.ids.tolist())
    assert not train_ids & set(fd.test.ids.tolist()) and not train_ids & set(fd.nonmember.ids.tolist())
    assert fd.forget[1].tolist() == fd.partitions[1].tolist()  # client 1 deletes everything
    assert set(fd.poisoned) <= set(fd.forget[1]) and len(fd.poisoned) == round(0.5 * len(fd.forget[1]))
    poisoned = fd.train.select_ids(fd.poisoned)
    assert (poisoned.y == 0).all() and (poisoned.x[:, -3:] == 1.0).all()
    bt = fd.backdoor_test()
    assert bt is not None and (bt.y != 0).all() and (bt.x[:, -3:] == 1.0).all()
    # no backdoor: labels untouched
    clean = build_federated_data(tiny_config("deletion.backdoor.enabled=false"))
    assert len(clean.poisoned) == 0 and clean.backdoor_test() is None


def test_stamp_trigger_images():
    x = np.zeros((2, 1, 8, 8), dtype=np.float32)
    out = stamp_trigger(x, 3, 1.0)
    assert out[:, :, -3:, -3:].min() == 1.0 and out.sum() == 2 * 9 and x.sum() == 0


def test_huggingface_loader_on_local_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    rng = np.random.default_rng(0)
    imgs = [Image.fromarray(rng.integers(0, 255, (6, 6), dtype=np.uint8)) for _ in range(12)]
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=3)})
    ds = datasets.Dataset.from_dict({"image": imgs, "label": [i % 3 for i in range(12)]}, features=feats)
    arr = hf_to_arrays(ds)
    assert arr.x.shape == (12, 1, 6, 6) and arr.x.max() <= 1.0 and arr.num_classes == 3
    ds.save_to_disk(str(tmp_path / "tinyhf"))
    loaded = load_hf(str(tmp_path / "tinyhf"), "train", max_samples=10)
    assert len(loaded) == 10 and np.allclose(loaded.x, arr.x[:10])
    text = hf_to_arrays(datasets.Dataset.from_dict({"text": ["a b", "c"], "label": [0, 1]}), text_length=4)
    assert text.x.shape == (2, 4)  # text columns are hashed into token ids (issue 10)
    bad = datasets.Dataset.from_dict({"notes": ["a"], "label": [0]})
    with pytest.raises(DataError, match="image column"):
        hf_to_arrays(bad)
