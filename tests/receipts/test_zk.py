"""Zero-knowledge evidence with ezkl (the ``zk`` extra): a proof for the quickstart-size MLP
(64-128-10) on a few committed samples verifies; against another model it does not."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from fedforget.config import ModelConfig
from fedforget.deletion.receipts import zk
from fedforget.models import build_model
from fedforget.util.hashing import model_hash
from fedforget.util.io import atomic_save_npz
from fedforget.util.params import get_arrays

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not zk.available(), reason="ezkl/onnx are not installed (pip install 'fedforget[zk]')"),
]


def test_quickstart_mlp_proof_verifies_and_binds_the_model(tmp_path):
    cfg = ModelConfig(name="mlp", hidden=128)
    published = get_arrays(build_model(cfg, (1, 8, 8), 10, seed=1))
    other = get_arrays(build_model(cfg, (1, 8, 8), 10, seed=2))
    x = np.random.default_rng(0).random((2, 1, 8, 8)).astype(np.float32)
    bundle = tmp_path / "r0.zk"
    t = zk.prove(zk.model_spec(cfg, (1, 8, 8), 10, 2), published, x, bundle)
    assert t["setup"] > 0 and t["prove"] > 0

    body = {"model_hash_after": model_hash(published)}
    checks = zk.verify_bundle(bundle, body)
    assert all(ok for _, ok, _ in checks), checks
    assert {n for n, _, _ in checks} == {"zk.model", "zk.params", "zk.proof", "zk.claim"}
    # Only the device, holding the samples, links the proof's inputs to them.
    assert zk.check_inputs(bundle, x)[1] and not zk.check_inputs(bundle, x[::-1].copy())[1]

    # The receipt names another model (the published one was swapped in the bundle too):
    # the proof (its verification key, which commits to the parameters) is not about that model.
    swapped = tmp_path / "swapped.zk"
    shutil.copytree(bundle, swapped)
    atomic_save_npz(swapped / "model.npz", other)
    failed = {n: d for n, ok, d in zk.verify_bundle(swapped, {"model_hash_after": model_hash(other)}) if not ok}
    assert set(failed) == {"zk.params"} and "different model" in failed["zk.params"]

    # A client that overstates the forgetting (its claim differs from the proven outputs),
    # and a receipt that names another model than the bundle's.
    claim = json.loads((bundle / "claim.json").read_text())
    claim["mean_confidence"] = claim["mean_confidence"] / 2
    (bundle / "claim.json").write_text(json.dumps(claim))
    failed = {n for n, ok, _ in zk.verify_bundle(bundle, {"model_hash_after": model_hash(other)}) if not ok}
    assert failed == {"zk.model", "zk.claim"}
