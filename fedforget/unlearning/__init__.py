"""Client-side unlearning objectives, one file per method, registered by name."""

from fedforget.unlearning.base import UNLEARNERS, Unlearner, register_unlearner, retain_directions

__all_modules__ = (
    "oeu", "gradient_ascent", "retrain", "finetune", "neggrad_plus", "random_label", "conmu",
    "federaser", "fedosd", "projected_ga",
    "qmul", "sau",  # compression-aware (issue 3)
)
__all__ = ["UNLEARNERS", "Unlearner", "register_unlearner", "retain_directions"]
