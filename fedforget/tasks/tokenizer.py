"""Tokenisation for ``causal_lm``: a byte-level tokenizer that needs no files (ids 0-255
are the UTF-8 bytes, then ``<pad>``, ``<bos>``, ``<eos>``: vocabulary 259), and
:class:`HFTokenizer`, the same interface over a checkpoint's own tokenizer.

:func:`encode_batch` pads on the right to the longest sequence and refuses (never
truncates) a sequence longer than the model's context.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from fedforget.util.errors import ConfigError


class Tokenizer(Protocol):
    vocab_size: int
    pad_id: int
    bos_id: int | None
    eos_id: int | None

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


class ByteTokenizer:
    """UTF-8 bytes as tokens; no files, no training, lossless."""

    vocab_size = 259
    pad_id, bos_id, eos_id = 256, 257, 258

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(int(i) for i in ids if 0 <= int(i) < 256).decode("utf-8", errors="replace")


class HFTokenizer:
    """A Hugging Face tokenizer (``AutoTokenizer``) behind the :class:`Tokenizer` interface;
    a tokenizer without a pad token pads with its end-of-sequence token (GPT-2's practice)."""

    def __init__(self, tok: object) -> None:
        self.tok = tok
        self.vocab_size = len(tok)  # type: ignore[arg-type]
        self.eos_id = getattr(tok, "eos_token_id", None)
        self.bos_id = getattr(tok, "bos_token_id", None)
        pad = getattr(tok, "pad_token_id", None)
        self.pad_id = pad if pad is not None else (self.eos_id if self.eos_id is not None else 0)

    def encode(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])  # type: ignore[operator]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tok.decode(list(ids), skip_special_tokens=True)  # type: ignore[attr-defined]


def encode_batch(tok: Tokenizer, texts: Sequence[str], context: int, *, bos: bool = True,
                 field: str = "data") -> dict[str, torch.Tensor]:
    """``{"input_ids", "attention_mask"}`` (n, T) with T the longest encoded text (plus a
    leading BOS when the tokenizer has one and ``bos``), right-padded with ``tok.pad_id``.
    A text longer than ``context`` tokens raises :class:`ConfigError` naming ``field``."""
    seqs = []
    for i, t in enumerate(texts):
        ids = ([tok.bos_id] if bos and tok.bos_id is not None else []) + tok.encode(t)
        if len(ids) > context:
            raise ConfigError(
                f"{field}: sample {i} is {len(ids)} tokens, longer than the model's context of {context} "
                f"({t[:40]!r}...); raise model.context (or max_position_embeddings of the checkpoint) to at "
                f"least {len(ids)}, or use shorter texts"
            )
        seqs.append(ids)
    width = max((len(s) for s in seqs), default=1)
    ids_t = torch.full((len(seqs), width), tok.pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids_t[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return {"input_ids": ids_t, "attention_mask": mask}


def check_vocab(tok: Tokenizer, model_vocab: int, field: str = "model") -> None:
    """A tokenizer whose ids the model cannot embed fails before any work."""
    if tok.vocab_size > model_vocab:
        raise ConfigError(
            f"{field}: the tokenizer has {tok.vocab_size} tokens but the model's vocabulary is {model_vocab}; "
            f"set the model's vocab to at least {tok.vocab_size} or use the checkpoint's own tokenizer"
        )
