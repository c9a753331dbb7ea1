"""Zero-knowledge evidence (optional extra ``zk``: ``pip install fedforget[zk]``).

The device proves with ezkl (Halo2 over the model's ONNX graph, KZG commitments) that the
published model -- bound to the proof through its parameters (fixed in the circuit, so the
verification key commits to them; or, optionally, their public Poseidon hash), which the
verifier takes from the model file whose SHA-256 the receipt signs -- maps ``n`` private
forget samples (public only as the Poseidon hash of their quantized values) to the
public outputs. From those outputs anyone computes the proven forgetting evidence
(mean confidence and entropy on the samples) without seeing the samples or trusting the
client's numbers.

A bundle is a folder (``<receipt>.zk/``): ``model.json`` (architecture), ``model.npz``
(the published model), ``settings.json``, ``vk.key``, ``kzg.srs``, ``proof.json`` and
``claim.json`` (what the client claims the outputs show). The proving key stays with the
prover. The SRS is generated locally (``ezkl.gen_srs``): whoever generated it could forge
proofs, so in production use a public ceremony SRS (``ezkl.get_srs``). See
docs/verifiable-deletion.md for what this proves and what it does not.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from fedforget.util.errors import FedForgetError
from fedforget.util.hashing import model_hash
from fedforget.util.io import atomic_save_npz, atomic_write_json, load_npz

log = logging.getLogger(__name__)

SCALE = 8  # fixed-point bits of inputs and parameters in the circuit
BUNDLE_FILES = ("model.json", "model.npz", "settings.json", "vk.key", "kzg.srs", "proof.json", "claim.json")
CLAIM_TOL = 1e-6
PARAM_MODES = ("fixed", "hashed")


class ZkError(FedForgetError):
    """ezkl is missing, or a circuit cannot be built, proven or verified."""


def available() -> bool:
    return importlib.util.find_spec("ezkl") is not None and importlib.util.find_spec("onnx") is not None


def _ezkl() -> Any:
    if not available():
        raise ZkError("zero-knowledge proofs need the zk extra: pip install 'fedforget[zk]' (ezkl and onnx)")
    import ezkl

    return ezkl


def _torch_model(spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
    from fedforget.config import ModelConfig
    from fedforget.models import build_model
    from fedforget.util.params import set_arrays

    cfg = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec["config"].items()})
    model = build_model(cfg, tuple(spec["input_shape"]), int(spec["num_classes"]), seed=0)
    set_arrays(model, arrays)
    return model.eval()


def model_spec(model_cfg: Any, input_shape: tuple[int, ...], num_classes: int, n: int) -> dict[str, Any]:
    """What a verifier needs to rebuild the circuit's graph: architecture, shapes, batch."""
    return {"config": dataclasses.asdict(model_cfg), "input_shape": list(input_shape),
            "num_classes": int(num_classes), "n": int(n)}


def _export(spec: dict[str, Any], arrays: dict[str, np.ndarray], path: Path) -> None:
    import warnings

    import torch

    model = _torch_model(spec, arrays)
    x = torch.zeros((int(spec["n"]), *spec["input_shape"]), dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, str(path), input_names=["input"], output_names=["output"], dynamo=False)


def _input_json(x: np.ndarray, path: Path) -> None:
    path.write_text(json.dumps({"input_data": [np.asarray(x, dtype=np.float64).reshape(-1).tolist()]}))


def _witness(ezkl: Any, spec: dict[str, Any], arrays: dict[str, np.ndarray], x: np.ndarray, settings: Path,
             work: Path) -> dict[str, Any]:
    """The circuit's witness of ``arrays`` on inputs ``x`` (hashes of inputs and parameters)."""
    _export(spec, arrays, work / "check.onnx")
    ezkl.compile_circuit(str(work / "check.onnx"), str(work / "check.ezkl"), str(settings))
    _input_json(x, work / "check.input.json")
    return dict(ezkl.gen_witness(str(work / "check.input.json"), str(work / "check.ezkl"), str(work / "check.wit.json")))


def _params_hash(ezkl: Any, spec: dict[str, Any], arrays: dict[str, np.ndarray], settings: Path, work: Path) -> str:
    """The Poseidon hash of ``arrays`` as the circuit sees them (a witness on a zero input)."""
    x = np.zeros((int(spec["n"]), *spec["input_shape"]))
    return str(_witness(ezkl, spec, arrays, x, settings, work)["processed_params"]["poseidon_hash"][0])


