"""Transactions apply entirely or not at all: in memory, and across a crash at any byte.

Method. In memory: blocks whose middle command fails (WRONGTYPE, not an integer) over keys of
every type, with TTLs, compared with a copy of the state taken before. Across a crash: a
store on the simulator's in-memory file system writes a "before" state, then one bracketed
block; the log is then cut at every byte offset from the block's first byte to its last, and
each cut is reopened. Every reopen must give exactly "before" (the block is discarded and the
log truncated to the block's start), and a write after it must survive the next reopen --
a later record must not be glued to the torn block. The same for each fsync policy and both
log formats, and for a single command that logs two records (SET with a TTL).
"""

from __future__ import annotations

import pytest
from store_support import SIM_DATA_DIR, live_image, sim_store, store_state

from kevy_persist import CommandError, Store, StoreConfig, TransactionAbortedError
from kevy_persist.commands import ErrorReply
from kevy_persist.disk.clock import ManualClock
from kevy_persist.store.store import iter_shards
from sim.disk import Image
from sim.simfs import SimFileSystem

LOG_PATH = f"{SIM_DATA_DIR}/aof-0.aof"


def memory_store(shard_count: int = 1, routing: str = "kevyhash") -> Store:
    return Store.open(StoreConfig(shard_count=shard_count, routing=routing, ticker="manual"), clock=ManualClock())


def populated(store: Store) -> None:
    store.set("s", "text", ttl=100)
    store.hset("h", {"a": 1})
    store.rpush("l", "x", "y")
    store.sadd("set", "m")
    store.zadd("z", {"m": 2.0})


def test_a_failing_command_restores_every_key_the_block_touched() -> None:
    """Each type written, a key created and one deleted, then WRONGTYPE: all undone."""
    store = memory_store()
    populated(store)
    before = store_state(store, with_deadlines=True)
    with pytest.raises(TransactionAbortedError) as raised:
        with store.transaction() as tx:
            tx.append("s", "+more")
            tx.persist("s")
            tx.hset("h", "b", 2)
            tx.lpush("l", "w")
            tx.sadd("set", "n")
            tx.zincrby("z", 1.0, "m")
            tx.set("created", "v")
            tx.delete("set")
            tx.incr("l")  # WRONGTYPE: the list is not a string
            tx.set("never", "runs")
    assert raised.value.position == 8
    assert raised.value.message.startswith("WRONGTYPE")
    assert store_state(store, with_deadlines=True) == before
    assert tx.results is None


def test_a_failed_block_logs_nothing(tmp_path) -> None:
    with Store.open(StoreConfig(data_dir=str(tmp_path), ticker="manual")) as store:
        store.set("n", "not a number")
        size = (tmp_path / "aof-0.aof").stat().st_size
        with pytest.raises(TransactionAbortedError):
            with store.transaction() as tx:
                tx.set("other", "v")
                tx.incr("n")
        assert (tmp_path / "aof-0.aof").stat().st_size == size
    with Store.open(StoreConfig(data_dir=str(tmp_path), ticker="manual")) as store:
        assert store_state(store) == {b"n": b"not a number"}


def test_a_successful_block_applies_everything_and_shapes_results() -> None:
    store = memory_store()
    with store.transaction() as tx:
        tx.set("k", "v")
        tx.incr("n", 5)
        tx.hset("h", {"a": 1})
        tx.hgetall("h")
        tx.zadd("z", {"m": 1.5})
        tx.zrange("z", withscores=True)
        tx.execute("GET", "k")
        assert len(tx) == 7
    assert tx.results == [True, 5, 1, {b"a": b"1"}, 1, [(b"m", 1.5)], b"v"]
    assert store.get("n") == b"5"


def test_an_exception_inside_the_block_runs_nothing() -> None:
    store = memory_store()
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            tx.set("k", "v")
            raise RuntimeError("changed my mind")
    assert store.dbsize() == 0
    with pytest.raises(Exception):
        tx.commit()  # a discarded transaction cannot be committed later


def test_unknown_command_or_wrong_arity_aborts_before_anything_runs() -> None:
    store = memory_store()
    for bad in (("NOSUCH", "x"), ("GET",)):
        with pytest.raises(CommandError) as raised:
            with store.transaction() as tx:
                tx.set("k", "v")
                tx.execute(*bad)
        assert raised.value.message.startswith("EXECABORT")
    assert store.dbsize() == 0


def test_a_block_across_shards_is_refused_with_crossslot() -> None:
    """Keys on two shards (or a store-wide command on a sharded store) refuse the block."""
    store = memory_store(shard_count=3, routing="slots")
    assert store.shard_of("{a}x") != store.shard_of("{b}x")
    with pytest.raises(CommandError) as raised:
        with store.transaction() as tx:
            tx.set("{a}x", 1)
            tx.set("{b}x", 2)
    assert raised.value.message.startswith("CROSSSLOT")
    with pytest.raises(CommandError) as raised:
        with store.transaction() as tx:
            tx.set("{a}x", 1)
            tx.flushall()
    assert raised.value.message.startswith("CROSSSLOT")
    assert store.dbsize() == 0
    with store.transaction() as tx:  # hashtags put keys on one shard under slot routing
        tx.set("{a}x", 1)
        tx.set("{a}y", 2)
    assert store.mget("{a}x", "{a}y") == [b"1", b"2"]


def test_flushall_inside_a_failing_block_restores_every_key() -> None:
    store = memory_store()
    populated(store)
    before = store_state(store, with_deadlines=True)
    with pytest.raises(TransactionAbortedError):
        with store.transaction() as tx:
            tx.flushall()
            tx.set("k", "v")
            tx.lpush("k", "x")
    assert store_state(store, with_deadlines=True) == before


