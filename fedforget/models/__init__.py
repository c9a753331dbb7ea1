"""Models, registered by name (one file per model): ``mlp``, ``cnn``, ``lenet5``,
``resnet18``, ``text_transformer``; or ``model.name: "package.module:factory"`` for your
own. ``build_model(cfg, input_shape, num_classes, seed)`` builds a fresh, seeded model."""

from fedforget.models.base import MODELS, build_model, check_model_name, register_model
from fedforget.models.cnn import SmallCNN
from fedforget.models.mlp import MLP

__all_modules__ = ("mlp", "cnn", "lenet5", "resnet18", "text_transformer")

__all__ = ["MLP", "MODELS", "SmallCNN", "build_model", "check_model_name", "register_model"]
