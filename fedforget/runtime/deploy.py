"""Deployment helpers: the same ServerApp/ClientApp on a Flower SuperLink and SuperNodes.

- :func:`export_device_data` writes each client's partition of an experiment as a
  device data folder (:mod:`fedforget.data.local`), with the device's deletion request,
  so a deployed run can be compared with the simulated one of the same config.
- :func:`generate_tls` / :func:`generate_node_keys` create a throw-away CA, a server
  certificate for the SuperLink and EC P-384 SuperNode key pairs (OpenSSH format, as
  ``flower-supernode --auth-supernode-private-key`` and ``flwr supernode register``
  expect) for a local trial. Never use them in production.
- :func:`write_connection` writes a SuperLink connection into the Flower config file
  (``$FLWR_HOME/config.toml``): flwr >= 1.41 reads connections from there, not from
  pyproject.toml.
- :class:`LocalDeployment` starts a SuperLink and SuperNodes on 127.0.0.1 as real
  processes, registers node keys, submits ``flwr run`` and tears the whole process tree
  down again (used by the integration tests and ``fedforget deploy local``).

Runtime dependency installation is always disabled (``flwr run`` would otherwise sync
the app's dependencies with uv and might pull a CUDA build of torch).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fedforget.config import ExperimentConfig
from fedforget.errors import FedForgetError

log = logging.getLogger(__name__)

NO_DEPENDENCY_INSTALL = {"FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1"}
APP_DIR = Path(__file__).resolve().parents[2]  # the Flower app: pyproject.toml + strategies/ + clients/


class DeployError(FedForgetError):
    """A SuperLink/SuperNode process or ``flwr run`` failed; the message names the log."""


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


# ---------------------------------------------------------------------- certificates
@dataclass(frozen=True)
class TLSFiles:
    ca_cert: Path  # give to SuperNodes (--root-certificates) and flwr (root-certificates)
    server_cert: Path  # SuperLink --ssl-certfile
    server_key: Path  # SuperLink --ssl-keyfile


@dataclass(frozen=True)
class NodeKeys:
    private_key: Path  # stays on the device: flower-supernode --auth-supernode-private-key
    public_key: Path  # registered with the SuperLink: flwr supernode register


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def generate_tls(out_dir: str | Path, hosts: Sequence[str] = ("127.0.0.1", "localhost"), days: int = 30) -> TLSFiles:
    """A self-signed CA and a SuperLink server certificate for ``hosts`` (IPs or names)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.timezone.utc)
    valid = (now - _dt.timedelta(minutes=5), now + _dt.timedelta(days=days))

    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fedforget local trial CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    srv_key = ec.generate_private_key(ec.SECP384R1())
    srv_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name).public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = TLSFiles(out / "ca.crt", out / "server.pem", out / "server.key")
    files.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    files.server_cert.write_bytes(srv_cert.public_bytes(pem))
    _write_private(files.server_key, srv_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    _write_private(out / "ca.key", ca_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return files


def generate_node_keys(out_dir: str | Path, name: str) -> NodeKeys:
    """An EC P-384 key pair for one SuperNode, in OpenSSH format."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    out = Path(out_dir)
    key = ec.generate_private_key(ec.SECP384R1())
    keys = NodeKeys(out / name, out / f"{name}.pub")
    _write_private(keys.private_key, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    keys.public_key.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + f" {name}\n".encode())
    return keys


def generate_trial_credentials(out_dir: str | Path, num_nodes: int,
                               hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> tuple[TLSFiles, list[NodeKeys]]:
    """TLS files and ``num_nodes`` SuperNode key pairs (``supernode-<i>``) under ``out_dir``."""
    tls = generate_tls(out_dir, hosts)
    return tls, [generate_node_keys(out_dir, f"supernode-{i}") for i in range(num_nodes)]


# ---------------------------------------------------------------------- flwr config
def write_connection(flwr_home: str | Path, name: str, address: str, root_certificates: str | Path | None = None,
                     insecure: bool = False, default: bool = True) -> Path:
    """Add (or replace) ``[superlink.<name>]`` in ``<flwr_home>/config.toml``."""
    import tomli
    import tomli_w

    path = Path(flwr_home) / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = tomli.loads(path.read_text()) if path.exists() else {}
    links = data.setdefault("superlink", {})
    conn: dict[str, Any] = {"address": address}
    if insecure:
        conn["insecure"] = True
    if root_certificates is not None:
        conn["root-certificates"] = str(Path(root_certificates).resolve())
    links[name] = conn
    if default or "default" not in links:
        links["default"] = name
    path.write_text(tomli_w.dumps(data))
    return path


# ---------------------------------------------------------------------- processes
def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d.name))
    return kids


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (Linux /proc), parents first."""
    kids = _children() if Path("/proc").is_dir() else {}
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def alive(pid: int) -> bool:
    try:
        st = Path(f"/proc/{pid}/stat").read_text()
        return st.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


def _signal(pids: Sequence[int], sig: int) -> None:
    for p in pids:
        try:
            os.kill(p, sig)
        except OSError:
            pass


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes]
    expect_exit: bool = False  # e.g. a SuperNode that is meant to be refused

    def tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


def _json_out(text: str) -> dict[str, Any]:
    """The JSON object a ``flwr ... --format json`` command printed (pretty-printed)."""
    obj, _ = json.JSONDecoder().raw_decode(text[text.index("{"):])
    return dict(obj)


def _bin(name: str) -> str:
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else name


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
        from fedforget.receipts.signing import PUBLIC_FILE, load_or_create_key

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
