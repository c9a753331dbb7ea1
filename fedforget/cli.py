"""``fedforget run | report | validate``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from fedforget.util.errors import FedForgetError

log = logging.getLogger("fedforget")


def _setup_logging(verbose: bool) -> None:
    from fedforget.util.console import setup_console

    setup_console(verbose)  # fedforget's INFO lines; other libraries' below WARNING only with --verbose


def _config_command(sub: Any, name: str, helptext: str, config_help: str, out_default: str) -> None:
    """A subcommand taking a config, ``--set`` overrides, ``--out`` and ``-v``."""
    p = sub.add_parser(name, help=helptext)
    p.add_argument("config", help=config_help)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable)")
    p.add_argument("--out", default=None, help=f"output folder (default: {out_default})")
    p.add_argument("-v", "--verbose", action="store_true")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fedforget", description="Federated machine unlearning on Flower.")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run one experiment: train, delete, unlearn, retrain, evaluate, report")
    r.add_argument("config", help="experiment YAML (see configs/)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field, e.g. --set unlearning.rounds=3 (repeatable)")
    r.add_argument("--out", default=None, help="output folder (default: runs/<name>)")
    r.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in the output folder from its last checkpoint")
    r.add_argument("--ray-address", default=None, metavar="ADDRESS",
                   help="join a running Ray cluster (auto, host:port, ray://host:port) = --set runtime.ray_address=...")
    r.add_argument("-v", "--verbose", action="store_true")
    v = sub.add_parser("validate", help="check a config and print the resolved YAML")
    v.add_argument("config")
    v.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    rep = sub.add_parser("report", help="(re)draw report.md and plots from an output folder")
    rep.add_argument("out")
    rep.add_argument("--latex", action="store_true",
                     help="write table.tex (booktabs, mean ± std over seeds) from the folder's comparison.json")
    c = sub.add_parser("compare", help="train once, run every method in compare.methods plus retrain; one table")
    c.add_argument("config", help="experiment YAML with a compare section (see configs/compare.yaml)")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable)")
    c.add_argument("--out", default=None, help="output folder (default: runs/<name>)")
    c.add_argument("--seeds", default=None, metavar="S1,S2,...",
                   help="run the comparison for every seed (e.g. 0,1,2) and report mean ± std, 95%% CI and "
                        "paired differences to retrain (same as runtime.seeds)")
    c.add_argument("-v", "--verbose", action="store_true")
    _config_command(sub, "meta-eval", "faithfulness and 4-bit robustness of the membership metrics, on shadow federations",
                    "experiment YAML (its federation, model and training recipe)", "runs/<name>-meta-eval")
    pol = sub.add_parser("policies", help="serving policies side by side on a streamed config (configs/stream.yaml)")
    pol.add_argument("config", help="experiment YAML whose requests arrive during training")
    pol.add_argument("--policies", default="immediate,batched,deadline,retrain", metavar="P1,P2,...")
    pol.add_argument("--seeds", default="0", metavar="S1,S2,...")
    pol.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    pol.add_argument("--out", default=None, help="output folder (default: runs/<name>-policies)")
    pol.add_argument("-v", "--verbose", action="store_true")
    sw = sub.add_parser("sweep", help="bits x sparsity x method sweep; one table and a trade-off figure")
    sw.add_argument("config", help="sweep YAML (see configs/sweep_compression.yaml)")
    sw.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a field of every cell's experiment config (repeatable)")
    sw.add_argument("--out", default=None, help="output folder (default: runs/<sweep file stem>)")
    sw.add_argument("-v", "--verbose", action="store_true")
    from fedforget.runtime.deploy import add_deploy_parser

    add_deploy_parser(sub)
    from fedforget.deletion.receipts.commands import add_parsers as add_receipt_parsers

    add_receipt_parsers(sub)  # fedforget ledger | verify | prove
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _setup_logging(getattr(args, "verbose", False))
    try:
        if args.cmd == "deploy":
            from fedforget.runtime.deploy import deploy_main

            return deploy_main(args)
        if args.cmd in ("ledger", "verify", "prove"):
            from fedforget.deletion.receipts.commands import main as receipts_main

            return receipts_main(args)
        if args.cmd == "policies":
            from fedforget.config import load_config
            from fedforget.runtime.policies import markdown, policy_configs, run_policies

            pcfg = load_config(args.config, args.overrides)
            names, seeds = args.policies.split(","), [int(s) for s in args.seeds.split(",")]
            policy_configs(pcfg, names, seeds)  # fails before any work starts
            pout = Path(args.out) if args.out else Path("runs") / f"{pcfg.name}-policies"
            print(markdown(run_policies(pcfg, pout, names, seeds)))
            return 0
        if args.cmd == "sweep":
            from fedforget.studies.sweep import load_sweep, run_sweep

            load_sweep(args.config, args.overrides)  # fails before any work starts
            sout = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
            from fedforget.runtime.compare import run_compare

            table = run_sweep(args.config, sout, args.overrides, run_compare=run_compare)
            print(f"{len(table)} rows: {sout / 'sweep.csv'}; figure: {sout / 'sweep_tradeoff.png'}")
            return 0
        if args.cmd == "compare":
            from fedforget.config import load_config
            from fedforget.run.validate import validate_experiment

            seeds = [f"runtime.seeds=[{args.seeds}]"] if args.seeds else []
            ccfg = validate_experiment(load_config(args.config, [*args.overrides, *seeds]))  # fails before any work
            cout = Path(args.out) if args.out else Path("runs") / ccfg.name
            from fedforget.runtime.compare import run_compare
            from fedforget.studies.compare import markdown_table

            summary = run_compare(ccfg, cout)
            if "stats" in summary:  # several seeds
                from fedforget.studies.seeds import stats_tables

                print(stats_tables(summary))
            else:
                print(markdown_table(summary["rows"]))
            print(f"\ncomparison: {cout / 'comparison.md'} (CSV: comparison.csv)")
            return 0
        if args.cmd == "meta-eval":  # in process (fedforget.studies.meta_eval)
            from fedforget.client.inprocess import InProcessFederation
            from fedforget.config import load_config
            from fedforget.run.validate import validate_experiment
            from fedforget.studies.meta_eval import markdown, run_meta_eval

            mcfg = validate_experiment(load_config(args.config, args.overrides))  # fails before any work
            mout = Path(args.out) if args.out else Path("runs") / f"{mcfg.name}-meta-eval"
            fed = InProcessFederation(mcfg.partition.num_clients, mout / "state")
            print(markdown(run_meta_eval(mcfg, fed, mout)))
            return 0
        if args.cmd == "validate":
            from fedforget.config import load_config
            from fedforget.run.validate import validate_experiment

            print(validate_experiment(load_config(args.config, args.overrides)).to_yaml(), end="")
            return 0
        if args.cmd == "report":
            if args.latex:
                from fedforget.studies.seeds import write_latex

                print(write_latex(args.out))
                return 0
            from fedforget.report import write_report

            print(write_report(args.out))
            return 0
        from fedforget.config import load_config
        from fedforget.run.validate import validate_experiment

        if args.ray_address:  # a --set like any other (YAML-quoted: "auto", "10.0.0.1:6379")
            args.overrides.append(f"runtime.ray_address={json.dumps(args.ray_address)}")
        cfg = validate_experiment(load_config(args.config, args.overrides))  # fails before any work starts
        out = Path(args.out) if args.out else Path("runs") / cfg.name
        from fedforget.run.checkpoint import check_fresh_output, request_resume

        check_fresh_output(out, args.resume, cfg.to_yaml())  # a used folder needs --resume or a new --out
        if args.resume:
            request_resume(out)
        from fedforget.runtime import run_experiment

        res = run_experiment(cfg, out)
        from fedforget.report.markdown import model_table

        print(model_table(res["models"]))
        print(f"\nreport: {out / 'report.md'}")
        return 0
    except FedForgetError as e:
        log.error("%s", e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
