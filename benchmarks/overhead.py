"""Overhead of running through fedforget on Flower + Ray vs a plain PyTorch loop.

The same training work — FedAvg of the quickstart federation (same data, partitions,
model, seeds, rounds, local epochs) — is run side by side:

  (a) a plain in-process PyTorch loop (no messages, no serialization, no Ray);
  (b) fedforget's in-process federation (messages as Python objects, no Flower);
  (c) fedforget on Flower's simulation engine (Ray backend): the training phase alone,
      and the whole Flower run including Ray start-up and tear-down.

Prints wall times and ratios to (a), and each run's final test accuracy (they must agree:
the same seeds give the same model); then where the whole Flower run's time went, phase by
phase (Ray start, engine start, connect, setup, the work, Ray stop) and what no phase
covers. The last line is one JSON object with every figure.
Usage: python benchmarks/overhead.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import torch

from fedforget.config import load_config
from fedforget.data import build_federated_data
from fedforget.models import build_model
from fedforget.params import get_arrays, set_arrays, weighted_average
from fedforget.runtime import run_experiment
from fedforget.seeding import derive_seed, torch_gen
from fedforget.training import accuracy_counts, local_sgd


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


PHASES: dict[str, dict[str, float]] = {}  # every phase's wall time per backend (JSON line)


def fedforget_run(cfg, backend: str) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as d:
        from fedforget.config import config_from_dict

        c2 = config_from_dict(cfg.to_dict(), [f"runtime.backend={backend}"])
        t0 = time.perf_counter()
        res = run_experiment(c2, Path(d), write_report=False)
        total = time.perf_counter() - t0
        PHASES[backend] = {k: v["time_s"] for k, v in res["phases"].items()}
        return res["phases"]["train"]["time_s"], total, res["models"]["original"]["test_acc"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/quickstart.yaml")
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ov = ["unlearning.rounds=1", "unlearning.recovery_rounds=0", "evaluation.retrain=false",
          "evaluation.every_round=false"]
    if args.rounds:
        ov.append(f"training.rounds={args.rounds}")
    cfg = load_config(args.config, ov)
    torch.set_num_threads(1)  # the Ray actors run single-threaded; compare like with like
    plain_s, plain_acc = plain_loop(cfg)
    inproc_train, inproc_total, inproc_acc = fedforget_run(cfg, "inprocess")
    ray_train, ray_total, ray_acc = fedforget_run(cfg, "ray")
    rows = [
        ("plain PyTorch loop", plain_s, plain_acc),
        ("fedforget in-process federation (train phase)", inproc_train, inproc_acc),
        ("fedforget on Flower + Ray (train phase)", ray_train, ray_acc),
        ("fedforget on Flower + Ray (whole run incl. Ray start/stop, eval)", ray_total, ray_acc),
    ]
    print(f"\nFedAvg, {cfg.partition.num_clients} clients x {cfg.training.rounds} rounds x "
          f"{cfg.training.local_epochs} local epochs ({cfg.data.name}, {cfg.model.name})\n")
    print(f"| {'run':<66} | {'wall s':>8} | {'ratio':>6} | {'test acc':>8} |")
    print(f"|{'-' * 68}|{'-' * 10}|{'-' * 8}|{'-' * 10}|")
    for name, s, acc in rows:
        print(f"| {name:<66} | {s:8.2f} | {s / plain_s:6.2f} | {acc:8.4f} |")
    print(f"\nFlower + Ray train phase / in-process train phase: {ray_train / inproc_train:.2f}")
    unaccounted = ray_total - sum(PHASES["ray"].values())
    print(f"\nWhole Flower + Ray run, {ray_total:.2f} s, by phase:\n")
    print(f"| {'phase':<22} | {'s':>6} | {'share':>6} |")
    print(f"|{'-' * 24}|{'-' * 8}|{'-' * 8}|")
    for name, s in [*PHASES["ray"].items(), ("(in no phase)", unaccounted)]:
        print(f"| {name:<22} | {s:6.2f} | {s / ray_total:6.1%} |")
    print(json.dumps({"plain_s": plain_s, "inprocess_train_s": inproc_train, "inprocess_total_s": inproc_total,
                      "ray_train_s": ray_train, "ray_total_s": ray_total, "ray_unaccounted_s": unaccounted,
                      "ratio_ray_train_to_plain": ray_train / plain_s, "ratio_ray_train_to_inprocess": ray_train / inproc_train,
                      "test_acc": {"plain": plain_acc, "inprocess": inproc_acc, "ray": ray_acc},
                      "phases_s": PHASES}))


if __name__ == "__main__":
    main()
