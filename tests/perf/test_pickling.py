"""fedforget.runtime.pickling: Flower messages through Ray with the C pickler."""

from __future__ import annotations

import pickle

import numpy as np


def _message():
    from flwr.app import Context, Message, RecordDict
    from flwr.supercore.task_identity import TaskIdentity

    from strategies.flower_federation import to_record

    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 1, 0, 1
    rec = to_record({"w": np.arange(12, dtype=np.float32).reshape(3, 4)}, {"seed": 3, "phase": "train"})
    msg = Message(content=rec, dst_node_id=7, message_type="train.fit")
    ctx = Context(run_id=1, node_id=7, node_config={"partition-id": 2}, state=RecordDict(), run_config={})
    return msg, ctx


def test_message_and_context_round_trip() -> None:
    from fedforget.runtime import pickling
    from strategies.flower_federation import from_record

    msg, ctx = _message()
    msg2, ctx2 = pickle.loads(pickling.dumps(msg)), pickle.loads(pickling.dumps(ctx))
    arrays, cfg = from_record(msg2.content)
    assert np.array_equal(arrays["w"], np.arange(12, dtype=np.float32).reshape(3, 4))
    assert cfg == {"seed": 3, "phase": "train"}
    assert msg2.metadata.dst_node_id == 7 and msg2.metadata.message_type == "train.fit"
    assert ctx2.node_config == {"partition-id": 2} and ctx2.run_id == 1


def test_what_the_c_pickler_refuses_goes_through_cloudpickle() -> None:
    from fedforget.runtime import pickling

    def local() -> int:  # a local function: pickle.dumps refuses it
        return 42

    assert pickle.loads(pickling.dumps({"f": local}))["f"]() == 42


def test_registered_with_ray_and_removed() -> None:
    from flwr.app import Context, Message
    from ray import cloudpickle

    from fedforget.runtime import pickling

    assert pickling.install()
    try:
        assert Message in cloudpickle.CloudPickler.dispatch and Context in cloudpickle.CloudPickler.dispatch
        msg, _ = _message()
        out = pickle.loads(cloudpickle.dumps(msg))  # what Ray's serializer does, now via the C pickler
        assert out.metadata.message_type == "train.fit"
    finally:
        pickling.uninstall()
    assert Message not in cloudpickle.CloudPickler.dispatch and Context not in cloudpickle.CloudPickler.dispatch
