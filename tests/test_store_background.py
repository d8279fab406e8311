"""The store's background persistence: BGSAVE, BGREWRITEAOF, save points, shutdown snapshots.

Method: stores on the simulator's in-memory file system with `background_worker="inline"`
(each `poll_background()` runs one job step, so a test knows exactly where a job is), plus a
few on the real file system with the thread and fork workers. Redis's replies and rules for
requests while a job runs are the ones redis-server 7.0 gives (checked by hand against it;
texts in `kevy_persist/store/background.py`). Every test ends by reopening the files and
comparing with the keyspace the writes produced.
"""

from __future__ import annotations

import os

import pytest
from store_support import reboot, sim_store, store_state

from kevy_persist import Store, StoreConfig
from kevy_persist.disk.clock import ManualClock
from kevy_persist.engine.aof import scan_log
from kevy_persist.errors import CommandError, StoreClosedError
from kevy_persist.store.background import BGSAVE_BLOCKED, BGSAVE_IN_PROGRESS, REWRITE_IN_PROGRESS
from kevy_persist.store.save_points import format_save_points, parse_save_points
from kevy_persist.store.store import iter_shards
from sim.simfs import SimFileSystem


def inline_store(fs=None, clock=None, **config):
    fs = fs if fs is not None else SimFileSystem()
    return sim_store(fs, clock or ManualClock(), background_worker="inline", **config), fs


def drive(store, polls=20):
    for _ in range(polls):
        store.poll_background()


def test_bgsave_runs_its_steps_on_polls_while_writes_go_on_and_reopens_exactly():
    store, fs = inline_store(shard_count=3)
    for number in range(30):
        store.rpush(f"list:{number}", "a", "b")
    assert store.bgsave() == "started"
    for number in range(30):  # a write of every shard between the steps
        store.rpush(f"list:{number}", number)
        store.incr(f"counter:{number % 7}")
        store.poll_background()
    store.wait_background()
    infos = store.persistence_info()
    assert [info.bgsaves for info in infos] == [1, 1, 1]
    assert all(info.rdb_bgsave_in_progress == 0 and info.rdb_last_bgsave_status == "ok" for info in infos)
    assert all(info.log_epoch == 2 for info in infos)
    expected = store_state(store)
    store.shutdown()
    with sim_store(reboot(fs), ManualClock(), shard_count=3) as reopened:
        assert store_state(reopened) == expected
        assert reopened.open_report.shards[0].snapshot_keys > 0


def test_a_second_bgsave_while_one_runs_is_refused_with_redis_text():
    store, _ = inline_store()
    store.set("k", "v")
    assert store.bgsave() == "started"
    with pytest.raises(CommandError) as refused:
        store.bgsave()
    assert refused.value.message == BGSAVE_IN_PROGRESS == "ERR Background save already in progress"
    with pytest.raises(CommandError) as save_refused:
        store.save()
    assert save_refused.value.message == BGSAVE_IN_PROGRESS
    store.wait_background()
    store.save()  # allowed again once the BGSAVE committed


def test_bgsave_during_a_rewrite_is_refused_unless_scheduled_then_runs_after_it():
    store, _ = inline_store()
    store.set("k", "v")
    assert store.bgrewriteaof() == "started"
    with pytest.raises(CommandError) as refused:
        store.bgsave()
    assert refused.value.message == BGSAVE_BLOCKED
    with pytest.raises(CommandError) as again:
        store.bgrewriteaof()
    assert again.value.message == REWRITE_IN_PROGRESS
    assert store.bgsave(schedule=True) == "scheduled"
    [info] = store.persistence_info()
    assert info.aof_rewrite_in_progress == 1 and info.rdb_bgsave_scheduled == 1 and info.rdb_bgsave_in_progress == 0
    store.wait_background()
    [info] = store.persistence_info()
    assert (info.rewrites, info.bgsaves) == (1, 1)
    assert info.rdb_bgsave_scheduled == 0 and info.aof_rewrite_in_progress == 0


def test_bgrewriteaof_during_a_bgsave_is_scheduled():
    store, fs = inline_store()
    store.rpush("list", "a")
    assert store.bgsave() == "started"
    assert store.bgrewriteaof() == "scheduled"
    assert store.bgrewriteaof() == "scheduled"  # Redis answers the same while it waits
    [info] = store.persistence_info()
    assert info.rdb_bgsave_in_progress == 1 and info.aof_rewrite_scheduled == 1
    store.rpush("list", "b")
    store.wait_background()
    [info] = store.persistence_info()
    assert (info.bgsaves, info.rewrites) == (1, 1)
    # SAVE then BGREWRITEAOF then restart: the list is not doubled (kevy 1.23 doubles it).
    store.shutdown(save=False)
    with sim_store(reboot(fs), ManualClock()) as reopened:
        assert reopened.lrange("list", 0, -1) == [b"a", b"b"]


