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


class InMemoryGrid(FakeGrid):  # the simulation grid's name: replies are stored through .state
    """Replies become available only when the engine stores them (another thread)."""

    def __init__(self) -> None:
        super().__init__()
        self.ready: set[str] = set()
        self.pulls = 0
        self.state = SimpleNamespace(store_message_res=self._store)

    def _store(self, mid):
        self.ready.add(mid)

    def pull_messages(self, ids):
        self.pulls += 1
        done = sorted(self.ready & set(ids))
        self.ready -= set(done)
        self.inflight -= set(done)
        return [SimpleNamespace(metadata=SimpleNamespace(reply_to_message_id=i)) for i in done]


def test_simulation_wakes_on_stored_replies_instead_of_polling() -> None:
    import threading
    import time

    grid = InMemoryGrid()
    fed = ff.FlowerFederation.__new__(ff.FlowerFederation)
    fed.grid, fed.timeout_s = grid, 30.0
    fed._replied = ff.reply_signal(grid)
    assert fed._replied is not None

    def engine() -> None:  # replies 0.2 s apart, stored through the wrapped state method
        for i in range(1, 4):
            time.sleep(0.2)
            grid.state.store_message_res(str(i))

    t = threading.Thread(target=engine)
    t0 = time.monotonic()
    t.start()
    replies = fed._send_and_receive([object()] * 3)
    elapsed = time.monotonic() - t0
    t.join()
    assert sorted(r.metadata.reply_to_message_id for r in replies) == ["1", "2", "3"]
    assert elapsed < 0.2 * 3 + 0.1  # each reply is picked up when stored, not at the next poll
    # polling would pull every 1-50 ms (about 40 pulls over 0.6 s); waking on replies pulls
    # once per reply plus once per wait that timed out (POLL_MAX_S)
    assert grid.pulls <= 3 + int(0.6 / ff.POLL_MAX_S) + 2


def test_other_grids_poll() -> None:
    assert ff.reply_signal(FakeGrid()) is None  # a deployment's gRPC grid has no link state here


def test_simulation_pulls_only_the_replies_that_arrived() -> None:
    """Flower's get_message_res checks every id it is asked about: after the first pull,
    each pull asks only for the ids whose replies the engine stored since the last one;
    after a wait with no reply, every id in flight again (what the link state answers
    itself, e.g. an expired message)."""
    import threading
    import time

    grid = InMemoryGrid()
    asked: list[set[str]] = []
    plain_pull = grid.pull_messages

    def pull(ids):
        asked.append(set(ids))
        return plain_pull(ids)

    grid.pull_messages = pull
    grid.state = SimpleNamespace(store_message_res=lambda m: grid.ready.add(m.metadata.reply_to_message_id))
    fed = ff.FlowerFederation.__new__(ff.FlowerFederation)
    fed.grid, fed.timeout_s = grid, 30.0
    fed._replied = ff.reply_signal(grid)

    def reply(i: str):
        return SimpleNamespace(metadata=SimpleNamespace(reply_to_message_id=i))

    def engine() -> None:
        time.sleep(0.02)
        for i in ("1", "2", "3", "4"):  # stored as the engine stores them: reply messages
            grid.state.store_message_res(reply(i))
            time.sleep(0.01)
        time.sleep(ff.POLL_MAX_S * 2)  # a quiet spell: the next pull asks for everything left
        grid.ready.add("5")  # a reply the link state has without the engine storing it

    t = threading.Thread(target=engine)
    t.start()
    replies = fed._send_and_receive([object()] * 5)
    t.join()
    assert sorted(r.metadata.reply_to_message_id for r in replies) == ["1", "2", "3", "4", "5"]
    assert asked[0] == {"1", "2", "3", "4", "5"}  # the first pull asks for every id
    targeted = [a for a in asked[1:] if a and a <= {"1", "2", "3", "4"}]
    assert targeted and all(len(a) <= 2 for a in targeted)  # then only what arrived
    assert {"5"} in asked or any("5" in a and len(a) == 1 for a in asked)  # found by a full pull after a quiet wait
