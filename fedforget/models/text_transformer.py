"""A small text classifier: token embedding + learned positions, ``model.layers``
Transformer encoder layers (Vaswani et al. 2017; ``torch.nn.TransformerEncoderLayer``,
pre-norm, no dropout so that runs are reproducible), mean pooling over non-padding tokens
(id 0 = padding), a linear head. Inputs are token ids of shape (L,) stored as floats
(``data.name: synthetic_text``, or a Hugging Face text column hashed to ``data.vocab_size``)."""

from __future__ import annotations

import torch
from torch import nn

from fedforget.config import ModelConfig
from fedforget.models.base import register_model
from fedforget.util.errors import ConfigError, DataError


class TextTransformer(nn.Module):
    def __init__(self, seq_len: int, vocab_size: int, num_classes: int, dim: int, heads: int, layers: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, dim)
        self.pos = nn.Parameter(torch.zeros(1, seq_len, dim))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tok = x.long()
        if tok.numel() and (int(tok.min()) < 0 or int(tok.max()) >= self.vocab_size):
            raise DataError(
                f"token ids must lie in [0, {self.vocab_size - 1}] (model.vocab_size), got [{int(tok.min())}, "
                f"{int(tok.max())}]; raise model.vocab_size to at least data.vocab_size"
            )
        pad = tok == 0
        h = self.encoder(self.embed(tok) + self.pos[:, : tok.shape[1]])
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        pooled = (self.norm(h) * keep).sum(1) / keep.sum(1).clamp(min=1.0)
        return self.head(pooled)


@register_model("text_transformer")
def text_transformer(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    if len(input_shape) != 1:
        raise ConfigError(
            f"model.name 'text_transformer' needs token sequences of shape (length,), got {tuple(input_shape)}; "
            "use data.name: synthetic_text or a Hugging Face dataset with a text column"
        )
    if cfg.embed_dim % cfg.heads:
        raise ConfigError(f"model.heads must divide model.embed_dim, got {cfg.heads} heads and embed_dim {cfg.embed_dim}")
    return TextTransformer(input_shape[0], cfg.vocab_size, num_classes, cfg.embed_dim, cfg.heads, cfg.layers)
