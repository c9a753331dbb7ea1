"""The ClientApp. Each message is handled by a fresh :class:`ClientWorker` whose state
(experiment config, forget set) lives on the device's disk under
``<state-dir>/run-<run_id>/partition-<partition-id>``; nothing is kept in
``Context.state`` (Flower copies it on every message) or in module globals.

``node_config`` keys: ``partition-id`` (required), ``state-dir`` (optional; defaults to
``$FEDFORGET_STATE_DIR`` or the system temp dir), ``data-path`` (optional; a folder with
the device's ``data.npz`` and its deletion request ``forget.json``, see
:mod:`fedforget.data.local`; without it the client derives its partition from the
experiment config, as in simulation).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from fedforget.errors import FedForgetError
from strategies.flower_federation import from_record, to_record

if TYPE_CHECKING:
    from fedforget.client import ClientWorker

STATE_RECORD = "fedforget.client-state"  # Context.state key of the client's files (mode "context")


def restore_state(context: Context, state_dir: Path) -> dict[str, bytes]:
    """Mode ``context``: the client's files travel in ``Context.state`` (Flower carries it
    with every message in simulation and keeps it on the SuperNode in deployment); the
    folder is this node's cache of it. Write back what is missing or stale here (a fresh
    node, or another node handled the last message); return the files as carried."""
    from fedforget.io import atomic_write_bytes

    if STATE_RECORD not in context.state.array_records:
        return {}
    files = {k: a.numpy().tobytes() for k, a in context.state.array_records[STATE_RECORD].items()}
    for rel, data in files.items():
        path = state_dir / rel
        if not path.is_file() or path.read_bytes() != data:
            atomic_write_bytes(path, data)
    return files


def save_state(context: Context, state_dir: Path, before: dict[str, bytes]) -> None:
    """Put the client's files (all of ``state_dir``) into ``Context.state`` if they changed."""
    import numpy as np
    from flwr.app import Array, ArrayRecord

    now = {
        str(p.relative_to(state_dir)): p.read_bytes()
        for p in sorted(state_dir.rglob("*")) if p.is_file() and not p.name.startswith(".")
    } if state_dir.is_dir() else {}
    if now != before:
        context.state[STATE_RECORD] = ArrayRecord(
            array_dict={k: Array(np.frombuffer(v, dtype=np.uint8).copy()) for k, v in now.items()}
        )


def _partition_id(context: Context) -> int:
    nc = context.node_config
    if "partition-id" not in nc:
        raise FedForgetError(
            "this SuperNode has no 'partition-id' in its node config; start it with "
            "--node-config \"partition-id=0\""
        )
    return int(nc["partition-id"])


def _worker(context: Context, state_root: str | None) -> ClientWorker:
    # Imported here: a deployed ClientApp is a fresh process per message, and a
    # ``partition`` query needs neither torch nor the worker (docs/performance.md).
    from fedforget.client import ClientWorker

    nc = context.node_config
    _partition_id(context)
    root = (  # a node's own setting first: on a Ray cluster the driver's folder may not exist here
        str(nc.get("state-dir", ""))
        or os.environ.get("FEDFORGET_STATE_DIR", "")
        or state_root
        or str(Path(tempfile.gettempdir()) / "fedforget-state")
    )
    pid = int(nc["partition-id"])
    data_path = str(nc.get("data-path", "")) or None  # deployment: the device's own data folder
    return ClientWorker(pid, Path(root) / f"run-{context.run_id}" / f"partition-{pid}", data_path)


def make_client_app(state_root: str | None = None, state_mode: str = "dir") -> ClientApp:
    """A ClientApp whose clients keep their state under ``state_root`` (unless the
    SuperNode's node config or ``$FEDFORGET_STATE_DIR`` names another folder).
    ``state_mode``: ``dir`` (the folder is the state: one disk, or a folder every node
    mounts) or ``context`` (the state travels in ``Context.state``; the folder is a
    per-node cache; runtime.client_state, docs/scale-out.md)."""
    client = ClientApp()

    def handle(action: str, msg: Message, context: Context) -> Message:
        if action == "partition":
            return Message(content=to_record({}, {"partition_id": _partition_id(context)}), reply_to=msg)
        worker = _worker(context, state_root)
        arrays, cfg = from_record(msg.content)
        carried = restore_state(context, worker.state_dir) if state_mode == "context" else {}
        out_arrays, metrics = worker.handle(action, arrays, cfg)
        if state_mode == "context":
            save_state(context, worker.state_dir, carried)
        return Message(content=to_record(out_arrays, metrics), reply_to=msg)

    for category, action in (("query", "partition"), ("query", "setup"), ("query", "delete"),
                             ("train", "fit"), ("train", "unlearn"), ("evaluate", "evaluate")):
        register = getattr(client, category)(action)

        def fn(msg: Message, context: Context, _action: str = action) -> Message:
            return handle(_action, msg, context)

        register(fn)
    return client


app = make_client_app()