def test_exec_form_keeps_the_other_commands_like_redis() -> None:
    """`execute_transaction(atomic=False)`: a run-time error is one reply among the others."""
    store = memory_store()
    store.set("s", "text")
    replies = store.execute_transaction([[b"SET", b"a", b"1"], [b"INCR", b"s"], [b"SET", b"b", b"2"]])
    assert replies[0] == "OK" and replies[2] == "OK"
    assert isinstance(replies[1], ErrorReply)
    assert store.mget("a", "b") == [b"1", b"2"]


# -- crash atomicity ----------------------------------------------------------------------------


def cut_image(image: Image, path: str, size: int) -> Image:
    files = tuple((name, data[:size] if name == path else data) for name, data in image.files)
    return Image(image.directories, files)


def write_before_and_block(policy: str, log_format: int, block) -> tuple[Image, int, dict, dict]:
    """A store writes the "before" state, then runs `block(store)`; (image, block start, states)."""
    fs = SimFileSystem()
    store = sim_store(fs, ManualClock(), appendfsync=policy, log_format=log_format)
    store.set("counter", 10)
    store.rpush("list", "a")
    before = store_state(store)
    block_start = fs.size(LOG_PATH)
    block(store)
    after = store_state(store)
    image = live_image(fs)
    assert after != before
    return image, block_start, before, after


def check_every_cut(image: Image, block_start: int, before: dict, after: dict, log_format: int) -> int:
    """Reopen every cut of the block; returns how many cuts discarded a started block."""
    block_end = len(image.as_dict()[LOG_PATH])
    discarded = 0
    for size in range(block_start, block_end + 1):
        fs = SimFileSystem.from_image(cut_image(image, LOG_PATH, size))
        store = sim_store(fs, ManualClock(), log_format=log_format)
        expected = after if size == block_end else before
        assert store_state(store) == expected, f"cut at byte {size} of {block_end}"
        discarded += store.open_report.discarded_transaction_bytes > 0
        store.incr("counter")
        store.shutdown()
        reopened = sim_store(SimFileSystem.from_image(live_image(fs)), ManualClock(), log_format=log_format)
        expected_later = dict(expected)
        expected_later[b"counter"] = str(int(expected[b"counter"]) + 1).encode()
        assert store_state(reopened) == expected_later, f"write after the cut at byte {size} was damaged"
    return discarded


def run_block(store: Store) -> None:
    with store.transaction() as tx:
        tx.incr("counter", 5)
        tx.lpush("list", "b", "c")
        tx.hset("hash", {"f": "v"})
        tx.set("temporary", "t", ttl=30)


@pytest.mark.parametrize("policy", ["always", "everysec", "no"])
@pytest.mark.parametrize("log_format", [2, 1])
def test_a_log_cut_inside_a_block_discards_the_whole_block(policy: str, log_format: int) -> None:
    image, block_start, before, after = write_before_and_block(policy, log_format, run_block)
    discarded = check_every_cut(image, block_start, before, after, log_format)
    assert discarded > 0  # some cuts fell after the begin marker: those blocks were truncated


def test_a_command_logged_as_two_records_is_atomic_across_a_crash() -> None:
    """SET with a TTL logs SET + PEXPIREAT; no cut keeps the value without its deadline."""
    image, block_start, before, after = write_before_and_block(
        "always", 2, lambda store: store.set("counter", 99, ttl=60))
    check_every_cut(image, block_start, before, after, 2)


def test_the_open_report_counts_the_discarded_block_bytes() -> None:
    image, block_start, before, _ = write_before_and_block("always", 2, run_block)
    block_end = len(image.as_dict()[LOG_PATH])
    fs = SimFileSystem.from_image(cut_image(image, LOG_PATH, block_end - 1))
    store = sim_store(fs, ManualClock())
    report = store.open_report
    assert report.dropped_bytes > 0  # the torn last record
    assert report.discarded_transaction_bytes > 0  # the complete records of the open block
    assert report.dropped_bytes + report.discarded_transaction_bytes == block_end - 1 - block_start
    # The cut block is dropped by a full save (engine/shard_opening.py: truncating in place is not
    # crash-safe), so the log is a fresh one holding none of it.
    assert fs.size(LOG_PATH) < block_start
    assert store_state(store) == before
    assert sum(len(shard.keyspace) for _, shard in iter_shards(store)) == 2


def test_keys_that_could_read_back_as_log_markers_are_refused(tmp_path) -> None:
    """Regression: an expired key named `\\0KEVYMULTI` was logged as `DEL \\0KEVYMULTI`, which
    replay read as a block opening, discarding every later write. Any command naming a
    reserved key is now refused, so no such key can exist."""
    clock = ManualClock()
    config = StoreConfig(data_dir=str(tmp_path), ticker="manual")
    with Store.open(config, clock=clock) as store:
        for name in (b"\x00KEVYMULTI", b"\x00KEVYEXEC", b"\x00KEVYEPOCH:1:base"):
            for call in (lambda: store.set(name, "x", ttl=1), lambda: store.lpush(name, "x"),
                         lambda: store.mset({b"ordinary": b"1", name: b"2"}), lambda: store.delete(name)):
                with pytest.raises(CommandError) as raised:
                    call()
                assert "reserved" in raised.value.message or raised.value.message.startswith("CROSSSLOT")
        clock.advance(2000)
        store.tick()
        store.set("after", "1")
    with Store.open(config, clock=clock) as store:
        assert store_state(store) == {b"after": b"1"}
