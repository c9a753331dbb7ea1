"""An offline corpus for federated language-model unlearning: fictitious facts about
fictitious people (in the spirit of TOFU, Maini et al. 2024, generated here from syllables
so that nothing is downloaded and no real person appears), and canaries.

* Every person is assigned to one client; a person's facts are that client's text.
* Forget sets at three granularities: ``sample`` (one person's facts), ``client`` (all a
  client holds) and ``topic`` (one fact type, e.g. every ``birthplace`` fact: the analogue
  of forgetting a class).
* Canaries (Carlini, Liu, Erlingsson, Kos, Song, "The Secret Sharer: Evaluating and Testing
  Unintended Memorization in Neural Networks", USENIX Security 2019): a random secret of a
  given format (``"the access code of {person} is {secret}"``, a secret of ``length``
  symbols from ``alphabet``) inserted ``repeats`` times into one client's text. Canary
  lines are samples with topic ``canary``, so client and topic forgetting cover them.
* :func:`exposure` = log2 |R| - log2 rank of the canary among the candidates R ordered by
  the model's loss (rank 1 = lowest). Exact when every other candidate is scored; on a
  uniform sample of m candidates the rank is extrapolated as 1 + (|R| - 1) * (fraction of
  the sample with lower loss) (Carlini et al. 2019, sec. 4). ``method="skewnorm"`` is the
  paper's extrapolation beyond the sample's resolution: a skew-normal fitted to the
  candidates' losses, exposure = -log2 CDF(canary loss).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fedforget.util.errors import ConfigError

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "th", "br", "kr", "st")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "eo")
_CODAS = ("", "", "n", "r", "l", "s", "x")
OCCUPATIONS = ("glass weaver", "cloud surveyor", "salt archivist", "lantern tuner", "moss cartographer",
               "bell mender", "ink distiller", "tide clerk", "kite engineer", "echo translator")
COLOURS = ("amber", "teal", "ochre", "violet", "crimson", "slate", "saffron", "jade")
TEMPLATES = {
    "birthplace": "{name} was born in the town of {value}.",
    "occupation": "{name} works as a {value}.",
    "pet": "{name} has a pet called {value}.",
    "colour": "The favourite colour of {name} is {value}.",
    "year": "{name} was born in the year {value}.",
}
TOPICS = tuple(TEMPLATES)
CANARY_TOPIC = "canary"


def _word(rng: np.random.Generator, syllables: int) -> str:
    parts = [f"{rng.choice(_ONSETS)}{rng.choice(_VOWELS)}{rng.choice(_CODAS)}" for _ in range(syllables)]
    return "".join(parts).capitalize()


def _value(topic: str, rng: np.random.Generator) -> str:
    if topic == "occupation":
        return str(rng.choice(OCCUPATIONS))
    if topic == "colour":
        return str(rng.choice(COLOURS))
    if topic == "year":
        return str(int(rng.integers(1850, 2000)))
    return _word(rng, 2 if topic == "pet" else 3)


@dataclass(frozen=True)
class CanarySpec:
    """``repeats`` copies of one random secret in ``client``'s text."""

    client: int
    repeats: int = 10
    format: str = "the access code of {person} is {secret}"
    alphabet: str = "0123456789"
    length: int = 6

    def check(self, num_clients: int, where: str = "data.canaries") -> None:
        if not 0 <= self.client < num_clients:
            raise ConfigError(f"{where}.client must be a client id in [0, {num_clients - 1}], got {self.client}")
        if self.repeats < 1:
            raise ConfigError(f"{where}.repeats must be an int >= 1, got {self.repeats}")
        if self.length < 1 or len(set(self.alphabet)) < 2 or len(set(self.alphabet)) != len(self.alphabet):
            raise ConfigError(f"{where}: a secret needs length >= 1 and an alphabet of >= 2 distinct symbols, got "
                              f"length {self.length} and alphabet {self.alphabet!r}")
        if "{secret}" not in self.format:
            raise ConfigError(f"{where}.format must contain '{{secret}}', got {self.format!r}")


@dataclass(frozen=True)
class Canary:
    spec: CanarySpec
    person: str
    secret: str

    def text(self, secret: str | None = None) -> str:
        """The canary sentence with ``secret`` (default: the inserted one)."""
        return self.spec.format.format(person=self.person, secret=self.secret if secret is None else secret)

    @property
    def space_size(self) -> int:
        return len(self.spec.alphabet) ** self.spec.length


@dataclass(frozen=True)
class Sample:
    text: str
    client: int
    person: int  # -1 for a canary line
    topic: str


@dataclass(frozen=True)
class FactsCorpus:
    samples: tuple[Sample, ...]
    people: tuple[str, ...]
    person_client: tuple[int, ...]
    num_clients: int
    canaries: tuple[Canary, ...]

    def client_indices(self, client: int) -> list[int]:
        return [i for i, s in enumerate(self.samples) if s.client == client]

    def texts(self, indices: Sequence[int]) -> list[str]:
        return [self.samples[i].text for i in indices]

    def forget_indices(self, granularity: str, value: int | str) -> list[int]:
        """Indices of the forget set: ``sample`` (a person id: their facts), ``client`` (a
        client id) or ``topic`` (a fact type, or ``canary``)."""
        if granularity == "sample":
            if not isinstance(value, int) or not 0 <= value < len(self.people):
                raise ConfigError(f"forget person must be an id in [0, {len(self.people) - 1}], got {value!r}")
            return [i for i, s in enumerate(self.samples) if s.person == value]
        if granularity == "client":
            if not isinstance(value, int) or not 0 <= value < self.num_clients:
                raise ConfigError(f"forget client must be an id in [0, {self.num_clients - 1}], got {value!r}")
            return self.client_indices(value)
        if granularity == "topic":
            known = sorted({s.topic for s in self.samples})
            if value not in known:
                raise ConfigError(f"forget topic must be one of {', '.join(known)}, got {value!r}")
            return [i for i, s in enumerate(self.samples) if s.topic == value]
        raise ConfigError(f"forget granularity must be one of sample, client, topic, got {granularity!r}")


