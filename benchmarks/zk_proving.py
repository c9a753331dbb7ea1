"""ezkl proving cost of the zero-knowledge forgetting evidence (fedforget.deletion.receipts.zk).

For each MLP size (input 64 = 8x8 digits, hidden H, 10 classes) and n samples: the locally
generated SRS (once per circuit size, then cached), key setup, proof and verification, in
seconds, measured on this machine, plus the circuit size (logrows) and the bundle's size.
Prints a table and one JSON line.

``verify_s`` is the Halo2 verification alone; ``audit_s`` the whole ``verify_bundle`` (with
fixed parameters it rebuilds the verification key from the published model).

    python benchmarks/zk_proving.py [--hidden 32 128] [--n 4] [--params fixed|hashed]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from fedforget.config import ModelConfig
from fedforget.deletion.receipts import zk
from fedforget.models import build_model
from fedforget.util.hashing import model_hash
from fedforget.util.params import get_arrays


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--params", choices=zk.PARAM_MODES, default="fixed")
    args = ap.parse_args()
    if not zk.available():
        print("ezkl is not installed: pip install 'fedforget[zk]'", file=sys.stderr)
        return 1
    rows = []
    x = np.random.default_rng(0).random((args.n, 1, 8, 8)).astype(np.float32)
    for h in args.hidden:
        cfg = ModelConfig(name="mlp", hidden=h)
        arrays = get_arrays(build_model(cfg, (1, 8, 8), 10, seed=0))
        spec = zk.model_spec(cfg, (1, 8, 8), 10, args.n)
        with tempfile.TemporaryDirectory() as d:
            t = zk.prove(spec, arrays, x, Path(d) / "bundle", params=args.params)
            size = sum(f.stat().st_size for f in (Path(d) / "bundle").iterdir())
            t0 = time.perf_counter()
            checks = zk.verify_bundle(Path(d) / "bundle", {"model_hash_after": model_hash(arrays)})
            t["audit"] = time.perf_counter() - t0
            assert all(ok for _, ok, _ in checks), checks
        params = sum(int(a.size) for a in arrays.values())
        rows.append({"model": f"mlp 64-{h}-10", "params": params, "mode": args.params, "n": args.n,
                     "logrows": int(t["logrows"]),
                     "srs_s": round(t["srs"], 1), "setup_s": round(t["setup"], 1), "prove_s": round(t["prove"], 1),
                     "verify_s": round(t["verify"], 2), "audit_s": round(t["audit"], 1),
                     "bundle_mb": round(size / 1e6, 1)})
        print(rows[-1], flush=True)
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    print(json.dumps({"benchmark": "zk_proving", "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
