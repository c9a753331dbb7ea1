"""Deployment path without Flower processes: the device data format, device-side deletion
requests, the client's data seam, certificates/keys and the Flower connection config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fedforget.client.inprocess import InProcessFederation
from fedforget.client.worker import ClientWorker
from fedforget.data.datasets import ArrayData
from fedforget.data.federation import build_federated_data
from fedforget.data.local import (
    load_local_data,
    resolve_forget_request,
    save_local_data,
    write_forget_request,
)
from fedforget.run.experiment import Experiment
from fedforget.runtime.deploy import (
    export_device_data,
    generate_node_keys,
    generate_tls,
    write_connection,
)
from fedforget.util.errors import DataError
from tests.conftest import tiny_config


def _data(n: int = 12) -> ArrayData:
    rng = np.random.default_rng(0)
    return ArrayData(rng.random((n, 3)).astype(np.float32), np.arange(n) % 3, np.arange(100, 100 + n), 3)


def test_local_data_roundtrip_and_validation(tmp_path: Path) -> None:
    d = _data()
    save_local_data(tmp_path, d)
    back = load_local_data(tmp_path)
    assert back.num_classes == 3
    np.testing.assert_array_equal(back.x, d.x)
    np.testing.assert_array_equal(back.ids, d.ids)
    with pytest.raises(DataError, match="no device data"):
        load_local_data(tmp_path / "nowhere")
    np.savez(tmp_path / "data.npz", x=d.x, y=d.y, ids=np.zeros(len(d), dtype=np.int64))
    with pytest.raises(DataError, match="unique"):
        load_local_data(tmp_path)
    np.savez(tmp_path / "data.npz", x=d.x, y=d.y + 5, ids=d.ids)
    with pytest.raises(DataError, match="labels"):
        load_local_data(tmp_path, num_classes=3)
    np.savez(tmp_path / "data.npz", x=d.x, y=d.y, ids=d.ids)  # no num_classes: taken from the caller
    assert load_local_data(tmp_path, num_classes=lambda: 7).num_classes == 7


def test_forget_request_kinds(tmp_path: Path) -> None:
    d = _data()
    assert len(resolve_forget_request(tmp_path, d)) == 0  # no request on the device
    write_forget_request(tmp_path, ids=[105, 101])
    assert resolve_forget_request(tmp_path, d).tolist() == [101, 105]
    write_forget_request(tmp_path, classes=[2])
    assert resolve_forget_request(tmp_path, d).tolist() == d.ids[d.y == 2].tolist()
    write_forget_request(tmp_path, everything=True)
    assert resolve_forget_request(tmp_path, d).tolist() == d.ids.tolist()
    write_forget_request(tmp_path, ids=[5])
    with pytest.raises(DataError, match="does not hold"):
        resolve_forget_request(tmp_path, d)
    with pytest.raises(DataError, match="exactly one"):
        write_forget_request(tmp_path, ids=[101], classes=[1])
    (tmp_path / "forget.json").write_text('{"bogus": 1}')
    with pytest.raises(DataError, match="exactly one"):
        resolve_forget_request(tmp_path, d)


def test_export_matches_simulated_partitions(tmp_path: Path) -> None:
    cfg = tiny_config("deletion.requests=[{granularity: samples, client: 2, fraction: 0.5}]")
    fd = build_federated_data(cfg)
    folders = export_device_data(cfg, tmp_path)
    assert len(folders) == 4
    for c, folder in enumerate(folders):
        local = load_local_data(folder)
        np.testing.assert_array_equal(local.ids, fd.client(c).ids)
        np.testing.assert_array_equal(local.x, fd.client(c).x)
        assert (folder / "forget.json").exists() == (c == 2)
        np.testing.assert_array_equal(resolve_forget_request(folder, local), np.sort(fd.forget[c]))


def _run(cfg, out: Path, data_dirs: list[Path] | None) -> dict:
    fed = InProcessFederation(cfg.partition.num_clients, out / "state")
    if data_dirs is not None:  # the clients read their own device folders, as SuperNodes do
        fed.workers = {p: ClientWorker(p, out / "state" / f"partition-{p}", data_dirs[p]) for p in fed.workers}
    return Experiment(cfg, fed, out).run()


def test_device_folders_reproduce_the_simulated_run(tmp_path: Path) -> None:
    """Clients reading exported device folders give exactly the simulated numbers."""
    cfg = tiny_config("training.rounds=2", "unlearning.rounds=2")
    folders = export_device_data(cfg, tmp_path / "devices")
    sim = _run(cfg, tmp_path / "sim", None)
    dep = _run(cfg, tmp_path / "dep", folders)
    assert dep["forget"]["n_forget"] == sim["forget"]["n_forget"] > 0
    for m in ("original", "unlearned", "retrained"):
        for k in ("test_acc", "retain_acc", "forget_acc", "asr"):
            assert dep["models"][m][k] == pytest.approx(sim["models"][m][k], abs=1e-9), (m, k)


def test_deletion_request_is_made_on_the_device(tmp_path: Path) -> None:
    """The config asks nothing of client 0; its device asks to forget class 1 -> the
    server sees only the count, and the reply carries no sample."""
    cfg = tiny_config("deletion.requests=[{granularity: client, client: 1}]")
    folders = export_device_data(cfg, tmp_path / "devices")
    local0 = load_local_data(folders[0])
    write_forget_request(folders[0], classes=[1])
    w = ClientWorker(0, tmp_path / "state", folders[0])
    w.on_setup({}, {"experiment": cfg.to_yaml()})
    arrays, reply = w.on_delete({}, {})
    assert arrays == {}
    # counts and the forget set's commitment (a salted Merkle root), never a sample
    assert set(reply) == {"n_forget", "n_retain", "commit_key", "commit_root", "commit_count"}
    assert reply["commit_count"] == reply["n_forget"]
    assert reply["n_forget"] == int((local0.y == 1).sum()) > 0
    assert reply["n_forget"] + reply["n_retain"] == len(local0)
    _, forget, retain = w._splits(cfg)
    assert set(forget.y.tolist()) == {1} and 1 not in set(retain.y.tolist())


def test_tls_files_and_node_keys(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import (
        load_ssh_private_key,
        load_ssh_public_key,
    )

    tls = generate_tls(tmp_path, ("127.0.0.1", "localhost"))
    ca = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    srv = x509.load_pem_x509_certificate(tls.server_cert.read_bytes())
    srv.verify_directly_issued_by(ca)  # raises if the CA did not sign it
    san = srv.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert tls.server_key.stat().st_mode & 0o077 == 0  # private key not world-readable

    keys = generate_node_keys(tmp_path, "supernode-0")
    priv = load_ssh_private_key(keys.private_key.read_bytes(), password=None)
    pub = load_ssh_public_key(keys.public_key.read_bytes())
    assert isinstance(priv, ec.EllipticCurvePrivateKey) and priv.curve.name == "secp384r1"
    assert pub.public_numbers() == priv.public_key().public_numbers()
    from flwr.cli.supernode.register import (
        try_load_public_key,  # what `flwr supernode register` reads
    )

    assert try_load_public_key(keys.public_key)


def test_connection_is_read_by_flwr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flwr.cli.flower_config import read_superlink_connection

    monkeypatch.setenv("FLWR_HOME", str(tmp_path))
    write_connection(tmp_path, "edge", "10.0.0.5:9093", root_certificates=tmp_path / "ca.crt")
    write_connection(tmp_path, "loop", "127.0.0.1:9093", insecure=True, default=False)
    conn = read_superlink_connection(None)
    assert (conn.name, conn.address, conn.insecure) == ("edge", "10.0.0.5:9093", False)
    assert conn.root_certificates == str((tmp_path / "ca.crt").resolve())
    assert read_superlink_connection("loop").insecure is True


def test_cli_deploy_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fedforget.cli import main

    assert main(["deploy", "certs", str(tmp_path / "certs"), "--nodes", "3"]) == 0
    assert sorted(p.name for p in (tmp_path / "certs").glob("supernode-*.pub")) == [
        "supernode-0.pub", "supernode-1.pub", "supernode-2.pub"]
    cfg = Path(__file__).resolve().parents[1] / "configs" / "deploy_local.yaml"
    assert main(["deploy", "export", str(cfg), "--out", str(tmp_path / "dev")]) == 0
    dev0 = tmp_path / "dev" / "partition-0"
    assert not (dev0 / "forget.json").exists()  # the config's request is on device 1 only
    assert (tmp_path / "dev" / "partition-1" / "forget.json").exists()
    assert main(["deploy", "forget", str(dev0), "--classes", "3"]) == 0
    assert json.loads((dev0 / "forget.json").read_text()) == {"classes": [3]}
    assert main(["deploy", "forget", str(dev0), "--ids", "-4"]) == 2  # not on this device: a clean error
    assert main(["deploy", "connection", "x", "--address", "127.0.0.1:1", "--flwr-home", str(tmp_path / "h")]) == 2
    assert main(["deploy", "connection", "x", "--address", "127.0.0.1:1", "--insecure",
                 "--flwr-home", str(tmp_path / "h")]) == 0
    assert "[superlink.x]" in (tmp_path / "h" / "config.toml").read_text()


@pytest.mark.parametrize(
    "x, y, what",
    [
        (np.full((4, 8), np.nan, dtype=np.float32), np.array([0, 1, 0, 1]), "finite"),
        (np.arange(4, dtype=np.float32), np.array([0, 1, 0, 1]), "2 dimensions"),
        (np.zeros((4, 8), dtype=np.float32), np.array([0.0, 1.0, 2.7, 1.0]), "integers"),
        (np.zeros((4, 8), dtype=np.float32), np.array([0, 1, 12, 1]), "labels must lie in"),
    ],
)
def test_device_data_is_validated_before_training(tmp_path: Path, x: np.ndarray, y: np.ndarray, what: str) -> None:
    """A device's data.npz with NaN features, 1-d features, non-integer or out-of-range
    labels is refused with a message naming the file."""
    np.savez(tmp_path / "data.npz", x=x, y=y, ids=np.arange(len(y)), num_classes=np.asarray(10))
    with pytest.raises(DataError, match=what) as e:
        load_local_data(tmp_path)
    assert "data.npz" in str(e.value)


def test_device_data_of_the_wrong_shape_names_the_folder(tmp_path: Path) -> None:
    cfg = tiny_config()
    folder = tmp_path / "dev"
    folder.mkdir()
    np.savez(folder / "data.npz", x=np.zeros((6, 5), np.float32), y=np.array([0, 1, 2, 0, 1, 2]),
             ids=np.arange(6), num_classes=np.asarray(10))
    w = ClientWorker(0, tmp_path / "state", folder)
    w.on_setup({}, {"experiment": cfg.to_yaml()})
    from fedforget.models import build_model

    fd = build_federated_data(cfg)
    model = build_model(cfg.model, fd.test.input_shape, fd.test.num_classes, seed=0)
    arrays = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    with pytest.raises(DataError, match="does not fit the federation's model") as e:
        w.on_fit(arrays, {"seed": 0, "phase": "train"})
    assert str(folder) in str(e.value)
