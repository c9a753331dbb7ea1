"""fedforget.util.io.load_npz_cached: the disk stays the source of truth, and at 1,000 clients
the cache keeps the most recently used client states (a count of 256 files, emptied when
full, re-parsed every state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fedforget.util import io as ffio


def test_changed_files_are_read_again_and_the_least_recently_used_go_first(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ffio, "_NPZ_CACHE", type(ffio._NPZ_CACHE)())
    monkeypatch.setattr(ffio, "_NPZ_CACHE_BYTES", [0])
    paths = [tmp_path / f"c{i}.npz" for i in range(400)]  # more files than the old count of 256
    for i, p in enumerate(paths):
        ffio.atomic_save_npz(p, {"ids": np.arange(i, i + 50)})
    size = paths[0].stat().st_size
    parsed: list[str] = []
    real = np.load

    def counting_load(*a, **k):  # type: ignore[no-untyped-def]
        parsed.append("x")
        return real(*a, **k)

    monkeypatch.setattr(ffio.np, "load", counting_load)
    for p in paths:
        ffio.load_npz_cached(p)
    assert len(parsed) == 400
    for p in paths:  # all held: no file parsed again
        assert int(ffio.load_npz_cached(p)["ids"][0]) == paths.index(p)
    assert len(parsed) == 400
    ffio.atomic_save_npz(paths[3], {"ids": np.arange(7)})  # the disk changed: read it again
    assert ffio.load_npz_cached(paths[3])["ids"].tolist() == list(range(7))
    assert len(parsed) == 401
    monkeypatch.setattr(ffio, "NPZ_CACHE_MAX_BYTES", 10 * size)  # room for about 10 files
    ffio.load_npz_cached(paths[3])  # a hit: now the most recently used
    new = tmp_path / "new.npz"
    ffio.atomic_save_npz(new, {"ids": np.arange(3)})
    ffio.load_npz_cached(new)  # a miss: the least recently used go until the bound holds
    assert len(parsed) == 402
    assert len(ffio._NPZ_CACHE) <= 11 and {str(paths[3]), str(new)} <= set(ffio._NPZ_CACHE)
    assert ffio._NPZ_CACHE_BYTES[0] == sum(len(d) for d, _ in ffio._NPZ_CACHE.values())
    assert ffio.load_npz_cached(paths[0])["ids"][0] == 0  # evicted: parsed again, same content
    assert len(parsed) == 403
