"""``fedforget.data.facts``: the seeded corpus of fictitious facts, its forget sets at three
granularities, canaries, and exposure (Carlini et al. 2019) against a brute-force NumPy rank;
a tiny causal LM that saw a canary N times exposes it (and greedy decoding extracts it) more
than one that never saw it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fedforget.data.facts import (
    CANARY_TOPIC,
    TOPICS,
    CanarySpec,
    canary_exposure,
    candidate_secrets,
    check_canary_fits,
    exposure,
    generate_facts,
)
from fedforget.util.errors import ConfigError


def test_corpus_is_seeded_partitioned_by_person_and_forgettable_three_ways() -> None:
    a = generate_facts(30, 4, seed=1, canaries=[CanarySpec(client=2, repeats=5)])
    assert a == generate_facts(30, 4, seed=1, canaries=[CanarySpec(client=2, repeats=5)])
    assert a != generate_facts(30, 4, seed=2, canaries=[CanarySpec(client=2, repeats=5)])
    assert len(set(a.people)) == 30 and sorted(np.bincount(a.person_client)) == [7, 7, 8, 8]
    for s in a.samples:  # each person's facts live on that person's client only
        assert s.person == -1 or (s.client == a.person_client[s.person] and a.people[s.person] in s.text)
    person = a.forget_indices("sample", 5)
    assert len(person) == len(TOPICS) and {a.samples[i].client for i in person} == {a.person_client[5]}
    client = a.forget_indices("client", 2)
    assert set(client) == set(a.client_indices(2)) and len(client) == len(TOPICS) * a.person_client.count(2) + 5
    topic = a.forget_indices("topic", "pet")
    assert len(topic) == 30 and all("has a pet called" in a.samples[i].text for i in topic)
    canary = a.canaries[0]
    lines = a.forget_indices("topic", CANARY_TOPIC)
    assert len(lines) == 5 and all(a.samples[i].text == canary.text() and a.samples[i].client == 2 for i in lines)
    assert len(canary.secret) == 6 and canary.secret.isdigit() and canary.space_size == 10**6
    with pytest.raises(ConfigError, match="forget topic must be one of birthplace, canary, colour"):
        a.forget_indices("topic", "weather")
    with pytest.raises(ConfigError, match=r"forget client must be an id in \[0, 3\], got 9"):
        a.forget_indices("client", 9)
    with pytest.raises(ConfigError, match=r"data.canaries\[0\].client must be a client id in \[0, 3\], got 4"):
        generate_facts(30, 4, seed=1, canaries=[CanarySpec(client=4)])
    with pytest.raises(ConfigError, match="data.topics must be a non-empty list"):
        generate_facts(30, 4, seed=1, topics=["weather"])


def test_exposure_matches_brute_force_rank_and_extrapolates() -> None:
    rng = np.random.default_rng(0)
    space = rng.normal(size=1000)  # losses of every secret; index 0 is the canary
    for c in (space.min() - 1, np.sort(space)[10], space.max() + 1):
        space[0] = c
        rank = 1 + int(np.sum(space[1:] < c))  # position of the canary in the sorted space
        assert exposure(c, space[1:], 1000) == pytest.approx(np.log2(1000) - np.log2(rank))
    assert exposure(-10.0, space[1:], 1000) == pytest.approx(np.log2(1000))  # lowest of all: maximal
    # a uniform sample of 20k from a space of 10^9 standard-normal losses: rank extrapolated
    sample = rng.normal(size=20000)
    from scipy.stats import norm

    for c in (-1.0, -2.5):
        want = -np.log2(norm.cdf(c))  # the exact exposure for normal losses, up to 1/|R|
        assert exposure(c, sample, 10**9) == pytest.approx(want, abs=0.3)  # ~120 samples below -2.5
        assert exposure(c, sample, 10**9, method="skewnorm") == pytest.approx(want, abs=0.3)
    # beyond the sample's resolution only the skew-normal fit keeps going
    assert exposure(-6.0, sample, 10**12, method="skewnorm") == pytest.approx(-np.log2(norm.cdf(-6.0)), rel=0.1)


def test_candidates_enumerate_small_spaces_and_sample_large_ones() -> None:
    corpus = generate_facts(4, 2, seed=0, canaries=[CanarySpec(client=0, length=3, alphabet="ab")])
    canary = corpus.canaries[0]
    every = candidate_secrets(canary, None, seed=0)
    assert sorted(every + [canary.secret]) == sorted({a + b + c for a in "ab" for b in "ab" for c in "ab"})
    big = generate_facts(4, 2, seed=0, canaries=[CanarySpec(client=0)]).canaries[0]
    some = candidate_secrets(big, 50, seed=0)
    assert len(some) == 50 and big.secret not in some and all(len(s) == 6 and s.isdigit() for s in some)
    n = len(big.text().encode())
    with pytest.raises(ConfigError, match=f"is {n} tokens, longer than the sequence length 20"):
        check_canary_fits(big, lambda t: len(t.encode()), 20)
    check_canary_fits(big, lambda t: len(t.encode()), 64)


def _train(texts: list[str], steps: int, seed: int) -> tuple[torch.nn.Module, object]:
    from fedforget.models.causal_lm import build_causal_lm, lm_spec
    from fedforget.tasks import get_task
    from fedforget.tasks.tokenizer import encode_batch

    model, tok = build_causal_lm(lm_spec({"layers": 1, "heads": 2, "hidden": 32, "context": 64}), seed)
    task, data = get_task("causal_lm"), encode_batch(tok, texts, 64)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(texts), (8,), generator=g)
        b = {k: v[idx] for k, v in data.items()}
        opt.zero_grad()
        task.loss(task.forward(model, b), b).backward()
        opt.step()
    return model, tok


@pytest.mark.slow
def test_a_repeated_canary_is_exposed() -> None:
    pytest.importorskip("transformers")
    from fedforget.tasks.causal_lm import greedy_extraction, sequence_nll

    corpus = generate_facts(12, 2, seed=0, canaries=[CanarySpec(client=0, repeats=8, length=4)])
    canary = corpus.canaries[0]
    with_canary = corpus.texts(corpus.client_indices(0))
    without = [t for t in with_canary if t != canary.text()]
    assert len(with_canary) - len(without) == 8
    exposures, extracted, threads = [], [], torch.get_num_threads()
    torch.set_num_threads(1)  # a 1-layer model: threads only contend (15x slower with 2 on a busy 2-core box)
    try:
        for texts in (with_canary, without):
            model, tok = _train(texts, steps=150, seed=0)
            prefix = [tok.bos_id] + tok.encode(canary.text()[: -len(canary.secret)])
            extracted.append(greedy_extraction(model, [prefix], [tok.encode(canary.secret)])[0])
            exposures.append(canary_exposure(canary, lambda ts, m=model, t=tok: sequence_nll(m, t, ts, 64),
                                             n_candidates=200, seed=1))
    finally:
        torch.set_num_threads(threads)
    print(f"exposure with canary x8: {exposures[0]:.2f} bits, without: {exposures[1]:.2f} (max {np.log2(10**4):.2f})")
    assert exposures[0] > exposures[1] + 3.0
    assert extracted == [1.0, 0.0]  # greedy decoding from the prefix gives the secret only after seeing it