def check_inputs(bundle: Path, x: np.ndarray) -> tuple[str, bool, str]:
    """On the device: are ``x`` (its committed samples the receipt chose) the proof's
    inputs? Compares the Poseidon hash of their quantized values with the proof's."""
    ezkl = _ezkl()
    work = bundle.with_name(bundle.name + ".inputs")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        spec = json.loads((bundle / "model.json").read_text())
        w = _witness(ezkl, spec, load_npz(bundle / "model.npz"), x, bundle / "settings.json", work)
        ok = str(w["processed_inputs"]["poseidon_hash"][0]) == _instances(bundle)[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ("zk.inputs", ok, f"the proof's {len(x)} inputs are this device's committed samples" if ok else
            "the proof's inputs are not this device's committed samples")


def output_stats(logits: np.ndarray) -> dict[str, Any]:
    """Forgetting evidence from the outputs: mean max-softmax confidence, mean entropy,
    predicted classes."""
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    ent = -(p * np.log(np.clip(p, 1e-12, 1))).sum(1)
    return {"n": int(len(p)), "mean_confidence": float(p.max(1).mean()), "mean_entropy": float(ent.mean()),
            "predicted": [int(c) for c in p.argmax(1)]}


def srs_file(ezkl: Any, logrows: int, srs_dir: str | Path | None = None) -> Path:
    """A structured reference string for circuits of ``2**logrows`` rows, generated
    locally once and kept in ``srs_dir`` (``$FEDFORGET_SRS_DIR`` or
    ``~/.cache/fedforget/srs``). Testing only: its maker could forge proofs."""
    d = Path(srs_dir or os.environ.get("FEDFORGET_SRS_DIR", "") or Path.home() / ".cache" / "fedforget" / "srs")
    path = d / f"kzg{int(logrows)}.srs"
    if not path.exists():
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".kzg{int(logrows)}.srs.{os.getpid()}.tmp"
        log.info("generating a local SRS for 2^%d rows (once, kept in %s)", logrows, d)
        ezkl.gen_srs(str(tmp), int(logrows))
        os.replace(tmp, path)
    return path


def prove(
    spec: dict[str, Any], arrays: dict[str, np.ndarray], x: np.ndarray, bundle: str | Path,
    work: str | Path | None = None, srs_dir: str | Path | None = None, params: str = "fixed",
) -> dict[str, float]:
    """Build the circuit of the model ``spec`` with parameters ``arrays``, prove its outputs
    on the ``n`` samples ``x`` and write the bundle. Returns the timings (seconds) of
    ``compile`` (ONNX, settings, circuit), ``srs`` (0 when cached, see :func:`srs_file`),
    ``setup`` (keys), ``prove`` and ``verify`` (a self-check), and ``logrows``.

    ``params``: ``"fixed"`` (default) puts the parameters in the circuit's fixed columns,
    so the verification key commits to them and a verifier binds the proof to the
    published model by rebuilding that key (one key setup); ``"hashed"`` makes their
    Poseidon hash a public input (binding costs the verifier one witness, but hashing
    ~10k parameters makes the circuit ~20x larger: 400k rows instead of 19k for 64-128-10)."""
    if params not in PARAM_MODES:
        raise ZkError(f"params must be one of {PARAM_MODES}, got {params!r}")
    ezkl = _ezkl()
    bundle = Path(bundle)
    work = Path(work) if work else bundle.with_name(bundle.name + ".work")
    for d in (bundle, work):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    x = np.asarray(x, dtype=np.float32)
    if len(x) != int(spec["n"]):
        raise ZkError(f"the circuit proves exactly n={spec['n']} samples, got {len(x)}")
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    _export(spec, arrays, work / "net.onnx")
    ra = ezkl.PyRunArgs()
    ra.input_visibility, ra.param_visibility, ra.output_visibility = "hashed", params, "public"
    ra.input_scale = ra.param_scale = SCALE
    settings = bundle / "settings.json"
    ezkl.gen_settings(str(work / "net.onnx"), str(settings), py_run_args=ra)
    s = json.loads(settings.read_text())
    s["run_args"]["logrows"] = max(10, math.ceil(math.log2(int(s["num_rows"]) + 64)))  # the smallest that fits
    settings.write_text(json.dumps(s))
    ezkl.compile_circuit(str(work / "net.onnx"), str(work / "net.ezkl"), str(settings))
    t["compile"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    shutil.copyfile(srs_file(ezkl, int(s["run_args"]["logrows"]), srs_dir), bundle / "kzg.srs")
    t["srs"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ezkl.setup(str(work / "net.ezkl"), str(bundle / "vk.key"), str(work / "pk.key"), str(bundle / "kzg.srs"))
    t["setup"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _input_json(x, work / "input.json")
    ezkl.gen_witness(str(work / "input.json"), str(work / "net.ezkl"), str(work / "witness.json"))
    ezkl.prove(str(work / "witness.json"), str(work / "net.ezkl"), str(work / "pk.key"), str(bundle / "proof.json"),
               str(bundle / "kzg.srs"))
    t["prove"] = time.perf_counter() - t0
    atomic_write_json(bundle / "model.json", spec)
    atomic_save_npz(bundle / "model.npz", arrays)
    logits = _proven_outputs(ezkl, bundle)
    atomic_write_json(bundle / "claim.json", {"model_hash": model_hash(arrays), **output_stats(logits)})
    t0 = time.perf_counter()
    if not ezkl.verify(str(bundle / "proof.json"), str(settings), str(bundle / "vk.key"), str(bundle / "kzg.srs")):
        raise ZkError("the proof just made does not verify")
    t["verify"] = time.perf_counter() - t0
    t["logrows"] = float(s["run_args"]["logrows"])
    shutil.rmtree(work, ignore_errors=True)  # the proving key is large and stays with nobody
    return t


def _instances(bundle: Path) -> list[str]:
    return list(json.loads((bundle / "proof.json").read_text())["instances"][0])


def _hashed_params(bundle: Path) -> bool:
    vis = json.loads((bundle / "settings.json").read_text())["run_args"]["param_visibility"]
    return isinstance(vis, dict) and "Hashed" in vis


def _rebuilt_vk(ezkl: Any, spec: dict[str, Any], arrays: dict[str, np.ndarray], bundle: Path, work: Path) -> bytes:
    """The verification key of the circuit of ``arrays`` under the bundle's settings and SRS."""
    _export(spec, arrays, work / "net.onnx")
    ezkl.compile_circuit(str(work / "net.onnx"), str(work / "net.ezkl"), str(bundle / "settings.json"))
    ezkl.setup(str(work / "net.ezkl"), str(work / "vk.key"), str(work / "pk.key"), str(bundle / "kzg.srs"))
    return (work / "vk.key").read_bytes()


def _proven_outputs(ezkl: Any, bundle: Path) -> np.ndarray:
    """The public outputs of the proof (instances after the input hash and, with hashed
    parameters, their hash)."""
    spec = json.loads((bundle / "model.json").read_text())
    settings = json.loads((bundle / "settings.json").read_text())
    scale = int(settings.get("model_output_scales", [SCALE])[0])
    vals = [ezkl.felt_to_float(f, scale) for f in _instances(bundle)[1 + _hashed_params(bundle):]]
    return np.asarray(vals, dtype=np.float64).reshape(int(spec["n"]), int(spec["num_classes"]))


def verify_bundle(bundle: Path, body: dict[str, Any], *, rebuild_vk: bool = False) -> list[tuple[str, bool, str]]:
    """Checks of a bundle against a receipt body: the model file is the receipt's
    ``model_hash_after``, the proof is about that model (fixed parameters: the rebuilt
    verification key is the bundle's; hashed: the Poseidon hash matches), the proof
    verifies, the claim matches the proven outputs; with hashed parameters and
    ``rebuild_vk`` also that the verification key is this architecture's circuit."""
    out: list[tuple[str, bool, str]] = []
    missing = [f for f in BUNDLE_FILES if not (bundle / f).exists()]
    if missing:
        return [("zk", False, f"the bundle {bundle} lacks {missing}")]
    try:
        ezkl = _ezkl()
    except ZkError as e:
        return [("zk", False, str(e))]
    arrays = load_npz(bundle / "model.npz")
    h = model_hash(arrays)
    ok = h == body.get("model_hash_after")
    out.append(("zk.model", ok, "the bundle's model is the receipt's model_hash_after" if ok else
                f"the bundle's model hashes to {h[:20]}…, the receipt's model_hash_after is "
                f"{str(body.get('model_hash_after'))[:20]}…"))
    spec = json.loads((bundle / "model.json").read_text())
    work = bundle.with_name(bundle.name + ".check")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        if _hashed_params(bundle):
            ok = _params_hash(ezkl, spec, arrays, bundle / "settings.json", work) == _instances(bundle)[1]
            how = "Poseidon hash of its parameters"
        else:  # fixed parameters: the verification key commits to them
            t0 = time.perf_counter()
            ok = _rebuilt_vk(ezkl, spec, arrays, bundle, work) == (bundle / "vk.key").read_bytes()
            how = f"verification key rebuilt from its parameters in {time.perf_counter() - t0:.1f}s"
        out.append(("zk.params", ok, f"the proof is about this model ({how})" if ok else
                    "the proof is about a different model: its parameters are not the published model's"))
        t0 = time.perf_counter()
        try:
            ok = bool(ezkl.verify(str(bundle / "proof.json"), str(bundle / "settings.json"), str(bundle / "vk.key"),
                                  str(bundle / "kzg.srs")))
        except Exception:  # ezkl raises on malformed proofs
            ok = False
        out.append(("zk.proof", ok, f"Halo2 proof verifies ({time.perf_counter() - t0:.2f}s)" if ok else
                    "the Halo2 proof does not verify"))
        claim = json.loads((bundle / "claim.json").read_text())
        proven = output_stats(_proven_outputs(ezkl, bundle))
        bad = [k for k in ("mean_confidence", "mean_entropy") if abs(float(claim.get(k, math.nan)) - proven[k]) > CLAIM_TOL]
        bad += ["predicted"] if claim.get("predicted") != proven["predicted"] else []
        out.append(("zk.claim", not bad,
                    f"proven on {proven['n']} committed samples: mean confidence {proven['mean_confidence']:.3f}, "
                    f"mean entropy {proven['mean_entropy']:.3f}" if not bad else
                    f"the claimed {', '.join(bad)} differ from the proven outputs"))
        if rebuild_vk and _hashed_params(bundle):
            ok = _rebuilt_vk(ezkl, spec, arrays, bundle, work) == (bundle / "vk.key").read_bytes()
            out.append(("zk.circuit", ok, "the verification key is this architecture's circuit" if ok else
                        "the verification key is not the circuit of the published architecture"))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
