"""Causal language models through Hugging Face ``transformers`` (Wolf et al., EMNLP 2020
demos), with LoRA adapters through ``peft`` (Hu et al., "LoRA: Low-Rank Adaptation of
Large Language Models", ICLR 2022).

* ``name: causal_lm``: a GPT-2-style (Radford et al. 2019) or Llama-style (Touvron et al.
  2023) decoder built from a config with no download, sized by ``layers``, ``heads``,
  ``hidden``, ``vocab``, ``context``; random init from the seed, no dropout (reproducible runs).
* ``name: "hf:<local folder or hub id>"``: ``AutoModelForCausalLM.from_pretrained``, with
  the checkpoint's tokenizer (``AutoTokenizer``) when the folder has one.
* ``lora: {r, alpha, target_modules}``: only the adapter weights train; they are what
  travels (:func:`trainable_arrays` / :func:`set_trainable_arrays`). Without ``lora`` every
  parameter trains (full-parameter mode, for tiny models).

transformers and peft are imported only here and only when a model is built or loaded
(``pip install 'fedforget[lm]'``). :func:`causal_lm` has the ``fedforget.models`` factory
signature; registering it (and routing ``hf:`` names in ``build_model``) waits for the
task check in the run's validation (issue 26).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from fedforget.config import ModelConfig
from fedforget.config.fields import _check, _pos, from_dict
from fedforget.tasks.tokenizer import ByteTokenizer, HFTokenizer, Tokenizer, check_vocab
from fedforget.util.errors import ConfigError
from fedforget.util.seeding import torch_seeded

INSTALL = "pip install 'fedforget[lm]'"
# Where LoRA goes when target_modules is empty: the attention projections.
DEFAULT_TARGETS = {"gpt2": ("c_attn",), "llama": ("q_proj", "v_proj")}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


@dataclass(frozen=True)
class LoraSpec:
    r: int = field(default=8, metadata=_pos("int"))
    alpha: float = field(default=16.0, metadata=_pos())
    target_modules: tuple[str, ...] = ()  # empty: the architecture's attention projections
    dropout: float = field(default=0.0, metadata=_check(lambda v: 0 <= v < 1, "a float in [0, 1)"))


@dataclass(frozen=True)
class CausalLMSpec:
    name: str = "causal_lm"  # or "hf:<local folder or hub id>"
    arch: Literal["gpt2", "llama"] = "gpt2"
    layers: int = field(default=2, metadata=_pos("int"))
    heads: int = field(default=2, metadata=_pos("int"))
    hidden: int = field(default=64, metadata=_pos("int"))
    vocab: int = field(default=ByteTokenizer.vocab_size, metadata=_check(lambda v: v >= 2, "an int >= 2"))
    context: int = field(default=128, metadata=_check(lambda v: v >= 2, "an int >= 2"))
    lora: LoraSpec | None = None


def lm_spec(data: dict[str, Any] | None, where: str = "model") -> CausalLMSpec:
    """Validated :class:`CausalLMSpec` from a plain mapping (YAML); bad values raise
    :class:`ConfigError` naming ``where.<field>``."""
    data = dict(data or {})
    lora = data.pop("lora", None)  # converted on its own: errors name model.lora.<field>
    spec = from_dict(CausalLMSpec, data, where)
    if lora is not None:
        spec = dataclasses.replace(spec, lora=lora if isinstance(lora, LoraSpec) else from_dict(LoraSpec, lora, f"{where}.lora"))
    if spec.name != "causal_lm" and not spec.name.startswith("hf:"):
        raise ConfigError(f"{where}.name must be 'causal_lm' or 'hf:<local folder or hub id>', got {spec.name!r}")
    if spec.name == "hf:":
        raise ConfigError(f"{where}.name 'hf:' names no checkpoint; write 'hf:<local folder or hub id>'")
    if spec.hidden % spec.heads:
        raise ConfigError(f"{where}.heads must divide {where}.hidden, got {spec.heads} heads and hidden {spec.hidden}; "
                          f"e.g. heads: {max(h for h in range(1, spec.heads + 1) if spec.hidden % h == 0)}")
    return spec


def _libs() -> tuple[Any, Any]:
    try:
        import peft
        import transformers
    except ImportError as e:
        raise ConfigError(f"language models need transformers and peft ({e}); install them with: {INSTALL}") from None
    return transformers, peft


def model_context(model: nn.Module) -> int:
    cfg = model.config  # type: ignore[attr-defined]
    return int(getattr(cfg, "n_positions", None) or cfg.max_position_embeddings)


def model_vocab(model: nn.Module) -> int:
    return int(model.get_input_embeddings().weight.shape[0])  # type: ignore[operator]


def _config(spec: CausalLMSpec) -> Any:
    transformers, _ = _libs()
    tok = ByteTokenizer
    fits = spec.vocab >= tok.vocab_size  # else no special ids (GPT-2's default 50256 would lie outside)
    special = {"pad_token_id": tok.pad_id if fits else None, "bos_token_id": tok.bos_id if fits else None,
               "eos_token_id": tok.eos_id if fits else None}
    if spec.arch == "gpt2":
        return transformers.GPT2Config(
            n_layer=spec.layers, n_head=spec.heads, n_embd=spec.hidden, vocab_size=spec.vocab, n_positions=spec.context,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **special)
    return transformers.LlamaConfig(
        num_hidden_layers=spec.layers, num_attention_heads=spec.heads, num_key_value_heads=spec.heads,
        hidden_size=spec.hidden, intermediate_size=4 * spec.hidden, vocab_size=spec.vocab,
        max_position_embeddings=spec.context, attention_dropout=0.0, tie_word_embeddings=False, **special)


def _checkpoint(name: str) -> str:
    ref = name[3:]
    p = Path(ref).expanduser()
    if p.exists():
        if not (p / "config.json").is_file():
            raise ConfigError(f"model.name {name!r}: folder {str(p)!r} has no config.json; point it at a folder "
                              "written by save_pretrained (config.json + weights)")
        return str(p)
    if ref.startswith(("/", ".", "~")) or ref.count("/") > 1 or "\\" in ref:
        raise ConfigError(f"model.name {name!r}: checkpoint folder {str(p)!r} does not exist; give an existing "
                          "folder written by save_pretrained, or a hub id such as 'openai-community/gpt2'")
    return ref  # a hub id


def load_pretrained(name: str) -> tuple[nn.Module, Tokenizer]:
    """The checkpoint ``hf:<folder or hub id>`` and its tokenizer (the byte tokenizer when
    it has none, checked against the model's vocabulary)."""
    transformers, _ = _libs()
    ref = _checkpoint(name)
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(ref)
    except (OSError, ValueError) as e:
        raise ConfigError(f"model.name {name!r}: cannot load a causal LM from {ref!r} ({type(e).__name__}: "
                          f"{str(e)[:200]}); give a folder written by save_pretrained or a reachable hub id") from None
    local = Path(ref).is_dir()
    has_files = not local or any((Path(ref) / f).is_file() for f in TOKENIZER_FILES)
    tok: Tokenizer = ByteTokenizer()  # no tokenizer files: bytes
    if has_files:  # (AutoTokenizer would build an empty tokenizer from config.json alone)
        try:
            tok = HFTokenizer(transformers.AutoTokenizer.from_pretrained(ref))
        except (OSError, ValueError, TypeError) as e:
            if local:
                raise ConfigError(f"model.name {name!r}: the tokenizer files in {ref!r} do not load ({e}); "
                                  "write them with tokenizer.save_pretrained, or remove them to use bytes") from None
    check_vocab(tok, model_vocab(model), "model.name")
    return model, tok


def _linear_names(model: nn.Module) -> list[str]:
    return sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                   if n and type(m).__name__ in ("Linear", "Conv1D")})


