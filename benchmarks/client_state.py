"""Per-message cost of where a simulated client keeps its state (issue 16).

Two choices for ``runtime.client_state``:

  dir      the state folder is the state (one disk, or a folder every node mounts);
           a message costs nothing beyond the client's own reads and writes;
  context  the files travel in Flower's node ``Context.state``: every message restores
           them into a node-local cache folder (compare, write if stale) and puts them
           back if changed; Ray pickles the Context with the message both ways.

Measured on the quickstart's client state after ``setup`` + ``delete`` (config, forget set,
commitments), per message: the restore/save work, the pickling round trip of the Context
(what Ray adds to each message), and a restore on a fresh node (the folder is empty).
Prints a table and one JSON line. Usage: python benchmarks/client_state.py
"""

from __future__ import annotations

import json
import pickle
import shutil
import tempfile
import time
from pathlib import Path

from flwr.app import Context, RecordDict

from clients.client_app import restore_state, save_state
from fedforget.client.worker import ClientWorker
from fedforget.config import load_config

ROOT = Path(__file__).resolve().parent.parent
N = 300


def per_call_ms(fn, n: int = N) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return 1000 * (time.perf_counter() - t0) / n


def main() -> None:
    cfg = load_config(ROOT / "configs" / "quickstart.yaml")
    d = Path(tempfile.mkdtemp())
    try:
        w = ClientWorker(3, d / "node-a")
        w.handle("setup", {}, {"experiment": cfg.to_yaml()})
        w.handle("delete", {}, {})
        ctx = Context(run_id=1, node_id=1, node_config={"partition-id": 3}, state=RecordDict(), run_config={})
        save_state(ctx, w.state_dir, {})
        files = restore_state(ctx, w.state_dir)
        state_bytes = sum(len(v) for v in files.values())
        empty = Context(run_id=1, node_id=1, node_config={"partition-id": 3}, state=RecordDict(), run_config={})

        def fresh_node() -> None:
            shutil.rmtree(d / "node-b", ignore_errors=True)
            restore_state(ctx, d / "node-b")

        rows = {
            "context: restore + save (state unchanged)": per_call_ms(lambda: save_state(ctx, w.state_dir, restore_state(ctx, w.state_dir))),
            "context: restore on a fresh node (writes every file)": per_call_ms(fresh_node, 50),
            "context: pickle round trip of the Context (Ray, both ways)": per_call_ms(
                lambda: pickle.loads(pickle.dumps(ctx, protocol=5))) * 2,
            "dir: pickle round trip of an empty Context (Ray, both ways)": per_call_ms(
                lambda: pickle.loads(pickle.dumps(empty, protocol=5))) * 2,
            "both: the client reading its config + forget set (worker.config())": per_call_ms(w.config),
        }
    finally:
        shutil.rmtree(d, ignore_errors=True)
    print(f"\nclient state of the quickstart: {len(files)} files, {state_bytes} bytes\n")
    print("| per message | ms |\n|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {v:.3f} |")
    print(json.dumps({"state_files": len(files), "state_bytes": state_bytes, "ms": rows}))


if __name__ == "__main__":
    main()
