"""Many threads hammering mixed keys across shards end in the state of a sequential model.

Method: 8 threads each run a fixed, seeded mix over 4 shards -- INCR and HINCRBY on shared
keys (order-independent, so the model is a sum), SADD of distinct members to a shared set,
LPUSH / APPEND / SET on the thread's own keys (deterministic per thread), a cross-shard MSET
of the thread's own keys, and a two-key transaction on one shard whose keys must always be
read equal (another thread's read in a transaction never sees half of it). Every reply is
checked as it is acknowledged. Then the in-memory state, and the state after shutdown and
reopen, must both equal the model built from the acknowledged operations. Run under
`appendfsync always` (group commit under contention) and `everysec` (a background ticker
fsyncing while writers append).
"""

from __future__ import annotations

import random
import threading

import pytest
from store_support import store_state

from kevy_persist import Store, StoreConfig

THREAD_COUNT = 8
STEPS_PER_THREAD = 1200
SHARED_COUNTERS = 7
HASH_FIELDS = 5


def same_shard_pair(store: Store, thread: int) -> tuple[str, str]:
    first = f"pair:{thread}:a"
    second = next(f"pair:{thread}:b{number}" for number in range(1000)
                  if store.shard_of(f"pair:{thread}:b{number}") == store.shard_of(first))
    return first, second


def worker(store: Store, thread: int, errors: list[str], done: list[int]) -> None:
    rng = random.Random(thread)
    first, second = same_shard_pair(store, thread)
    pushed = appended = 0
    for step in range(STEPS_PER_THREAD):
        operation = rng.randrange(8)
        if operation == 0:
            store.incr(f"counter:{step % SHARED_COUNTERS}")
        elif operation == 1:
            store.hincrby("hash", f"field:{step % HASH_FIELDS}", 1)
        elif operation == 2:
            store.sadd("members", f"{thread}:{step}")
        elif operation == 3:
            pushed += 1
            if store.lpush(f"list:{thread}", step) != pushed:
                errors.append(f"thread {thread}: LPUSH reply")
        elif operation == 4:
            appended += len(f"{step},")
            if store.append(f"text:{thread}", f"{step},") != appended:
                errors.append(f"thread {thread}: APPEND reply")
        elif operation == 5:
            store.set(f"last:{thread}", step)
            store.mset({f"m:{thread}:{index}": step for index in range(4)})
        elif operation == 6:
            with store.transaction() as tx:
                tx.incr(first)
                tx.incr(second)
        else:
            with store.transaction() as tx:
                tx.get(first)
                tx.get(second)
            if tx.results[0] != tx.results[1]:
                errors.append(f"thread {thread}: saw half a transaction {tx.results}")
    done.append(thread)


def model(store: Store) -> dict[bytes, object]:
    """The state the acknowledged operations lead to, replayed sequentially per thread."""
    state: dict[bytes, object] = {}
    counters = [0] * SHARED_COUNTERS
    fields = [0] * HASH_FIELDS
    members: set[bytes] = set()
    for thread in range(THREAD_COUNT):
        rng = random.Random(thread)
        pushed: list[bytes] = []
        text = b""
        pair_count = 0
        for step in range(STEPS_PER_THREAD):
            operation = rng.randrange(8)
            if operation == 0:
                counters[step % SHARED_COUNTERS] += 1
            elif operation == 1:
                fields[step % HASH_FIELDS] += 1
            elif operation == 2:
                members.add(f"{thread}:{step}".encode())
            elif operation == 3:
                pushed.insert(0, str(step).encode())
            elif operation == 4:
                text += f"{step},".encode()
            elif operation == 5:
                state[f"last:{thread}".encode()] = str(step).encode()
                for index in range(4):
                    state[f"m:{thread}:{index}".encode()] = str(step).encode()
            elif operation == 6:
                pair_count += 1
        if pushed:
            state[f"list:{thread}".encode()] = pushed
        if text:
            state[f"text:{thread}".encode()] = text
        if pair_count:
            for key in same_shard_pair(store, thread):
                state[key.encode()] = str(pair_count).encode()
    for index, count in enumerate(counters):
        if count:
            state[f"counter:{index}".encode()] = str(count).encode()
    hash_value = {f"field:{index}".encode(): str(count).encode() for index, count in enumerate(fields) if count}
    if hash_value:
        state[b"hash"] = hash_value
    if members:
        state[b"members"] = members
    return state


@pytest.mark.parametrize("policy", ["always", "everysec"])
def test_concurrent_mixed_writes_equal_the_sequential_model_after_reopen(tmp_path, policy: str) -> None:
    config = StoreConfig(data_dir=str(tmp_path / "data"), shard_count=4, appendfsync=policy,
                         ticker="background", tick_interval_ms=10)
    errors: list[str] = []
    done: list[int] = []
    with Store.open(config) as store:
        threads = [threading.Thread(target=worker, args=(store, thread, errors, done)) for thread in range(THREAD_COUNT)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(done) == list(range(THREAD_COUNT)), "a worker thread died"
        assert errors == []
        expected = model(store)
        assert store_state(store) == expected
    with Store.open(config) as reopened:
        assert store_state(reopened) == expected
        assert reopened.open_report.dropped_bytes == 0


def test_saves_and_rewrites_during_always_writes_lose_and_break_nothing(tmp_path) -> None:
    """Writers waiting for group commit while the log is swapped under them (save, rewrite)
    all return normally, and every acknowledged INCR is in the reopened state."""
    config = StoreConfig(data_dir=str(tmp_path / "data"), shard_count=2, appendfsync="always", ticker="manual")
    failures: list[BaseException] = []

    def writer(thread: int) -> None:
        try:
            for _ in range(300):
                store.incr(f"counter:{thread}")
        except BaseException as error:  # noqa: BLE001 -- reported by the assertion below
            failures.append(error)

    with Store.open(config) as store:
        threads = [threading.Thread(target=writer, args=(thread,)) for thread in range(4)]
        for thread in threads:
            thread.start()
        swaps = 0
        while any(thread.is_alive() for thread in threads) or swaps < 4:
            store.save() if swaps % 2 else store.rewrite_log()
            swaps += 1
        for thread in threads:
            thread.join()
        assert failures == []
    with Store.open(config) as reopened:
        assert store_state(reopened) == {f"counter:{thread}".encode(): b"300" for thread in range(4)}
