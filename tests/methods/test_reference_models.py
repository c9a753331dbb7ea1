"""The shared method reference test (tests/methods/test_reference.py) on every registered
model: a tiny federation per model (tiny synthetic shapes: 1x12x12 / 3x8x8 images, 8-token
texts), every registered method, client and sample granularity.

Per model, the trained original must fit (``FIT``: test accuracy and backdoor ASR that
make the forgetting criteria mean something) and each method must pass the same criteria
as the MLP reference test (forgetting evidence drops by ``MIN_DROP``, test accuracy at most
``MARGIN`` below the original's). ``OVERRIDES`` sizes each model's task so that its
original fits and learns the backdoor; ``KNOWN`` lists the methods whose measured
behaviour on that fitted original is the documented finding, with the figures
(docs/research.md). Slow: one comparison of every method per model and granularity.
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
# Per (model, granularity): what sizes each tiny task to its model so that the original fits and learns the
# backdoor (measured in issue 24, docs/research.md); data sizes, shapes, widths and rounds are unchanged, so the
# compute is too. Image inputs are standardised and trained at lr 0.03 (at
# 0.1 the LeNet-5 and width-4 ResNet originals or their retraining stalled near chance). The trigger is stamped
# at 3.0, a value no clean standardised pixel or feature takes (at 1.0 it looks like a bright template block),
# on every forget sample (fraction 1.0) except the LeNet-5 and ResNet client requests, where half a client suffices.
_TRIGGER = ["deletion.backdoor.value=3.0"]
_ALL_POISONED = [*_TRIGGER, "deletion.backdoor.fraction=1.0"]
_IMAGES = ["data.normalize=standard", "training.lr=0.03"]
OVERRIDES: dict[tuple[str, str], list[str]] = {
    ("mlp", "client"): _ALL_POISONED, ("mlp", "samples"): _ALL_POISONED,
    ("cnn", "client"): _IMAGES + _ALL_POISONED, ("cnn", "samples"): _IMAGES + _ALL_POISONED,
    ("lenet5", "client"): _IMAGES + _TRIGGER, ("lenet5", "samples"): _IMAGES + _ALL_POISONED,
    ("resnet18", "client"): _IMAGES + _TRIGGER, ("resnet18", "samples"): _IMAGES + _ALL_POISONED,
}
# (model, granularity, method) -> documented reason: a method's measured behaviour on a fitted original
# (issue 24, 1 torch thread; docs/research.md). Nothing here is a setup that did not fit.
_UTILITY = "measured: test acc {} -> {}, beyond the 0.15 margin ({})"
_ASCENT = "its ascent term degrades the retained classes"
_SURVIVES = ("measured: the backdoor survives fine-tuning on retain data (forget acc {}, ASR {}; drop {} < MIN_DROP): "
             "backdoors are known to survive fine-tuning-like updates that never see the trigger")
KNOWN: dict[tuple[str, str, str], str] = {
    ("mlp", "samples", "neggrad_plus"): _UTILITY.format(0.908, 0.525, _ASCENT),
    ("cnn", "client", "neggrad_plus"): _UTILITY.format(1.0, 0.833, _ASCENT),
    ("cnn", "samples", "neggrad_plus"): _UTILITY.format(0.992, 0.767, _ASCENT),
    ("lenet5", "client", "neggrad_plus"): _UTILITY.format(0.992, 0.767, _ASCENT),
    ("lenet5", "samples", "neggrad_plus"): _UTILITY.format(1.0, 0.767, _ASCENT),
    ("resnet18", "samples", "neggrad_plus"): _UTILITY.format(1.0, 0.833, _ASCENT),
    ("lenet5", "client", "gradient_ascent"): _UTILITY.format(0.992, 0.25, "plain ascent collapses LeNet-5 onto one "
                                                             "class: ASR 0.678 -> 1.0"),
    ("lenet5", "samples", "gradient_ascent"): _UTILITY.format(1.0, 0.492, "plain ascent drives forget samples into "
                                                              "the backdoor target: ASR 0.378 -> 0.678"),
    ("resnet18", "samples", "gradient_ascent"): _UTILITY.format(1.0, 0.30, "plain ascent collapses the ResNet onto "
                                                                "one class"),
    ("lenet5", "client", "random_label"): _UTILITY.format(0.992, 0.467, "random labels on a whole client's data "
                                                          "overwrite LeNet-5's retained classes"),
    ("resnet18", "samples", "conmu"): _UTILITY.format(1.0, 0.767, "forget acc 1.0 -> 0.0"),
    ("resnet18", "samples", "sau"): _UTILITY.format(1.0, 0.767, "forget acc 1.0 -> 0.0"),
    ("resnet18", "client", "finetune"): _SURVIVES.format("1.0 -> 1.0", "1.0 -> 1.0", 0.0),
    **{("resnet18", "client", m): ("measured: the ResNet's backdoor stays (forget acc and ASR 1.0 -> 1.0, drop 0.0 < "
                                   "MIN_DROP) at the shared unlearning settings") for m in ("gradient_ascent",
                                                                                         "neggrad_plus", "oeu")},
    ("resnet18", "client", "projected_ga"): _UTILITY.format(1.0, 0.533, "forget acc 1.0 -> 0.429"),
    ("resnet18", "client", "qmul"): _UTILITY.format(1.0, 0.75, "forget acc 1.0 -> 0.438"),
    ("resnet18", "client", "random_label"): _UTILITY.format(1.0, 0.65, "ASR stays 1.0"),
    ("cnn", "client", "finetune"): _SURVIVES.format("0.562 -> 0.571", "0.344 -> 0.367", -0.032),
    ("lenet5", "samples", "finetune"): _SURVIVES.format("0.462 -> 0.462", "0.378 -> 0.378", 0.0),
    ("resnet18", "samples", "finetune"): _SURVIVES.format("1.0 -> 1.0", "1.0 -> 1.0", 0.0),
    # measured under pytest (2 torch threads) on the final ResNet setups:
    ("resnet18", "client", "conmu"): ("measured: the ResNet's backdoor stays (forget acc 1.0 -> 1.0, ASR 1.0 -> 0.989, "
                                      "drop 0.011 < MIN_DROP) at the shared unlearning settings"),
    ("resnet18", "client", "fedosd"): _UTILITY.format(1.0, 0.75, "orthogonal steepest descent on the width-4 ResNet"),
    ("resnet18", "samples", "fedosd"): _UTILITY.format(1.0, 0.583, "orthogonal steepest descent on the width-4 ResNet"),
}


def _comparison(model: str, gran: str, out) -> dict:  # noqa: ANN001
    from fedforget.client.inprocess import InProcessFederation
    from fedforget.studies.compare import run_comparison

    d = copy.deepcopy(TINY)
    d["data"], d["model"] = SETUPS[model]
    d["evaluation"] = {**TINY["evaluation"], "retrain": True}
    d["deletion"] = {**TINY["deletion"], "requests": REQUESTS[gran]}
    methods = [m for m in method_names() if gran in resolve_procedure(m).granularities]
    d["compare"] = {"methods": [{"method": m, "set": SETTINGS.get(m, [])} for m in methods]}
    cfg = config_from_dict(d, TRAIN + OVERRIDES.get((model, gran), []))
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
