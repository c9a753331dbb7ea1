"""Evaluation: accuracy metrics, membership-inference attacks, distance to retrain."""

from fedforget.evaluation.metrics import mia_metrics, param_distance

__all__ = ["mia_metrics", "param_distance"]
