"""Replies checked at the door: a client's reply is refused before it counts unless it is
what the server asked for.

Edge clients are not trusted code (a buggy, outdated or malicious device). The server knows
what it asked for, so :class:`Admission` checks every ``setup``, ``fit`` and ``unlearn`` reply
(after the codec decoded it) before aggregation:

* tensors: a ``fit`` reply carries exactly the request's model tensors (names, shapes and
  dtypes of the model that was sent; ``mask::`` entries travel only server -> client); an
  ``unlearn`` reply at most ``forget_update`` (shape ``(numel,)``) and ``retain_dirs``
  (``(k, numel)``), float32, present when its counts say the client had the data;
* finite values everywhere;
* scalars in range: ``num_examples`` (``fit``), ``n_forget`` / ``n_retain`` (``unlearn``)
  integral, ``num_examples`` > 0 and no count above what the client declared at setup;
  a ``loss`` finite;
* an update norm (``fit``: reply - request; ``unlearn``: the forgetting update) at most
  ``runtime.max_update_norm_ratio`` times the median of the round's other replies (judged
  when at least two others answered).

:class:`~fedforget.run.faults.FaultTolerantFederation` calls :meth:`Admission.check` after
every attempt; a refused reply is handled exactly like a client that failed (retried once,
then left out; the minimum fraction and the make-up rounds of forget clients apply), its
metrics row names it (``refused_clients``) and ``results.json`` counts it under ``faults``.

Free of Flower and torch: plain NumPy on the wire types of :mod:`fedforget.federation`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from fedforget.federation import Arrays, Requests, Scalars

MASK_PREFIX = "mask::"  # server -> client only (fedforget.compression)
UNLEARN_TENSORS = ("forget_update", "retain_dirs")
MIN_PEERS = 2  # the norm bound judges a reply against the median of at least this many others


def _count(m: Scalars, key: str) -> tuple[float | None, str]:
    """A scalar count of a reply: (value, "") or (None, why it is not one)."""
    if key not in m:
        return None, f"no {key!r} in the reply"
    try:
        v = float(m[key])
    except (TypeError, ValueError):
        return None, f"{key}={m[key]!r} is not a number"
    if not math.isfinite(v) or v != int(v):
        return None, f"{key}={m[key]!r} is not a whole number"
    return v, ""


def _finite(name: str, a: np.ndarray) -> str:
    if a.dtype.kind in "fc" and not np.isfinite(a).all():
        return f"non-finite values (NaN/inf) in {name!r}"
    return ""


@dataclass
class Admission:
    """The server's check of replies (see the module docstring). ``numel``: the model's
    flat parameter count (the length of an unlearning vector); ``max_norm_ratio`` 0 turns
    the norm bound off. ``declared``: ``num_examples`` of each client's setup reply."""

    numel: int
    max_norm_ratio: float = 10.0
    declared: dict[int, int] = field(default_factory=dict)
    _norms: list[float] = field(default_factory=list)  # accepted update norms of this exchange

    def begin(self) -> None:
        """A new exchange starts (its first attempt and its retry share the norm median)."""
        self._norms = []

    def check(self, action: str, requests: Requests, replies: Requests) -> dict[int, str]:
        """The replies to refuse (partition -> why); the others may count."""
        refused: dict[int, str] = {}
        norms: dict[int, float] = {}
        for p in sorted(replies):
            arrays, m = replies[p]
            asked_arrays, conf = requests.get(p, ({}, {}))
            if action == "setup":
                why, norm = self._setup(p, m), None
            elif action == "fit" and not ("shadows" in conf or "shadow" in conf):  # LiRA shadows: evaluation machinery
                why, norm = self._fit(p, asked_arrays, arrays, m)
            elif action == "unlearn":
                why, norm = self._unlearn(p, conf, arrays, m)
            else:
                why, norm = "", None
            if why:
                refused[p] = why
            elif norm is not None:
                norms[p] = norm
        if self.max_norm_ratio > 0:
            for p, n in norms.items():
                others = [v for q, v in norms.items() if q != p] + self._norms
                med = float(np.median(others)) if len(others) >= MIN_PEERS else 0.0
                if med > 0 and n > self.max_norm_ratio * med:
                    refused[p] = (f"update norm {n:.4g} is {n / med:.3g}x the median {med:.4g} of the round's other "
                                  f"replies (runtime.max_update_norm_ratio={self.max_norm_ratio:g})")
        self._norms += [n for p, n in norms.items() if p not in refused]
        return refused

    # ------------------------------------------------------------------ per action
    def _setup(self, p: int, m: Scalars) -> str:
        n, why = _count(m, "num_examples")
        if n is None:
            return why
        if n <= 0:
            return f"num_examples={n:g} at setup: a client must hold data"
        self.declared[p] = int(n)
        return ""

    def _in_range(self, p: int, m: Scalars, key: str, positive: bool) -> str:
        n, why = _count(m, key)
        if n is None:
            return why
        if n < 0 or (positive and n == 0):
            return f"{key}={n:g} must be {'> 0' if positive else '>= 0'}"
        if p in self.declared and n > self.declared[p]:
            return f"{key}={n:g} is above the {self.declared[p]} samples the client declared at setup"
        return ""

    def _fit(self, p: int, asked: Arrays, arrays: Arrays, m: Scalars) -> tuple[str, float | None]:
        expected = {k: np.asarray(v) for k, v in asked.items() if not k.startswith(MASK_PREFIX)}
        if why := self._names(set(expected), arrays):
            return why, None
        sq = 0.0
        for k, want in expected.items():
            got = np.asarray(arrays[k])
            if got.shape != want.shape:
                return f"tensor {k!r} has shape {got.shape}, the model {want.shape}", None
            if got.dtype != want.dtype:
                return f"tensor {k!r} is {got.dtype}, the model's is {want.dtype}", None
            if why := _finite(k, got):
                return why, None
            if got.dtype.kind == "f":
                sq += float(np.sum((got.astype(np.float64) - want.astype(np.float64)) ** 2))
        if why := self._in_range(p, m, "num_examples", positive=True):
            return why, None
        if "loss" in m and not (isinstance(m["loss"], (int, float)) and math.isfinite(float(m["loss"]))):
            return f"loss={m['loss']!r} is not a finite number", None
        return "", math.sqrt(sq)

    def _unlearn(self, p: int, conf: Scalars, arrays: Arrays, m: Scalars) -> tuple[str, float | None]:
        if why := self._names(set(arrays) & set(UNLEARN_TENSORS), arrays):
            return why, None
        for key in ("n_forget", "n_retain"):
            if why := self._in_range(p, m, key, positive=False):
                return why, None
        for key, count, want in (("forget_update", "n_forget", "want_forget"), ("retain_dirs", "n_retain", "want_retain")):
            if bool(conf.get(want, True)) and float(m[count]) > 0 and key not in arrays:
                return f"no {key!r} although the client holds {m[count]} {count[2:]} samples", None
        for key, ndim in (("forget_update", 1), ("retain_dirs", 2)):
            if key not in arrays:
                continue
            a = np.asarray(arrays[key])
            if a.ndim != ndim or a.shape[-1] != self.numel:
                want = f"({self.numel},)" if ndim == 1 else f"(k, {self.numel})"
                return f"tensor {key!r} has shape {a.shape}, expected {want}", None
            if a.dtype != np.float32:
                return f"tensor {key!r} is {a.dtype}, expected float32", None
            if why := _finite(key, a):
                return why, None
        if "forget_update" in arrays and float(m["n_forget"]) <= 0:
            return "a forgetting update from a client with n_forget=0", None
        if "forget_update" not in arrays:
            return "", None
        return "", float(np.linalg.norm(np.asarray(arrays["forget_update"], dtype=np.float64)))

    @staticmethod
    def _names(expected: set[str], arrays: Arrays) -> str:
        missing, extra = sorted(expected - set(arrays)), sorted(set(arrays) - expected)
        if missing:
            return f"missing tensor(s) {', '.join(map(repr, missing[:3]))}"
        if extra:
            return f"unexpected tensor(s) {', '.join(map(repr, extra[:3]))}"
        return ""
