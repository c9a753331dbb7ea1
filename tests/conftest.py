"""Shared fixtures: a tiny config and a tiny federation that run in seconds on a CPU."""

from __future__ import annotations

import pytest

from fedforget.config import ExperimentConfig, config_from_dict

TINY = {
    "name": "tiny",
    "data": {"name": "synthetic", "synthetic_samples": 600, "synthetic_features": 16, "synthetic_classes": 4},
    "partition": {"num_clients": 4, "scheme": "iid"},
    "model": {"name": "mlp", "hidden": 32},
    "training": {"rounds": 4, "local_epochs": 1, "batch_size": 32, "lr": 0.1},
    # The tiny model does not forget in 3 rounds (backdoor ASR 1.0 at the serve point): the
    # acceptance rule (fedforget.deletion.acceptance) is off here and on in its own tests.
    "deletion": {"requests": [{"granularity": "client", "client": 1}],
                 "backdoor": {"enabled": True, "fraction": 0.5, "target": 0, "size": 3},
                 "acceptance": {"enabled": False}},
    "unlearning": {"rounds": 3, "local_steps": 10, "lr": 0.2, "recovery_rounds": 1},
    "evaluation": {"attacks": ["loss", "entropy"], "every_round": False},
    "runtime": {"seed": 0, "backend": "inprocess"},
}


def tiny_config(*overrides: str) -> ExperimentConfig:
    from fedforget.run.validate import (
        validate_experiment,  # registered names (methods, attacks, models)
    )

    return validate_experiment(config_from_dict(TINY, list(overrides)))


@pytest.fixture
def tiny_cfg() -> ExperimentConfig:
    return tiny_config()
