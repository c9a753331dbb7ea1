"""FlowerFederation._send_and_receive keeps at most WINDOW messages in flight and returns
every reply (issue 9: pushing 1,000 at once made an exchange quadratic)."""

from types import SimpleNamespace

from strategies import flower_federation as ff


class FakeGrid:
    def __init__(self) -> None:
        self.inflight: set[str] = set()
        self.most = 0
        self.n = 0

    def push_messages(self, msgs):
        ids = []
        for _ in msgs:
            self.n += 1
            ids.append(str(self.n))
        self.inflight.update(ids)
        self.most = max(self.most, len(self.inflight))
        return ids

    def pull_messages(self, ids):
        done = sorted(self.inflight & set(ids))[:7]  # a few replies per pull
        self.inflight -= set(done)
        return [SimpleNamespace(metadata=SimpleNamespace(reply_to_message_id=i)) for i in done]


def test_window_bounds_messages_in_flight() -> None:
    fed = ff.FlowerFederation.__new__(ff.FlowerFederation)
    fed.grid, fed.timeout_s = FakeGrid(), 30.0
    replies = fed._send_and_receive([object()] * (3 * ff.WINDOW + 5))
    assert len(replies) == 3 * ff.WINDOW + 5
    assert fed.grid.most == ff.WINDOW
