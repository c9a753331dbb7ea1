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

import functools
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from fedforget.util.errors import FedForgetError
from strategies.flower_federation import from_record, to_record

if TYPE_CHECKING:
    from fedforget.client.worker import ClientWorker

STATE_RECORD = "fedforget.client.worker-state"  # Context.state key of the client's files (mode "context")


def _read_files(state_dir: Path) -> dict[str, bytes]:
    """Every client file under ``state_dir`` (relative path -> bytes), dot-files aside."""
    out: dict[str, bytes] = {}
    stack = [(str(state_dir), "")]
    while stack:  # os.scandir: pathlib's rglob cost more than reading the few small files
        folder, prefix = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir():
                stack.append((e.path, f"{prefix}{e.name}/"))
            elif e.is_file():
                with open(e.path, "rb") as f:
                    out[prefix + e.name] = f.read()
    return dict(sorted(out.items()))


def restore_state(context: Context, state_dir: Path) -> dict[str, bytes]:
    """Mode ``context``: the client's files travel in ``Context.state`` (Flower carries it
    with every message in simulation and keeps it on the SuperNode in deployment); the
    folder is this node's cache of it. Write back what is missing or stale here (a fresh
    node, or another node handled the last message); return the files as carried."""
    from fedforget.util.io import atomic_write_bytes
    from strategies.flower_federation import from_array

    if STATE_RECORD not in context.state.array_records:
        return {}
    files = {k: from_array(a).tobytes() for k, a in context.state.array_records[STATE_RECORD].items()}
    here = _read_files(state_dir)
    for rel, data in files.items():
        if here.get(rel) != data:
            atomic_write_bytes(state_dir / rel, data)
    return files


def save_state(context: Context, state_dir: Path, before: dict[str, bytes]) -> None:
    """Put the client's files (all of ``state_dir``) into ``Context.state`` if they changed."""
    import numpy as np
    from flwr.app import ArrayRecord

    from strategies.flower_federation import to_array

    now = _read_files(state_dir)
    if now != before:
        context.state[STATE_RECORD] = ArrayRecord(
            array_dict={k: to_array(np.frombuffer(v, dtype=np.uint8)) for k, v in now.items()}
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
    from fedforget.client.worker import ClientWorker

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


class FedForgetClientApp(ClientApp):
    """A ClientApp that pickles as a reference: Flower's Ray backend sends the ClientApp
    with every message, and pickling this one's closures by value cost the driver more
    than the rest of the message (docs/performance.md, finding 10). Unpickled, it is
    the actor's own (cached) app for the same arguments."""

    def __init__(self, state_root: str | None, state_mode: str) -> None:
        super().__init__()
        self._args = (state_root, state_mode)

    def __reduce__(self) -> tuple[Any, tuple[str | None, str]]:
        return _app_for, self._args


@functools.lru_cache(maxsize=8)
def _app_for(state_root: str | None, state_mode: str) -> ClientApp:
    return make_client_app(state_root, state_mode)


def make_client_app(state_root: str | None = None, state_mode: str = "dir") -> ClientApp:
    """A ClientApp whose clients keep their state under ``state_root`` (unless the
    SuperNode's node config or ``$FEDFORGET_STATE_DIR`` names another folder).
    ``state_mode``: ``dir`` (the folder is the state: one disk, or a folder every node
    mounts) or ``context`` (the state travels in ``Context.state``; the folder is a
    per-node cache; runtime.client_state, docs/scale-out.md)."""
    client = FedForgetClientApp(state_root, state_mode)

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
