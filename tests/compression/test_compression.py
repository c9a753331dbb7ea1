"""Compressed clients (issue 3): grid, masks, orthogonality after masking, wire bytes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from fedforget.compression import (
    MASK_PREFIX,
    QuantConfig,
    QuantSpec,
    SparseConfig,
    compress_,
    compressor_for,
    fake_quantize,
    grid_error,
    target_at,
)
from fedforget.compression.codec import decode, encode, pack_bits, unpack_bits
from fedforget.config import SparsityConfig
from fedforget.data.datasets import make_synthetic
from fedforget.models import MLP
from fedforget.runtime import run_experiment
from fedforget.training.local import local_sgd
from fedforget.unlearning.combiners import COMBINERS
from fedforget.util.errors import ConfigError
from fedforget.util.io import load_npz
from tests.conftest import tiny_config

FAST = ("deletion.backdoor.enabled=false", "evaluation.retrain=false", "evaluation.every_round=false")


def _run(tmp_path, *overrides):
    cfg = tiny_config(*FAST, *overrides)
    out = tmp_path / "run"
    res = run_experiment(cfg, out, write_report=False)
    ck = {ph: load_npz(out / "checkpoints" / f"{ph}.npz") for ph in ("train", "unlearn", "recover")}
    return cfg, res, ck, out


# ------------------------------------------------------------------ quantization


@pytest.mark.parametrize("bits,gran,sym", [(8, "per_channel", True), (4, "per_channel", True), (2, "per_tensor", False)])
def test_fake_quantize_is_on_grid_and_idempotent(bits, gran, sym):
    spec = QuantSpec(bits, gran == "per_channel", sym)
    w = torch.randn(12, 9, generator=torch.Generator().manual_seed(bits))
    q = fake_quantize(w, spec)
    assert grid_error(q, spec) < 1e-4
    assert torch.allclose(fake_quantize(q, spec), q, atol=1e-6)
    assert len(torch.unique(q[0] if spec.per_channel else q)) <= 2**bits


def test_compress_quant_uses_ste_and_deploys_on_grid():
    model = MLP(16, 32, 4)
    compress_(model, QuantConfig(bits=4))  # torchao style, in place
    data = make_synthetic(200, 16, 4, seed=0)
    latent_before = model.net[1].parametrizations.weight.original.detach().clone()
    local_sgd(model, data, lr=0.1, batch_size=32, gen=torch.Generator().manual_seed(0), max_steps=5)
    latent_after = model.net[1].parametrizations.weight.original.detach()
    assert not torch.equal(latent_before, latent_after)  # gradients reach the latent weights (STE)
    spec = QuantSpec(4)
    assert grid_error(model.net[1].weight.detach(), spec) < 1e-4  # deployed weight on the 4-bit grid
    assert grid_error(latent_after, spec) > 1e-3  # ...while the latent one is a float


@pytest.mark.parametrize("method,overrides", [
    ("qmul", ("compression.quantization.bits=4",)),
    ("oeu", ("compression.quantization.bits=2", "compression.quantization.granularity=per_tensor",
             "compression.quantization.symmetric=false")),
])
def test_quantized_weights_on_grid_after_every_phase(tmp_path, method, overrides):
    cfg, res, ck, _ = _run(tmp_path, f"unlearning.method={method}", *overrides)
    comp = compressor_for(cfg, (16,), 4)
    assert comp.specs, "no tensor selected for quantization"
    for phase, arrays in ck.items():
        for name, spec in comp.specs.items():
            err = grid_error(torch.from_numpy(arrays[name]), spec)
            assert err < 1e-3, f"{name} off its {spec.bits}-bit grid after {phase} (error {err:.3g} steps)"
    assert res["models"]["unlearned"]["test_acc"] is not None


# ------------------------------------------------------------------ sparsity


def test_pruned_weights_stay_zero_through_every_phase(tmp_path):
    cfg, res, ck, _ = _run(tmp_path, "unlearning.method=sau", "compression.sparsity.target=0.5",
                           "unlearning.recovery_rounds=2")
    masks = {ph: {k: v for k, v in a.items() if k.startswith(MASK_PREFIX)} for ph, a in ck.items()}
    assert masks["train"], "no masks travelled with the global model"
    for ph, arrays in ck.items():
        assert masks[ph].keys() == masks["train"].keys()
        for key, m in masks[ph].items():
            np.testing.assert_array_equal(m, masks["train"][key])  # the mask persists
            w = arrays[key[len(MASK_PREFIX):]]
            assert np.all(w[~m] == 0.0), f"pruned weight nonzero after {ph}"
    kept = sum(int(m.sum()) for m in masks["train"].values())
    total = sum(m.size for m in masks["train"].values())
    assert abs(1 - kept / total - 0.5) < 0.01


def test_sparse_and_quantized_client_model_keeps_mask_and_grid():
    model = MLP(16, 32, 4)
    w = model.net[1].weight.detach()
    mask = w.abs() > w.abs().median()
    compress_(model, tiny_config("compression.quantization.bits=4", "compression.sparsity.target=0.5").compression,
              masks={"net.1.weight": mask.numpy()})
    data = make_synthetic(200, 16, 4, seed=1)
    local_sgd(model, data, lr=0.5, batch_size=32, gen=torch.Generator().manual_seed(0), max_steps=10, momentum=0.9)
    deployed = model.net[1].weight.detach()
    assert torch.all(deployed[~mask] == 0)
    assert grid_error(deployed, QuantSpec(4)) < 1e-4


@pytest.mark.parametrize("structure,scope", [("unstructured", "global"), ("unstructured", "layerwise"), ("channels", "global")])
def test_masks_only_grow_and_reach_target(structure, scope):
    sc = SparsityConfig(target=0.8, structure=structure, scope=scope, schedule="gradual", start_round=0, end_round=3)
    model = MLP(16, 32, 4)
    compress_(model, sc, masks=None)  # one-shot at the target (torch.nn.utils.prune)
    from fedforget.compression import compute_masks

    model = MLP(16, 32, 4)
    names = ["net.1.weight"] if structure == "channels" else ["net.1.weight", "net.3.weight"]
    prev, levels = None, []
    for r in range(4):
        m = compute_masks(model, names, target_at(sc, r, 8), sc, prev)
        if prev is not None:
            for n in names:
                assert not torch.any(m[n] & ~prev[n]), "a pruned weight came back"
        prev = m
        levels.append(1 - sum(int(v.sum()) for v in m.values()) / sum(v.numel() for v in m.values()))
    assert levels == sorted(levels) and abs(levels[-1] - 0.8) < 0.02
    if structure == "channels":
        rows = prev["net.1.weight"].all(1) | (~prev["net.1.weight"]).all(1)
        assert bool(rows.all()), "structured pruning must remove whole output channels"


# ------------------------------------------------------------------ projection after masking


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    p=st.integers(8, 60),
    k=st.integers(1, 6),
    keep=st.floats(0.2, 1.0),
)
def test_projected_update_masked_and_orthogonal_to_every_retain_direction(seed, p, k, keep):
    g = torch.Generator().manual_seed(seed)
    d = torch.randn(p, generator=g)
    dirs = torch.randn(k, p, generator=g)
    mask = (torch.rand(p, generator=g) < keep).float()
    mask[0] = 1.0
    out = COMBINERS.get("projected")().combine([(d, 1.0)], dirs, mask=mask)
    assert torch.all(out[mask == 0] == 0), "update touches a pruned weight"
    scale = d.norm() * dirs.norm(dim=1)
    # orthogonal (after masking) to every retain direction, relative to the magnitudes
    assert torch.all((dirs.double() @ out.double()).abs() <= 1e-9 * scale.double() + 1e-12)


# ------------------------------------------------------------------ wire format and bytes


@settings(max_examples=30, deadline=None)
@given(bits=st.sampled_from([2, 4, 8]), n=st.integers(0, 50), seed=st.integers(0, 1000))
def test_pack_bits_roundtrip(bits, n, seed):
    v = np.random.default_rng(seed).integers(0, 2**bits, size=n).astype(np.uint8)
    packed = pack_bits(v, bits)
    assert packed.nbytes == -(-n * bits // 8)
    np.testing.assert_array_equal(unpack_bits(packed, bits, n), v)


def test_codec_roundtrip_quantized_sparse():
    rng = np.random.default_rng(0)
    spec = QuantSpec(4, per_channel=True, symmetric=False)
    mask = rng.random((6, 7)) > 0.6
    w = fake_quantize(torch.from_numpy((rng.normal(size=(6, 7)) * mask).astype(np.float32)), spec).numpy()
    arrays = {"w": w, "b": rng.normal(size=6).astype(np.float32)}
    buf = encode(arrays, {"w": (6, 7), "b": (6,)}, {"w": spec}, {"w": mask})
    dec, masks = decode(buf, {"w": (6, 7), "b": (6,)}, {"w": spec})
    np.testing.assert_allclose(dec["w"], w, atol=1e-6)
    np.testing.assert_array_equal(dec["b"], arrays["b"])
    np.testing.assert_array_equal(masks["w"], mask)
    assert np.all(dec["w"][~mask] == 0)


BIG = ("data.synthetic_features=64", "model.hidden=128", "training.rounds=2", "unlearning.rounds=1",
       "unlearning.recovery_rounds=0", "partition.num_clients=3")


def _round_bytes(tmp_path, name, *overrides):
    import json

    cfg = tiny_config(*FAST, *BIG, *overrides)
    run_experiment(cfg, tmp_path / name, write_report=False)
    rows = [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    # the second training round: the model is pruned (one-shot after round 0) by then
    row = [r for r in rows if r["phase"] == "train" and r["round"] == 2][0]
    return row["bytes_down"] + row["bytes_up"]


def test_bytes_per_round_are_measured_and_small(tmp_path):
    fp32 = _round_bytes(tmp_path, "fp32")
    int8 = _round_bytes(tmp_path, "int8", "compression.quantization.bits=8")
    int4 = _round_bytes(tmp_path, "int4", "compression.quantization.bits=4")
    sp90 = _round_bytes(tmp_path, "sp90", "compression.sparsity.target=0.9")
    assert int8 <= 0.30 * fp32, (int8, fp32)
    assert int4 <= 0.16 * fp32, (int4, fp32)
    assert sp90 <= 0.25 * fp32, (sp90, fp32)


# ------------------------------------------------------------------ config


@pytest.mark.parametrize("override,field", [
    ("compression.quantization.bits=3", "compression.quantization.bits"),
    ("compression.quantization.granularity=rows", "compression.quantization.granularity"),
    ("compression.sparsity.target=1.0", "compression.sparsity.target"),
    ("compression.sparsity.structure=blocks", "compression.sparsity.structure"),
    ("compression.sparsity.colour=red", "compression.sparsity.colour"),
])
def test_bad_compression_config_fails_early(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        tiny_config(override)


def test_default_is_uncompressed():
    cfg = tiny_config()
    assert not cfg.compression.enabled
    comp = compressor_for(cfg, (16,), 4)
    arrays = {"x": np.ones(3, np.float32)}
    assert comp.postprocess(arrays, None, "train", 0) is arrays
    assert comp.encode(arrays) is arrays


def test_sparse_config_compress_prunes_one_shot():
    model = MLP(16, 32, 4)
    compress_(model, SparseConfig(target=0.75))
    w = torch.cat([model.net[1].weight.reshape(-1), model.net[3].weight.reshape(-1)])
    assert abs(float((w == 0).float().mean()) - 0.75) < 0.01
