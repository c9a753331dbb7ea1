"""Server-side combination of forgetting updates and retain directions, registered by name."""

from fedforget.unlearning.combiners.base import COMBINERS, Combiner, register_combiner

__all_modules__ = ("projected", "mean")
__all__ = ["COMBINERS", "Combiner", "register_combiner"]
