"""Config sections of the run's machinery and of individual methods: method options,
compression, runtime (backends, Ray, faults) and ``fedforget compare`` rows. Re-exported
by :mod:`fedforget.config`; depends on nothing of fedforget but its errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from fedforget.config.fields import _check, _nonneg, _pos, _unit_closed, _unit_open


@dataclass(frozen=True)
class NegGradPlusConfig:
    """``neggrad_plus``: weight of the retain descent against the forget ascent."""

    retain_weight: float = field(default=0.5, metadata=_unit_open())


@dataclass(frozen=True)
class ConMUConfig:
    """``conmu``: ``control`` is the one knob trading privacy, utility and runtime.

    Higher ``control`` = more retain data selected to train the unlearning proxy and
    more proxy rounds (utility up, runtime up) and less Gaussian noise on the unlearning
    updates (privacy down). ``noise`` is the noise std at ``control`` -> 0."""

    control: float = field(default=0.5, metadata=_check(lambda v: 0 < v <= 1, "a float in (0, 1]"))
    noise: float = field(default=0.02, metadata=_nonneg("float"))


@dataclass(frozen=True)
class FedEraserConfig:
    """``federaser``: store clients' updates every ``interval`` training rounds; calibrate
    with ``calibration_epochs`` local epochs on the retain clients."""

    interval: int = field(default=2, metadata=_pos("int"))
    calibration_epochs: int = field(default=1, metadata=_pos("int"))


@dataclass(frozen=True)
class ProjectedGAConfig:
    """``projected_ga``: radius of the L2 ball around the reference model, as a fraction
    of the reference model's distance to the initial (random) model."""

    radius_fraction: float = field(default=1 / 3, metadata=_pos())


@dataclass(frozen=True)
class SubspaceConfig:
    """The retain subspace the server projects onto (fedforget.unlearning.subspace):
    ``exact`` keeps every retain direction (memory grows with the clients), ``bounded`` an
    orthonormal basis of at most ``rank`` directions folded ``block`` at a time (memory
    ``(rank + block) x`` the model), ``auto`` = exact when its estimate fits the server's
    memory (runtime.max_server_memory_gb), else bounded. ``tol``: a direction whose residual
    against the basis is at most ``tol`` (relative) adds nothing."""

    method: Literal["auto", "exact", "bounded"] = "auto"
    rank: int = field(default=48, metadata=_pos("int"))
    block: int = field(default=16, metadata=_pos("int"))
    tol: float = field(default=1e-3, metadata=_unit_open())


@dataclass(frozen=True)
class QuantizationConfig:
    """Quantized clients (``fedforget.compression``): fake quantization with a
    straight-through estimator during training; the deployed model and the wire carry
    integers. ``bits: 0`` = off."""

    bits: int = field(default=0, metadata=_check(lambda v: v in (0, 8, 4, 2), "one of 0 (off), 8, 4, 2"))
    granularity: Literal["per_tensor", "per_channel"] = "per_channel"
    symmetric: bool = True  # False = affine (zero point)
    # fnmatch patterns on parameter names (e.g. "net.1.*"); () = every Linear/Conv weight.
    layers: tuple[str, ...] = ()
    activations: bool = False  # also fake-quantize the inputs of quantized layers (per tensor)
    # Bits of forgetting updates and retain directions on the wire (0 = float32).
    update_bits: int = field(default=8, metadata=_check(lambda v: v in (0, 8), "0 (float32) or 8"))


@dataclass(frozen=True)
class SparsityConfig:
    """Sparse clients: magnitude pruning with ``torch.nn.utils.prune``; masks persist
    through every phase. ``target: 0`` = off."""

    target: float = field(default=0.0, metadata=_check(lambda v: 0 <= v < 1, "a float in [0, 1)"))
    structure: Literal["unstructured", "channels"] = "unstructured"
    scope: Literal["global", "layerwise"] = "global"  # unstructured only
    schedule: Literal["one_shot", "gradual"] = "one_shot"
    # Training round (0-based) after whose aggregation pruning starts; gradual pruning
    # reaches ``target`` after round ``end_round`` (-1 = half of training.rounds).
    start_round: int = field(default=0, metadata=_nonneg())
    end_round: int = field(default=-1, metadata=_check(lambda v: v >= -1, "an int >= -1"))
    layers: tuple[str, ...] = ()  # as quantization.layers


@dataclass(frozen=True)
class CompressionConfig:
    quantization: QuantizationConfig = QuantizationConfig()
    sparsity: SparsityConfig = SparsityConfig()

    @property
    def enabled(self) -> bool:
        return self.quantization.bits > 0 or self.sparsity.target > 0


@dataclass(frozen=True)
class MinClientsFraction:
    """Per phase: the share of a round's requested clients that must answer (after one
    retry) for the round to count; fewer fail the run (fedforget.run.faults)."""

    train: float = field(default=0.5, metadata=_unit_closed())
    unlearn: float = field(default=0.5, metadata=_unit_closed())
    recover: float = field(default=0.5, metadata=_unit_closed())
    retrain: float = field(default=0.5, metadata=_unit_closed())
    evaluate: float = field(default=0.5, metadata=_unit_closed())


