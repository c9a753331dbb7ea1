"""Compatibility module: the threshold attacks now live one per file (``loss.py``,
``confidence.py``, ``entropy.py``, ``modified_entropy.py``); importing this module keeps
``fedforget.evaluation.attacks.threshold.<name>`` working."""

from fedforget.evaluation.attacks.confidence import ConfidenceAttack
from fedforget.evaluation.attacks.entropy import EntropyAttack
from fedforget.evaluation.attacks.loss import LossAttack
from fedforget.evaluation.attacks.modified_entropy import ModifiedEntropyAttack, modified_entropy

__all__ = ["ConfidenceAttack", "EntropyAttack", "LossAttack", "ModifiedEntropyAttack", "modified_entropy"]
