"""Where models and tensors live: ``runtime.device`` resolved in the process that does
the work, and the two helpers everything else uses to get there and back.

* :func:`resolve_device` turns ``auto | cpu | cuda | mps`` into a ``torch.device`` *here*:
  a Ray actor on a GPU node, a SuperNode's ClientApp on an edge device and the server
  each resolve for themselves (``auto``: cuda if this process sees a GPU, else mps, else
  cpu). A requested accelerator this process cannot see is a :class:`ConfigError` naming
  the fix, raised before any work.
* Tensors follow the model: :func:`model_device` says where a model lives, and
  :func:`to_device` moves batches there. What travels (NumPy arrays, attack signals,
  updates, directions) stays on the CPU: it moves to the device on arrival and back
  (``.cpu()``) before a reply. Seeded generators stay on the CPU too (index permutations
  are drawn there), so ``cpu`` gives bit-identical numbers to the code before devices,
  and ``auto`` on a machine without an accelerator gives exactly the ``cpu`` numbers.
* :func:`check_device_config`: the checks that need no hardware (a cuda run on Ray needs
  ``runtime.gpus_per_client > 0``, or Ray hides every GPU from the client actors).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from typing import Any, TypeVar

import torch
from torch import nn

from fedforget.util.errors import ConfigError

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "mps")
CPU = torch.device("cpu")
T = TypeVar("T")


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _where() -> str:
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    seen = "" if cvd is None else f", CUDA_VISIBLE_DEVICES={cvd!r}"
    return f"process {os.getpid()} on {socket.gethostname()}{seen}"


def _cuda() -> torch.device:
    # with an index, so that it compares equal to the device of a tensor placed there
    return torch.device("cuda", torch.cuda.current_device())


def resolve_device(name: str) -> torch.device:
    """The ``torch.device`` of ``runtime.device`` = ``name`` in this process."""
    if name == "cpu":
        return CPU
    if name == "auto":
        if torch.cuda.is_available():
            return _cuda()
        return torch.device("mps", 0) if mps_available() else CPU
    if name == "cuda":
        if not torch.cuda.is_available():
            built = torch.version.cuda or "none: a CPU-only build"
            raise ConfigError(
                f"runtime.device='cuda' but {_where()} sees no CUDA GPU (torch.cuda.is_available() is False; "
                f"torch's CUDA build: {built}); use runtime.device=cpu (or auto: the GPU where there is one, "
                "else the CPU)"
            )
        return _cuda()
    if name == "mps":
        if not mps_available():
            raise ConfigError(
                f"runtime.device='mps' but {_where()} has no Apple MPS backend (torch.backends.mps.is_available() "
                "is False); use runtime.device=cpu (or auto: the accelerator where there is one, else the CPU)"
            )
        return torch.device("mps", 0)
    raise ConfigError(f"runtime.device must be one of {', '.join(DEVICES)}, got {name!r}")


@functools.lru_cache(maxsize=4)
def device_for(name: str) -> torch.device:
    """:func:`resolve_device` once per process (a client resolves on every message)."""
    dev = resolve_device(name)
    if name != "cpu":
        log.info("runtime.device=%s -> %s in %s", name, dev, _where())
    return dev


def check_device_config(rt: Any) -> None:
    """What can be checked without the hardware (``rt``: a ``fedforget.config.RuntimeConfig``,
    typed structurally: util sits below the config). Ray gives an actor the GPUs it reserves
    and hides the others (it sets ``CUDA_VISIBLE_DEVICES``), so ``cuda`` on the Ray
    backend needs ``runtime.gpus_per_client > 0``."""
    if rt.device == "cuda" and rt.backend == "ray" and rt.gpus_per_client <= 0:
        raise ConfigError(
            "runtime.device='cuda' with runtime.backend='ray' needs runtime.gpus_per_client > 0 "
            f"(e.g. 0.25: four clients share a GPU), got {rt.gpus_per_client:g}; Ray hides every GPU from a "
            "client that reserves none. Set runtime.gpus_per_client, or use runtime.backend=inprocess, or "
            "runtime.device=auto (clients without a GPU reservation then run on the CPU)"
        )


def model_device(model: nn.Module) -> torch.device:
    """Where ``model`` lives (its first parameter or buffer; the CPU when it has none)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return CPU


def to_device(x: T, device: torch.device | None) -> T:
    """``x`` (a tensor, or a tuple / list / dict of them) on ``device``; unchanged (the
    same objects) when ``device`` is None or already theirs."""
    if device is None:
        return x
    if isinstance(x, torch.Tensor):
        return x if x.device == device else x.to(device)  # type: ignore[return-value]
    if isinstance(x, tuple):
        return tuple(to_device(v, device) for v in x)  # type: ignore[return-value]
    if isinstance(x, list):
        return [to_device(v, device) for v in x]  # type: ignore[return-value]
    if isinstance(x, dict):
        return {k: to_device(v, device) for k, v in x.items()}  # type: ignore[return-value]
    return x


def place(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` (in place) on ``device``; a no-op when it is already there."""
    return model if model_device(model) == device else model.to(device)


def as_cpu(x: Any) -> Any:
    """A tensor back on the CPU (for ``.numpy()`` and the wire); the same object there."""
    return x.cpu() if isinstance(x, torch.Tensor) and x.device != CPU else x
