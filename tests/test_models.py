"""The model registry: every registered model builds, is seeded, takes its inputs and is
compressible (quantized weights on their grid, pruned weights zero, norm layers untouched);
``package.module:factory`` loads a user's model, with clear errors when it cannot."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from fedforget.compression import compress_
from fedforget.config import CompressionConfig, ModelConfig, QuantizationConfig, SparsityConfig
from fedforget.models import MODELS, build_model
from fedforget.util.errors import ConfigError, DataError
from fedforget.util.params import get_arrays
from tests.conftest import tiny_config

# A small input per model (the shapes the research configs use, shrunk).
SHAPES = {
    "mlp": (1, 8, 8), "cnn": (1, 8, 8), "lenet5": (1, 16, 16), "resnet18": (3, 16, 16), "text_transformer": (12,),
}
OPTIONS = {"resnet18": {"width": 8}, "text_transformer": {"vocab_size": 50, "embed_dim": 16, "heads": 2}}


def _input(name: str, n: int = 3) -> torch.Tensor:
    shape = SHAPES[name]
    if name == "text_transformer":
        return torch.randint(1, 50, (n, *shape), generator=torch.Generator().manual_seed(0)).float()
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(0))


def test_every_registered_model_has_a_test_shape() -> None:
    assert set(MODELS.names()) == set(SHAPES)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_builds_seeded_and_predicts(name: str) -> None:
    cfg = ModelConfig(name=name, **OPTIONS.get(name, {}))
    a, b = build_model(cfg, SHAPES[name], 5, seed=3), build_model(cfg, SHAPES[name], 5, seed=3)
    c = build_model(cfg, SHAPES[name], 5, seed=4)
    wa, wb, wc = get_arrays(a), get_arrays(b), get_arrays(c)
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert any(not np.array_equal(wa[k], wc[k]) for k in wa if wa[k].dtype.kind == "f")
    assert a(_input(name)).shape == (3, 5)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_compression_quantizes_and_prunes_conv_and_linear_not_norms(name: str) -> None:
    model = build_model(ModelConfig(name=name, **OPTIONS.get(name, {})), SHAPES[name], 5, seed=0)
    kinds = (nn.Linear, nn.Conv2d)
    layers = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, kinds)}
    norms = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.GroupNorm | nn.LayerNorm)}
    compress_(model, CompressionConfig(quantization=QuantizationConfig(bits=4), sparsity=SparsityConfig(target=0.5, scope="layerwise")))
    deployed = dict(model.state_dict())
    assert model(_input(name)).shape == (3, 5)
    for name_w in layers:
        w = model.get_submodule(name_w.rsplit(".", 1)[0]).weight  # parametrized: the deployed weight
        assert float((w == 0).float().mean()) >= 0.3, f"{name_w} is not pruned"
        scale = w.abs().amax(dim=tuple(range(1, w.dim())), keepdim=True) / 7
        grid = torch.where(scale > 0, w / scale, torch.zeros_like(w))
        assert torch.allclose(grid, grid.round(), atol=1e-3), f"{name_w} is off its 4-bit grid"
    for n in norms:  # norm layers: neither parametrized nor pruned
        assert n in deployed and bool((deployed[n] != 0).all())
    if name in ("cnn", "lenet5", "resnet18"):
        assert any("conv" in n or "features" in n or "stem" in n for n in layers)


def test_mlp_depth_from_a_list() -> None:
    m = build_model(ModelConfig(name="mlp", hidden=(40, 30, 20)), (6,), 3, seed=0)
    assert [x.out_features for x in m.modules() if isinstance(x, nn.Linear)] == [40, 30, 20, 3]
    assert tiny_config("model.hidden=[16, 8]").model.hidden == (16, 8)
    with pytest.raises(ConfigError, match="model.hidden must be an int > 0 or a list of ints > 0"):
        tiny_config("model.hidden=[16, 0]")


@pytest.mark.parametrize("norm, layer", [("group", nn.GroupNorm), ("batch", nn.BatchNorm2d), ("none", None)])
def test_resnet18_norm_choice(norm: str, layer: type | None) -> None:
    m = build_model(ModelConfig(name="resnet18", width=8, norm=norm), (3, 16, 16), 4, seed=0)
    found = {type(x) for x in m.modules()} & {nn.GroupNorm, nn.BatchNorm2d}
    assert found == ({layer} if layer else set())
    assert m(torch.rand(2, 3, 16, 16)).shape == (2, 4)


def test_resnet18_full_size_is_the_cifar_variant() -> None:
    m = build_model(ModelConfig(name="resnet18"), (3, 32, 32), 10, seed=0)
    assert sum(p.numel() for p in m.parameters()) == pytest.approx(11.17e6, rel=0.01)  # ResNet-18, 10 classes
    assert m.stem[0].kernel_size == (3, 3) and m.stem[0].stride == (1, 1)
    assert not any(isinstance(x, nn.MaxPool2d) for x in m.modules())


@pytest.mark.parametrize("over, fragment", [
    ("model.name=transformer", "model.name must be one of cnn, lenet5, mlp, resnet18, text_transformer"),
    ("model.name=nosuchpkg.mod:make", "cannot import module 'nosuchpkg.mod'"),
    ("model.name=tests.usermods.models:missing", "has no callable 'missing'"),
    ("model.name=tests.usermods.models:wrong_arity", "must take (input_shape, num_classes)"),
])
def test_bad_model_names_fail_early(over: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as e:
        tiny_config(over)
    assert fragment in str(e.value), str(e.value)


def test_user_factory_is_built_and_checked() -> None:
    cfg = tiny_config("model.name=tests.usermods.models:tiny_net")
    m = build_model(cfg.model, (16,), 4, seed=0)
    assert type(m).__name__ == "TinyNet" and m(torch.rand(2, 16)).shape == (2, 4)
    bad = tiny_config("model.name=tests.usermods.models:not_a_module")
    with pytest.raises(ConfigError, match="returned dict, not a torch.nn.Module"):
        build_model(bad.model, (16,), 4, seed=0)
    assert "tests.usermods.models" in sys.modules


def test_shape_mismatch_and_token_range_are_clear() -> None:
    with pytest.raises(ConfigError, match="needs image inputs"):
        build_model(ModelConfig(name="lenet5"), (16,), 4, seed=0)
    with pytest.raises(ConfigError, match="needs token sequences"):
        build_model(ModelConfig(name="text_transformer"), (1, 8, 8), 4, seed=0)
    with pytest.raises(ConfigError, match="norm_groups must divide model.width"):
        build_model(ModelConfig(name="resnet18", width=6, norm_groups=4), (3, 16, 16), 4, seed=0)
    m = build_model(ModelConfig(name="text_transformer", vocab_size=10, embed_dim=8, heads=2), (5,), 3, seed=0)
    with pytest.raises(DataError, match="token ids must lie in"):
        m(torch.full((1, 5), 12.0))
