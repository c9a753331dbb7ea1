"""What a client does, free of Flower: :class:`ClientWorker` answers the server's actions
on its private data. ``clients/`` turns Flower messages into :meth:`ClientWorker.handle`
calls; the in-process federation calls it directly.

Private state (the experiment config and the forget set) lives on the client's disk in
``state_dir`` (keyed by run and partition by the caller), never in memory across
messages, so a fresh ClientApp process per message sees the same state. Raw samples never
appear in a reply: only model weights, updates, gradients, counts and per-sample attack
signals.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedforget.compression import Compressor, compressor_for
from fedforget.config import ExperimentConfig, load_config_text
from fedforget.data.datasets import ArrayData
from fedforget.data.federation import FederatedData, build_federated_data
from fedforget.deletion.requests import ids_of_requests
from fedforget.evaluation import federated as mia_fed
from fedforget.evaluation.attacks.base import signals
from fedforget.evaluation.evaluators import EVALUATORS
from fedforget.federation import apply_injected, corrupt_reply
from fedforget.models import build_model
from fedforget.training.local import accuracy_counts, local_sgd, predict_logits
from fedforget.unlearning import UNLEARNERS, retain_directions
from fedforget.unlearning.calibration import forget_report
from fedforget.util.device import as_cpu, device_for, place
from fedforget.util.errors import DataError, FedForgetError
from fedforget.util.io import atomic_save_npz, atomic_write_text, load_npz_cached
from fedforget.util.params import flat_params, get_arrays, set_arrays
from fedforget.util.seeding import derive_seed, torch_gen

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
Scalars = dict[str, Any]

ACTIONS = ("setup", "fit", "delete", "unlearn", "evaluate")


@functools.lru_cache(maxsize=8)
def _parse_config(text: str) -> ExperimentConfig:
    """Parse + validate a config text once per process: a long-lived client process
    (a Ray actor) reads the same config on every message; the file stays the source of
    truth (its text is the cache key), so a fresh process per message still works."""
    return load_config_text(text)


@functools.lru_cache(maxsize=4)
def _template_model(model_cfg: Any, input_shape: tuple[int, ...], num_classes: int) -> torch.nn.Module:
    """One built model per process and architecture; messages get a deep copy (building
    one re-seeds torch's generator and costs ~3 ms, a copy ~0.2 ms)."""
    return build_model(model_cfg, input_shape, num_classes, seed=0)


@functools.lru_cache(maxsize=4)
def _scratch_model(model_cfg: Any, input_shape: tuple[int, ...], num_classes: int) -> torch.nn.Module:
    """One reusable working model per process and architecture (ClientWorker._model)."""
    return copy.deepcopy(_template_model(model_cfg, input_shape, num_classes))


class ClientWorker:
    """``data_dir`` (deployment): read this client's samples and its deletion request
    from a device folder (:mod:`fedforget.data.local`) instead of deriving them from the
    experiment config (simulation, the default)."""

    record_ids = False  # tests, in process: log which of its ids each fit used (ids only)

    def __init__(self, partition_id: int, state_dir: str | Path, data_dir: str | Path | None = None) -> None:
        self.used_ids: list[tuple[str, np.ndarray]] = []
        self.partition_id = int(partition_id)
        self.state_dir = Path(state_dir)
        self.data_dir = Path(data_dir) if data_dir else None

    # ------------------------------------------------------------------ state
    @property
    def _config_path(self) -> Path:
        return self.state_dir / "config.yaml"

    @property
    def _forget_path(self) -> Path:
        return self.state_dir / "forget.npz"

    def config(self) -> ExperimentConfig:
        if not self._config_path.exists():
            raise FedForgetError(
                f"client {self.partition_id} has no experiment state in {self.state_dir}; "
                "the server must send 'setup' first"
            )
        return _parse_config(self._config_path.read_text())

    def _data(self, cfg: ExperimentConfig) -> FederatedData:
        return build_federated_data(cfg)

    def _local(self, cfg: ExperimentConfig) -> ArrayData:
        """All of this client's samples: the device folder, or the simulated partition."""
        if self.data_dir is not None:
            from fedforget.data.local import load_local_data

            return load_local_data(self.data_dir, lambda: self._data(cfg).train.num_classes)
        return self._data(cfg).client(self.partition_id)

    def _forget_state(self) -> dict[str, np.ndarray]:
        """The deletion state on disk (``ids``, and ``served`` for streamed requests), read
        once per version of the file (fedforget.util.io.load_npz_cached)."""
        return load_npz_cached(self._forget_path) if self._forget_path.exists() else {}

    def _splits(self, cfg: ExperimentConfig) -> tuple[ArrayData, ArrayData, ArrayData]:
        """(all local data, forget set, retain set) of this client. Streamed deletions
        (fedforget.run.timeline): the retain set also excludes every served request's ids."""
        local = self._local(cfg)
        state = self._forget_state()
        fids = state.get("ids", np.zeros(0, dtype=np.int64))
        gone = np.union1d(fids, state["served"]) if "served" in state else fids
        if len(gone) == 0:  # nothing deleted (yet): the retain set is all local data, no copy
            return local, local.take(np.zeros(0, dtype=np.int64)), local
        forget = local.take(np.isin(local.ids, fids))
        retain = local.take(~np.isin(local.ids, gone))
        return local, forget, retain

    def _trainable(self, local: ArrayData) -> ArrayData:
        """Training data: all local data, less what served streamed requests deleted."""
        state = self._forget_state()
        return local.take(~np.isin(local.ids, state["served"])) if "served" in state else local

    def _request_counts(self, cfg: ExperimentConfig, arrays: Arrays, requests: str,
                        attacks: list[str] | None = None) -> tuple[Arrays, Scalars]:
        """Accuracy counts, summed loss and the number of backdoor-triggered samples on each
        listed request's ids held here; with ``attacks``, their per-sample attack signals
        (``req.<i>.<attack>``, signals only, fedforget.evaluation.requests)."""
        local = self._local(cfg)
        fd = self._data(cfg)
        model, out, sigs = None, {}, {}
        for i in (int(v) for v in requests.split(",") if v):
            part = local.take(np.isin(local.ids, fd.forget_by_request[i][self.partition_id]))
            if len(part):
                model = model or self._model(cfg, arrays)
                c, n, loss = accuracy_counts(model, part)
                out.update({f"{i}.correct": c, f"{i}.n": n, f"{i}.loss": loss,
                            f"{i}.triggered": int(np.isin(part.ids, fd.poisoned).sum())})
                if attacks:
                    y = torch.from_numpy(np.ascontiguousarray(part.y))
                    for a, s in signals(attacks, predict_logits(model, part), y).items():
                        sigs[f"req.{i}.{a}"] = s
        return sigs, out

    def _model(self, cfg: ExperimentConfig, arrays: Arrays, scratch: bool = False) -> torch.nn.Module:
        """The model with ``arrays`` loaded (decoded and compressed like this client's), on
        this process's ``runtime.device`` (resolved here: fedforget.util.device): a fresh copy,
        or with ``scratch`` (an action that needs one model at a time and leaves its
        structure alone: fit, evaluate) this process's reusable instance, every weight and
        buffer overwritten and gradients cleared (a deep copy was a fifth of a fit;
        docs/performance.md, finding 12). The scratch model moves to the device once and
        stays there."""
        return place(self._loaded_model(cfg, arrays, scratch), device_for(cfg.runtime.device))

    def _loaded_model(self, cfg: ExperimentConfig, arrays: Arrays, scratch: bool) -> torch.nn.Module:
        ref = self._local(cfg) if self.data_dir is not None else self._data(cfg).train
        comp = self._compressor(cfg, ref)
        if scratch and not comp.enabled:  # compressed models get parametrizations: always a copy
            model = _scratch_model(cfg.model, ref.input_shape, ref.num_classes)
            for p in model.parameters():
                p.grad = None
        else:
            model = copy.deepcopy(_template_model(cfg.model, ref.input_shape, ref.num_classes))  # every weight is set below
        if comp.enabled:  # compressed client: decode the wire format, mask + fake-quantize
            return comp.load_(model, comp.decode(arrays))
        try:
            set_arrays(model, arrays)
        except (RuntimeError, ValueError) as e:
            if self.data_dir is None:
                raise
            raise DataError(
                f"the device data in {self.data_dir} (features of shape {tuple(ref.input_shape)}, "
                f"{ref.num_classes} classes) does not fit the federation's model ({str(e).splitlines()[0][:200]}); "
                "export the device data from the same dataset as the experiment (fedforget deploy export)"
            ) from e
        return model

    def _compressor(self, cfg: ExperimentConfig, ref: ArrayData | None = None) -> Compressor:
        """This experiment's :class:`~fedforget.compression.Compressor` (identity when
        ``compression`` is off); it remembers the masks of the last model received."""
        key = id(cfg)  # configs come from _parse_config: one object per text (digest() costs ~2 ms)
        if getattr(self, "_comp_key", None) != key:
            if ref is None:
                ref = self._local(cfg) if self.data_dir is not None else self._data(cfg).train
            self._comp = compressor_for(cfg, ref.input_shape, ref.num_classes)
            self._comp_key = key
        return self._comp

    # ------------------------------------------------------------------ actions
    def handle(self, action: str, arrays: Arrays, config: Scalars) -> tuple[Arrays, Scalars]:
        fn = getattr(self, f"on_{action}", None)
        if action not in ACTIONS or fn is None:
            raise FedForgetError(f"unknown client action {action!r}; known: {', '.join(ACTIONS)}")
        corrupt = apply_injected(config)  # tests: runtime.faults (fedforget.run.faults)
        if corrupt is not None:  # a reply corrupted on purpose (fedforget.run.admission refuses it)
            return corrupt_reply(corrupt, arrays, fn(arrays, config))
        return fn(arrays, config)

    def on_setup(self, arrays: Arrays, config: Scalars) -> tuple[Arrays, Scalars]:
        text = str(config["experiment"])
        cfg = _parse_config(text)  # validate before persisting
        atomic_write_text(self._config_path, text)
        self._forget_path.unlink(missing_ok=True)  # a new experiment starts with no deletion
        n = len(self._local(cfg))
        return {}, {"partition_id": self.partition_id, "num_examples": n}

    def on_delete(self, arrays: Arrays, config: Scalars) -> tuple[Arrays, Scalars]:
        """The deletion request is known only here; the server learns its size alone."""
        cfg = self.config()
        if self.data_dir is not None:  # the request was made on the device (forget.json)
            from fedforget.data.local import resolve_forget_request

            local = self._local(cfg)
            fids = resolve_forget_request(self.data_dir, local)
            n_local = len(local)
        else:
            fd = self._data(cfg)
            fids = fd.forget[self.partition_id]
            n_local = len(fd.partitions[self.partition_id])
        state = {"ids": fids}
        if "served" in config and self.data_dir is None:  # a streamed serve point (fedforget.run.loop)
            state["ids"] = fids = ids_of_requests(fd.forget_by_request, self.partition_id, str(config["current"]))
            state["served"] = ids_of_requests(fd.forget_by_request, self.partition_id, str(config["served"]))
            if self.record_ids:
                self.used_ids.append(("delete", state["served"]))
        atomic_save_npz(self._forget_path, state)
        out: Scalars = {"n_forget": len(fids), "n_retain": n_local - len(np.union1d(fids, state.get("served", fids)))}
        if len(fids):  # salted Merkle root of the forget set (fedforget.deletion.receipts); the salt stays here
            from fedforget.deletion.receipts.device import commit_forget_set

            key = "delete-" + str(config.get("current") or "all").replace(",", "-")
            out.update(commit_forget_set(self.data_dir or self.state_dir, self._local(cfg).select_ids(fids), key))
        return {}, out

    def on_fit(self, arrays: Arrays, config: Scalars) -> tuple[Arrays, Scalars]:
        """Local FedAvg training. ``phase``: ``train`` uses all local data; ``retrain`` and
        ``recover`` use the retain data only (after the deletion request). ``shadows=K``:
        one round of K stacked LiRA shadow federations (``shadow=k``: this client's half of
        its shadow pool; see fedforget.evaluation.federated)."""
        if int(config.get("shadows", 0)) > 0:
            return mia_fed.fit_shadows(self.on_fit, arrays, config)
        cfg = self.config()
        phase = str(config.get("phase", "train"))
        local, _forget, retain = self._splits(cfg)
        data = self._trainable(local) if phase == "train" else retain
        if "shadow" in config:
            data = mia_fed.shadow_half(cfg, self.partition_id, int(config["shadow"]), int(config["shadow_total"]))
        model = self._model(cfg, arrays, scratch=True)
        frac = float(config.get("select_fraction", 1.0))
        if frac < 1.0 and len(data) > 0:  # important-data selection (ConMU)
            data = data.take(np.sort(select_important(model, data, frac)))
        if self.record_ids:  # tests only: the ids this fit trains on
            self.used_ids.append((phase, np.array(data.ids)))
        tc = cfg.training
        stats = local_sgd(
            model, data, lr=float(config.get("lr", tc.lr)), batch_size=tc.batch_size,
            gen=torch_gen(int(config["seed"]), self.partition_id),
            epochs=int(config.get("epochs", tc.local_epochs)), momentum=tc.momentum,
            weight_decay=tc.weight_decay, post_step=self._compressor(cfg).post_step(),
        )
        comp = self._compressor(cfg)
        if comp.enabled:  # the deployed (integer / sparse) model travels back
            return comp.encode(comp.deployed(model), known=comp.received), {"num_examples": len(data), "loss": stats["loss"]}
        return get_arrays(model), {"num_examples": len(data), "loss": stats["loss"]}

    def on_unlearn(self, arrays: Arrays, config: Scalars) -> tuple[Arrays, Scalars]:
        """Forget clients return their forgetting update; retain participants return
        retain-loss gradient directions. A client may do both."""
        cfg = self.config()
        _local, forget, retain = self._splits(cfg)
        seed = int(config["seed"])
        out: Arrays = {}
        stats: Scalars = {}  # calibration statistics (counts only) ride on the reply
        uc = cfg.unlearning
        if bool(config.get("want_forget", True)) and len(forget) > 0:
            model = self._model(cfg, arrays)
            # A server procedure may name another objective, override local_steps/lr for
            # this round, and send reference weights as ``ref.<name>`` arrays.
            ucf = dataclasses.replace(uc, **{k: type(getattr(uc, k))(config[k]) for k in ("local_steps", "lr") if k in config})
            unl = UNLEARNERS.get(str(config.get("objective", uc.method)))(ucf)
            ref = {k[4:]: v for k, v in arrays.items() if k.startswith("ref.")}
            if ref:
                unl.reference = self._model(cfg, ref)
            unl.options = {k[4:]: v for k, v in config.items() if k.startswith("opt.")}
            comp = self._compressor(cfg)
            w0 = comp.deployed_flat(model) if comp.enabled else None
            stats = forget_report(model, forget, unl.options, unl.calibrated_on)
            upd = as_cpu(unl.forget_update(model, forget, retain, torch_gen(seed, self.partition_id, "forget")))
            if w0 is not None:  # what the deployed (masked, on-grid) model actually moved
                upd = comp.client_update(model, upd, w0)
            out["forget_update"] = upd.detach().numpy().astype(np.float32)
        if bool(config.get("want_retain", True)) and len(retain) > 0:
            model = self._model(cfg, arrays)
            dirs = as_cpu(retain_directions(
                model, retain, uc.retain_directions, uc.batch_size, torch_gen(seed, self.partition_id, "retain")
            ))
            comp = self._compressor(cfg)
            if comp.enabled:  # gradients of the compressed model, in the plain parameter order
                dirs = comp.canonical(model, dirs)
            out["retain_dirs"] = dirs.numpy().astype(np.float32)
        comp = self._compressor(cfg)
        if comp.enabled:
            out = comp.encode(out, masks=comp.last_masks, known=comp.received)
        return out, {"n_forget": len(forget), "n_retain": len(retain), **stats}

    @staticmethod
    def _counts(model: torch.nn.Module, forget: ArrayData, retain: ArrayData) -> Scalars:
        """Accuracy counts and summed loss of ``model`` on the forget and retain sets."""
        metrics: Scalars = {}
        for name, part in (("forget", forget), ("retain", retain)):
            c, n, loss = accuracy_counts(model, part)
            metrics.update({f"{name}_correct": c, f"{name}_n": n, f"{name}_loss": loss})
        return metrics

    def on_evaluate(self, arrays: Arrays, config: Scalars) -> tuple[Arrays, Scalars]:
        """Accuracy counts on forget/retain data, and attack signals on the forget set.
        ``mia=<attacks>``: only membership-inference signals (fedforget.evaluation.federated)
        of the model, or of K stacked shadow models with ``shadows=K``; with ``counts=1``
        (one model) the accuracy counts as well, from the same model."""
        cfg = self.config()
        if "relapse" in config:  # forget counts (and signals) per streamed request (fedforget.run.timeline)
            attacks = [a for a in str(config.get("attacks", "")).split(",") if a]
            return self._request_counts(cfg, arrays, str(config["relapse"]), attacks)
        _local, forget, retain = self._splits(cfg)
        if "mia" in config:
            sets = mia_fed.client_sets(self._data(cfg), cfg, self.partition_id, forget, retain)
            built: list[torch.nn.Module] = []  # the model the signals were computed with

            def model_of(a: Arrays) -> torch.nn.Module:  # one model at a time: the scratch one
                built.append(self._model(cfg, a, scratch=True))
                return built[-1]

            sigs = mia_fed.mia_signals(cfg, self.partition_id, sets, model_of, arrays, config)
            if config.get("counts") and "shadows" not in config:  # the final evaluation: one exchange, not two
                return sigs, self._counts(built[0], forget, retain)
            return sigs, {}
        if "evaluator" in config:  # relearn / probe (fedforget.evaluation.evaluators): scalars only
            ev = EVALUATORS.get(str(config["evaluator"]))()
            seed = derive_seed(int(config.get("seed", 0)), self.partition_id)
            kw = {"heldout": mia_fed.heldout(self._data(cfg), cfg, self.partition_id)} if ev.needs_heldout else {}
            return {}, ev.client(cfg, self._model(cfg, arrays), forget, retain, seed, **kw)
        model = self._model(cfg, arrays, scratch=True)
        metrics = self._counts(model, forget, retain)
        out: Arrays = {}
        attacks = [a for a in str(config.get("attacks", "")).split(",") if a]
        if attacks and len(forget) > 0:
            logits = predict_logits(model, forget)
            for name, s in signals(attacks, logits, torch.from_numpy(np.ascontiguousarray(forget.y))).items():
                out[f"signal.{name}"] = s
        return out, metrics


def select_important(model: torch.nn.Module, data: ArrayData, fraction: float) -> np.ndarray:
    """Indices of the ``ceil(fraction * n)`` samples with the largest loss under ``model``
    (the samples it fits worst carry the most gradient signal)."""
    logits = predict_logits(model, data)
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor(data.y), reduction="none")
    k = max(1, int(np.ceil(fraction * len(data))))
    return torch.topk(loss, k).indices.numpy()


def model_size(model: torch.nn.Module) -> int:
    return int(flat_params(model).numel())