def test_save_during_a_rewrite_waits_for_it_and_is_durable():
    store, fs = inline_store()
    store.incr("n")
    store.bgrewriteaof()
    store.incr("n")
    store.save()  # drives the rewrite to its end, then saves
    [info] = store.persistence_info()
    assert info.rewrites == 1 and info.aof_rewrite_in_progress == 0
    with sim_store(reboot(fs), ManualClock()) as reopened:
        assert reopened.get("n") == b"2"


def test_save_points_start_a_background_save_per_shard_and_reset_the_change_count():
    clock = ManualClock()
    store, fs = inline_store(clock=clock, save_points="60 3 3600 1")
    store.incr("a")
    store.incr("a")
    clock.advance(61_000)
    store.tick()  # 2 changes: neither point is due
    [info] = store.persistence_info()
    assert info.rdb_bgsave_in_progress == 0 and info.rdb_changes_since_last_save == 2
    store.incr("a")
    store.tick()  # 3 changes after 61 s: "60 3" is due
    [info] = store.persistence_info()
    assert info.rdb_bgsave_in_progress == 1
    store.incr("a")  # during the job: still counted after it
    store.wait_background()
    [info] = store.persistence_info()
    assert info.bgsaves == 1 and info.rdb_changes_since_last_save == 1
    assert info.rdb_last_save_time == clock.now_ms() // 1000
    assert store.last_save_unix() == clock.now_ms() // 1000


def test_a_failed_bgsave_is_reported_and_its_save_point_waits_five_seconds():
    """ENOSPC while writing the snapshot temp: status err, the live files untouched, and the
    save point retries only after Redis's 5 s delay."""
    clock = ManualClock()
    fs = SimFileSystem()
    events = []
    store, _ = inline_store(fs, clock, save_points="1 1", metrics=events.append)
    store.set("k", "v")
    clock.advance(2000)
    fs.faults = FailWritesTo(".rdb.tmp")
    store.tick()  # the save point starts a job (freeze)
    store.tick()  # serialize: fails
    [info] = store.persistence_info()
    assert info.rdb_last_bgsave_status == "err" and info.bgsaves == 0
    assert [event.name for event in events if event.name.startswith("job_")] == ["job_started", "job_failed"]
    fs.faults = None
    clock.advance(3000)
    store.tick()
    assert store.persistence_info()[0].rdb_bgsave_in_progress == 0  # 3 s after the failure: waits
    clock.advance(2500)
    store.tick()
    assert store.persistence_info()[0].rdb_bgsave_in_progress == 1
    store.wait_background()
    assert store.persistence_info()[0].rdb_last_bgsave_status == "ok"


class FailWritesTo:
    """SimFileSystem faults: every write to a path ending in `suffix` fails with ENOSPC."""

    def __init__(self, suffix):
        self.suffix = suffix
        self.path = ""

    def write_outcome(self, step_index, size_bytes):
        import errno

        return (0, errno.ENOSPC) if self.path.endswith(self.suffix) else (size_bytes, None)

    def fsync_fails(self, step_index):
        return False

    def failure(self, step_index, call):
        return None  # only writes fail, through `write_outcome`


@pytest.fixture(autouse=True)
def _path_aware_faults(monkeypatch):
    """Let `FailWritesTo` see the path of each write (the fault plan interface has none)."""
    original = SimFileSystem.handle_write

    def handle_write(self, handle, data):
        if isinstance(self.faults, FailWritesTo):
            self.faults.path = handle.path
        return original(self, handle, data)

    monkeypatch.setattr(SimFileSystem, "handle_write", handle_write)


def test_auto_rewrite_runs_in_the_background_and_never_while_a_job_runs():
    store, _ = inline_store(auto_rewrite_percentage=10, auto_rewrite_min_size_bytes=100)
    store.bgsave()
    for number in range(50):
        store.incr("n")
        store.tick()
        infos = store.persistence_info()
        assert infos[0].rdb_bgsave_in_progress + infos[0].aof_rewrite_in_progress <= 1
    store.wait_background()
    assert store.persistence_info()[0].rewrites >= 1


def test_shutdown_snapshots_a_long_log_so_the_next_open_loads_a_snapshot():
    fs = SimFileSystem()
    store, _ = inline_store(fs, shutdown_snapshot_min_log_bytes=2000)
    for number in range(200):
        store.set(f"key:{number}", "value")
    store.shutdown()
    with sim_store(reboot(fs), ManualClock()) as reopened:
        report = reopened.open_report.shards[0]
        assert report.snapshot_keys == 200 and report.replayed_commands == 0


