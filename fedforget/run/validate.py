"""Validation of the names a config gives to registered components: unlearning methods
(and their procedures' own checks), combiners, attacks, models, and every
``compare.methods`` row.

``fedforget.config`` checks types, ranges and everything that needs no registry; this
module sits above the registries (methods, evaluators, models), so ``config.py`` depends
on nothing of fedforget but its errors. Call :func:`validate_experiment` wherever a
config is loaded for work (the CLI, the runtime, :class:`~fedforget.run.experiment.Experiment`);
a typo still fails before any work starts, with a message listing the known names.
"""

from __future__ import annotations

from typing import Any

from fedforget.config import ExperimentConfig, compare_entry_config
from fedforget.evaluation.attacks import ATTACKS
from fedforget.evaluation.evaluators import EVALUATORS
from fedforget.models import check_model_name
from fedforget.training.aggregators import AGGREGATORS
from fedforget.unlearning.combiners import COMBINERS
from fedforget.unlearning.procedure import method_names, resolve_procedure
from fedforget.util.device import check_device_config
from fedforget.util.errors import ConfigError


def _known(reg: Any, name: str, path: str) -> None:
    if name not in reg:
        raise ConfigError(f"{path} must be one of {', '.join(reg.names())}, got {name!r}")


def _validate_names(cfg: ExperimentConfig) -> None:
    if cfg.unlearning.method not in method_names():
        raise ConfigError(f"unlearning.method must be one of {', '.join(method_names())}, got {cfg.unlearning.method!r}")
    _known(COMBINERS, cfg.unlearning.combiner, "unlearning.combiner")
    _known(AGGREGATORS, cfg.training.aggregation, "training.aggregation")
    for i, a in enumerate(cfg.evaluation.attacks):
        _known(ATTACKS, a, f"evaluation.attacks[{i}]")
        if ATTACKS.get(a).needs_shadows and cfg.evaluation.shadow_models < 2:
            raise ConfigError(
                f"evaluation.attacks[{i}] {a!r} needs shadow models: evaluation.shadow_models must be "
                f"an int >= 2 (8 or more recommended), got {cfg.evaluation.shadow_models}"
            )
    if cfg.evaluation.shadow_models and cfg.compression.enabled:
        # LiRA's K shadow models travel stacked in one payload, which the compressed clients'
        # codec (one model template per message) cannot encode: refused before any work.
        raise ConfigError(
            f"evaluation.shadow_models={cfg.evaluation.shadow_models} (shadow federations for lira/rmia) is not "
            "supported with compressed clients yet (compression.quantization.bits="
            f"{cfg.compression.quantization.bits}, compression.sparsity.target={cfg.compression.sparsity.target:g}); "
            "set evaluation.shadow_models=0 and use the shadow-free attacks (loss, confidence, entropy, "
            "modified_entropy), or run the attack on an uncompressed federation"
        )
    for i, e in enumerate(cfg.evaluation.evaluators):
        _known(EVALUATORS, e, f"evaluation.evaluators[{i}]")
    proc = resolve_procedure(cfg.unlearning.method)
    for i, r in enumerate(cfg.deletion.requests):
        if r.granularity not in proc.granularities:
            raise ConfigError(
                f"deletion.requests[{i}].granularity {r.granularity!r} is not supported by "
                f"unlearning.method {cfg.unlearning.method!r} (supports: {', '.join(sorted(proc.granularities))})"
            )
    proc.validate(cfg)


def validate_experiment(cfg: ExperimentConfig) -> ExperimentConfig:
    """Check every registered name of ``cfg`` (and of each compare row); return ``cfg``.
    Raises :class:`ConfigError` naming the field, the value and the known names."""
    check_model_name(cfg.model.name)
    check_device_config(cfg.runtime)  # cuda on Ray needs gpus_per_client > 0
    if cfg.data.name in ("synthetic_text",) and cfg.model.vocab_size < cfg.data.vocab_size:
        raise ConfigError(
            f"model.vocab_size must be >= data.vocab_size ({cfg.data.vocab_size}) so every token has an "
            f"embedding, got {cfg.model.vocab_size}"
        )
    _validate_names(cfg)
    for entry in cfg.compare.methods:
        row = compare_entry_config(cfg, entry)
        try:
            _validate_names(row)
        except ConfigError as e:
            raise ConfigError(f"compare.methods[{entry.name!r}]: {e}") from None
    return cfg