def apply_lora(model: nn.Module, lora: LoraSpec, where: str = "model.lora") -> nn.Module:
    """Wrap ``model`` with LoRA adapters (peft); only the adapter weights stay trainable."""
    _, peft = _libs()
    mtype = getattr(model.config, "model_type", "")  # type: ignore[attr-defined]
    targets = lora.target_modules or DEFAULT_TARGETS.get(mtype, ())
    have = _linear_names(model)
    if not targets:
        raise ConfigError(f"{where}.target_modules: no default for model type {mtype!r}; name some of its "
                          f"linear modules: {', '.join(have)}")
    for t in targets:
        if t not in have:
            raise ConfigError(f"{where}.target_modules: {t!r} is not a linear module of this {mtype or 'model'}; "
                              f"its linear modules: {', '.join(have)}; use some of those")
    cfg = peft.LoraConfig(r=lora.r, lora_alpha=lora.alpha, target_modules=list(targets), lora_dropout=lora.dropout,
                          bias="none", task_type="CAUSAL_LM", fan_in_fan_out=mtype == "gpt2")
    return peft.get_peft_model(model, cfg)


def build_causal_lm(spec: CausalLMSpec, seed: int) -> tuple[nn.Module, Tokenizer]:
    """The model of ``spec`` and its tokenizer: config-built weights (and LoRA's A
    matrices) are drawn from ``seed``; the same seed gives the same model."""
    transformers, _ = _libs()
    with torch_seeded(seed):
        if spec.name.startswith("hf:"):
            model, tok = load_pretrained(spec.name)
            if spec.context > model_context(model):
                raise ConfigError(f"model.context {spec.context} is above the checkpoint's context of "
                                  f"{model_context(model)} tokens; set model.context to at most {model_context(model)}")
        else:
            model = transformers.AutoModelForCausalLM.from_config(_config(spec))
            tok = ByteTokenizer()
            check_vocab(tok, spec.vocab, "model.vocab")
        if spec.lora is not None:
            model = apply_lora(model, spec.lora)
    return model, tok


