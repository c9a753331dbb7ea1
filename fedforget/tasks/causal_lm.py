"""The ``causal_lm`` task: a sample is a token sequence (``input_ids`` (n, T), right-padded,
``attention_mask`` (n, T) with 1 on real tokens); the model returns next-token logits
(n, T, V). Position t predicts token t + 1; a target counts only where both positions are
real tokens, so padding never enters a loss, a signal or an accuracy.

* loss: token-level cross-entropy, mean over the batch's real target tokens (what Hugging
  Face's ``labels=`` loss computes with padding set to -100); per-sample: the mean
  over each sequence's own target tokens.
* signals (float64, higher = more likely a member):
  ``loss`` = -mean token NLL (Yeom et al. 2018 for sequences);
  ``zlib`` = -(mean token NLL) / (zlib-compressed length of the text in bytes)
  (Carlini et al., "Extracting Training Data from Large Language Models", USENIX Security 2021);
  ``min_k`` = mean of the k% lowest token log-probabilities (Shi et al., "Detecting
  Pretraining Data from Large Language Models", ICLR 2024; k = 20% by default, at least one token);
  ``min_k_plus_plus`` = the same over (log p(x_t) - mu_t) / sigma_t, with mu_t and sigma_t^2
  the mean and variance of log p(z) under z ~ p(. | x_<t) (Zhang et al., "Min-K%++: Improved
  Baseline for Detecting Pre-Training Data from Large Language Models", 2024).
* accuracy: next-token argmax equals the next token, over real target tokens.
* extraction (:func:`greedy_extraction`): greedy decoding from a prefix reproduces the
  exact suffix (Carlini et al. 2021).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from fedforget.tasks.base import Task, register_task, unknown_signal
from fedforget.tasks.tokenizer import Tokenizer, encode_batch
from fedforget.util.errors import DataError

LMBatch = dict  # {"input_ids": LongTensor (n, T), "attention_mask": (n, T)}
DEFAULT_K = 0.2


def logits_of(out: object) -> torch.Tensor:
    """Logits from a Hugging Face model output or a plain tensor."""
    return out if isinstance(out, torch.Tensor) else out.logits  # type: ignore[attr-defined]


def _targets(batch: LMBatch) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.as_tensor(batch["input_ids"]).long()
    mask = torch.as_tensor(batch.get("attention_mask", torch.ones_like(ids))).bool()
    return ids[:, 1:], mask[:, 1:] & mask[:, :-1]


def token_nll(outputs: torch.Tensor, batch: LMBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token NLL (n, T-1) in the logits' dtype (0 at padding) and the target mask."""
    target, m = _targets(batch)
    z = outputs[:, :-1]
    nll = F.cross_entropy(z.reshape(-1, z.shape[-1]), target.reshape(-1).to(z.device), reduction="none")
    m = m.to(z.device)
    return nll.reshape(target.shape) * m, m


