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

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from fedforget.client import ClientWorker
from fedforget.errors import FedForgetError
from strategies.flower_federation import from_record, to_record


def _worker(context: Context, state_root: str | None) -> ClientWorker:
    nc = context.node_config
    if "partition-id" not in nc:
        raise FedForgetError(
            "this SuperNode has no 'partition-id' in its node config; start it with "
            "--node-config \"partition-id=0\""
        )
    root = (
        str(nc.get("state-dir", ""))
        or state_root
        or os.environ.get("FEDFORGET_STATE_DIR", "")
        or str(Path(tempfile.gettempdir()) / "fedforget-state")
    )
    pid = int(nc["partition-id"])
    data_path = str(nc.get("data-path", "")) or None  # deployment: the device's own data folder
    return ClientWorker(pid, Path(root) / f"run-{context.run_id}" / f"partition-{pid}", data_path)


def make_client_app(state_root: str | None = None) -> ClientApp:
    """A ClientApp whose clients keep their state under ``state_root`` (unless the
    SuperNode's node config names a ``state-dir``)."""
    client = ClientApp()

    def handle(action: str, msg: Message, context: Context) -> Message:
        worker = _worker(context, state_root)
        if action == "partition":
            return Message(content=to_record({}, {"partition_id": worker.partition_id}), reply_to=msg)
        arrays, cfg = from_record(msg.content)
        out_arrays, metrics = worker.handle(action, arrays, cfg)
        return Message(content=to_record(out_arrays, metrics), reply_to=msg)

    for category, action in (("query", "partition"), ("query", "setup"), ("query", "delete"),
                             ("train", "fit"), ("train", "unlearn"), ("evaluate", "evaluate")):
        register = getattr(client, category)(action)

        def fn(msg: Message, context: Context, _action: str = action) -> Message:
            return handle(_action, msg, context)

        register(fn)
    return client


app = make_client_app()