def causal_lm(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The ``fedforget.models`` factory: ``model.layers``, ``model.heads``, ``model.embed_dim``
    (hidden) and ``model.vocab_size`` size the decoder, the sequence length ``input_shape[0]``
    is its context; ``num_classes`` (the vocabulary the data uses) must fit the vocabulary.
    Seeded by the caller (``build_model``)."""
    if len(input_shape) != 1:
        raise ConfigError(f"model.name 'causal_lm' needs token sequences of shape (length,), got {tuple(input_shape)}")
    if num_classes > cfg.vocab_size:
        raise ConfigError(f"model.vocab_size {cfg.vocab_size} is below the data's {num_classes} tokens; "
                          f"set model.vocab_size to at least {num_classes}")
    spec = lm_spec({"layers": cfg.layers, "heads": cfg.heads, "hidden": cfg.embed_dim, "vocab": cfg.vocab_size,
                    "context": int(input_shape[0])})
    transformers, _ = _libs()
    return transformers.AutoModelForCausalLM.from_config(_config(spec))


def trainable_arrays(model: nn.Module) -> dict[str, np.ndarray]:
    """The trainable parameters as named float arrays, in the model's order: with LoRA the
    adapter weights only (what travels), else every parameter."""
    return {n: p.detach().cpu().numpy().copy() for n, p in model.named_parameters() if p.requires_grad}


@torch.no_grad()
def set_trainable_arrays(model: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    """Load arrays from :func:`trainable_arrays` (e.g. aggregated adapters) into ``model``."""
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    if set(params) != set(arrays):
        diff = sorted(set(params) ^ set(arrays))[:3]
        raise ConfigError(f"trainable parameters do not match the model (first differences: {diff}); "
                          "both sides must use the same model.lora settings")
    for n, p in params.items():
        if tuple(arrays[n].shape) != tuple(p.shape):
            raise ConfigError(f"parameter {n}: shape {tuple(arrays[n].shape)} does not match the model's {tuple(p.shape)}")
        p.copy_(torch.as_tensor(arrays[n], dtype=p.dtype))


def lm_config_dict(spec: CausalLMSpec) -> dict[str, Any]:
    """``spec`` as a plain mapping (round-trips through :func:`lm_spec`)."""
    return dataclasses.asdict(spec)
