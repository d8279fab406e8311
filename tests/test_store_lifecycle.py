"""The store's lifecycle: open report, metrics, the ticker's jobs, fsync policies, shutdown.

Method: stores on a real data dir, seen through `CountingFileSystem` (bytes written vs bytes
an fsync covered, per file) and driven by a `ManualClock` with the ticker in manual mode, so
every everysec fsync, expiry step and auto-rewrite happens exactly when the test calls
`tick()`. Durability claims are checked against the wrapper's counters, state claims by
reopening the data dir.
"""

from __future__ import annotations

import threading

import pytest
from store_support import CountingFileSystem, store_state

from kevy_persist import MetricEvent, Store, StoreConfig
from kevy_persist.disk.clock import ManualClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.engine.aof import iter_log
from kevy_persist.formats.aof_format import is_epoch_marker
from kevy_persist.store.store import iter_shards


def open_store(tmp_path, clock=None, file_system=None, **options) -> Store:
    config = StoreConfig(data_dir=str(tmp_path / "data"), ticker="manual", **options)
    return Store.open(config, file_system=file_system, clock=clock or ManualClock())


def log_path(tmp_path, index: int = 0) -> str:
    return str(tmp_path / "data" / f"aof-{index}.aof")


def test_open_report_counts_replayed_commands_and_bytes(tmp_path) -> None:
    """Reopening replays every logged command; the bytes are those of the replayed records."""
    with open_store(tmp_path, shard_count=2) as store:
        for number in range(10):
            store.incr(f"counter:{number % 4}")
        store.rpush("list", "a", "b")
    expected_commands = 0
    expected_bytes = 0
    for index in range(2):
        for entry in iter_log(OsFileSystem(), log_path(tmp_path, index)):
            if not is_epoch_marker(entry.argv):
                expected_commands += 1
                expected_bytes += entry.end_offset - entry.offset
    with open_store(tmp_path, shard_count=2) as store:
        report = store.open_report
        assert report.replayed_commands == expected_commands == 11
        assert report.replayed_bytes == expected_bytes
        assert report.dropped_bytes == 0
        assert report.corruption_found is False
        assert isinstance(report.elapsed_ms, int) and report.elapsed_ms >= 0
        assert [shard.index for shard in report.shards] == [0, 1]


def test_open_report_shows_a_torn_tail_as_dropped_bytes(tmp_path) -> None:
    with open_store(tmp_path) as store:
        store.set("k", "v")
    with open(log_path(tmp_path), "ab") as handle:
        handle.write(b"\x40\x00\x00\x00garbage")  # a record header promising more than follows
    with open_store(tmp_path) as store:
        assert store.open_report.dropped_bytes == 11
        assert store.open_report.shards[0].quarantine_path is not None
        assert store.get("k") == b"v"


