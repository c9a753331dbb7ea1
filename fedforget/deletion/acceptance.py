"""A deletion is served only on evidence: the server's acceptance rule.

Before a request is marked ``served`` and its receipt signed, the server checks the
statistics it already has at the serve point (no new exchange, nothing the clients did not
already send): every membership-inference AUC of the request's own samples against the
server's non-member pool (``mia_auc``; 0.5 = indistinguishable from data never seen) and,
where the request's data carries the backdoor trigger, the attack success rate (``asr``).
A request passes when it has at least one such statistic and each is at most its bound
(``deletion.acceptance``); otherwise it is ``unverified`` in the ledger, with the figures,
and gets no receipt. The rule is deliberately one-sided: a model that forgot too much is
a quality problem (read against the retrained model in the report), not a false claim.

Layer: beside ``fedforget.deletion.ledger`` (the config only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fedforget.config import AcceptanceConfig


@dataclass(frozen=True)
class Verdict:
    """The acceptance rule's verdict on one request: ``checks`` name -> {value, max, ok}."""

    verified: bool
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"verified": self.verified, "checks": self.checks, "reason": self.reason}


def judge(cfg: AcceptanceConfig, evidence: Mapping[str, Any]) -> Verdict:
    """The verdict on ``evidence`` (a request's serve-point figures: ``mia_auc`` by attack,
    ``asr`` where its data is triggered); every request passes when the rule is off."""
    if not cfg.enabled:
        return Verdict(True, {}, "deletion.acceptance.enabled is false")
    checks: dict[str, dict[str, Any]] = {}
    for attack, auc in sorted((evidence.get("mia_auc") or {}).items()):
        if auc is not None:
            checks[f"mia_auc.{attack}"] = {"value": float(auc), "max": cfg.max_mia_auc, "ok": float(auc) <= cfg.max_mia_auc}
    if evidence.get("asr") is not None:
        asr = float(evidence["asr"])
        checks["asr"] = {"value": asr, "max": cfg.max_asr, "ok": asr <= cfg.max_asr}
    if not checks:
        return Verdict(False, {}, "no evidence: no attack signal (evaluation.attacks) and no backdoor trigger in the "
                                  "request's data; set evaluation.attacks, or deletion.acceptance.enabled: false")
    failed = [f"{k}={c['value']:.3f} > {c['max']:g} (deletion.acceptance.max_{k.split('.')[0]})"
              for k, c in checks.items() if not c["ok"]]
    return Verdict(not failed, checks, "; ".join(failed))
