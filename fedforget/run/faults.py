"""Client faults: a federation that survives clients that fail or do not answer.

Edge devices drop out all the time. :class:`FaultTolerantFederation` sits between the
experiment and a backend (:class:`~fedforget.federation.InProcessFederation`, or the
Flower Grid in ``strategies.flower_federation``), both of which report an exchange as an
:class:`Exchange` (replies plus failures) instead of raising. The policy, per exchange:

1. a client that failed (raised, or sent no reply within ``runtime.client_timeout_s``)
   is retried once, with the same request;
2. a client that fails again is left out of the round; the round's metrics row lists it
   with the reason (``missing_clients``);
3. if fewer than ``runtime.min_clients_fraction`` (per phase) of the requested clients
   answered, the round fails with :class:`ClientFaultError` naming the clients and why.
   ``setup`` and ``delete`` need every client: a deletion request is never lost.

A forget client (one holding a pending deletion) that misses an unlearning exchange is
tracked by :class:`PendingDeletions`; the experiment runs make-up unlearning rounds until
every request is served, or ends with :class:`UnservedDeletionError` naming the request.

Fault injection (tests): ``runtime.faults: [{client: 3, phase: train, round: 2, kind:
raise}]`` makes the server mark that client's request with ``fault.kind``; the client
(:func:`apply_injected`, called first in ``ClientWorker.handle``) raises, or sleeps
``hang_s`` and then raises, so the same hook works in process, on Ray and on real
SuperNodes. Corrupting kinds (``nan``, ``shape``, ..., :data:`fedforget.federation.CORRUPT_KINDS`)
make the client answer with a corrupted reply instead, which the admission check
(:mod:`fedforget.run.admission`) refuses like a failure.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from fedforget.config import ExperimentConfig, FaultInjection, MinClientsFraction
from fedforget.federation import Exchange, Requests, Scalars
from fedforget.run.admission import Admission
from fedforget.util.errors import FedForgetError

log = logging.getLogger(__name__)

REFUSED = "reply refused: "  # a failure's reason when the reply came but did not pass (fedforget.run.admission)
ALWAYS_ALL = ("setup", "delete")  # every client must answer these (retried once)


class ClientFaultError(FedForgetError):
    """Too few clients answered a round (after one retry)."""


class UnservedDeletionError(FedForgetError):
    """A deletion request could not be served: its client kept failing."""

    def __init__(self, message: str, requests: list[int], clients: list[int]) -> None:
        super().__init__(message)
        self.requests = requests
        self.clients = clients


def phase_of(action: str, requests: Requests) -> str:
    """The policy phase of an exchange: ``setup``, ``delete``, ``train``, ``unlearn``,
    ``recover``, ``retrain`` or ``evaluate`` (other fit phases count as ``recover``)."""
    if action != "fit":
        return action
    conf = next(iter(requests.values()))[1] if requests else {}
    phase = str(conf.get("phase", "train"))
    if phase in ("train", "retrain"):
        return phase
    return "recover"


@dataclass(frozen=True)
class FaultPolicy:
    timeout_s: float
    fractions: MinClientsFraction
    faults: tuple[FaultInjection, ...] = ()

    @classmethod
    def from_config(cls, cfg: ExperimentConfig) -> FaultPolicy:
        rt = cfg.runtime
        mcf = rt.min_clients_fraction
        fr = mcf if isinstance(mcf, MinClientsFraction) else MinClientsFraction(*(float(mcf),) * 5)
        return cls(rt.client_timeout_s, fr, rt.faults)

    def min_fraction(self, phase: str) -> float:
        return 1.0 if phase in ALWAYS_ALL else float(getattr(self.fractions, phase))

    def injection(self, client: int, phase: str, round_: int, attempt: int) -> Scalars:
        """The ``fault.*`` config keys for this request, or ``{}``."""
        for f in self.faults:
            if f.client != client or f.phase != phase or f.round not in (-1, round_):
                continue
            if f.times != -1 and attempt >= f.times:
                continue
            hang = f.hang_s or self.timeout_s + 1.0
            return {"fault.kind": f.kind, "fault.hang_s": hang}
        return {}


class FaultTolerantFederation:
    """A Federation that retries failed clients once, leaves out those that fail again
    (reported by :meth:`take_missing`) and fails a round below the minimum fraction.
    With ``admission`` (fedforget.run.admission), a reply it refuses is a failure."""

    def __init__(self, inner: Any, policy: FaultPolicy, admission: Admission | None = None) -> None:
        self.inner = inner
        self.policy = policy
        self.admission = admission
        self._refused: dict[str, str] = {}
        self.rounds: Counter[str] = Counter()  # exchanges per phase (injection's "round")
        self._missing: dict[str, str] = {}
        self._retried: set[int] = set()
        self.stats: Counter[str] = Counter()

    @property
    def traffic(self) -> Any:
        return self.inner.traffic

    def partitions(self) -> list[int]:
        return self.inner.partitions()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _attempt(self, action: str, requests: Requests, phase: str, attempt: int) -> Exchange:
        reqs = requests
        if self.policy.faults:
            reqs = {}
            for p, (arrays, conf) in requests.items():
                inj = self.policy.injection(p, phase, self.rounds[phase], attempt)
                if inj:
                    self.stats["injected"] += 1
                    log.info("fault injection: client %d %s in %s round %d", p, inj["fault.kind"], phase, self.rounds[phase])
                reqs[p] = (arrays, {**conf, **inj}) if inj else (arrays, conf)
        exchange = getattr(self.inner, "exchange", None)
        if exchange is None:  # a backend without fault reporting: any failure raises
            ex = Exchange(self.inner.send(action, reqs), {})
        else:
            ex = exchange(action, reqs, self.policy.timeout_s)
        refused = {p: w.removeprefix(REFUSED) for p, w in ex.failures.items() if w.startswith(REFUSED)}  # undecodable
        if self.admission is not None and ex.replies:  # checked at the door: a refused reply is a failure
            refused |= self.admission.check(action, requests, ex.replies)
        for p, why in refused.items():
            self.stats["refused"] += 1
            self._refused[str(p)] = why
            log.warning("client %d: reply to %r refused (%s round %d): %s", p, action, phase, self.rounds[phase], why)
            ex.replies.pop(p, None)
            ex.failures[p] = REFUSED + why
        return ex

    def send(self, action: str, requests: Requests) -> Requests:
        if not requests:
            return {}
        phase = phase_of(action, requests)
        self.rounds[phase] += 1
        if self.admission is not None:
            self.admission.begin()
        ex = self._attempt(action, requests, phase, 0)
        if ex.failures:
            self.stats["failed_attempts"] += len(ex.failures)
            for p, why in sorted(ex.failures.items()):
                log.warning("client %d failed %r (%s round %d), retrying once: %s", p, action, phase, self.rounds[phase], why)
            again = self._attempt(action, {p: requests[p] for p in ex.failures}, phase, 1)
            self.stats["failed_attempts"] += len(again.failures)
            self.stats["retried_ok"] += len(again.replies)
            self._retried |= set(again.replies)
            ex = Exchange({**ex.replies, **again.replies}, again.failures)
        if ex.failures:
            self.stats["left_out"] += len(ex.failures)
            for p, why in ex.failures.items():
                self._missing[str(p)] = f"{action}: {why}"
        need = self.policy.min_fraction(phase)
        # Forget clients of an unlearning exchange do not count: one that failed is owed a
        # round (PendingDeletions, served by make-up rounds or named in the run's error).
        counted = [p for p, (_, c) in requests.items() if not (action == "unlearn" and c.get("want_forget"))]
        answered, asked = sum(p in ex.replies for p in counted), len(counted)
        if counted and (answered < need * asked or answered == 0):
            why = "; ".join(f"client {p}: {w}" for p, w in sorted(ex.failures.items()))
            field_ = "every client must answer" if phase in ALWAYS_ALL else f"runtime.min_clients_fraction.{phase}={need:g}"
            raise ClientFaultError(
                f"{phase} round {self.rounds[phase]} failed: only {answered} of {asked} clients answered {action!r} "
                f"after one retry ({field_}). Missing: {why}. Check the clients' logs, or lower "
                f"runtime.min_clients_fraction / raise runtime.client_timeout_s (now {self.policy.timeout_s:g}s)"
            )
        return ex.replies

    @property
    def missing(self) -> dict[str, str]:
        """Clients left out since the last :meth:`take_missing` (client -> why)."""
        return dict(self._missing)

    def take_missing(self) -> dict[str, Any]:
        """Row fields since the last call: clients left out (``missing_clients``: client ->
        why) and clients that answered only on their retry (``retried_clients``)."""
        out: dict[str, Any] = {}
        if self._missing:
            out["missing_clients"] = dict(sorted(self._missing.items(), key=lambda kv: int(kv[0])))
        if self._retried:
            out["retried_clients"] = sorted(self._retried)
        if self._refused:
            out["refused_clients"] = dict(sorted(self._refused.items(), key=lambda kv: int(kv[0])))
        self._missing, self._retried, self._refused = {}, set(), {}
        return out

    def summary(self) -> dict[str, int]:
        return {k: int(self.stats[k]) for k in ("injected", "failed_attempts", "retried_ok", "left_out", "refused")}


class PendingDeletions:
    """Forget clients that owe unlearning exchanges: asked for a forgetting update and
    did not deliver one (failed after the retry, left out of the round)."""

    def __init__(self) -> None:
        self.owed: Counter[int] = Counter()
        self.last_error: dict[int, str] = {}

    def record(self, asked: list[int], delivered: set[int], missing: dict[str, str], makeup: bool = False) -> None:
        """One unlearning exchange: a miss adds a round owed; in a make-up round a
        delivery pays one back (a miss there owes nothing more)."""
        for p in asked:
            if p not in delivered:
                self.last_error[p] = missing.get(str(p), "no forgetting update in the reply")
                if not makeup:
                    self.owed[p] += 1
            elif makeup and self.owed[p] > 0:
                self.owed[p] -= 1

    def pending(self) -> list[int]:
        return sorted(p for p, n in self.owed.items() if n > 0)

    def unserved_error(self, cfg: ExperimentConfig, attempts: int) -> UnservedDeletionError:
        clients = self.pending()
        reqs = [i for i, r in enumerate(cfg.deletion.requests) if r.client in clients or r.granularity == "class"]
        names = ", ".join(
            f"deletion.requests[{i}] ({cfg.deletion.requests[i].granularity}"
            + (f", client {cfg.deletion.requests[i].client}" if cfg.deletion.requests[i].client >= 0 else "")
            + (f", label {cfg.deletion.requests[i].label}" if cfg.deletion.requests[i].label >= 0 else "")
            + ")"
            for i in reqs
        )
        why = "; ".join(f"client {p}: {self.last_error.get(p, '?')}" for p in clients)
        return UnservedDeletionError(
            f"{names or 'a deletion request'} was not served: forget client(s) {clients} still failed after "
            f"{attempts} make-up unlearning round(s) (runtime.makeup_rounds={cfg.runtime.makeup_rounds}); "
            f"last errors: {why}. The unlearned model does not honour this request; bring the client back "
            "and run again, or raise runtime.makeup_rounds",
            reqs, clients,
        )
