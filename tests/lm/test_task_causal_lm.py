"""The ``causal_lm`` task against independent NumPy implementations on random logits:
token-level next-token loss with padding masked, per-sequence mean loss, the LM membership
signals (loss, zlib ratio, min-k% prob, min-k%++), next-token accuracy; greedy extraction on
a model whose continuation is known; the byte tokenizer."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch
from torch import nn

from fedforget.tasks import get_task
from fedforget.tasks.causal_lm import greedy_extraction, lowest_k_mean, sequence_nll
from fedforget.tasks.tokenizer import ByteTokenizer, check_vocab, encode_batch
from fedforget.util.errors import ConfigError, DataError

N, T, V = 5, 12, 11
LENGTHS = [12, 7, 2, 9, 4]


def _batch(seed: int = 0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(N, T, V, generator=g) * 3
    ids = torch.randint(0, V, (N, T), generator=g)
    mask = (torch.arange(T)[None, :] < torch.tensor(LENGTHS)[:, None]).long()
    return logits, {"input_ids": ids, "attention_mask": mask}


def _np_rows(logits: torch.Tensor, batch: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per sequence: the log-softmax rows of its predicting positions and the next tokens."""
    z, ids = logits.numpy().astype(np.float64), batch["input_ids"].numpy()
    out = []
    for i, L in enumerate(LENGTHS):
        zi = z[i, : L - 1]
        zi = zi - zi.max(1, keepdims=True)
        out.append((zi - np.log(np.exp(zi).sum(1, keepdims=True)), ids[i, 1:L]))
    return out


def _lowest_k(v: np.ndarray, k: float) -> float:
    return float(np.sort(v)[: max(1, int(len(v) * k))].mean())


def _np_signals(logits: torch.Tensor, batch: dict, texts: list[str], k: float) -> dict[str, np.ndarray]:
    res: dict[str, list[float]] = {"loss": [], "zlib": [], "min_k": [], "min_k_plus_plus": []}
    for (logp, nxt), text in zip(_np_rows(logits, batch), texts, strict=True):
        tok = logp[np.arange(len(nxt)), nxt]
        p = np.exp(logp)
        mu = (p * logp).sum(1)
        sigma = np.sqrt((p * logp**2).sum(1) - mu**2)
        res["loss"].append(tok.mean())
        res["zlib"].append(tok.mean() / len(zlib.compress(text.encode())))
        res["min_k"].append(_lowest_k(tok, k))
        res["min_k_plus_plus"].append(_lowest_k((tok - mu) / sigma, k))
    return {n: np.array(v) for n, v in res.items()}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("k", [0.2, 0.5, 1.0])
def test_signals_match_numpy(seed: int, k: float) -> None:
    logits, batch = _batch(seed)
    texts = ["short", "a longer text " * 3, "x", "abcabcabcabc", "hello"]
    task = get_task("causal_lm")
    got = task.signals(task.signal_names, logits, batch, texts=texts, k=k)
    ref = _np_signals(logits, batch, texts, k)
    for name in task.signal_names:
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-9, atol=1e-12, err_msg=name)


def test_losses_and_accuracy_match_numpy_and_ignore_padding() -> None:
    logits, batch = _batch()
    task = get_task("causal_lm")
    rows = _np_rows(logits, batch)
    nll = [-(lp[np.arange(len(t)), t]) for lp, t in rows]
    np.testing.assert_allclose(task.per_sample_loss(logits, batch).numpy(), [x.mean() for x in nll], rtol=1e-5)
    np.testing.assert_allclose(float(task.loss(logits, batch)), np.concatenate(nll).mean(), rtol=1e-5)
    correct = sum(int((lp.argmax(1) == t).sum()) for lp, t in rows)
    assert task.accuracy_counts(logits, batch) == (correct, sum(L - 1 for L in LENGTHS))
    # whatever sits at padded positions changes nothing
    pad = batch["attention_mask"] == 0
    noisy = logits.masked_fill(pad[..., None], 50.0)
    noisy_batch = {"input_ids": batch["input_ids"].masked_fill(pad, 3), "attention_mask": batch["attention_mask"]}
    assert torch.equal(task.per_sample_loss(noisy, noisy_batch), task.per_sample_loss(logits, batch))
    a = task.signals(task.signal_names, logits, batch, texts=["t"] * N)
    b = task.signals(task.signal_names, noisy, noisy_batch, texts=["t"] * N)
    assert all(np.array_equal(a[n], b[n]) for n in a)