def test_open_report_shows_corruption_when_asked_to_truncate_it(tmp_path) -> None:
    """Damage followed by valid records: refused by default, reported with truncate_corruption."""
    with open_store(tmp_path) as store:
        for number in range(5):
            store.set(f"k{number}", "v" * 20)
    data = bytearray(open(log_path(tmp_path), "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(log_path(tmp_path), "wb").write(bytes(data))
    with pytest.raises(Exception) as raised:
        open_store(tmp_path)
    assert type(raised.value).__name__ == "CorruptionError"
    with open_store(tmp_path, truncate_corruption=True) as store:
        assert store.open_report.corruption_found is True
        assert store.open_report.dropped_bytes > 0


def test_metrics_events_for_replay_save_rewrite_and_shutdown(tmp_path) -> None:
    events: list[MetricEvent] = []
    with open_store(tmp_path, shard_count=2, metrics=events.append) as store:
        store.mset({f"k{number}": number for number in range(8)})
        store.save()
        store.rewrite_log()
    with open_store(tmp_path, shard_count=2, metrics=events.append):
        pass
    names = [event.name for event in events]
    assert names == ["replay", "replay", "save", "save", "rewrite", "rewrite", "shutdown",
                     "replay", "replay", "shutdown"]
    save_events = [event for event in events if event.name == "save"]
    assert [event.shard_index for event in save_events] == [0, 1]
    assert sum(event.fields["keys"] for event in save_events) == 8
    rewrite_event = next(event for event in events if event.name == "rewrite")
    assert rewrite_event.fields["reason"] == "requested"
    assert rewrite_event.fields["log_bytes"] > 0
    last_replays = [event for event in events if event.name == "replay"][2:]
    assert sum(event.fields["replayed_commands"] for event in last_replays) == 8  # the rewritten SETs


def test_manual_tick_fsyncs_an_everysec_log_once_a_second(tmp_path) -> None:
    """everysec: a write stays unsynced until a tick at least 1000 ms after the last fsync."""
    clock = ManualClock()
    file_system = CountingFileSystem(OsFileSystem())
    with open_store(tmp_path, clock, file_system, appendfsync="everysec") as store:
        path = log_path(tmp_path)
        fsyncs_after_open = file_system.fsync_count.get(path, 0)
        store.set("k", "v")
        assert file_system.unsynced_bytes(path) > 0
        store.tick()
        clock.advance(999)
        store.tick()
        assert file_system.unsynced_bytes(path) > 0
        clock.advance(1)
        store.tick()
        assert file_system.unsynced_bytes(path) == 0
        assert file_system.fsync_count[path] == fsyncs_after_open + 1
        clock.advance(5000)
        store.tick()  # nothing dirty: no fsync
        assert file_system.fsync_count[path] == fsyncs_after_open + 1


def test_appendfsync_no_leaves_writes_unsynced_until_shutdown(tmp_path) -> None:
    clock = ManualClock()
    file_system = CountingFileSystem(OsFileSystem())
    store = open_store(tmp_path, clock, file_system, appendfsync="no", shard_count=3)
    store.mset({f"k{number}": number for number in range(9)})
    clock.advance(10_000)
    store.tick()
    paths = [log_path(tmp_path, index) for index in range(3)]
    assert all(file_system.unsynced_bytes(path) > 0 for path in paths)
    store.shutdown()
    assert all(file_system.unsynced_bytes(path) == 0 for path in paths)


def test_always_returns_only_after_an_fsync_covers_the_record(tmp_path) -> None:
    """Single writer: after each reply the log is synced to its end, one fsync per write."""
    file_system = CountingFileSystem(OsFileSystem())
    with open_store(tmp_path, file_system=file_system, appendfsync="always") as store:
        path = log_path(tmp_path)
        before = file_system.fsync_count.get(path, 0)
        for number in range(20):
            store.incr("counter")
            assert file_system.unsynced_bytes(path) == 0
        assert file_system.fsync_count[path] == before + 20
        store.get("counter")  # a read logs nothing and waits for nothing
        assert file_system.fsync_count[path] == before + 20


class SlowSyncFileSystem(CountingFileSystem):
    """Records, per thread, the end offset of that thread's last write; fsync is slow."""

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.local = threading.local()
        self.sync_started = threading.Event()

    def open_append(self, path):  # type: ignore[override]
        handle = super().open_append(path)
        original_write, original_fsync = handle.write, handle.fsync

        def write(data: bytes) -> None:
            original_write(data)
            self.local.end_offset = handle.tell()

        def fsync() -> None:
            threading.Event().wait(0.002)  # widen the window in which writers pile up
            original_fsync()

        handle.write, handle.fsync = write, fsync
        return handle


def test_always_group_commit_covers_each_writer_and_shares_fsyncs(tmp_path) -> None:
    """8 threads x 25 writes: each reply comes after its own record is synced; fsyncs < writes."""
    file_system = SlowSyncFileSystem(OsFileSystem())
    failures: list[str] = []
    with open_store(tmp_path, file_system=file_system, appendfsync="always") as store:
        path = log_path(tmp_path)
        before = file_system.fsync_count.get(path, 0)

        def writer(number: int) -> None:
            for step in range(25):
                store.rpush(f"list:{number}", step)
                own_end = file_system.local.end_offset
                if file_system.synced_bytes[path] < own_end:
                    failures.append(f"thread {number} step {step} returned before its fsync")

        threads = [threading.Thread(target=writer, args=(number,)) for number in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        fsyncs = file_system.fsync_count[path] - before
    assert failures == []
    assert fsyncs < 200


def test_tick_expires_keys_actively_and_logs_their_deletion(tmp_path) -> None:
    """Keys past their deadline are reaped by tick() alone; a reopen does not bring them back."""
    clock = ManualClock()
    events: list[MetricEvent] = []
    with open_store(tmp_path, clock, shard_count=2, metrics=events.append, expiry_samples_per_tick=100) as store:
        for number in range(10):
            store.set(f"temporary:{number}", "v", ttl=1)
        store.set("kept", "v")
        clock.advance(1500)
        store.tick()
        stored_keys = sum(len(shard.keyspace) for _, shard in iter_shards(store))
        assert stored_keys == 1
        assert sum(event.fields["keys"] for event in events if event.name == "expired") == 10
    with open_store(tmp_path, ManualClock(0), shard_count=2) as store:  # a clock before the deadlines
        assert store_state(store) == {b"kept": b"v"}


def test_auto_rewrite_triggers_on_small_thresholds_and_keeps_the_state(tmp_path) -> None:
    """The tick starts a background rewrite when the log outgrew its baseline; it commits."""
    clock = ManualClock()
    events: list[MetricEvent] = []
    options = dict(auto_rewrite_percentage=50, auto_rewrite_min_size_bytes=2000, metrics=events.append,
                   background_worker="inline")  # one job step per tick: deterministic sizes
    with open_store(tmp_path, clock, **options) as store:
        for number in range(200):
            store.incr("counter")
            store.hset("hash", f"field:{number % 5}", number)
            store.tick()
        store.wait_background()
        rewrites = [event for event in events if event.name == "job_committed"]
        assert rewrites and all(event.fields["reason"] == "auto" and event.fields["job"] == "bgrewriteaof"
                                for event in rewrites)
        expected = store_state(store)
        size_after = (tmp_path / "data" / "aof-0.aof").stat().st_size
        assert size_after < 2000 * 1.5
    with open_store(tmp_path, clock) as store:
        assert store_state(store) == expected
        assert store.get("counter") == b"200"


def test_background_ticker_fsyncs_everysec_without_help(tmp_path) -> None:
    """ticker="background": a daemon thread ticks; within ~1.5 s the write is synced."""
    file_system = CountingFileSystem(OsFileSystem())
    config = StoreConfig(data_dir=str(tmp_path / "data"), ticker="background", tick_interval_ms=20)
    with Store.open(config, file_system=file_system) as store:
        store.set("k", "v")
        path = log_path(tmp_path)
        for _ in range(300):
            if file_system.unsynced_bytes(path) == 0:
                break
            threading.Event().wait(0.01)
        assert file_system.unsynced_bytes(path) == 0


def test_save_then_reopen_loads_the_snapshot_and_an_empty_log(tmp_path) -> None:
    with open_store(tmp_path, shard_count=3) as store:
        store.mset({f"k{number}": number for number in range(30)})
        store.zadd("z", {"a": 1.5})
        store.save()
        store.sadd("after", "x")
        expected = store_state(store)
    with open_store(tmp_path, shard_count=3) as store:
        assert store_state(store) == expected
        assert sum(report.snapshot_keys for report in store.open_report.shards) == 31
        assert store.open_report.replayed_commands == 1


def test_fsync_policy_switches_at_run_time(tmp_path) -> None:
    """`set_appendfsync`: after switching to `always` every write returns after an fsync
    covering it (counted by the wrapper); switching back to `no` stops the fsyncs."""
    def fsyncs(counting: CountingFileSystem) -> int:
        return sum(counting.fsync_count.values())

    file_system = CountingFileSystem(OsFileSystem())
    config = StoreConfig(data_dir=str(tmp_path), appendfsync="no", ticker="manual")
    with Store.open(config, file_system=file_system) as store:
        store.set("a", "1")
        before = fsyncs(file_system)
        store.set_appendfsync("always")
        assert store.config.appendfsync.value == "always"
        switched = fsyncs(file_system)
        assert switched > before, "switching to always makes the earlier writes durable"
        store.set("b", "2")
        store.set("c", "3")
        assert fsyncs(file_system) >= switched + 2
        store.set_appendfsync("no")
        quiet = fsyncs(file_system)
        store.set("d", "4")
        assert fsyncs(file_system) == quiet