def generate_facts(num_people: int, num_clients: int, seed: int, *, topics: Sequence[str] = TOPICS,
                   canaries: Sequence[CanarySpec] = ()) -> FactsCorpus:
    """``num_people`` fictitious people with one fact per topic each, spread evenly over
    ``num_clients`` clients at random; canary lines appended to their clients' text. The
    same seed gives the same corpus."""
    if num_people < num_clients or num_clients < 1:
        raise ConfigError(f"data.num_people must be >= the number of clients ({num_clients}), got {num_people}")
    bad = [t for t in topics if t not in TEMPLATES]
    if bad or not topics:
        raise ConfigError(f"data.topics must be a non-empty list from {', '.join(TOPICS)}, got {list(topics)}")
    rng = np.random.default_rng(seed)
    people: list[str] = []
    while len(people) < num_people:  # distinct full names
        name = f"{_word(rng, 2)} {_word(rng, 3)}"
        if name not in people:
            people.append(name)
    owner = (rng.permutation(num_people) % num_clients).astype(int)
    samples = [Sample(TEMPLATES[t].format(name=people[p], value=_value(t, rng)), int(owner[p]), p, t)
               for p in range(num_people) for t in topics]
    made = []
    for j, spec in enumerate(canaries):
        spec.check(num_clients, f"data.canaries[{j}]")
        secret = "".join(rng.choice(list(spec.alphabet), size=spec.length))
        c = Canary(spec, f"{_word(rng, 2)} {_word(rng, 3)}", secret)
        made.append(c)
        samples += [Sample(c.text(), spec.client, -1, CANARY_TOPIC)] * spec.repeats
    return FactsCorpus(tuple(samples), tuple(people), tuple(int(o) for o in owner), num_clients, tuple(made))


def check_canary_fits(canary: Canary, n_tokens: Callable[[str], int], context: int, where: str = "data.canaries") -> None:
    """A canary longer than the sequence length fails before any work."""
    n = n_tokens(canary.text())
    if n > context:
        raise ConfigError(f"{where}: the canary {canary.text()[:40]!r}... is {n} tokens, longer than the sequence "
                          f"length {context}; shorten {where}.format / length or raise model.context to >= {n}")


def exposure(canary_loss: float, candidate_losses: np.ndarray, space_size: int, *, method: str = "rank") -> float:
    """Exposure of a canary given the losses of other candidate secrets (all of them, or a
    uniform sample; the canary itself excluded)."""
    cand = np.asarray(candidate_losses, dtype=np.float64)
    if cand.size == 0 or space_size < 2:
        raise ConfigError(f"exposure needs >= 1 candidate and a space of >= 2 secrets, got {cand.size} and {space_size}")
    if method == "rank":
        frac = float(np.mean(cand < canary_loss))
        rank = 1.0 + (space_size - 1) * frac
        return float(np.log2(space_size) - np.log2(rank))
    if method == "skewnorm":
        from scipy import stats

        a, loc, scale = stats.skewnorm.fit(cand)
        logcdf = float(stats.skewnorm.logcdf(canary_loss, a, loc, scale))
        return float(min(-logcdf / np.log(2.0), np.log2(space_size)))
    raise ConfigError(f"exposure method must be 'rank' or 'skewnorm', got {method!r}")


def candidate_secrets(canary: Canary, n: int | None, seed: int) -> list[str]:
    """Other secrets of the canary's format: all of them when the space has at most
    ``n + 1`` (or ``n`` is None), else ``n`` drawn uniformly (with replacement) from the rest."""
    alpha, k = canary.spec.alphabet, canary.spec.length
    if n is None or canary.space_size - 1 <= n:
        if canary.space_size > 10**6:
            raise ConfigError(f"the canary space has {canary.space_size} secrets; too many to enumerate: give n")
        idx = np.arange(canary.space_size)
    else:
        idx = np.random.default_rng(seed).integers(0, canary.space_size, size=2 * n + 8)
    out = []
    for v in idx:
        s = "".join(alpha[(int(v) // len(alpha) ** i) % len(alpha)] for i in reversed(range(k)))
        if s != canary.secret:
            out.append(s)
    return out if n is None or canary.space_size - 1 <= n else out[:n]


def canary_exposure(canary: Canary, losses: Callable[[list[str]], np.ndarray], *, n_candidates: int | None = 1000,
                    seed: int = 0, method: str = "rank") -> float:
    """Exposure of ``canary`` under ``losses`` (texts -> per-text loss, lower = more likely;
    e.g. :func:`fedforget.tasks.causal_lm.sequence_nll` bound to a model)."""
    others = candidate_secrets(canary, n_candidates, seed)
    scored = losses([canary.text()] + [canary.text(s) for s in others])
    return exposure(float(scored[0]), np.asarray(scored[1:]), canary.space_size, method=method)
