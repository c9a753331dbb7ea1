"""Deployment helpers: the same ServerApp/ClientApp on a Flower SuperLink and SuperNodes.

This module holds the ``fedforget deploy`` subcommands and re-exports the parts:

- :mod:`~fedforget.runtime.deploy_certs`: a throw-away CA, SuperLink certificate and
  SuperNode key pairs for a local trial (never for production), and
  :func:`write_connection` for ``$FLWR_HOME/config.toml``;
- :mod:`~fedforget.runtime.deploy_local`: :func:`export_device_data` (each client's
  partition and deletion request as a device data folder) and :class:`LocalDeployment`
  (SuperLink + SuperNodes as real processes on 127.0.0.1, ``flwr run``, teardown);
- :mod:`~fedforget.runtime.deploy_procs`: process-tree helpers and :class:`DeployError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fedforget.runtime.deploy_certs import (
    NodeKeys,
    TLSFiles,
    generate_node_keys,
    generate_tls,
    generate_trial_credentials,
    write_connection,
)
from fedforget.runtime.deploy_local import (
    APP_DIR,
    NO_DEPENDENCY_INSTALL,
    LocalDeployment,
    export_device_data,
    run_local_deployment,
)
from fedforget.runtime.deploy_procs import DeployError, Proc, alive, free_port, process_tree

__all__ = [
    "APP_DIR", "NO_DEPENDENCY_INSTALL", "DeployError", "LocalDeployment", "NodeKeys", "Proc", "TLSFiles",
    "add_deploy_parser", "alive", "deploy_main", "export_device_data", "free_port", "generate_node_keys",
    "generate_tls", "generate_trial_credentials", "process_tree", "run_local_deployment", "write_connection",
]


# ---------------------------------------------------------------------- CLI
def add_deploy_parser(sub: Any) -> None:
    """``fedforget deploy certs|export|forget|connection|local``."""
    d = sub.add_parser("deploy", help="deployment helpers: certificates, device data, deletion requests, local trial")
    dsub = d.add_subparsers(dest="deploy_cmd", required=True)
    c = dsub.add_parser("certs", help="generate a throw-away CA, SuperLink certificate and SuperNode key pairs")
    c.add_argument("out", help="folder for ca.crt, server.pem, server.key, supernode-<i>[.pub]")
    c.add_argument("--nodes", type=int, default=2, help="number of SuperNode key pairs (default 2)")
    c.add_argument("--host", action="append", default=[], help="SuperLink IP/name for the certificate (repeatable; default 127.0.0.1 and localhost)")
    e = dsub.add_parser("export", help="write each client's partition of a config as a device data folder")
    e.add_argument("config")
    e.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    e.add_argument("--out", required=True, help="writes <out>/partition-<i>/{data.npz,forget.json}")
    f = dsub.add_parser("forget", help="on a device: create its deletion request (forget.json)")
    f.add_argument("data_path", help="the device's data folder (holding data.npz)")
    g = f.add_mutually_exclusive_group(required=True)
    g.add_argument("--ids", type=int, nargs="+", help="sample ids to forget")
    g.add_argument("--classes", type=int, nargs="+", help="forget every local sample of these classes")
    g.add_argument("--all", action="store_true", help="forget everything this device contributed")
    n = dsub.add_parser("connection", help="add a SuperLink connection to the Flower config ($FLWR_HOME/config.toml)")
    n.add_argument("name")
    n.add_argument("--address", required=True, help="SuperLink host:port")
    n.add_argument("--root-certificates", default=None, help="CA certificate (TLS); omit with --insecure")
    n.add_argument("--insecure", action="store_true")
    n.add_argument("--flwr-home", default=None, help="default: $FLWR_HOME or ~/.flwr")
    loc = dsub.add_parser("local", help="a whole local trial: SuperLink + one SuperNode per client on 127.0.0.1, flwr run")
    loc.add_argument("config")
    loc.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    loc.add_argument("--out", required=True)
    loc.add_argument("--secure", action="store_true", help="TLS + SuperNode authentication")
    loc.add_argument("--timeout", type=float, default=600.0)


def deploy_main(args: Any) -> int:
    cmd = args.deploy_cmd
    if cmd == "certs":
        tls, keys = generate_trial_credentials(args.out, args.nodes, tuple(args.host) or ("127.0.0.1", "localhost"))
        print(f"CA certificate:      {tls.ca_cert}\nSuperLink cert/key:  {tls.server_cert} {tls.server_key}")
        for k in keys:
            print(f"SuperNode key pair:  {k.private_key} {k.public_key}")
        from fedforget.deletion.receipts.signing import PUBLIC_FILE, load_or_create_key

        load_or_create_key(args.out)  # signs deletion receipts (docs/verifiable-deletion.md)
        print(f"receipt signing key: {Path(args.out) / PUBLIC_FILE} (server: FEDFORGET_RECEIPT_KEYS={args.out})")
        return 0
    if cmd == "export":
        from fedforget.config import load_config

        for folder in export_device_data(load_config(args.config, args.overrides), args.out):
            print(folder)
        return 0
    if cmd == "forget":
        from fedforget.data.local import (
            load_local_data,
            resolve_forget_request,
            write_forget_request,
        )

        local = load_local_data(args.data_path, num_classes=1 << 30)  # labels are not checked here
        path = write_forget_request(args.data_path, ids=args.ids, classes=args.classes, everything=args.all)
        n = len(resolve_forget_request(args.data_path, local))  # validates ids against the device data
        print(f"{path}: {n} of {len(local)} local samples will be forgotten at the next deletion round")
        return 0
    if cmd == "connection":
        home = args.flwr_home or os.environ.get("FLWR_HOME") or str(Path.home() / ".flwr")
        if not args.insecure and not args.root_certificates:
            raise DeployError("give --root-certificates CA.crt for a TLS SuperLink, or --insecure")
        print(write_connection(home, args.name, args.address, args.root_certificates, args.insecure))
        return 0
    if cmd == "local":
        res = run_local_deployment(args.config, args.overrides, args.out, secure=args.secure, timeout=args.timeout)
        from fedforget.report.markdown import model_table

        print(model_table(res["models"]))
        print(f"\ndeployed run: {res['deploy_wall_s']:.1f} s from `flwr run` to results ({args.out}/results.json)")
        return 0
    raise DeployError(f"unknown deploy command {cmd!r}")
