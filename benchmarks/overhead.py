"""Overhead of running through fedforget on Flower + Ray vs a plain PyTorch loop.

The same training work — FedAvg of the quickstart federation (same data, partitions,
model, seeds, rounds, local epochs) — is run side by side:

  (a) a plain in-process PyTorch loop (no messages, no serialization, no Ray);
  (b) fedforget's in-process federation (messages as Python objects, no Flower);
  (c) fedforget on Flower's simulation engine (Ray backend): the training phase alone,
      and the whole Flower run including Ray start-up and tear-down;
  (d) bare Ray: (a)'s client step in as many Ray actors as (c) uses, driven by a plain
      loop of Ray calls (no Flower, no fedforget messages): what Ray alone costs;
  (e) paired: (b) and (c)'s training rounds in one run, alternating in chunks of
      ``--chunk`` rounds (the same experiment over an in-process federation and over
      Flower + Ray, inside one ServerApp), so that both see the machine at the same
      moments: the ratio of their sums does not move with the machine's speed between
      runs, which the unpaired runs above do.

Prints wall times and ratios to (a), and each run's final test accuracy (they must agree:
the same seeds give the same model); then where the whole Flower run's time went, phase by
phase (Ray start, engine start, connect, setup, the work, Ray stop) and what no phase
covers. The last line is one JSON object with every figure.
Each configuration runs ``--repeat`` times (default 3), the three interleaved, and the
table shows medians: single runs of a 1-2 s phase moved by 30% between runs on the
project's machines. Usage: python benchmarks/overhead.py [--rounds N] [--repeat K] [--set F=V]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path

import torch

from fedforget.config import load_config
from fedforget.data import build_federated_data
from fedforget.models import build_model
from fedforget.runtime import run_experiment
from fedforget.training.local import accuracy_counts, local_sgd
from fedforget.util.params import get_arrays, set_arrays, weighted_average
from fedforget.util.seeding import derive_seed, torch_gen


def plain_loop(cfg) -> tuple[float, float]:
    fd = build_federated_data(cfg)
    tc = cfg.training
    clients = [fd.client(c) for c in range(fd.num_clients)]
    t0 = time.perf_counter()
    global_model = build_model(cfg.model, fd.test.input_shape, fd.test.num_classes, derive_seed(cfg.runtime.seed, "init"))
    local = build_model(cfg.model, fd.test.input_shape, fd.test.num_classes, 0)
    for r in range(tc.rounds):
        seed = derive_seed(cfg.runtime.seed, "fit", "train", r)
        g = get_arrays(global_model)
        ups, ws = [], []
        for c, data in enumerate(clients):
            set_arrays(local, g)
            local_sgd(local, data, lr=tc.lr, batch_size=tc.batch_size, gen=torch_gen(seed, c),
                      epochs=tc.local_epochs, momentum=tc.momentum, weight_decay=tc.weight_decay)
            ups.append(get_arrays(local))
            ws.append(len(data))
        set_arrays(global_model, weighted_average(ups, ws))
    dt = time.perf_counter() - t0
    c, n, _ = accuracy_counts(global_model, fd.test)
    return dt, c / n


class FloorClient:
    """A Ray actor doing (a)'s client work for the clients it is handed: the plain loop's
    per-client step, nothing else."""

    def __init__(self, cfg_text: str) -> None:
        from fedforget.config import load_config_text

        torch.set_num_threads(1)
        self.cfg = load_config_text(cfg_text)
        self.fd = build_federated_data(self.cfg)
        self.local = build_model(self.cfg.model, self.fd.test.input_shape, self.fd.test.num_classes, 0)
        self.data = {}

    def fit(self, c: int, g: dict, seed: int) -> tuple[dict, int]:
        data = self.data.get(c) or self.data.setdefault(c, self.fd.client(c))
        tc = self.cfg.training
        set_arrays(self.local, g)
        local_sgd(self.local, data, lr=tc.lr, batch_size=tc.batch_size, gen=torch_gen(seed, c),
                  epochs=tc.local_epochs, momentum=tc.momentum, weight_decay=tc.weight_decay)
        return get_arrays(self.local), len(data)


def ray_floor(cfg) -> tuple[float, float]:
    """(d) The plain loop's FedAvg with its clients in Ray actors (as many as fedforget's
    Ray backend starts, one CPU each) and no Flower, no fedforget messages: the driver
    sends each client's call to an actor (Ray queues an actor's calls, so each always has
    its next one) and averages the replies. What Ray itself costs this federation."""
    import os

    import ray

    ncpu = cfg.runtime.total_cpus or (os.cpu_count() or 1)
    n_act = max(1, min(int(ncpu // max(cfg.runtime.cpus_per_client, 1e-9)), cfg.partition.num_clients))
    ray.init(num_cpus=ncpu, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        cls = ray.remote(num_cpus=cfg.runtime.cpus_per_client)(FloorClient)
        actors = [cls.remote(cfg.to_yaml()) for _ in range(n_act)]
        fd = build_federated_data(cfg)
        tc = cfg.training
        ray.get([a.fit.remote(0, get_arrays(build_model(cfg.model, fd.test.input_shape, fd.test.num_classes, 0)), 0)
                 for a in actors])  # actors up and warm, as fedforget's warm actors are
        t0 = time.perf_counter()
        global_model = build_model(cfg.model, fd.test.input_shape, fd.test.num_classes, derive_seed(cfg.runtime.seed, "init"))
        for r in range(tc.rounds):
            seed = derive_seed(cfg.runtime.seed, "fit", "train", r)
            g = get_arrays(global_model)
            replies = ray.get([actors[c % n_act].fit.remote(c, g, seed) for c in range(fd.num_clients)])
            set_arrays(global_model, weighted_average([u for u, _ in replies], [n for _, n in replies]))
        dt = time.perf_counter() - t0
        c, n, _ = accuracy_counts(global_model, fd.test)
        return dt, c / n
    finally:
        ray.shutdown()


def paired_rounds(cfg, chunk: int) -> dict:
    """(e) The training rounds of the in-process federation and of Flower + Ray, run
    alternately in chunks of ``chunk`` rounds inside one simulated ServerApp (the order
    flips every chunk). Each side's time is its train phase's, as fedforget counts it
    (the round steps). Returns both sums, every chunk's pair and whether both federations
    ended with the same model, bit for bit."""
    import numpy as np
    from flwr.serverapp import ServerApp

    from fedforget.client.inprocess import InProcessFederation
    from fedforget.run.experiment import Experiment
    from fedforget.runtime.simulation import simulate_server_app
    from fedforget.util.io import atomic_write_json
    from strategies.flower_federation import FlowerFederation

    chunks: list[dict[str, float]] = []
    finals: dict[str, dict] = {}
    app = ServerApp()
    with tempfile.TemporaryDirectory() as d:
        out = Path(d)

        @app.main()
        def main(grid, context) -> None:  # noqa: ARG001 - Flower's signature
            n, rounds = cfg.partition.num_clients, cfg.training.rounds
            exps = {"ray": Experiment(cfg, FlowerFederation(grid, expected_nodes=n), out / "ray"),
                    "inprocess": Experiment(cfg, InProcessFederation(n, out / "inprocess-state"), out / "inprocess")}
            state = {}
            for name, exp in exps.items():
                exp.prepare()
                exp.setup()
                state[name] = (exp.init, exp.fedavg_step("train", exp.everyone, cfg.training.lr))
            for k, start in enumerate(range(0, rounds, chunk)):
                pair = {}
                for name in (("inprocess", "ray") if k % 2 == 0 else ("ray", "inprocess")):
                    exp, (arrays, step) = exps[name], state[name]
                    before = exp.loop.phases["train"].time_s if "train" in exp.loop.phases else 0.0
                    for r in range(start, min(rounds, start + chunk)):
                        arrays = exp.loop.round("train", r, arrays, step, evaluate=False, total=rounds)
                    pair[name] = exp.loop.phases["train"].time_s - before
                    state[name] = (arrays, step)
                chunks.append(pair)
            finals.update({name: st[0] for name, st in state.items()})
            atomic_write_json(out / "results.json", {"paired": chunks})

        simulate_server_app(cfg, out, app)
    same = finals["ray"].keys() == finals["inprocess"].keys() and all(
        np.array_equal(finals["ray"][k], finals["inprocess"][k]) for k in finals["ray"])
    ray_s, inproc_s = sum(c["ray"] for c in chunks), sum(c["inprocess"] for c in chunks)
    return {"paired_inprocess_train_s": inproc_s, "paired_ray_train_s": ray_s,
            "ratio_ray_train_to_inprocess_paired": ray_s / inproc_s, "paired_same_model": bool(same),
            "paired_chunks": chunks}


def fedforget_run(cfg, backend: str) -> tuple[float, float, float, dict[str, float]]:
    """(train phase s, whole run s, test accuracy, every phase's s) of one fedforget run."""
    with tempfile.TemporaryDirectory() as d:
        from fedforget.config import config_from_dict

        c2 = config_from_dict(cfg.to_dict(), [f"runtime.backend={backend}"])
        t0 = time.perf_counter()
        res = run_experiment(c2, Path(d), write_report=False)
        total = time.perf_counter() - t0
        phases = {k: v["time_s"] for k, v in res["phases"].items()}
        return res["phases"]["train"]["time_s"], total, res["models"]["original"]["test_acc"], phases


def print_paired(runs: list[dict], chunk: int) -> dict:
    """Table of (e), each repeat and pooled (every repeat's chunks summed); the pooled
    figures for the JSON line."""
    print(f"\nPaired (e): in-process and Flower + Ray training rounds alternating in chunks of {chunk} "
          "rounds within one run, each repeat and pooled:\n")
    print("| repeat | in-process s | Flower + Ray s | Flower + Ray / in-process | chunks' ratios | same model |")
    print("|---|---|---|---|---|---|")
    for i, r in enumerate(runs, 1):
        cr = [c["ray"] / c["inprocess"] for c in r["paired_chunks"]]
        print(f"| {i} | {r['paired_inprocess_train_s']:.3f} | {r['paired_ray_train_s']:.3f} | "
              f"{r['ratio_ray_train_to_inprocess_paired']:.2f} | {min(cr):.2f}-{max(cr):.2f} | {r['paired_same_model']} |")
    ray_s = sum(r["paired_ray_train_s"] for r in runs)
    inproc_s = sum(r["paired_inprocess_train_s"] for r in runs)
    same = all(r["paired_same_model"] for r in runs)
    print(f"| pooled | {inproc_s:.3f} | {ray_s:.3f} | **{ray_s / inproc_s:.2f}** | | {same} |")
    return {"ratio_ray_train_to_inprocess_paired_pooled": ray_s / inproc_s, "paired_same_model": same}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/quickstart.yaml")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3,
                    help="side-by-side repeats (plain, in-process, Ray in turn); the table shows medians")
    ap.add_argument("--chunk", type=int, default=5,
                    help="rounds per chunk of the paired run (e); 0 skips it")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                    help="config override for all three runs, e.g. runtime.pipeline_depth=1")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ov = ["unlearning.rounds=1", "unlearning.recovery_rounds=0", "evaluation.retrain=false",
          "evaluation.every_round=false", *args.overrides]
    if args.rounds:
        ov.append(f"training.rounds={args.rounds}")
    cfg = load_config(args.config, ov)
    torch.set_num_threads(1)  # the Ray actors run single-threaded; compare like with like
    runs: list[dict] = []
    for i in range(max(1, args.repeat)):  # interleaved: a slow spell of the machine hits all three
        plain_s, plain_acc = plain_loop(cfg)
        inproc_train, inproc_total, inproc_acc, inproc_phases = fedforget_run(cfg, "inprocess")
        ray_train, ray_total, ray_acc, ray_phases = fedforget_run(cfg, "ray")
        floor_s, floor_acc = ray_floor(cfg)
        paired = paired_rounds(cfg, args.chunk) if args.chunk > 0 else {}
        runs.append({**paired,"plain_s": plain_s, "inprocess_train_s": inproc_train, "inprocess_total_s": inproc_total,
                     "ray_train_s": ray_train, "ray_total_s": ray_total, "bare_ray_s": floor_s,
                     "ratio_ray_train_to_plain": ray_train / plain_s,
                     "ratio_ray_train_to_inprocess": ray_train / inproc_train,
                     "ratio_bare_ray_to_plain": floor_s / plain_s,
                     "ratio_ray_train_to_bare_ray": ray_train / floor_s,
                     "test_acc": {"plain": plain_acc, "inprocess": inproc_acc, "ray": ray_acc, "bare_ray": floor_acc},
                     "phases_s": {"inprocess": inproc_phases, "ray": ray_phases}})
        logging.warning("repeat %d/%d: plain %.3f s, in-process train %.3f s, Ray train %.3f s, bare Ray %.3f s%s",
                        i + 1, args.repeat, plain_s, inproc_train, ray_train, floor_s,
                        f"; paired {paired['ratio_ray_train_to_inprocess_paired']:.2f}" if paired else "")
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if isinstance(runs[0][k], float)}
    # the phase split shown is the run whose Ray train phase is the median one
    mid = sorted(runs, key=lambda r: r["ray_train_s"])[len(runs) // 2]
    acc = mid["test_acc"]
    rows = [
        ("plain PyTorch loop", med["plain_s"], acc["plain"]),
        ("fedforget in-process federation (train phase)", med["inprocess_train_s"], acc["inprocess"]),
        ("fedforget on Flower + Ray (train phase)", med["ray_train_s"], acc["ray"]),
        ("bare Ray: the plain loop's clients in Ray actors, no Flower (d)", med["bare_ray_s"], acc["bare_ray"]),
        ("fedforget on Flower + Ray (whole run incl. Ray start/stop, eval)", med["ray_total_s"], acc["ray"]),
    ]
    print(f"\nFedAvg, {cfg.partition.num_clients} clients x {cfg.training.rounds} rounds x "
          f"{cfg.training.local_epochs} local epochs ({cfg.data.name}, {cfg.model.name}); "
          f"median of {len(runs)} side-by-side repeats\n")
    print(f"| {'run':<66} | {'wall s':>8} | {'ratio':>6} | {'test acc':>8} |")
    print(f"|{'-' * 68}|{'-' * 10}|{'-' * 8}|{'-' * 10}|")
    for name, s, a in rows:
        print(f"| {name:<66} | {s:8.2f} | {s / med['plain_s']:6.2f} | {a:8.4f} |")
    print("\nRatios of the Flower + Ray train phase, each repeat side by side:\n")
    print("| repeat | plain s | in-process s | Flower + Ray s | bare Ray s | / plain | / in-process | bare Ray / plain |")
    print("|---|---|---|---|---|---|---|---|")
    for i, r in enumerate(runs, 1):
        print(f"| {i} | {r['plain_s']:.3f} | {r['inprocess_train_s']:.3f} | {r['ray_train_s']:.3f} | {r['bare_ray_s']:.3f} | "
              f"{r['ratio_ray_train_to_plain']:.2f} | {r['ratio_ray_train_to_inprocess']:.2f} | {r['ratio_bare_ray_to_plain']:.2f} |")
    print(f"| median | | | | | **{med['ratio_ray_train_to_plain']:.2f}** | **{med['ratio_ray_train_to_inprocess']:.2f}** | "
          f"**{med['ratio_bare_ray_to_plain']:.2f}** |")
    ray_phases = mid["phases_s"]["ray"]
    unaccounted = mid["ray_total_s"] - sum(ray_phases.values())
    print(f"\nWhole Flower + Ray run (the median repeat), {mid['ray_total_s']:.2f} s, by phase:\n")
    print(f"| {'phase':<22} | {'s':>6} | {'share':>6} |")
    print(f"|{'-' * 24}|{'-' * 8}|{'-' * 8}|")
    for name, s in [*ray_phases.items(), ("(in no phase)", unaccounted)]:
        print(f"| {name:<22} | {s:6.2f} | {s / mid['ray_total_s']:6.1%} |")
    pooled = print_paired(runs, args.chunk) if args.chunk > 0 else {}
    same = all(len(set(r["test_acc"].values())) == 1 for r in runs)
    print(f"\nsame final model in all three (test accuracy equal in every repeat): {same}")
    print(json.dumps({**med, **pooled, "ray_unaccounted_s": unaccounted, "test_acc": acc, "same_model": same,
                      "repeats": len(runs), "overrides": args.overrides, "phases_s": mid["phases_s"], "runs": runs}))


if __name__ == "__main__":
    main()
