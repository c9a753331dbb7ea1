"""Experiment configuration: frozen dataclasses, one per component, loaded from YAML.

Every field is checked before any work starts. A bad value raises :class:`ConfigError`
naming the field, the value and what is allowed, e.g.::

    unlearning.lr must be a float > 0, got -1

``load_config(path, overrides=["unlearning.rounds=3"])`` applies ``--set`` style
overrides (values parsed as YAML scalars) before validation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from fedforget.config.deletion import AcceptanceConfig, BackdoorConfig, DeletionConfig, DeletionRequest, StreamConfig
from fedforget.config.fields import (
    VALIDATORS,
    _check,
    _nonneg,
    _pos,
    _to_plain,
    _unit_closed,
    _unit_open,
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
    SubspaceConfig,
    QuantizationConfig,
    RuntimeConfig,
    SparsityConfig,
)
from fedforget.util.errors import ConfigError

# The package's public surface: the sections defined in its modules (fields, sections,
# deletion) are imported from here (``from fedforget.config import RuntimeConfig``).
__all__ = [
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
class DataConfig:
    """Where the samples come from and how they are split into client/test/non-member data."""

    name: Literal["digits", "synthetic", "synthetic_images", "synthetic_text", "huggingface", "local"] = "digits"
    # Hugging Face dataset id (name == "huggingface"), loaded through flwr-datasets.
    hf_dataset: str = ""
    hf_split: str = "train"
    hf_max_samples: int = field(default=0, metadata=_nonneg())  # 0 = all
    # Synthetic generators (tests, offline pipelines): Gaussian class blobs (synthetic),
    # class-patterned images of image_shape (synthetic_images), token sequences (synthetic_text).
    synthetic_samples: int = field(default=1000, metadata=_pos("int"))
    synthetic_features: int = field(default=20, metadata=_pos("int"))
    synthetic_classes: int = field(default=4, metadata=_check(lambda v: v >= 2, "an int >= 2"))
    image_shape: tuple[int, ...] = field(default=(3, 32, 32), metadata=_check(
        lambda v: len(v) == 3 and min(v) > 0, "a list of 3 ints > 0 (channels, height, width)"))
    # Text (synthetic_text, and Hugging Face datasets with a text column: hashed word tokens).
    vocab_size: int = field(default=1000, metadata=_check(lambda v: v >= 4, "an int >= 4"))
    text_length: int = field(default=32, metadata=_pos("int"))
    # Local files (name == "local"): an ImageFolder-style tree (<path>/<class>/<image>), a
    # .npz file or device folder holding data.npz (x, y[, ids, num_classes]), or a Parquet file.
    path: str = ""
    # Normalisation of the features: none, standard (per-channel mean/std of the training
    # pool), or the given per-channel mean/std (e.g. CIFAR-10's), applied to every split.
    normalize: Literal["none", "standard"] = "none"
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = field(default=(), metadata=_check(lambda v: all(s > 0 for s in v), "a list of floats > 0"))
    test_fraction: float = field(default=0.2, metadata=_unit_open())
    nonmember_fraction: float = field(default=0.1, metadata=_unit_open())


@dataclass(frozen=True)
class PartitionConfig:
    """How client data is split (flwr-datasets partitioners)."""

    num_clients: int = field(default=10, metadata=_check(lambda v: v >= 1, "an int >= 1"))
    scheme: Literal["iid", "dirichlet", "pathological"] = "dirichlet"
    alpha: float = field(default=0.5, metadata=_pos())
    classes_per_client: int = field(default=2, metadata=_pos("int"))
    min_partition_size: int = field(default=10, metadata=_nonneg())


def _hidden_ok(v: Any) -> bool:
    return all(h > 0 for h in v) and len(v) > 0 if isinstance(v, tuple) else v > 0


@dataclass(frozen=True)
class ModelConfig:
    """``name``: a registered model (fedforget.models: mlp, cnn, lenet5, resnet18,
    text_transformer, ...) or ``"package.module:factory"``, a function
    ``(input_shape, num_classes) -> torch.nn.Module``. Names are checked by
    :func:`fedforget.run.validate.validate_experiment` (the layer that knows the registry)."""

    name: str = "mlp"
    hidden: int | tuple[int, ...] = field(default=128, metadata=_check(_hidden_ok, "an int > 0 or a list of ints > 0"))
    # resnet18: normalisation layers (GroupNorm by default: BatchNorm statistics are a
    # known problem under FedAvg), GroupNorm groups, base width (64 in the paper).
    norm: Literal["group", "batch", "none"] = "group"
    norm_groups: int = field(default=2, metadata=_pos("int"))
    width: int = field(default=64, metadata=_pos("int"))
    # text_transformer: vocabulary (>= data.vocab_size), embedding size, heads, encoder layers.
    vocab_size: int = field(default=1000, metadata=_check(lambda v: v >= 4, "an int >= 4"))
    embed_dim: int = field(default=64, metadata=_pos("int"))
    heads: int = field(default=4, metadata=_pos("int"))
    layers: int = field(default=1, metadata=_check(lambda v: 1 <= v <= 4, "an int in [1, 4]"))


@dataclass(frozen=True)
class TrainingConfig:
    """Federated training (FedAvg) of the original model and of the retrain baseline."""

    rounds: int = field(default=20, metadata=_pos("int"))
    local_epochs: int = field(default=1, metadata=_pos("int"))
    batch_size: int = field(default=32, metadata=_pos("int"))
    lr: float = field(default=0.1, metadata=_pos())
    momentum: float = field(default=0.9, metadata=_check(lambda v: 0 <= v < 1, "a float in [0, 1)"))
    weight_decay: float = field(default=0.0, metadata=_nonneg("float"))
    clients_per_round: float = field(default=1.0, metadata=_check(lambda v: 0 < v <= 1, "a float in (0, 1]"))
    # How the server combines the clients' models in training, recovery and retraining rounds
    # (fedforget.training.aggregators): fedavg, or the robust median / trimmed_mean (which
    # drops trim_fraction of the values at each end); clip_norm > 0 first scales each
    # client's update down to at most that L2 norm.
    aggregation: str = "fedavg"
    trim_fraction: float = field(default=0.1, metadata=_check(lambda v: 0 <= v < 0.5, "a float in [0, 0.5)"))
    clip_norm: float = field(default=0.0, metadata=_nonneg("float"))


@dataclass(frozen=True)
class UnlearningConfig:
    """Unlearning rounds: a client-side objective and a server-side combination."""

    method: str = "oeu"  # registered method: client Unlearner and/or server Procedure
    combiner: str = "projected"  # registered Combiner (server)
    rounds: int = field(default=5, metadata=_pos("int"))
    local_steps: int = field(default=10, metadata=_pos("int"))
    batch_size: int = field(default=32, metadata=_pos("int"))
    lr: float = field(default=0.05, metadata=_pos())
    server_lr: float = field(default=1.0, metadata=_pos())
    retain_directions: int = field(default=4, metadata=_pos("int"))  # per retain client
    recovery_rounds: int = field(default=2, metadata=_nonneg())
    recovery_lr: float = field(default=0.05, metadata=_pos())
    # Retain-matched forgetting (fedforget.unlearning.calibration): "target" = objectives
    # stop per sample once it looks like a non-member at the ``target_quantile`` of the
    # server's non-member pool (statistics travel in the unlearn config, never samples);
    # ``early_stop`` also ends the rounds once the forget set as a whole does (off by
    # default: it fires before a backdoor is gone, docs/evaluation.md); "none" = the
    # original objectives (the library default: calibration is better on the quickstart
    # federation, which opts in, but removes less of a backdoor on a barely trained one).
    calibration: Literal["none", "target"] = "none"
    target_quantile: float = field(default=0.99, metadata=_unit_open())
    early_stop: bool = False
    # Then ``settle_rounds`` rounds that pull over-unlearned forget samples (entropy above
    # the non-member ``settle_quantile``) back to it (methods with ``can_settle``: oeu).
    settle_rounds: int = field(default=3, metadata=_nonneg())
    settle_quantile: float = field(default=0.75, metadata=_unit_open())
    # Stability: clip each local unlearning step's gradient norm (0 = off).
    max_grad_norm: float = field(default=5.0, metadata=_nonneg("float"))
    # Options of individual methods (used only when that method runs).
    neggrad_plus: NegGradPlusConfig = NegGradPlusConfig()
    conmu: ConMUConfig = ConMUConfig()
    federaser: FedEraserConfig = FedEraserConfig()
    projected_ga: ProjectedGAConfig = ProjectedGAConfig()
    # The retain subspace (fedforget.unlearning.subspace) and where projections happen:
    # "global" = one projection of the whole update, "per_layer" = each parameter tensor
    # projected onto the complement of its own slices of the retain directions.
    subspace: SubspaceConfig = SubspaceConfig()
    projection: Literal["global", "per_layer"] = "global"


@dataclass(frozen=True)
class RelearnConfig:
    """``relearn`` evaluator: fine-tune on ``fraction`` of each client's forget set (or on
    its retain data, ``data: retain``) for ``steps`` steps, measuring forget accuracy on
    the rest of the forget set every ``every`` steps."""

    steps: int = field(default=20, metadata=_pos("int"))
    every: int = field(default=5, metadata=_pos("int"))
    lr: float = field(default=0.05, metadata=_pos())
    fraction: float = field(default=0.2, metadata=_unit_open())
    data: Literal["forget", "retain"] = "forget"
    recovered: float = field(default=0.9, metadata=_unit_open())  # "recovered" = this share of the original's forget acc


@dataclass(frozen=True)
class EvaluationConfig:
    attacks: tuple[str, ...] = ("loss", "entropy")
    every_round: bool = True
    retrain: bool = True  # run the retrain-from-scratch gold standard
    # Share of clients evaluated in each per-round evaluation (a sample drawn from the
    # root seed per round); every client is evaluated at the end of the run.
    clients_per_round: float = field(default=1.0, metadata=_check(lambda v: 0 < v <= 1, "a float in (0, 1]"))
    # Streamed requests: the reference (retrained without everything deleted so far) at
    # the end only, or also at each serve point (one retraining per serve point).
    retrain_at: Literal["final", "each"] = "final"
    # Membership inference (fedforget.evaluation): K shadow federations for LiRA and for
    # the class-dependent thresholds of the threshold attacks (0 = none), their variance
    # model (auto = pooled below 32 shadows) and cache root ("" = ~/.cache/fedforget).
    shadow_models: int = field(default=0, metadata=_nonneg())
    shadow_variance: Literal["auto", "per_example", "global"] = "auto"
    shadow_cache: str = ""
    # RMIA (Zarifzadeh et al. 2024; attacks rmia / rmia_offline): the likelihood-ratio
    # threshold gamma and the offline approximation's a (Pr_IN ~ a Pr_OUT + 1 - a).
    rmia_gamma: float = field(default=1.0, metadata=_pos())
    rmia_offline_a: float = field(default=0.3, metadata=_unit_closed())
    # Before/after attack (fedforget.evaluation.attacks.before_after): deleted samples found
    # from the change between the model before and after unlearning (off by default).
    before_after: bool = False
    # quant_recovery evaluator: post-training quantization bit widths (round-to-nearest,
    # symmetric, per output channel); the clients' own grid is added in a compressed run.
    quant_bits: tuple[int, ...] = field(default=(8, 4), metadata=_check(
        lambda v: len(v) > 0 and all(b in (2, 4, 8) for b in v), "a non-empty list of 8, 4, 2"))
    # relearn_retain evaluator: FedAvg rounds of retain-only fine-tuning (lr: relearn.lr).
    relearn_retain_rounds: int = field(default=3, metadata=_pos("int"))
    # Evaluators beyond attack scores (fedforget.evaluation.evaluators), run on the clients:
    # relearn (fine-tuning attack), probe (linear probe on frozen features).
    evaluators: tuple[str, ...] = ()
    relearn: RelearnConfig = RelearnConfig()


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