def token_logprobs64(outputs: torch.Tensor, batch: LMBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """float64 log-softmax (n, T-1, V) of the predicting positions, the log-probabilities of
    the actual next tokens (n, T-1), and the target mask (n, T-1), on the CPU."""
    target, m = _targets(batch)
    logp = F.log_softmax(outputs.detach()[:, :-1].to("cpu", torch.float64), dim=-1)
    return logp, logp.gather(2, target[..., None]).squeeze(2), m


def lowest_k_mean(values: torch.Tensor, mask: torch.Tensor, k: float) -> torch.Tensor:
    """Per row, the mean of the ``max(1, floor(k * n_row))`` smallest values where ``mask``."""
    n = mask.sum(1)
    kk = torch.clamp((n.to(torch.float64) * k).floor().long(), min=1)
    srt = torch.sort(values.masked_fill(~mask, float("inf")), dim=1).values
    take = torch.arange(values.shape[1])[None, :] < kk[:, None]
    out = (srt.masked_fill(~take, 0.0)).sum(1) / kk
    return out.masked_fill(n == 0, float("nan"))


def zlib_length(text: str | bytes) -> int:
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    return len(zlib.compress(data))


def _seq_mean(values: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    return (values * m).sum(1) / m.sum(1).clamp(min=1)


@register_task("causal_lm")
class CausalLM(Task):
    name = "causal_lm"
    signal_names = ("loss", "zlib", "min_k", "min_k_plus_plus")

    def forward(self, model: torch.nn.Module, inputs: object) -> torch.Tensor:
        b = inputs  # type: ignore[assignment]
        return logits_of(model(input_ids=b["input_ids"], attention_mask=b.get("attention_mask")))  # type: ignore[index,union-attr]

    def loss(self, outputs: torch.Tensor, batch: object) -> torch.Tensor:
        nll, m = token_nll(outputs, batch)  # type: ignore[arg-type]
        return nll.sum() / m.sum().clamp(min=1)

    def per_sample_loss(self, outputs: torch.Tensor, batch: object) -> torch.Tensor:
        nll, m = token_nll(outputs, batch)  # type: ignore[arg-type]
        return nll.sum(1) / m.sum(1).clamp(min=1)

    def signals(self, names: tuple[str, ...] | list[str], outputs: torch.Tensor, batch: object,
                **extra: object) -> dict[str, np.ndarray]:
        """``extra``: ``texts`` (the decoded samples, for ``zlib``), ``k`` (min-k fraction)."""
        k = float(extra.get("k", DEFAULT_K))  # type: ignore[arg-type]
        if not 0 < k <= 1:
            raise DataError(f"min-k% fraction k must lie in (0, 1], got {k}; use e.g. 0.2")
        logp, tok, m = token_logprobs64(outputs, batch)  # type: ignore[arg-type]
        mean_nll = -_seq_mean(tok, m)
        out: dict[str, np.ndarray] = {}
        for n in names:
            if n == "loss":
                v = -mean_nll
            elif n == "zlib":
                texts = extra.get("texts")
                if texts is None or len(texts) != tok.shape[0]:  # type: ignore[arg-type]
                    raise DataError(f"signal 'zlib' needs texts=[one text per sample] ({tok.shape[0]}), got {texts!r:.80}")
                v = -mean_nll / torch.tensor([zlib_length(t) for t in texts], dtype=torch.float64)  # type: ignore[union-attr]
            elif n == "min_k":
                v = lowest_k_mean(tok, m, k)
            elif n == "min_k_plus_plus":
                p = logp.exp()
                mu = (p * logp).sum(-1)
                sigma = ((p * logp * logp).sum(-1) - mu * mu).clamp(min=0).sqrt()
                v = lowest_k_mean((tok - mu) / sigma.clamp(min=1e-12), m, k)
            else:
                raise unknown_signal(self.name, n, self.signal_names)
            out[n] = np.asarray(v.numpy(), dtype=np.float64)
        return out

    def accuracy_counts(self, outputs: torch.Tensor, batch: object) -> tuple[int, int]:
        target, m = _targets(batch)  # type: ignore[arg-type]
        pred = outputs.detach()[:, :-1].argmax(-1).cpu()
        return int(((pred == target) & m).sum()), int(m.sum())


@torch.no_grad()
def greedy_continuation(model: torch.nn.Module, prefix: Sequence[int], n_new: int) -> list[int]:
    """``n_new`` tokens decoded greedily (argmax) after ``prefix`` (no padding, no sampling)."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    ids = torch.tensor([list(prefix)], dtype=torch.long, device=dev)
    for _ in range(n_new):
        nxt = logits_of(model(input_ids=ids))[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, nxt], dim=1)
    model.train(was)
    return ids[0, len(prefix):].tolist()


def greedy_extraction(model: torch.nn.Module, prefixes: Sequence[Sequence[int]],
                      suffixes: Sequence[Sequence[int]]) -> np.ndarray:
    """Per sample, 1.0 where greedy decoding from the prefix reproduces the suffix exactly;
    its mean is the extraction rate."""
    if len(prefixes) != len(suffixes):
        raise DataError(f"greedy extraction needs one suffix per prefix, got {len(prefixes)} and {len(suffixes)}")
    out = np.zeros(len(prefixes))
    for i, (pre, suf) in enumerate(zip(prefixes, suffixes, strict=True)):
        if len(pre) == 0:
            raise DataError(f"greedy extraction: prefix {i} is empty; give at least one token")
        out[i] = float(greedy_continuation(model, pre, len(suf)) == list(suf))
    return out


@torch.no_grad()
def sequence_nll(model: torch.nn.Module, tok: Tokenizer, texts: Sequence[str], context: int, *,
                 batch_size: int = 128, reduce: str = "sum") -> np.ndarray:
    """Per text, the model's negative log-likelihood of its tokens: summed over tokens (the
    log-perplexity of Carlini et al. 2019, for canary exposure) or their ``mean``."""
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    out = []
    for s in range(0, len(texts), batch_size):
        b = encode_batch(tok, texts[s : s + batch_size], context)
        logits = logits_of(model(input_ids=b["input_ids"].to(dev), attention_mask=b["attention_mask"].to(dev)))
        nll, m = token_nll(logits.float(), b)
        v = nll.sum(1) if reduce == "sum" else nll.sum(1) / m.sum(1).clamp(min=1)
        out.append(v.double().cpu().numpy())
    model.train(was)
    return np.concatenate(out) if out else np.zeros(0)
