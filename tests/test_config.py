"""Config validation: every bad input fails before any work with a ConfigError naming the field."""

from __future__ import annotations

import pytest

from fedforget.config import ExperimentConfig, config_from_dict, load_config, load_config_text
from fedforget.util.errors import ConfigError
from tests.conftest import TINY, tiny_config


def test_defaults_and_roundtrip():
    cfg = tiny_config()
    assert isinstance(cfg, ExperimentConfig)
    again = load_config_text(cfg.to_yaml())
    assert again == cfg
    assert again.digest() == cfg.digest()


@pytest.mark.parametrize(
    "override, field_name, fragment",
    [
        ("unlearning.lr=-1", "unlearning.lr", "a float > 0, got -1"),
        ("unlearning.lr=abc", "unlearning.lr", "must be a float"),
        ("training.rounds=0", "training.rounds", "an int > 0"),
        ("training.rounds=2.5", "training.rounds", "must be an int"),
        ("training.momentum=1.5", "training.momentum", "[0, 1)"),
        ("partition.scheme=random", "partition.scheme", "one of 'iid', 'dirichlet', 'pathological'"),
        ("partition.num_clients=0", "partition.num_clients", ">= 1"),
        ("data.test_fraction=1.2", "data.test_fraction", "(0, 1)"),
        ("data.name=imagenet", "data.name", "one of"),
        ("model.name=transformer", "model.name", "one of"),
        ("evaluation.every_round=maybe", "evaluation.every_round", "a bool"),
        ("unlearning.method=nope", "unlearning.method", "oeu"),
        ("unlearning.combiner=nope", "unlearning.combiner", "projected"),
        ("evaluation.attacks=[loss,nope]", "evaluation.attacks[1]", "loss"),
        ("runtime.backend=spark", "runtime.backend", "'ray'"),
        ("deletion.backdoor.fraction=0", "deletion.backdoor.fraction", "(0, 1]"),
    ],
)
def test_bad_values_name_the_field(override, field_name, fragment):
    with pytest.raises(ConfigError) as e:
        tiny_config(override)
    msg = str(e.value)
    assert field_name in msg and fragment in msg, msg


def test_unknown_keys_are_rejected_with_allowed_keys():
    with pytest.raises(ConfigError, match=r"unknown key trainig; allowed keys: .*data, deletion"):
        config_from_dict({**TINY, "trainig": {}})
    with pytest.raises(ConfigError, match=r"unknown key training.epochs; allowed keys in training: aggregation, batch_size"):
        tiny_config("training.epochs=3")
    bad = {**TINY, "deletion": {"requests": [{"granularity": "client", "client": 1, "sample": 3}]}}
    with pytest.raises(ConfigError, match=r"deletion.requests\[0\].sample"):
        config_from_dict(bad)


@pytest.mark.parametrize(
    "requests, fragment",
    [
        ([{"granularity": "client", "client": 7}], "deletion.requests[0].client must be a client index in [0, 3]"),
        ([{"granularity": "class"}], "deletion.requests[0].label must be set"),
        ([{"granularity": "samples", "client": 0}], "needs fraction in (0, 1] or a list of ids"),
        ([{"granularity": "client"}], "deletion.requests[0].client must be set"),
        ([{"granularity": "everything", "client": 0}], "deletion.requests[0].granularity must be one of"),
        ([], "deletion.requests must hold at least one request"),
        ([{"granularity": "client", "client": c} for c in range(4)], "keep at least one client"),
    ],
)
def test_bad_deletion_requests(requests, fragment):
    with pytest.raises(ConfigError) as e:
        config_from_dict({**TINY, "deletion": {"requests": requests}})
    assert fragment in str(e.value), str(e.value)


def test_sections_must_be_mappings_and_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="training must be a mapping"):
        config_from_dict({**TINY, "training": 3})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("training: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(ConfigError, match="must look like section.field=value"):
        tiny_config("training.rounds")


def test_overrides_parse_yaml_scalars_and_lists():
    cfg = tiny_config("training.lr=0.5", "evaluation.attacks=[loss]", "deletion.backdoor.enabled=false")
    assert cfg.training.lr == 0.5 and cfg.evaluation.attacks == ("loss",)
    assert cfg.deletion.backdoor.enabled is False
    # an int where a float is expected is accepted and stored as float
    assert tiny_config("unlearning.lr=1").unlearning.lr == 1.0
