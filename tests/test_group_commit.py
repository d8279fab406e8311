"""Group commit: one fsync covers every writer waiting on it, and failures are sticky.

Method: a fake log whose `sync` is slow and counts its calls; many threads append and wait.
"""

from __future__ import annotations

import threading
import time

import pytest

from kevy_persist.store.runtime import GroupCommit


class SlowLog:
    def __init__(self) -> None:
        self.end_offset = 0
        self.lock = threading.Lock()
        self.sync_calls = 0
        self.fail = False

    def append(self) -> int:
        with self.lock:
            self.end_offset += 10
            return self.end_offset

    def sync(self) -> int:
        covered = self.end_offset
        self.sync_calls += 1
        time.sleep(0.005)
        if self.fail:
            raise OSError("EIO")
        return covered


def test_many_writers_share_few_fsyncs_and_all_become_durable() -> None:
    """40 writers wait concurrently; far fewer than 40 fsyncs run, and all return durable."""
    log = SlowLog()
    group = GroupCommit(log.sync)
    returned: list[int] = []
    barrier = threading.Barrier(40)

    def writer() -> None:
        barrier.wait()
        offset = log.append()
        group.wait_durable(group.generation, offset)
        assert group.durable_offset >= offset
        returned.append(offset)

    threads = [threading.Thread(target=writer) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(returned) == 40
    assert log.sync_calls < 40
    assert group.durable_offset == log.end_offset


def test_failed_fsync_is_sticky_for_every_waiter() -> None:
    """After a failed fsync no waiter is told its record is durable, even if a retry would pass."""
    log = SlowLog()
    log.fail = True
    group = GroupCommit(log.sync)
    with pytest.raises(OSError):
        group.wait_durable(0, log.append())
    log.fail = False
    with pytest.raises(OSError):
        group.wait_durable(0, log.append())
    assert log.sync_calls == 1


def test_log_swap_releases_waiters_of_the_old_generation() -> None:
    """A record of an older log generation is durable once a save replaced that log."""
    log = SlowLog()
    group = GroupCommit(log.sync)
    offset = log.append()
    group.reset(durable_offset=9)
    group.wait_durable(0, offset)  # returns at once: the old generation was replaced
    assert log.sync_calls == 0
