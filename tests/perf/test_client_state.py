"""Client state carried in Flower's Context (runtime.client_state=context): a node that
has never seen the client gets its files back; stale files are rewritten."""

from flwr.app import Context, RecordDict

from clients.client_app import restore_state, save_state
from fedforget.client.worker import ClientWorker
from tests.conftest import tiny_config


def _ctx() -> Context:
    return Context(run_id=1, node_id=1, node_config={"partition-id": 1}, state=RecordDict(), run_config={})


def test_state_follows_the_client_to_a_fresh_node(tmp_path) -> None:
    cfg = tiny_config()
    a = ClientWorker(1, tmp_path / "node-a")
    a.handle("setup", {}, {"experiment": cfg.to_yaml()})
    a.handle("delete", {}, {})
    ctx = _ctx()
    save_state(ctx, a.state_dir, {})
    files = {str(p.relative_to(a.state_dir)): p.read_bytes() for p in a.state_dir.rglob("*") if p.is_file()}
    assert "config.yaml" in files and "forget.npz" in files

    b_dir = tmp_path / "node-b"  # another node: nothing on its disk
    carried = restore_state(ctx, b_dir)
    assert carried == files
    b = ClientWorker(1, b_dir)
    assert b.config() == a.config()
    assert b.handle("delete", {}, {})[1] == a.handle("delete", {}, {})[1]

    (b_dir / "forget.npz").write_bytes(b"stale")  # a stale cache is replaced by the carried state
    restore_state(ctx, b_dir)
    assert (b_dir / "forget.npz").read_bytes() == files["forget.npz"]


def test_save_only_when_changed(tmp_path) -> None:
    ctx = _ctx()
    d = tmp_path / "s"
    d.mkdir()
    (d / "x.txt").write_text("1")
    save_state(ctx, d, {})
    rec = ctx.state.array_records["fedforget.client.worker-state"]
    save_state(ctx, d, restore_state(ctx, d))  # unchanged: the record object is kept
    assert ctx.state.array_records["fedforget.client.worker-state"] is rec
    before = restore_state(ctx, d)  # a message: restore, the worker changes a file, save
    (d / "x.txt").write_text("2")
    save_state(ctx, d, before)
    assert restore_state(ctx, tmp_path / "t")["x.txt"] == b"2"
