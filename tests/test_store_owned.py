"""The single-owner shard path (`kevy_persist.store.owned`) logs exactly what `Store` logs.

Method: the same seeded command sequences run through a `Store` (its locked, per-command
path) and through `OwnedShards` of another store (buffered records, one `write_pending` per
batch); both data dirs are reopened and must hold the same state, and the owned path's log
must have taken one write per shard per batch (counted on the file handles). A Hypothesis
property checks that the C frame encoder produces the bytes of the Python one for any argv,
so the two paths write identical records; block brackets are checked on the encoded buffer.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from store_support import store_state

from kevy_persist import Store, StoreConfig
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.formats.log_markers import BEGIN_NAME, COMMIT_NAME
from kevy_persist.formats.resp import encode_command
from kevy_persist.store.owned import encode_frame
from kevy_persist.store.store import single_owner


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=8))
def test_the_c_frame_encoder_writes_the_python_encoders_bytes(argv) -> None:
    assert encode_frame(argv) == encode_command(argv)


class _CountingHandle:
    def __init__(self, inner, counts: dict[str, int], path: str) -> None:
        self._inner, self._counts, self._path = inner, counts, path

    def write(self, data: bytes) -> None:
        self._counts[self._path] = self._counts.get(self._path, 0) + 1
        self._inner.write(data)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


class _WriteCountingFileSystem:
    def __init__(self) -> None:
        self._inner = OsFileSystem()
        self.writes: dict[str, int] = {}

    def open_append(self, path: str):
        return _CountingHandle(self._inner.open_append(path), self.writes, path)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


def _commands(seed: int, count: int) -> list[list[bytes]]:
    rng = random.Random(seed)
    commands = []
    for number in range(count):
        key = b"k%d" % rng.randrange(12)
        commands.append(rng.choice([
            [b"SET", key, b"v%d" % number],
            [b"SET", key, b"v%d" % number, b"EX", b"1000"],
            [b"INCR", b"n" + key],
            [b"RPUSH", b"l" + key, b"a", b"b"],
            [b"LPOP", b"l" + key],
            [b"DEL", key, b"n" + key],
            [b"HSET", b"h" + key, b"f", b"%d" % number],
            [b"MSET", key, b"1", b"x" + key, b"2"],
        ]))
    return commands


def test_owned_path_and_store_path_leave_the_same_state_with_one_write_per_shard_per_batch(tmp_path) -> None:
    commands = _commands(4, 300)
    config = dict(shard_count=3, ticker="manual")
    with Store.open(StoreConfig(data_dir=str(tmp_path / "locked"), **config)) as store:
        for argv in commands:
            store.execute_argv(list(argv))
    file_system = _WriteCountingFileSystem()
    store = Store.open(StoreConfig(data_dir=str(tmp_path / "owned"), **config), file_system=file_system)
    owned = single_owner(store)
    file_system.writes.clear()
    batches = 0
    for start in range(0, len(commands), 25):
        owned.refresh_clock()  # as the server's loop does once per turn
        for argv in commands[start : start + 25]:
            owned.execute_routed(list(argv))
        written, failed = owned.write_pending()
        assert not failed
        batches += 1
    store.shutdown()
    assert all(count <= batches for count in file_system.writes.values()), file_system.writes
    with Store.open(StoreConfig(data_dir=str(tmp_path / "locked"), **config)) as locked, \
            Store.open(StoreConfig(data_dir=str(tmp_path / "owned"), **config)) as reopened:
        assert store_state(reopened) == store_state(locked)
        # Deadlines are absolute times the two runs computed a few ms apart: compare which
        # keys have one.
        ours = {key for key, (_, deadline) in store_state(reopened, with_deadlines=True).items() if deadline}
        theirs = {key for key, (_, deadline) in store_state(locked, with_deadlines=True).items() if deadline}
        assert ours == theirs


def test_a_block_of_several_records_is_bracketed_and_a_single_record_is_not(tmp_path) -> None:
    with Store.open(StoreConfig(data_dir=str(tmp_path / "data"), ticker="manual")) as store:
        owned = single_owner(store)
        start = owned.begin_block(0)
        owned.execute(0, [b"INCR", b"a"])
        owned.end_block(0, start)
        assert BEGIN_NAME not in bytes(owned.pending[0])
        start = owned.begin_block(0)
        owned.execute(0, [b"INCR", b"a"])
        owned.execute(0, [b"SET", b"b", b"1", b"EX", b"100"])  # two records inside the block
        owned.end_block(0, start)
        body = bytes(owned.pending[0])
        assert body.count(BEGIN_NAME) == 1 and body.count(COMMIT_NAME) == 1
        assert body.index(BEGIN_NAME) < body.index(b"PEXPIREAT") < body.index(COMMIT_NAME)
        owned.write_pending()
    with Store.open(StoreConfig(data_dir=str(tmp_path / "data"), ticker="manual")) as reopened:
        assert reopened.execute("GET", "a") == b"2" and reopened.execute("TTL", "b") > 0


def test_a_reserved_key_is_refused_on_the_owned_path_as_on_the_store_path(tmp_path) -> None:
    # The owned path checks a single-key command's argv[1] alone and other commands' key
    # positions: every kind must answer the store's own refusal, and a value (not a key)
    # that looks reserved is stored.
    requests = [
        [b"SET", b"\x00KEVYMULTI", b"v"], [b"get", b"\x00KEVYEXEC"], [b"HSET", b"\x00KEVYx", b"f", b"v"],
        [b"MSET", b"a", b"1", b"\x00KEVYx", b"2"], [b"DEL", b"a", b"\x00KEVYx"], [b"SET", b"a", b"\x00KEVYvalue"],
        [b"SET", b"\x00KEV", b"short prefix"], [b"GET", b"a"], [b"INCR", b"\x00KEVYcount"],
    ]
    with Store.open(StoreConfig(data_dir=str(tmp_path / "locked"), ticker="manual")) as store:
        expected = []
        for argv in requests:
            try:
                expected.append(store.execute_argv(list(argv)))
            except Exception as error:  # noqa: BLE001 -- the refusal's text is what is compared
                expected.append(str(error))
    store = Store.open(StoreConfig(data_dir=str(tmp_path / "owned"), ticker="manual"))
    try:
        owned = single_owner(store)
        owned.refresh_clock()
        found = [owned.execute_routed(list(argv)) for argv in requests]
        owned.write_pending()
    finally:
        store.shutdown()
    refusals = [index for index, reply in enumerate(found) if "reserved" in str(reply).lower()]
    assert refusals == [0, 1, 2, 3, 4, 8], found
    for ours, theirs in zip(found, expected):
        assert str(ours) == str(theirs) or (str(theirs) in str(ours)), (ours, theirs)
