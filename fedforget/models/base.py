"""The model registry and :func:`build_model`.

Every model lives in its own file and registers a factory
``(cfg: ModelConfig, input_shape, num_classes) -> nn.Module``::

    @register_model("lenet5")
    def lenet5(cfg, input_shape, num_classes): ...

``model.name: "package.module:factory"`` names a user's own factory instead, called as
``factory(input_shape, num_classes)``; it must return a ``torch.nn.Module``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

from torch import nn

from fedforget.config import ModelConfig
from fedforget.util.errors import ConfigError
from fedforget.util.registry import Registry
from fedforget.util.seeding import torch_seeded

ModelFactory = Callable[[ModelConfig, tuple[int, ...], int], nn.Module]

MODELS: Registry[ModelFactory] = Registry("model", "fedforget.models")
register_model = MODELS.register


def is_user_factory(name: str) -> bool:
    return ":" in name


def load_user_factory(spec: str) -> Callable[..., object]:
    """Import ``"package.module:factory"``; a :class:`ConfigError` names what failed."""
    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr:
        raise ConfigError(f"model.name {spec!r} must look like 'package.module:factory'")
    try:
        mod = importlib.import_module(mod_name)
    except Exception as e:  # ImportError, or an error raised while importing the user's module
        raise ConfigError(
            f"model.name {spec!r}: cannot import module {mod_name!r} ({type(e).__name__}: {e}); "
            "make it importable (install it, or run from the folder holding it / set PYTHONPATH)"
        ) from None
    fn = getattr(mod, attr, None)
    if fn is None or not callable(fn):
        raise ConfigError(
            f"model.name {spec!r}: module {mod_name!r} has no callable {attr!r}; "
            "define a function (input_shape, num_classes) -> torch.nn.Module"
        )
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        raise ConfigError(
            f"model.name {spec!r}: {attr} must take (input_shape, num_classes), got signature {inspect.signature(fn)}"
        ) from None
    except ValueError:  # no signature available (builtins): try it when building
        pass
    return fn


def check_model_name(name: str) -> None:
    """A registered model name or an importable user factory, else :class:`ConfigError`."""
    if is_user_factory(name):
        load_user_factory(name)
    elif name not in MODELS:
        raise ConfigError(
            f"model.name must be one of {', '.join(MODELS.names())} or 'package.module:factory' "
            f"(your own model), got {name!r}"
        )


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int, seed: int) -> nn.Module:
    """Build a freshly initialised model; the same seed gives the same weights."""
    input_shape = tuple(int(s) for s in input_shape)
    if is_user_factory(cfg.name):
        fn = load_user_factory(cfg.name)
        with torch_seeded(seed):
            model = fn(input_shape, num_classes)
        if not isinstance(model, nn.Module):
            raise ConfigError(
                f"model.name {cfg.name!r} returned {type(model).__name__}, not a torch.nn.Module; "
                "the factory must return the model (input_shape, num_classes) -> nn.Module"
            )
        return model
    factory = MODELS.get(cfg.name)  # RegistryError (a ConfigError) lists the known names
    with torch_seeded(seed):
        return factory(cfg, input_shape, num_classes)


def hidden_sizes(cfg: ModelConfig) -> tuple[int, ...]:
    return cfg.hidden if isinstance(cfg.hidden, tuple) else (cfg.hidden,)


def need_image(name: str, input_shape: tuple[int, ...], min_side: int = 1) -> None:
    if len(input_shape) != 3 or min(input_shape[1:]) < min_side:
        raise ConfigError(
            f"model.name {name!r} needs image inputs (C, H, W) of at least {min_side}x{min_side} pixels, "
            f"got shape {tuple(input_shape)}; use 'mlp' for vectors, or data.image_shape / another dataset"
        )
