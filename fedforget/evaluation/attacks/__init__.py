"""Membership-inference attacks, one file each, registered by name."""

from fedforget.evaluation.attacks.base import ATTACKS, Attack, register_attack

__all_modules__ = ("loss", "confidence", "entropy", "modified_entropy", "lira", "rmia")
__all__ = ["ATTACKS", "Attack", "register_attack"]
