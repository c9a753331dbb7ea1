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

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fedforget.config import ExperimentConfig, load_config_text
from fedforget.data.datasets import ArrayData
from fedforget.data.federation import FederatedData, build_federated_data
from fedforget.errors import FedForgetError
from fedforget.evaluation.attacks.base import signals
from fedforget.io import atomic_save_npz, atomic_write_text, load_npz
from fedforget.models import build_model
from fedforget.params import flat_params, get_arrays, set_arrays
from fedforget.seeding import torch_gen
from fedforget.training import accuracy_counts, local_sgd, predict_logits
from fedforget.unlearning import UNLEARNERS, retain_directions

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
Scalars = dict[str, Any]

ACTIONS = ("setup", "fit", "delete", "unlearn", "evaluate")


class ClientWorker:
    def __init__(self, partition_id: int, state_dir: str | Path) -> None:
        self.partition_id = int(partition_id)
        self.state_dir = Path(state_dir)

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
        return load_config_text(self._config_path.read_text())

    def _data(self, cfg: ExperimentConfig) -> FederatedData:
        return build_federated_data(cfg)

    def _forget_ids(self) -> np.ndarray | None:
        if not self._forget_path.exists():
            return None
        return load_npz(self._forget_path)["ids"]

    def _splits(self, cfg: ExperimentConfig) -> tuple[ArrayData, ArrayData, ArrayData]:
        """(all local data, forget set, retain set) of this client."""
        fd = self._data(cfg)
        local = fd.client(self.partition_id)
        fids = self._forget_ids()
        if fids is None:
            fids = np.zeros(0, dtype=np.int64)
        forget = local.take(np.isin(local.ids, fids))
        retain = local.take(~np.isin(local.ids, fids))
        return local, forget, retain

    def _model(self, cfg: ExperimentConfig, arrays: Arrays) -> torch.nn.Module:
        fd = self._data(cfg)
        model = build_model(cfg.model, fd.train.input_shape, fd.train.num_classes, seed=0)
        set_arrays(model, arrays)
        return model

    # ------------------------------------------------------------------ actions
    def handle(self, action: str, arrays: Arrays, config: Scalars) -> tuple[Arrays, Scalars]:
        fn = getattr(self, f"on_{action}", None)
        if action not in ACTIONS or fn is None:
            raise FedForgetError(f"unknown client action {action!r}; known: {', '.join(ACTIONS)}")
        return fn(arrays, config)

    def on_setup(self, arrays: Arrays, config: Scalars) -> tuple[Arrays, Scalars]:
        text = str(config["experiment"])
        cfg = load_config_text(text)  # validate before persisting
        atomic_write_text(self._config_path, text)
        self._forget_path.unlink(missing_ok=True)  # a new experiment starts with no deletion
        n = len(self._data(cfg).client(self.partition_id))
        return {}, {"partition_id": self.partition_id, "num_examples": n}

    def on_delete(self, arrays: Arrays, config: Scalars) -> tuple[Arrays, Scalars]:
        """The deletion request is known only here; the server learns its size alone."""
        cfg = self.config()
        fd = self._data(cfg)
        fids = fd.forget[self.partition_id]
        atomic_save_npz(self._forget_path, {"ids": fids})
        n_local = len(fd.partitions[self.partition_id])
        return {}, {"n_forget": len(fids), "n_retain": n_local - len(fids)}

    def on_fit(self, arrays: Arrays, config: Scalars) -> tuple[Arrays, Scalars]:
        """Local FedAvg training. ``phase``: ``train`` uses all local data; ``retrain`` and
        ``recover`` use the retain data only (after the deletion request)."""
        cfg = self.config()
        phase = str(config.get("phase", "train"))
        local, _forget, retain = self._splits(cfg)
        data = local if phase == "train" else retain
        model = self._model(cfg, arrays)
        tc = cfg.training
        stats = local_sgd(
            model, data, lr=float(config.get("lr", tc.lr)), batch_size=tc.batch_size,
            gen=torch_gen(int(config["seed"]), self.partition_id),
            epochs=int(config.get("epochs", tc.local_epochs)), momentum=tc.momentum,
            weight_decay=tc.weight_decay,
        )
        return get_arrays(model), {"num_examples": len(data), "loss": stats["loss"]}

    def on_unlearn(self, arrays: Arrays, config: Scalars) -> tuple[Arrays, Scalars]:
        """Forget clients return their forgetting update; retain participants return
        retain-loss gradient directions. A client may do both."""
        cfg = self.config()
        _local, forget, retain = self._splits(cfg)
        seed = int(config["seed"])
        out: Arrays = {}
        uc = cfg.unlearning
        if bool(config.get("want_forget", True)) and len(forget) > 0:
            model = self._model(cfg, arrays)
            unl = UNLEARNERS.get(uc.method)(uc)
            upd = unl.forget_update(model, forget, retain, torch_gen(seed, self.partition_id, "forget"))
            out["forget_update"] = upd.detach().numpy().astype(np.float32)
        if bool(config.get("want_retain", True)) and len(retain) > 0:
            model = self._model(cfg, arrays)
            dirs = retain_directions(
                model, retain, uc.retain_directions, uc.batch_size, torch_gen(seed, self.partition_id, "retain")
            )
            out["retain_dirs"] = dirs.numpy().astype(np.float32)
        return out, {"n_forget": len(forget), "n_retain": len(retain)}

    def on_evaluate(self, arrays: Arrays, config: Scalars) -> tuple[Arrays, Scalars]:
        """Accuracy counts on forget/retain data, and attack signals on the forget set."""
        cfg = self.config()
        _local, forget, retain = self._splits(cfg)
        model = self._model(cfg, arrays)
        metrics: Scalars = {}
        for name, part in (("forget", forget), ("retain", retain)):
            c, n, loss = accuracy_counts(model, part)
            metrics.update({f"{name}_correct": c, f"{name}_n": n, f"{name}_loss": loss})
        out: Arrays = {}
        attacks = [a for a in str(config.get("attacks", "")).split(",") if a]
        if attacks and len(forget) > 0:
            logits = predict_logits(model, forget)
            for name, s in signals(attacks, logits, torch.from_numpy(np.ascontiguousarray(forget.y))).items():
                out[f"signal.{name}"] = s
        return out, metrics


def model_size(model: torch.nn.Module) -> int:
    return int(flat_params(model).numel())
