"""The quickstart on one node vs a two-node local Ray cluster (issue 16).

Runs ``configs/quickstart.yaml`` (``client_state: context``) once with a private Ray
instance and once on a two-node cluster started with ``ray.cluster_utils.Cluster`` on this
machine: one CPU per node, so clients run on both nodes, each node with its own state root.
Prints wall time, train-phase time per client message, Ray start/stop, whether the two
runs' results.json numbers agree, and one JSON line. The cluster is stopped at the end.
Usage: python benchmarks/two_node.py [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from fedforget.config import load_config
from fedforget.runtime import run_experiment

ROOT = Path(__file__).resolve().parent.parent
NUMBERS = ("test_acc", "retain_acc", "forget_acc", "asr", "bytes_down", "bytes_up")


def timed(cfg, out: Path) -> tuple[dict, float]:
    t0 = time.perf_counter()
    res = run_experiment(cfg, out, write_report=False)
    return res, time.perf_counter() - t0


def summary(res: dict, wall: float, cfg) -> dict:
    ph = res["phases"]
    msgs = cfg.training.rounds * cfg.partition.num_clients
    return {"wall_s": wall, "train_s": ph["train"]["time_s"], "train_ms_per_msg": 1000 * ph["train"]["time_s"] / msgs,
            "ray_start_s": ph["ray_start"]["time_s"], "ray_stop_s": ph["ray_stop"]["time_s"]}


def main() -> None:
    from ray.cluster_utils import Cluster

    ap = argparse.ArgumentParser()
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="ff2b", dir="/tmp"))  # short: Ray's socket paths live under it
    os.environ["RAY_TMPDIR"] = str(work)  # the test cluster's address file stays private
    try:
        base = ["runtime.backend=ray", "runtime.client_state=context", "runtime.cpus_per_client=1", *args.overrides]
        cfg = load_config(ROOT / "configs" / "quickstart.yaml", base)
        one, one_wall = timed(cfg, work / "one")
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, "env_vars": {"FEDFORGET_STATE_DIR": str(work / "node-a")}})
        try:
            cluster.add_node(num_cpus=1, env_vars={"FEDFORGET_STATE_DIR": str(work / "node-b")})
            cluster.wait_for_nodes()
            two_cfg = dataclasses.replace(cfg, runtime=dataclasses.replace(cfg.runtime, ray_address=cluster.address))
            two, two_wall = timed(two_cfg, work / "two")
        finally:
            cluster.shutdown()
        diff = {f"{m}.{k}": (one["models"][m][k], two["models"][m][k]) for m in one["models"] for k in NUMBERS
                if two["models"][m][k] != one["models"][m][k]}
        same = not diff
        rows = {"one node (private Ray, 2 CPUs)": summary(one, one_wall, cfg),
                "two-node local cluster (1 CPU each)": summary(two, two_wall, cfg)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("\n| run | wall s | train s | train ms / client msg | ray start s | ray stop s |\n|---|---|---|---|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {v['wall_s']:.1f} | {v['train_s']:.2f} | {v['train_ms_per_msg']:.1f} | "
              f"{v['ray_start_s']:.1f} | {v['ray_stop_s']:.1f} |")
    print(f"\nsame results.json numbers: {same} {diff or ''}")
    print(json.dumps({"runs": rows, "same_numbers": same, "differences": diff}))


if __name__ == "__main__":
    main()
