"""Client-side unlearning objectives, one file per method, registered by name."""

from fedforget.unlearning.base import UNLEARNERS, Unlearner, register_unlearner, retain_directions

__all_modules__ = ("oeu",)
__all__ = ["UNLEARNERS", "Unlearner", "register_unlearner", "retain_directions"]
