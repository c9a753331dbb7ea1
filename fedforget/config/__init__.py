"""Experiment configuration: frozen dataclasses, one per component, loaded from YAML.

``components`` holds the experiment's components (data, partition, model, training,
unlearning, evaluation), ``sections`` the method options, compression, runtime and
``compare`` rows, ``deletion`` the requests, stream and acceptance rule, ``fields`` the
validation machinery; this module nests them in :class:`ExperimentConfig`, checks the
whole, and loads YAML. Layer 1: imports nothing of fedforget but ``fedforget.util.errors``.

Every field is checked before any work starts. A bad value raises :class:`ConfigError`
naming the field, the value and what is allowed, e.g.::

    unlearning.lr must be a float > 0, got -1

``load_config(path, overrides=["unlearning.rounds=3"])`` applies ``--set`` style
overrides (values parsed as YAML scalars) before validation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fedforget.config.components import (
    DataConfig,
    EvaluationConfig,
    ModelConfig,
    PartitionConfig,
    RelearnConfig,
    TrainingConfig,
    UnlearningConfig,
)
from fedforget.config.deletion import (
    AcceptanceConfig,
    BackdoorConfig,
    DeletionConfig,
    DeletionRequest,
    StreamConfig,
)
from fedforget.config.fields import (
    VALIDATORS,
    _to_plain,
    apply_overrides,
    from_dict,
)
from fedforget.config.sections import (
    CompareConfig,
    CompareEntry,
    CompressionConfig,
    ConMUConfig,
    FaultInjection,
    FedEraserConfig,
    MinClientsFraction,
    NegGradPlusConfig,
    ProjectedGAConfig,
    QuantizationConfig,
    RuntimeConfig,
    SparsityConfig,
    SubspaceConfig,
)
from fedforget.util.errors import ConfigError

# The package's public surface: the components and sections defined in its modules
# (components, sections, deletion, fields) are imported from here
# (``from fedforget.config import RuntimeConfig``).
__all__ = [
    "DataConfig",
    "EvaluationConfig",
    "ModelConfig",
    "PartitionConfig",
    "RelearnConfig",
    "TrainingConfig",
    "UnlearningConfig",
    "AcceptanceConfig",
    "BackdoorConfig",
    "CompareConfig",
    "CompareEntry",
    "CompressionConfig",
    "ConMUConfig",
    "DeletionConfig",
    "DeletionRequest",
    "FaultInjection",
    "FedEraserConfig",
    "MinClientsFraction",
    "NegGradPlusConfig",
    "ProjectedGAConfig",
    "SubspaceConfig",
    "QuantizationConfig",
    "RuntimeConfig",
    "SparsityConfig",
    "StreamConfig",
    "apply_overrides",
    "from_dict",
]

@dataclass(frozen=True)
class ExperimentConfig:
    name: str = "experiment"
    data: DataConfig = DataConfig()
    partition: PartitionConfig = PartitionConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    deletion: DeletionConfig = DeletionConfig()
    unlearning: UnlearningConfig = UnlearningConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    compare: CompareConfig = CompareConfig()
    compression: CompressionConfig = CompressionConfig()

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def digest(self, *sections: str) -> str:
        """Stable hash of the whole config, or of the named top-level sections only."""
        d = self.to_dict()
        if sections:
            d = {k: d[k] for k in sections}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- parsing


def _validate_request(r: DeletionRequest, where: str) -> None:
    if r.granularity == "class":
        if r.label < 0:
            raise ConfigError(f"{where}.label must be set (a class label >= 0) for granularity 'class'")
    else:
        if r.client < 0:
            raise ConfigError(
                f"{where}.client must be set (a client index >= 0) for granularity {r.granularity!r}"
            )
    if r.granularity == "samples" and not r.ids and r.fraction <= 0:
        raise ConfigError(
            f"{where}: granularity 'samples' needs fraction in (0, 1] or a list of ids, got neither"
        )


def _validate_experiment(cfg: ExperimentConfig, where: str) -> None:
    n = cfg.partition.num_clients
    if not cfg.deletion.requests and cfg.deletion.stream.rate <= 0:
        raise ConfigError("deletion.requests must hold at least one request (or set deletion.stream.rate > 0), got []")
    for i, r in enumerate(cfg.deletion.requests):
        if r.client >= n:
            raise ConfigError(
                f"deletion.requests[{i}].client must be a client index in [0, {n - 1}] "
                f"(partition.num_clients={n}), got {r.client}"
            )
    for i, f in enumerate(cfg.runtime.faults):
        if f.client >= n:
            raise ConfigError(f"runtime.faults[{i}].client must be a client index in [0, {n - 1}] "
                              f"(partition.num_clients={n}), got {f.client}")
    for i, r in enumerate(cfg.deletion.requests):
        if r.at_round > cfg.training.rounds:
            raise ConfigError(
                f"deletion.requests[{i}].at_round must be -1 (after training) or a round in "
                f"[0, {cfg.training.rounds}] (training.rounds={cfg.training.rounds}), got {r.at_round}"
            )
    d = cfg.deletion
    if d.policy == "batched" and d.batch_every <= 0 and d.batch_pending <= 0:
        raise ConfigError(
            "deletion.policy 'batched' needs deletion.batch_every (rounds) or deletion.batch_pending "
            "(requests) > 0, got neither"
        )
    if d.stream.rate > 0 and d.stream.mix_samples + d.stream.mix_class + d.stream.mix_client <= 0:
        raise ConfigError("deletion.stream.mix_samples + mix_class + mix_client must be > 0, got 0")
    whole = {r.client for r in cfg.deletion.requests if r.granularity == "client"}
    if len(whole) >= n:
        raise ConfigError(
            "deletion.requests delete every client; keep at least one client's data to retain"
        )
    if cfg.data.name == "huggingface" and not cfg.data.hf_dataset:
        raise ConfigError("data.hf_dataset must name a Hugging Face dataset (e.g. 'mnist') when data.name is 'huggingface'")
    if cfg.data.test_fraction + cfg.data.nonmember_fraction >= 0.9:
        raise ConfigError(
            "data.test_fraction + data.nonmember_fraction must be < 0.9 to leave training data, "
            f"got {cfg.data.test_fraction + cfg.data.nonmember_fraction:g}"
        )
    # Registered names (methods, combiners, attacks, models) are checked by
    # fedforget.run.validate.validate_experiment, the layer that knows the registries.
    if cfg.data.name == "local" and not cfg.data.path:
        raise ConfigError("data.path must name a folder, .npz or .parquet file when data.name is 'local'")
    if len(cfg.data.mean) != len(cfg.data.std):
        raise ConfigError(
            f"data.mean and data.std must have one value per channel each, got {len(cfg.data.mean)} and "
            f"{len(cfg.data.std)} values"
        )
    _validate_compare(cfg)
    sp = cfg.compression.sparsity
    if sp.target > 0:
        end = sp.end_round if sp.end_round >= 0 else max(sp.start_round, cfg.training.rounds // 2 - 1)
        if sp.start_round >= cfg.training.rounds or end >= cfg.training.rounds:
            raise ConfigError(
                f"compression.sparsity.start_round/end_round must be training rounds in [0, {cfg.training.rounds - 1}], "
                f"got {sp.start_round}/{sp.end_round}"
            )
        if sp.schedule == "gradual" and end < sp.start_round:
            raise ConfigError(
                f"compression.sparsity.end_round must be >= start_round ({sp.start_round}), got {sp.end_round}"
            )


def compare_entry_config(cfg: ExperimentConfig, entry: CompareEntry) -> ExperimentConfig:
    """The experiment config of one compare row: ``cfg`` with ``unlearning.method`` set and
    the entry's overrides applied (only ``unlearning.*`` may change: every row starts from
    the same trained federation). Validated like any config."""
    where = f"compare.methods[{entry.name!r}]"
    for ov in entry.set:
        if not ov.strip().startswith("unlearning."):
            raise ConfigError(
                f"{where}.set entry {ov!r} must override an unlearning.* field; training, data and "
                "deletion are shared by every compared method"
            )
    base = cfg.to_dict()
    base["compare"] = {}
    try:
        return config_from_dict(base, [f"unlearning.method={entry.method}", *entry.set])
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _validate_compare(cfg: ExperimentConfig) -> None:
    seen: set[str] = set()
    for entry in cfg.compare.methods:
        if entry.name in seen or entry.name in ("original", "retrain_baseline"):
            raise ConfigError(
                f"compare.methods: row name {entry.name!r} is used twice (or reserved); give each row a unique label"
            )
        seen.add(entry.name)
        compare_entry_config(cfg, entry)


VALIDATORS.update({
    DeletionRequest: _validate_request,
    ExperimentConfig: _validate_experiment,
})


def config_from_dict(data: Any, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"an experiment config must be a mapping at the top level, got {type(data).__name__}")
    return from_dict(ExperimentConfig, apply_overrides(data, overrides))


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist; pass the path of a YAML file (see configs/)")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {str(p)!r} is not valid YAML: {e}") from None
    return config_from_dict(data, overrides)


def load_config_text(text: str) -> ExperimentConfig:
    return config_from_dict(yaml.safe_load(text))
