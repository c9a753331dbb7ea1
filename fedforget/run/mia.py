"""Membership inference across the federation, server side.

The server sends ``evaluate`` with ``mia=<attacks>`` to every client and receives per
sample signals (never features) for the client's ``forget``, ``retain`` and ``heldout``
sets (see :mod:`fedforget.evaluation.federated`). From them it reports, per model:

* ``mia``: federation-wide forget set (members) vs held-out non-members, per attack:
  AUC, balanced accuracy (best threshold), advantage, TPR at 1% and 0.1% FPR with the
  sample counts; for threshold attacks also ``balanced_acc_fitted`` with Song & Mittal's
  class-dependent thresholds fitted on reference data (the shadow models' IN/OUT samples
  when there are shadows, else a 2-fold split of the evaluation data);
* ``mia_members``: the same for the retain set (training members of every model);
* ``mia_per_client``: each client's forget / retain samples vs the pooled non-members;
* ``mia_efficacy``: the SVC view (retain vs test, applied to the forget set).

:meth:`FederatedMIA.finish` compares the unlearned (and original) model's forget-set
scores with the retrained model's: the retrained model is the target, not 0.5.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import ks_2samp, spearmanr
from sklearn.metrics import roc_auc_score

from fedforget.config import ExperimentConfig
from fedforget.data.datasets import ArrayData
from fedforget.evaluation.attacks.base import ATTACKS, signals
from fedforget.evaluation.attacks.before_after import before_after
from fedforget.evaluation.federated import SETS, stack
from fedforget.evaluation.indistinguishability import headline, ulira
from fedforget.evaluation.metrics import mia_metrics
from fedforget.evaluation.mia_efficacy import mia_efficacy
from fedforget.evaluation.thresholds import fit_class_thresholds, thresholded_balanced_accuracy
from fedforget.federation import Arrays, Federation
from fedforget.run.shadows import default_cache_root, train_or_load_shadows
from fedforget.training.local import predict_logits
from fedforget.util.io import atomic_write_json
from fedforget.util.params import get_arrays, set_arrays
from fedforget.util.seeding import derive_seed, np_rng

log = logging.getLogger(__name__)

PAIR_SIGNALS = ("loss", "lira")  # what the before/after attack compares
GLOBAL_VARIANCE_BELOW = 32  # "auto": pooled variance with fewer shadow models (Carlini et al., Sec. VI)


class FederatedMIA:
    def __init__(self, cfg: ExperimentConfig, fed: Federation, out_dir: str | Path, test: ArrayData,
                 model: torch.nn.Module) -> None:
        self.cfg = cfg
        self.fed = fed
        self.out = Path(out_dir)
        self.test = test
        self.model = model
        ev = cfg.evaluation
        self.attacks = tuple(ev.attacks)
        self.k = ev.shadow_models
        self.global_variance = ev.shadow_variance == "global" or (
            ev.shadow_variance == "auto" and self.k < GLOBAL_VARIANCE_BELOW)
        # every attack's signal plus the confidence (MIA-efficacy)
        self.signal_names = tuple(dict.fromkeys(self.attacks + ("confidence",)))
        if ev.before_after:  # the before/after attack pairs the loss and LiRA signals of two models
            self.signal_names = tuple(dict.fromkeys(self.signal_names + PAIR_SIGNALS))
        self.pair_signals: dict[str, dict[str, dict[str, np.ndarray]]] = {}
        self.shadow: dict[str, dict[str, np.ndarray]] | None = None
        self.shadow_models: list[Arrays] = []
        self.thresholds: dict[str, np.ndarray] = {}
        self.forget_scores: dict[str, dict[str, np.ndarray]] = {}
        self.forget_phi: dict[str, np.ndarray] = {}
        self.roc_members: dict[str, dict[str, Any]] = {}
        self.shadow_info: dict[str, Any] = {"k": 0}
        self._pool: ThreadPoolExecutor | None = None  # MIA-efficacy in the background (_efficacy_of)

    # ------------------------------------------------------------------ gathering
    def _gather(self, replies: dict[int, tuple[Arrays, Any]], shadows: bool,
                names: tuple[str, ...] | None = None) -> dict[str, dict[str, np.ndarray]]:
        """Concatenate the clients' replies per set (clients in partition order)."""
        out: dict[str, dict[str, np.ndarray]] = {}
        for s in SETS:
            parts: dict[str, list[np.ndarray]] = {}
            for p in sorted(replies):
                arr = replies[p][0]
                n = len(arr[f"mia.{s}.label"])
                parts.setdefault("client", []).append(np.full(n, p, dtype=np.int64))
                parts.setdefault("label", []).append(np.asarray(arr[f"mia.{s}.label"], dtype=np.int64))
                keys = [f"sig.{a}" for a in (names or self.signal_names)] + (["in"] if shadows else [])
                for key in keys:
                    src = f"mia.{s}.{key[4:] if key.startswith('sig.') else key}"
                    parts.setdefault(key, []).append(np.asarray(arr[src]))
            axis = {k: (1 if shadows and k not in ("client", "label") else 0) for k in parts}
            out[s] = {k: np.concatenate(v, axis=axis[k]) for k, v in parts.items()}
            if shadows:
                out[s]["in"] = out[s]["in"].astype(bool)
        return out

    # ------------------------------------------------------------------ shadows
    def prepare(self, participants: list[int]) -> None:
        """Train (or load) the K shadow federations and collect their signals."""
        if self.k == 0:
            return
        ev = self.cfg.evaluation
        root = Path(ev.shadow_cache) if ev.shadow_cache else default_cache_root()
        shape, ncls = self.test.input_shape, self.test.num_classes

        def init_of(k: int) -> Arrays:
            from fedforget.models import build_model

            return get_arrays(build_model(self.cfg.model, shape, ncls, derive_seed(self.cfg.runtime.seed, "shadow-init", k)))

        models, info = train_or_load_shadows(self.cfg, self.fed, participants, init_of, root)
        self.shadow_models = models
        t0 = time.perf_counter()
        self.shadow = self.shadow_signals(models)
        info["signal_time_s"] = time.perf_counter() - t0
        info["global_variance"] = self.global_variance
        self.shadow_info = info
        # Song & Mittal: class-dependent thresholds fitted on the shadows' IN/OUT samples.
        ncls = self.test.num_classes
        for a in self.attacks:
            if ATTACKS.get(a).needs_shadows:
                continue
            sig = np.concatenate([self.shadow[s][f"sig.{a}"].ravel() for s in SETS])
            lab = np.concatenate([np.broadcast_to(self.shadow[s]["label"], self.shadow[s]["in"].shape).ravel() for s in SETS])
            mem = np.concatenate([self.shadow[s]["in"].ravel() for s in SETS])
            self.thresholds[a] = fit_class_thresholds(sig, lab, mem, ncls)

    def shadow_signals(self, models: list[Arrays]) -> dict[str, dict[str, np.ndarray]]:
        """Every set's signals (K, n) and IN flags of K models trained like the shadows."""
        conf = {"mia": ",".join(self.signal_names), "shadows": len(models)}
        replies = self.fed.send("evaluate", {p: (stack(models), conf) for p in self.fed.partitions()})
        return self._gather(replies, shadows=True)

    # ------------------------------------------------------------------ per model
    def _final_scores(self, a: str, tgt: dict[str, dict[str, np.ndarray]]) -> tuple[np.ndarray, ...]:
        """Final scores of attack ``a`` on every set (in :data:`SETS` order). Shadow-based
        attacks are calibrated on all sets at once, so that a pooled (global) variance is
        pooled over the whole reference population, never per evaluation set."""
        att = ATTACKS.get(a)()
        t = [tgt[s][f"sig.{a}"] for s in SETS]
        if not att.needs_shadows:
            return tuple(t)
        assert self.shadow is not None
        sh = [self.shadow[s] for s in SETS]
        extra: dict[str, Any] = {}
        if att.needs_population:  # RMIA: the held-out non-members are the population Z
            h = SETS.index("heldout")
            start = sum(len(x) for x in t[:h])
            extra = {"population": np.arange(start, start + len(t[h])), "gamma": self.cfg.evaluation.rmia_gamma,
                     "offline_a": self.cfg.evaluation.rmia_offline_a}
        allscores = att.calibrate(np.concatenate(t), np.concatenate([x[f"sig.{a}"] for x in sh], axis=1),
                                  np.concatenate([x["in"] for x in sh], axis=1), global_variance=self.global_variance,
                                  **extra)
        return tuple(np.split(allscores, np.cumsum([len(x) for x in t])[:-1]))

    def _fitted_bacc(self, a: str, f: np.ndarray, fl: np.ndarray, h: np.ndarray, hl: np.ndarray, name: str) -> dict[str, Any]:
        if len(f) == 0 or len(h) == 0:
            return {}
        s, lab = np.r_[f, h], np.r_[fl, hl]
        mem = np.r_[np.ones(len(f), bool), np.zeros(len(h), bool)]
        ncls = self.test.num_classes
        if a in self.thresholds:
            return {"balanced_acc_fitted": thresholded_balanced_accuracy(s, lab, mem, self.thresholds[a]),
                    "threshold_source": f"shadow models (K={self.k}), class-dependent"}
        # No shadows: 2-fold reference split of the evaluation data (fit on one, test on the other).
        fold = np_rng(self.cfg.runtime.seed, "mia-fold", name, a).permutation(len(s)) % 2
        accs = []
        for i in (0, 1):
            ref, ev = fold != i, fold == i
            if mem[ref].all() or not mem[ref].any() or mem[ev].all() or not mem[ev].any():
                continue
            thr = fit_class_thresholds(s[ref], lab[ref], mem[ref], ncls)
            accs.append(thresholded_balanced_accuracy(s[ev], lab[ev], mem[ev], thr))
        if not accs:
            return {}
        return {"balanced_acc_fitted": float(np.mean(accs)), "threshold_source": "2-fold reference split, class-dependent"}

    def evaluate(self, name: str, arrays: Arrays, counts: bool = False) -> dict[str, Any]:
        """Federated MIA of one model. Returns ``mia``, ``mia_members``, ``mia_per_client``,
        ``mia_efficacy`` (a Future until :meth:`resolve`) and ``roc`` (forget set vs
        non-members, per attack); with ``counts``, also ``replies``: every client's
        accuracy counts on its forget and retain sets, computed in the same exchange (the
        final evaluation sends one ``evaluate`` per client and model instead of two)."""
        conf: dict[str, Any] = {"mia": ",".join(self.signal_names)}
        if counts:
            conf["counts"] = 1
        replies = self.fed.send("evaluate", {p: (arrays, conf) for p in self.fed.partitions()})
        tgt = self._gather(replies, shadows=False)
        self._keep_pair_signals(name, tgt)
        F, R, H = tgt["forget"], tgt["retain"], tgt["heldout"]
        eff = self._efficacy_of(arrays, R["sig.confidence"], F["sig.confidence"])
        mia: dict[str, Any] = {}
        members: dict[str, Any] = {}
        per_client: dict[str, dict[str, Any]] = {}
        roc: dict[str, Any] = {}
        groups = {"forget": _by_client(F["client"]), "retain": _by_client(R["client"])}
        clients = sorted(set(groups["forget"]) | set(groups["retain"]))
        self.roc_members[name] = {}
        self.forget_scores[name] = {}
        for a in self.attacks:
            f, r, h = self._final_scores(a, tgt)
            m = mia_metrics(f, h)
            roc[a] = m.pop("roc", None)
            if not ATTACKS.get(a).needs_shadows:
                m.update(self._fitted_bacc(a, f, F["label"], h, H["label"], name))
            mia[a] = m
            mm = mia_metrics(r, h)
            self.roc_members[name][a] = mm.pop("roc", None)
            members[a] = mm
            self.forget_scores[name][a] = f
            if a == "lira":  # the raw statistic phi, for the U-LiRA-style per-example test
                self.forget_phi[name] = F["sig.lira"]
            for c in clients:
                pc = per_client.setdefault(str(c), {"forget": {}, "retain": {}})
                for s, vals in (("forget", f), ("retain", r)):
                    idx = groups[s].get(c)
                    if idx is not None:
                        pc[s][a] = mia_metrics(vals[idx], h, curve=False)
        out = {"mia": mia, "mia_members": members, "mia_per_client": per_client, "mia_efficacy": eff, "roc": roc}
        if counts:
            out["replies"] = {p: m for p, (_, m) in replies.items()}
        return out

    def _keep_pair_signals(self, name: str, tgt: dict[str, dict[str, np.ndarray]]) -> None:
        if self.cfg.evaluation.before_after:
            self.pair_signals[name] = {s: {a: tgt[s][f"sig.{a}"] for a in PAIR_SIGNALS} for s in SETS}

    def signals_only(self, name: str, arrays: Arrays) -> None:
        """The before/after attack's signals of a model that is not evaluated itself (the
        original model of every comparison row after the first)."""
        if self.cfg.evaluation.before_after and name not in self.pair_signals:
            replies = self.fed.send("evaluate", {p: (arrays, {"mia": ",".join(PAIR_SIGNALS)}) for p in self.fed.partitions()})
            tgt = self._gather(replies, shadows=False, names=PAIR_SIGNALS)
            self._keep_pair_signals(name, tgt)

    def before_after(self, models: dict[str, Any]) -> dict[str, Any]:
        """The before/after attack (original -> each model), into ``models.<model>.before_after``."""
        out: dict[str, Any] = {}
        if "original" not in self.pair_signals:
            return out
        for name in ("unlearned", "retrained"):
            if name in self.pair_signals and name in models:
                rng = np_rng(self.cfg.runtime.seed, "before-after")  # the same folds for every pair
                out[name] = models[name]["before_after"] = before_after(
                    self.pair_signals["original"], self.pair_signals[name], rng)
        return out

    def _efficacy_of(self, arrays: Arrays, retain_conf: np.ndarray, forget_conf: np.ndarray) -> Future:
        """MIA-efficacy of the model in ``arrays``, computed in the background: its SVC
        (fitted on every retain and test confidence of the federation, as defined) was
        half of a 1,000-client final evaluation, and libsvm runs without the GIL, so it
        overlaps the per-client figures and the next model's exchange. :meth:`resolve`
        collects it. The same seeded subsample for every model: a paired comparison."""
        set_arrays(self.model, arrays)
        test_conf = signals(["confidence"], predict_logits(self.model, self.test), torch.from_numpy(self.test.y))["confidence"]
        if self._pool is None:
            # one per model evaluated (3 at most), within the machine's cores
            self._pool = ThreadPoolExecutor(max_workers=max(1, min(3, os.cpu_count() or 1)), thread_name_prefix="mia-efficacy")
        return self._pool.submit(mia_efficacy, retain_conf, test_conf, forget_conf,
                                 np_rng(self.cfg.runtime.seed, "mia-efficacy"))

    def resolve(self, models: dict[str, Any]) -> None:
        """Replace each model's pending ``mia_efficacy`` by its value (waiting for it)."""
        for m in models.values():
            if isinstance(m.get("mia_efficacy"), Future):
                m["mia_efficacy"] = m["mia_efficacy"].result()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    # ------------------------------------------------------------------ comparison
    def finish(self, models: dict[str, Any]) -> dict[str, Any]:
        """Forget-set attack scores of the unlearned/original model vs the retrained one;
        writes ``roc_members.json``. Returns the ``mia`` block of results.json."""
        self.resolve(models)
        atomic_write_json(self.out / "roc_members.json", self.roc_members)
        out: dict[str, Any] = {"shadows": self.shadow_info, "vs_retrained": {}}
        if self.cfg.evaluation.before_after:
            out["before_after"] = self.before_after(models)
        if "retrained" not in self.forget_scores:
            return out
        ret = self.forget_scores["retrained"]
        models["retrained"]["indistinguishability"] = 1.0  # by definition
        for name in ("unlearned", "original"):
            if name not in self.forget_scores:
                continue
            cmp: dict[str, Any] = {}
            for a in self.attacks:
                u, r = self.forget_scores[name][a], ret[a]
                if len(u) == 0:
                    continue
                mu, mr = models[name]["mia"][a], models["retrained"]["mia"][a]
                y = np.r_[np.ones(len(u)), np.zeros(len(r))]
                cmp[a] = {
                    "auc_gap": _gap(mu.get("auc"), mr.get("auc")),
                    "tpr_at_1pct_fpr_gap": _gap(mu.get("tpr_at_1pct_fpr"), mr.get("tpr_at_1pct_fpr")),
                    # AUC of telling this model's forget-set scores from the retrained model's
                    # (0.5 = indistinguishable score distributions)
                    "auc_vs_retrained_scores": float(roc_auc_score(y, np.nan_to_num(np.r_[u, r]))),
                    "ks_statistic": float(ks_2samp(u, r).statistic),
                    "ks_pvalue": float(ks_2samp(u, r).pvalue),
                    "mean_paired_diff": float(np.mean(u - r)),
                    "spearman": float(spearmanr(u, r).statistic) if len(u) > 2 else None,
                    "n": int(len(u)),
                }
            eu, er = models[name].get("mia_efficacy", {}), models["retrained"].get("mia_efficacy", {})
            cmp["mia_efficacy_gap"] = _gap(eu.get("mia_efficacy"), er.get("mia_efficacy"))
            cmp["indistinguishability"] = headline(cmp)  # fedforget.evaluation.indistinguishability
            if name in self.forget_phi and "retrained" in self.forget_phi and self.shadow is not None:
                sh = self.shadow["forget"]
                cmp["ulira"] = {m: ulira(self.forget_phi[m], sh["sig.lira"], sh["in"]) for m in (name, "retrained")}
            out["vs_retrained"][name] = cmp
            models[name]["indistinguishability"] = cmp["indistinguishability"]
        return out


def _by_client(client: np.ndarray) -> dict[int, np.ndarray]:
    """Client id -> the positions of its samples, in their order (what ``client == c``
    selects), in one sort instead of one scan of every sample per client."""
    if len(client) == 0:
        return {}
    order = np.argsort(client, kind="stable")
    ids, starts = np.unique(client[order], return_index=True)
    return dict(zip(ids.tolist(), np.split(order, starts[1:]), strict=True))


def _gap(a: Any, b: Any) -> float | None:
    return None if a is None or b is None else float(a) - float(b)
