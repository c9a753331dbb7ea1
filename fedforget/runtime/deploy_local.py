"""A local trial deployment: device data export, and a SuperLink with SuperNodes as real
processes on 127.0.0.1 (:class:`LocalDeployment`), driven by ``flwr run``.

Runtime dependency installation is always disabled (``flwr run`` would otherwise sync
the app's dependencies with uv and might pull a CUDA build of torch).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedforget.config import ExperimentConfig
from fedforget.runtime.deploy_certs import (
    NodeKeys,
    TLSFiles,
    generate_node_keys,
    generate_tls,
    write_connection,
)
from fedforget.runtime.deploy_procs import (
    DeployError,
    Proc,
    _bin,
    _json_out,
    _signal,
    alive,
    free_port,
    process_tree,
)

log = logging.getLogger(__name__)

NO_DEPENDENCY_INSTALL = {"FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1"}
APP_DIR = Path(__file__).resolve().parents[2]  # the Flower app: pyproject.toml + strategies/ + clients/



# ---------------------------------------------------------------------- device data
def export_device_data(cfg: ExperimentConfig, out_root: str | Path) -> list[Path]:
    """Write ``<out_root>/partition-<i>/data.npz`` (and ``forget.json`` where the config's
    deletion requests name samples of client ``i``) for every client of ``cfg``.

    The folders hold exactly the samples the simulation gives each client, in the same
    order, so a deployment over them reproduces the simulated run."""
    from fedforget.data.federation import build_federated_data
    from fedforget.data.local import save_local_data, write_forget_request

    fd = build_federated_data(cfg)
    out = Path(out_root)
    folders = []
    for c in range(fd.num_clients):
        folder = out / f"partition-{c}"
        folder.mkdir(parents=True, exist_ok=True)
        save_local_data(folder, fd.client(c))
        (folder / "forget.json").unlink(missing_ok=True)
        if len(fd.forget[c]):
            write_forget_request(folder, ids=fd.forget[c].tolist())
        folders.append(folder)
    log.info("exported %d device data folders under %s", len(folders), out)
    return folders


@dataclass
class LocalDeployment:
    """A SuperLink and SuperNodes as real processes on 127.0.0.1, torn down by
    :meth:`close` (also on error when used as a context manager).

    ``secure``: TLS on the SuperLink (a throw-away CA in ``workdir/certs``) and SuperNode
    authentication (each node's public key registered with ``flwr supernode register``).
    """

    workdir: Path
    secure: bool = False
    app_dir: Path = APP_DIR
    host: str = "127.0.0.1"
    procs: list[Proc] = field(default_factory=list)
    _tree: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.flwr_home = self.workdir / "flwr-home"
        self.port = free_port(self.host)
        self.address = f"{self.host}:{self.port}"
        self.connection = "fedforget-local"
        self.tls: TLSFiles | None = None
        if self.secure:
            self.tls = generate_tls(self.workdir / "certs", (self.host, "localhost"))
        self.env = {**os.environ, **NO_DEPENDENCY_INSTALL, "FLWR_HOME": str(self.flwr_home),
                    "PYTHONUNBUFFERED": "1"}
        write_connection(self.flwr_home, self.connection, self.address,
                         root_certificates=self.tls.ca_cert if self.tls else None, insecure=not self.secure)

    # -------------------------------------------------------------- lifecycle
    def __enter__(self) -> LocalDeployment:
        # A SIGTERM to this process (CI timeout, `timeout`, kill) must still tear the
        # SuperLink/SuperNodes down: turn it into SystemExit so that __exit__ runs.
        self._old_sigterm = None
        if threading.current_thread() is threading.main_thread():
            def _exit(signum: int, frame: object) -> None:
                raise SystemExit(128 + signum)

            self._old_sigterm = signal.signal(signal.SIGTERM, _exit)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        finally:
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)

    def _spawn(self, name: str, cmd: list[str]) -> Proc:
        log_path = self.workdir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        log.debug("starting %s: %s", name, " ".join(cmd))
        p = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=self.env, cwd=self.workdir,
                             start_new_session=True)
        proc = Proc(name, p, log_path, fh)
        self.procs.append(proc)
        return proc

    def _remember_tree(self) -> None:
        for pr in self.procs:
            self._tree.update(process_tree(pr.popen.pid))

    def close(self, timeout: float = 10.0) -> None:
        """Terminate every process started here and their descendants (SuperExec and the
        ServerApp/ClientApp processes live in sessions of their own)."""
        self._remember_tree()
        pids = sorted(self._tree)
        _signal(pids, signal.SIGTERM)
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout and any(alive(p) for p in pids):
            for pr in self.procs:
                pr.popen.poll()
            self._remember_tree()
            pids = sorted(self._tree)
            time.sleep(0.1)
        left = [p for p in pids if alive(p)]
        if left:
            log.warning("killing %d processes that ignored SIGTERM", len(left))
            _signal(left, signal.SIGKILL)
        for pr in self.procs:
            try:
                pr.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            pr._log.close()

    def leftover(self) -> list[int]:
        """Processes started by this deployment that are still alive."""
        return [p for p in sorted(self._tree) if alive(p)]

    # -------------------------------------------------------------- components
    def flwr(self, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the ``flwr`` CLI against this deployment's Flower config."""
        cmd = [_bin("flwr"), *args]
        res = subprocess.run(cmd, env=self.env, cwd=self.workdir, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise DeployError(f"`{' '.join(cmd)}` failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    def start_superlink(self, timeout: float = 60.0) -> Proc:
        cmd = [_bin("flower-superlink"), "--host", self.host, "--port", str(self.port),
               "--disable-runtime-dependency-installation"]
        if self.tls:
            cmd += ["--ssl-ca-certfile", str(self.tls.ca_cert), "--ssl-certfile", str(self.tls.server_cert),
                    "--ssl-keyfile", str(self.tls.server_key), "--enable-supernode-auth"]
        else:
            cmd.append("--insecure")
        proc = self._spawn("superlink", cmd)
        self._wait_port(self.port, proc, timeout)
        self._remember_tree()
        return proc

    def register(self, public_key: Path) -> int:
        """Register a SuperNode's public key; returns its node id."""
        res = self.flwr("supernode", "register", str(public_key), self.connection, "--format", "json")
        try:
            return int(_json_out(res.stdout)["node-id"])
        except (ValueError, KeyError) as e:
            raise DeployError(f"flwr supernode register gave no node id:\n{res.stdout}\n{res.stderr}") from e

    def node_keys(self, name: str) -> NodeKeys:
        return generate_node_keys(self.workdir / "certs", name)

    def start_supernode(self, partition_id: int, data_path: str | Path | None = None,
                        keys: NodeKeys | None = None, name: str | None = None,
                        extra: Sequence[str] = ()) -> Proc:
        """One edge device. ``keys``: its key pair (secure mode; register it first)."""
        name = name or f"supernode-{partition_id}"
        state = self.workdir / "devices" / name / "state"
        nc = f'partition-id={int(partition_id)} state-dir="{state}"'
        if data_path is not None:
            nc += f' data-path="{Path(data_path).resolve()}"'
        cmd = [_bin("flower-supernode"), "--superlink", self.address, "--host", self.host,
               "--port", str(free_port(self.host)), "--node-config", nc]
        if self.tls:
            cmd += ["--root-certificates", str(self.tls.ca_cert)]
            if keys is not None:
                cmd += ["--auth-supernode-private-key", str(keys.private_key)]
        else:
            cmd.append("--insecure")
        cmd += list(extra)
        proc = self._spawn(name, cmd)
        self._remember_tree()
        return proc

    def run(self, run_config: dict[str, str], stream: bool = False, timeout: float = 120.0) -> int:
        """``flwr run <app> <connection> --run-config ...``; returns the run id."""
        rc = " ".join(f'{k}="{v}"' for k, v in run_config.items())
        args = ["run", str(self.app_dir), self.connection, "--run-config", rc, "--format", "json"]
        res = self.flwr(*args, timeout=timeout)
        try:
            return int(_json_out(res.stdout)["run-id"])
        except (ValueError, KeyError) as e:
            raise DeployError(f"flwr run gave no run id:\n{res.stdout}\n{res.stderr}") from e

    def run_status(self, run_id: int) -> str:
        """The run's status as ``flwr ls`` reports it (e.g. ``finished:completed``)."""
        res = self.flwr("ls", self.connection, "--run-id", str(run_id), "--format", "json", check=False)
        try:
            runs = _json_out(res.stdout)["runs"]
            return str(runs[0]["status"])
        except (ValueError, KeyError, IndexError):
            return "unknown"

    def wait_for_run(self, run_id: int, results: Path, timeout: float = 120.0) -> str:
        """Wait until run ``run_id`` has finished and written ``results``; fail early when
        a process dies or the run ends without the file. Returns the final status."""
        t0 = time.monotonic()
        last = -10.0
        status = "unknown"
        while True:
            for pr in self.procs:
                if not pr.expect_exit and pr.popen.poll() is not None:
                    raise DeployError(f"{pr.name} exited with {pr.popen.returncode}; log {pr.log_path}:\n{pr.tail()}")
            # `flwr ls` is a full CLI start: poll it slowly, and only once results exist
            # or every few seconds to catch a failed run early.
            if results.exists() or time.monotonic() - last > 5.0:
                last = time.monotonic()
                status = self.run_status(run_id)
                if status.startswith("finished"):
                    if not results.exists() or not status.endswith("completed"):
                        raise DeployError(f"run {run_id} ended ({status}) without writing {results}; "
                                          f"logs in {self.workdir / 'logs'}:\n{self.logs(run_id)}")
                    self._remember_tree()
                    return status
            if time.monotonic() - t0 > timeout:
                raise DeployError(f"run {run_id} not finished after {timeout:.0f}s (status {status}); "
                                  f"logs in {self.workdir / 'logs'}")
            time.sleep(0.5)

    def logs(self, run_id: int) -> str:
        res = self.flwr("log", str(run_id), self.connection, "--show", check=False, timeout=30)
        return (res.stdout + res.stderr)[-4000:]

    def _wait_port(self, port: int, proc: Proc, timeout: float) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if proc.popen.poll() is not None:
                raise DeployError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                if s.connect_ex((self.host, port)) == 0:
                    return
            time.sleep(0.2)
        raise DeployError(f"{proc.name} did not open port {port} within {timeout:.0f}s:\n{proc.tail()}")


def run_local_deployment(cfg_path: str | Path, overrides: Sequence[str], out_dir: str | Path,
                         workdir: str | Path | None = None, secure: bool = False,
                         timeout: float = 600.0) -> dict[str, Any]:
    """A whole local trial: export the devices' data, start a SuperLink and one SuperNode
    per client (each reading its own data folder), ``flwr run`` the experiment and wait
    for ``results.json``. Returns the results with ``deploy_wall_s`` added (submission to
    results, not counting process start-up)."""
    from fedforget.config import load_config

    cfg = load_config(cfg_path, list(overrides))
    out = Path(out_dir).resolve()
    work = Path(workdir).resolve() if workdir else out / "deploy"
    results = out / "results.json"
    results.unlink(missing_ok=True)
    folders = export_device_data(cfg, work / "device-data")
    with LocalDeployment(work, secure=secure) as dep:
        dep.start_superlink()
        for c, folder in enumerate(folders):
            keys = None
            if secure:
                keys = dep.node_keys(f"supernode-{c}")
                dep.register(keys.public_key)
            dep.start_supernode(c, folder, keys)
        t0 = time.perf_counter()
        run_id = dep.run({"config-file": str(Path(cfg_path).resolve()), "overrides": ";".join(overrides),
                          "out-dir": str(out)})
        dep.wait_for_run(run_id, results, timeout=timeout)
        wall = time.perf_counter() - t0
    res = json.loads(results.read_text())
    res["deploy_wall_s"] = wall
    return res
