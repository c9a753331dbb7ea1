"""Tasks: what a sample, a per-sample loss, the per-sample membership signals and an
accuracy are, one registered :class:`~fedforget.tasks.base.Task` per file:
``classification`` (integer labels; the formulas today's training and attacks use) and
``causal_lm`` (next-token prediction on token sequences with padding masked; LM
membership signals and greedy extraction). The byte-level tokenizer with no files
(``tokenizer``) lives here too.

Layer: beside ``fedforget.data``, ``fedforget.models`` and ``fedforget.training`` (2);
imports only torch/NumPy, the config and ``fedforget.util``.
"""

from fedforget.tasks.base import TASKS, Task, get_task, register_task

__all_modules__ = ("classification", "causal_lm")  # tokenizer: no registration
__all__ = ["TASKS", "Task", "get_task", "register_task"]
