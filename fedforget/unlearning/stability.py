"""Stability guards: a non-finite update never reaches the global model silently.

Every forgetting update is checked where it arrives on the server
(:func:`check_finite_updates`) and every model the server produces by applying an update
(:func:`check_finite_arrays`); a violation raises :class:`~fedforget.util.errors.DivergenceError`
naming the method, the round's origin and the fix, and ``fedforget compare`` marks that
method's row failed with the reason instead of putting NaN into the table. Local steps are
bounded by gradient-norm clipping (``unlearning.max_grad_norm``, in
:func:`fedforget.training.local.local_sgd`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fedforget.util.errors import DivergenceError

FIX = "lower unlearning.lr, set unlearning.max_grad_norm > 0 or use unlearning.calibration: target"


def check_finite_updates(method: str, replies: dict[int, tuple[dict[str, Any], Any]], key: str = "forget_update") -> None:
    for p in sorted(replies):
        arr = replies[p][0]
        if key in arr and not np.isfinite(np.asarray(arr[key], dtype=np.float64)).all():
            raise DivergenceError(f"method {method!r}: client {p} sent a non-finite {key.replace('_', ' ')} (NaN/inf); {FIX}")


def check_finite_arrays(method: str, arrays: dict[str, Any], where: str) -> None:
    for name, v in arrays.items():
        a = np.asarray(v)
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise DivergenceError(f"method {method!r}: the model after {where} has non-finite weights in {name!r}; {FIX}")