def test_loss_is_differentiable_and_bad_signal_inputs_fail() -> None:
    logits, batch = _batch()
    z = logits.clone().requires_grad_(True)
    get_task("causal_lm").loss(z, batch).backward()
    assert z.grad is not None and float(z.grad.abs().sum()) > 0
    assert float(z.grad[~batch["attention_mask"].bool()].abs().sum()) == 0.0
    task = get_task("causal_lm")
    with pytest.raises(DataError, match="zlib.*texts"):
        task.signals(["zlib"], logits, batch)
    with pytest.raises(DataError, match=r"k must lie in \(0, 1\]"):
        task.signals(["min_k"], logits, batch, k=0.0)
    with pytest.raises(ConfigError, match="'confidence'.*causal_lm"):
        task.signals(["confidence"], logits, batch)


def test_lowest_k_mean_takes_at_least_one_and_nan_for_empty() -> None:
    v = torch.tensor([[3.0, 1.0, 2.0, 0.0], [5.0, 4.0, 0.0, 0.0]], dtype=torch.float64)
    m = torch.tensor([[1, 1, 1, 0], [0, 0, 0, 0]]).bool()
    out = lowest_k_mean(v, m, 0.5)
    assert out[0] == 1.0 and torch.isnan(out[1])


class NextIsPlusOne(nn.Module):
    """Logits that put all mass on (token + 1) mod V: greedy decoding counts upward."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return nn.functional.one_hot((input_ids + 1) % V, V).float() * 10 + self.w


def test_greedy_extraction_is_exact_suffix_match() -> None:
    model = NextIsPlusOne()
    hits = greedy_extraction(model, [[3, 4], [9], [1, 2], [5]], [[5, 6, 7], [10, 0], [3, 5], [6]])
    assert hits.tolist() == [1.0, 1.0, 0.0, 1.0]
    with pytest.raises(DataError, match="prefix 0 is empty"):
        greedy_extraction(model, [[]], [[1]])


def test_sequence_nll_sums_or_averages_the_token_losses() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(259, 259))
    wrapped = type("M", (nn.Module,), {"forward": lambda self, input_ids, attention_mask=None: model(input_ids)})()
    wrapped.add_module("m", model)
    tok, texts = ByteTokenizer(), ["hello", "a much longer text here", "z"]
    b = encode_batch(tok, texts, 64)
    per = get_task("causal_lm").per_sample_loss(model(b["input_ids"]), b).detach().numpy()
    counts = b["attention_mask"].sum(1).numpy() - 1
    np.testing.assert_allclose(sequence_nll(wrapped, tok, texts, 64, batch_size=2), per * counts, rtol=1e-5)
    np.testing.assert_allclose(sequence_nll(wrapped, tok, texts, 64, reduce="mean"), per, rtol=1e-5)


def test_byte_tokenizer_round_trips_pads_and_refuses_long_text() -> None:
    tok = ByteTokenizer()
    text = "Zoé's café, 3 €"
    assert tok.decode(tok.encode(text)) == text and max(tok.encode(text)) < 256
    b = encode_batch(tok, ["ab", "abcd"], 8)
    assert b["input_ids"].tolist() == [[257, 97, 98, 256, 256], [257, 97, 98, 99, 100]]
    assert b["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert tok.decode(b["input_ids"][0].tolist()) == "ab"
    with pytest.raises(ConfigError, match=r"data: sample 1 is 6 tokens, longer than the model's context of 5.*model.context"):
        encode_batch(tok, ["ab", "abcde"], 5)
    with pytest.raises(ConfigError, match="tokenizer has 259 tokens but the model's vocabulary is 100"):
        check_vocab(tok, 100)
