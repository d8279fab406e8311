"""ShardLock: mutual exclusion, and waiters that yield the GIL briefly but never spin on a
long hold.

Method: threads doing a read-modify-write that yields the GIL inside the critical section
(any lost update shows); and one thread holding the lock for 300 ms while another waits,
measuring the process's CPU time (a spinning waiter would burn about 300 ms of it).
"""

from __future__ import annotations

import threading
import time

from kevy_persist.store.runtime import ShardLock


def test_shard_lock_excludes_under_contention() -> None:
    lock = ShardLock()
    counter = [0]

    def work() -> None:
        for _ in range(2000):
            with lock:
                seen = counter[0]
                time.sleep(0)  # hand the GIL to another thread inside the critical section
                counter[0] = seen + 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter[0] == 8000
    assert not lock.locked()


def test_waiter_blocks_instead_of_spinning_on_a_long_hold() -> None:
    lock = ShardLock()
    held = threading.Event()
    acquired_after_s: list[float] = []

    def holder() -> None:
        with lock:
            held.set()
            time.sleep(0.3)

    def waiter() -> None:
        held.wait()
        started = time.perf_counter()
        with lock:
            acquired_after_s.append(time.perf_counter() - started)

    cpu_before = time.process_time()
    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu_used = time.process_time() - cpu_before
    assert acquired_after_s and acquired_after_s[0] > 0.2, "the waiter waited for the holder"
    assert cpu_used < 0.15, f"the waiter spun: {cpu_used:.3f} CPU s during a 0.3 s hold"
