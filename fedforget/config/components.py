"""The experiment's components, one frozen dataclass each: data, partition, model, local
training, unlearning (with its method options from :mod:`fedforget.config.sections`),
relearning and evaluation. :class:`~fedforget.config.ExperimentConfig` nests them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from fedforget.config.fields import (
    _check,
    _nonneg,
    _pos,
    _unit_closed,
    _unit_open,
)
from fedforget.config.sections import (
    ConMUConfig,
    FedEraserConfig,
    NegGradPlusConfig,
    ProjectedGAConfig,
    SubspaceConfig,
)


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
