"""runtime.device (fedforget.util.device): resolution in the working process, the checks made
before any work, and runs whose numbers do not depend on how the device is reached.

CI has no GPU: the cuda and mps paths of *resolution* are tested with a patched torch;
the placement code is exercised on the CPU (see test_device_path_on_cpu)."""

from __future__ import annotations

import json

import pytest
import torch

import fedforget.util.device as device_mod
from fedforget.util.device import (
    as_cpu,
    check_device_config,
    device_for,
    model_device,
    place,
    resolve_device,
    to_device,
)
from fedforget.util.errors import ConfigError
from tests.conftest import TINY, tiny_config


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_mod, "mps_available", lambda: False)
    device_for.cache_clear()
    yield
    device_for.cache_clear()


@pytest.fixture
def fake_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    device_for.cache_clear()
    yield
    device_for.cache_clear()


def test_cpu_and_auto_without_accelerator_resolve_to_cpu(no_accelerator):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("name", ["cuda", "mps"])
def test_missing_accelerator_is_a_config_error_naming_the_fix(no_accelerator, name):
    with pytest.raises(ConfigError, match=rf"runtime.device='{name}'.*use runtime.device=cpu \(or auto"):
        resolve_device(name)


def test_unknown_device_name():
    with pytest.raises(ConfigError, match="runtime.device must be one of auto, cpu, cuda, mps, got 'tpu'"):
        resolve_device("tpu")


def test_cuda_path_of_resolution(fake_cuda, monkeypatch):
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("auto") == torch.device("cuda", 0)  # cuda before mps
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_mod, "mps_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps", 0)


def test_cuda_on_ray_needs_gpus_per_client(fake_cuda):
    # Checked from the config alone, whether or not this machine has a GPU.
    with pytest.raises(ConfigError, match=r"runtime.gpus_per_client > 0 .*got 0; Ray hides every GPU"):
        tiny_config("runtime.device=cuda", "runtime.backend=ray")
    cfg = tiny_config("runtime.device=cuda", "runtime.backend=ray", "runtime.gpus_per_client=0.25")
    check_device_config(cfg.runtime)
    check_device_config(tiny_config("runtime.device=cuda").runtime)  # in process: no Ray reservation needed
    check_device_config(tiny_config("runtime.device=auto", "runtime.backend=ray").runtime)  # auto falls back


def test_run_refuses_missing_cuda_before_any_work(no_accelerator, tmp_path):
    from fedforget.runtime.simulation import run_experiment

    with pytest.raises(ConfigError, match="use runtime.device=cpu"):
        run_experiment(tiny_config("runtime.device=cuda"), tmp_path / "run", write_report=False)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
    assert not (tmp_path / "run" / "results.json").exists()


def test_helpers_move_and_keep():
    t = torch.arange(3)
    assert to_device(t, None) is t and to_device(t, torch.device("cpu")) is t and as_cpu(t) is t
    x, y = to_device((t, t + 1), torch.device("cpu"))
    assert x is t and torch.equal(y, t + 1)
    net = torch.nn.Linear(2, 2)
    assert place(net, torch.device("cpu")) is net and model_device(net) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters: the CPU


def _numbers(out) -> dict:
    """results.json without wall times and the config digest (the device is in the config)."""
    res = json.loads((out / "results.json").read_text())

    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items()
                    if not k.endswith("_s") and k != "config_digest"}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    return strip(res)


def _metrics(out) -> list[dict]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if "time" not in k and not k.endswith("_s")} for r in rows]


SHORT = ("training.rounds=2", "unlearning.rounds=1", "unlearning.recovery_rounds=0", "evaluation.retrain=false")


def test_auto_on_cpu_gives_the_cpu_numbers(no_accelerator, tmp_path):
    from fedforget.runtime.simulation import run_experiment

    run_experiment(tiny_config(*SHORT, "runtime.device=cpu"), tmp_path / "cpu", write_report=False)
    run_experiment(tiny_config(*SHORT, "runtime.device=auto"), tmp_path / "auto", write_report=False)
    assert _numbers(tmp_path / "cpu") == _numbers(tmp_path / "auto")
    assert _metrics(tmp_path / "cpu") == _metrics(tmp_path / "auto")


METHODS = {
    "oeu": (),
    "qmul": ("compression.quantization.bits=4",),
    "sau": ("compression.sparsity.target=0.5",),
    "retrain": (),
}


def _samples_config(*over: str):
    """The tiny config deleting 30% of client 1's samples: the forget client also holds
    retain data (qmul's retain batches, retain directions on the forget client)."""
    from fedforget.config import config_from_dict
    from fedforget.run.validate import validate_experiment

    deletion = {**TINY["deletion"], "requests": [{"granularity": "samples", "client": 1, "fraction": 0.3}]}
    return validate_experiment(config_from_dict({**TINY, "deletion": deletion}, list(over)))


@pytest.mark.parametrize("method", sorted(METHODS))
def test_device_path_on_cpu(method, monkeypatch, tmp_path):
    """The accelerator code path, run on the CPU: the server evaluates on a separate
    eval_model (as it does on a GPU), and every mini-batch any objective, direction or
    evaluation draws is placed explicitly on the model's device. Same numbers as the
    plain CPU path: no evaluation reads a stale model, nothing is left off the device."""
    import fedforget.client.worker as client_mod
    import fedforget.run.experiment as experiment_mod
    import fedforget.training.local as training_mod
    from fedforget.runtime.simulation import run_experiment

    over = (*SHORT, f"unlearning.method={method}", *METHODS[method])
    run_experiment(_samples_config(*over), tmp_path / "plain", write_report=False)

    seen: list[torch.device] = []

    def strict_to_device(x, device):
        assert device is not None, "a batch was drawn without the model's device"
        seen.append(device)
        return to_device(x, device)

    placed: list[torch.device] = []

    def spy_place(model, device):
        placed.append(device)
        return place(model, device)

    monkeypatch.setattr(training_mod, "to_device", strict_to_device)  # every mini-batch (retain gradients too)
    monkeypatch.setattr(client_mod, "place", spy_place)  # every model a client builds
    monkeypatch.setattr(experiment_mod, "CPU", object())  # the server takes its accelerator path
    run_experiment(_samples_config(*over), tmp_path / "device", write_report=False)
    assert seen and all(d == torch.device("cpu") for d in seen)
    assert placed and all(d == torch.device("cpu") for d in placed)
    assert _numbers(tmp_path / "plain") == _numbers(tmp_path / "device")
    assert _metrics(tmp_path / "plain") == _metrics(tmp_path / "device")
