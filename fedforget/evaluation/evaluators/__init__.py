"""Evaluators beyond attack scores, one file each, registered by name (like the attacks):
they run on the clients (the data stays there) and only statistics travel."""

from fedforget.evaluation.evaluators.base import EVALUATORS, Evaluator, register_evaluator

__all_modules__ = ("relearn", "probe", "quant_recovery", "relearn_retain")
__all__ = ["EVALUATORS", "Evaluator", "register_evaluator"]