@dataclass(frozen=True)
class FaultInjection:
    """Tests: make ``client`` fail in the ``round``-th exchange (1-based; -1 = every one)
    of ``phase``: ``raise``, or ``hang`` for ``hang_s`` seconds (0 = client_timeout_s + 1)
    and then fail; ``times`` attempts fail (1 = the retry succeeds; -1 = every attempt)."""

    client: int = field(default=0, metadata=_nonneg())
    phase: Literal["setup", "delete", "train", "unlearn", "recover", "retrain", "evaluate"] = "train"
    round: int = field(default=-1, metadata=_check(lambda v: v == -1 or v >= 1, "an int >= 1, or -1 (every round)"))
    # ... or answer with a corrupted reply (fedforget.federation.CORRUPT_KINDS), which the
    # server's admission check refuses (fedforget.run.admission); ``zero``: no update at all.
    kind: Literal["raise", "hang", "nan", "shape", "dtype", "missing", "extra", "num_examples", "scale", "zero"] = "raise"
    times: int = field(default=1, metadata=_check(lambda v: v == -1 or v >= 1, "an int >= 1, or -1 (every attempt)"))
    hang_s: float = field(default=0.0, metadata=_nonneg("float"))


@dataclass(frozen=True)
class RuntimeConfig:
    seed: int = 0
    backend: Literal["ray", "inprocess"] = "ray"
    cpus_per_client: float = field(default=1.0, metadata=_pos())
    total_cpus: int = field(default=0, metadata=_nonneg())  # 0 = all cores
    state_dir: str = ""  # client state root; "" = <out>/client-state
    # Where models and tensors live, resolved by each process that does work (server,
    # Ray actor, SuperNode): auto = cuda, else mps, else cpu (fedforget.util.device). cuda on
    # Ray needs gpus_per_client > 0. What travels stays NumPy on the CPU.
    device: Literal["auto", "cpu", "cuda", "mps"] = "cpu"
    gpus_per_client: float = field(default=0.0, metadata=_nonneg("float"))  # fractional GPUs per Ray client
    # Join an existing Ray cluster ("auto", "host:port", "ray://host:port") instead of
    # starting a private one; "" = start one sized to this machine.
    ray_address: str = ""
    # Where a simulated client's private state (config, forget set, commitments) lives
    # between messages: "context" = carried in Flower's node Context (any node can run the
    # next message; a node-local folder caches it), "dir" = the state_dir folder itself
    # (one machine, or a folder every node mounts). See docs/scale-out.md.
    client_state: Literal["context", "dir"] = "context"
    # Messages in flight per Ray actor (fedforget.runtime.engine): each actor already holds
    # its next message when it finishes one. A message queued behind a client that hangs
    # waits with it (until client_timeout_s, then it is retried elsewhere), so a hang can
    # cost the clients queued behind it their round. 0 = auto: 3, or 1 when runtime.faults
    # injects a hang. 1 = Flower's own dispatch.
    pipeline_depth: int = field(default=0, metadata=_nonneg())
    # Client faults (fedforget.run.faults): a client that fails or sends no reply within
    # client_timeout_s is retried once, then left out of the round; a round needs
    # min_clients_fraction of its clients (one float, or per phase); a forget client that
    # missed unlearning rounds gets up to makeup_rounds extra ones. faults: injection (tests).
    client_timeout_s: float = field(default=600.0, metadata=_pos())
    min_clients_fraction: float | MinClientsFraction = field(default=0.5, metadata=_check(
        lambda v: isinstance(v, MinClientsFraction) or 0 <= v <= 1, "a float in [0, 1] or a mapping of phase -> float"))
    makeup_rounds: int = field(default=3, metadata=_nonneg())
    faults: tuple[FaultInjection, ...] = ()
    # Replies checked at the door (fedforget.run.admission): tensor names, dtypes and shapes
    # as asked, finite values, num_examples in (0, what the client declared at setup], and
    # an update norm at most max_update_norm_ratio x the median of the round's other
    # replies (0 = no norm bound). A refused reply counts as a failed client.
    check_replies: bool = True
    max_update_norm_ratio: float = field(default=10.0, metadata=_check(
        lambda v: v == 0 or v > 1, "a float > 1 (a multiple of the round's median update norm), or 0 (off)"))
    # Checkpoint the global model and the run's position every N rounds (0 = at phase
    # ends only); ``fedforget run --resume`` continues from the last one.
    checkpoint_every: int = field(default=5, metadata=_nonneg())
    # Seeds of a multi-seed comparison (fedforget compare --seeds 0,1,2); () = just ``seed``.
    seeds: tuple[int, ...] = ()
    # The server's memory for one unlearning round's projection (GB); 0 = the machine's
    # available memory. A projection whose estimate exceeds it fails before the round.
    max_server_memory_gb: float = field(default=0.0, metadata=_nonneg("float"))


@dataclass(frozen=True)
class CompareEntry:
    """One row of ``fedforget compare``: a method and overrides of its ``unlearning.*``
    fields (``set: ["unlearning.conmu.control=0.2"]``); ``label`` names the row."""

    method: str = "oeu"
    label: str = ""
    set: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.label or self.method


@dataclass(frozen=True)
class CompareConfig:
    """``fedforget compare``: methods run from the same trained model (plus the retrain
    baseline, always). ``cache_dir``: where trained federations are cached by config
    hash ("" = ``<out>/train-cache``)."""

    methods: tuple[CompareEntry, ...] = ()
    cache_dir: str = ""