def test_shutdown_keeps_a_short_log_and_nosave_skips_the_snapshot():
    fs = SimFileSystem()
    store, _ = inline_store(fs, shutdown_snapshot_min_log_bytes=1_000_000)
    store.set("k", "v")
    store.shutdown()
    assert not fs.exists("/data/dump-0.rdb")
    store, _ = inline_store(fs, shutdown_snapshot_min_log_bytes=1)
    store.set("k", "w")
    store.shutdown(save=False)
    assert not fs.exists("/data/dump-0.rdb")


def test_shutdown_cancels_a_running_job_and_removes_its_temps():
    store, fs = inline_store()
    store.rpush("list", "a")
    store.bgsave()
    store.poll_background()  # serialized: the temp exists
    assert fs.exists("/data/dump-0.rdb.tmp")
    store.shutdown(save=False)
    assert not fs.exists("/data/dump-0.rdb.tmp") and not fs.exists("/data/dump-0.rdb")
    with pytest.raises(StoreClosedError):
        store.bgsave()
    with sim_store(reboot(fs), ManualClock()) as reopened:
        assert reopened.lrange("list", 0, -1) == [b"a"]


def test_persistence_info_reports_redis_fields_for_each_shard():
    store, _ = inline_store(shard_count=2)
    store.set("a", "1")
    infos = store.persistence_info()
    assert len(infos) == 2
    fields = infos[0].info_fields()
    for name in ("rdb_changes_since_last_save", "rdb_bgsave_in_progress", "rdb_last_save_time",
                 "rdb_last_bgsave_status", "rdb_last_bgsave_time_sec", "aof_rewrite_in_progress",
                 "aof_rewrite_scheduled", "aof_last_bgrewrite_status", "aof_current_size", "aof_base_size",
                 "aof_last_write_status"):
        assert name in fields
    assert sum(info.rdb_changes_since_last_save for info in infos) == 1
    assert all(info.rdb_last_bgsave_time_sec == -1 and info.aof_current_size > 0 for info in infos)
    store.bgrewriteaof()
    assert [info.job_phase for info in store.persistence_info()] == ["frozen", ""]
    store.wait_background()
    assert all(info.aof_base_size == info.aof_current_size for info in store.persistence_info())


@pytest.mark.parametrize("text, points", [
    ("", ()), ("3600 1 300 100 60 10000", ((3600, 1), (300, 100), (60, 10000))), ("1 0", ((1, 0),)),
])
def test_save_points_read_redis_text(text, points):
    assert parse_save_points(text) == points
    assert format_save_points(points) == text


@pytest.mark.parametrize("text", ["3600", "0 1", "60 -1", "a 1", "60 1 30", "1.5 2", "60 ١"])
def test_invalid_save_points_are_refused_with_redis_words(text):
    with pytest.raises(ValueError, match="Invalid save parameters"):
        parse_save_points(text)
    store, _ = inline_store()
    with pytest.raises(ValueError):
        store.set_save_points(text)


def test_set_save_points_changes_the_running_store():
    clock = ManualClock()
    store, _ = inline_store(clock=clock)
    store.incr("n")
    clock.advance(5000)
    store.tick()
    assert store.persistence_info()[0].rdb_bgsave_in_progress == 0
    store.set_save_points("1 1")
    assert store.config.save_points == ((1, 1),)
    store.tick()
    assert store.persistence_info()[0].rdb_bgsave_in_progress == 1


@pytest.mark.parametrize("worker", ["thread", pytest.param("fork", marks=pytest.mark.skipif(
    not hasattr(os, "fork"), reason="no fork here"))])
def test_the_real_workers_save_and_rewrite_while_writers_go_on(tmp_path, worker):
    """Thread and fork workers on the real file system, big enough to overlap many writes."""
    config = StoreConfig(data_dir=str(tmp_path / "data"), shard_count=2, ticker="manual", background_worker=worker)
    with Store.open(config) as store:
        for number in range(20000):
            store.set(f"key:{number}", number)
        store.hset("big", {f"field:{number}": number for number in range(10000)})
        assert store.bgsave() == "started"
        for number in range(2000):
            store.incr(f"key:{number}")
            store.hset("big", f"field:{number}", "changed")
            store.poll_background()
        assert store.bgrewriteaof() in ("started", "scheduled")
        for number in range(2000):
            store.rpush("list", number)
        store.wait_background()
        infos = store.persistence_info()
        assert [info.bgsaves for info in infos] == [1, 1] and [info.rewrites for info in infos] == [1, 1]
        expected = store_state(store)
        for _, shard in iter_shards(store):
            assert scan_log(shard.file_system, shard.log_path).epoch_marker.kind == "base"
    with Store.open(StoreConfig(data_dir=str(tmp_path / "data"), shard_count=2, ticker="manual")) as reopened:
        assert store_state(reopened) == expected


def test_fork_needs_the_real_file_system():
    with pytest.raises(ValueError, match="real file system"):
        sim_store(SimFileSystem(), ManualClock(), background_worker="fork")
