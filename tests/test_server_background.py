"""kevy-server's background persistence over real sockets (redis-py and raw RESP).

What it proves: BGSAVE runs while other clients keep writing and a restart loads its snapshot
with every write (before, during and after the job); a second BGSAVE in the same turn is
refused with Redis's text, a BGREWRITEAOF then is scheduled and runs after it; LASTSAVE moves
once a save committed; CONFIG SET save / auto-aof-* / stop-writes-on-bgsave-error take
Redis's values and refusals; SHUTDOWN SAVE leaves a snapshot the next open loads without
replaying; a client connecting while the data dir opens gets LOADING (INFO answers with
`loading:1` and its figures) until the store is handed over; INFO persistence carries
Redis's fields; a failed BGSAVE makes writes and PING answer Redis's MISCONF until a save
succeeds.

Method: jobs are waited for by polling INFO (never a timed assertion); requests that must
meet a running job are sent in one write, so they are read and run in one turn, before any
commit (commits run between turns). The LOADING test holds the real open at its first
progress report (an event the test sets), so the window is certain rather than a race.
"""

from __future__ import annotations

import os
import threading
import time

import attrs
import pytest
import redis
from redis_oracle import redis_port  # noqa: F401 -- a fixture
from server_support import RawClient, client, running_server

from kevy_persist import Store, StoreConfig
from kevy_server import KevyServer, ServerConfig
from kevy_server.persistence import MISCONF_BGSAVE

POLL_LIMIT_S = 60.0


def wait_until_idle(r: redis.Redis) -> dict:
    """Poll INFO persistence until no job runs or waits; the last figures."""
    deadline = time.monotonic() + POLL_LIMIT_S
    while True:
        info = r.info("persistence")
        busy = (info["rdb_bgsave_in_progress"], info["aof_rewrite_in_progress"], info["aof_rewrite_scheduled"])
        if busy == (0, 0, 0):
            return info
        assert time.monotonic() < deadline, f"the background job did not finish: {info}"
        time.sleep(0.02)


@pytest.mark.parametrize("worker", ["thread", "fork"])
def test_bgsave_while_clients_write_then_restart_loads_the_snapshot_with_everything(tmp_path, worker) -> None:
    """20,000 keys, BGSAVE, a second client writing through the job, more writes after it;
    NOSAVE shutdown; the reopened dir has every key and loaded the snapshot."""
    data_dir = tmp_path / "data"
    with running_server(data_dir, shard_count=2, save_points="", background_worker=worker) as server:
        r = client(server)
        pipe = r.pipeline(transaction=False)
        for index in range(20_000):
            pipe.set(f"before:{index}", index)
        pipe.execute()
        stop = threading.Event()
        written: list[int] = []

        def writer() -> None:
            other = client(server)
            count = 0
            while not stop.is_set():
                other.set(f"during:{count}", count)
                other.incr("counter")
                count += 1
            written.append(count)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            assert r.bgsave() is True
            info = wait_until_idle(r)
        finally:
            stop.set()
            thread.join()
        assert info["rdb_last_bgsave_status"] == "ok"
        for index in range(100):
            r.rpush("after", index)
        with RawClient(server.port) as raw:
            raw.send(b"SHUTDOWN NOSAVE\r\n")
            assert raw.replies(1) == [] and raw.closed_by_server
        assert server.wait_stopped(15)
    during = written[0]
    with Store.open(StoreConfig(data_dir=str(data_dir), ticker="manual")) as store:
        assert sum(shard.snapshot_keys for shard in store.open_report.shards) > 0  # the BGSAVE's snapshot
        assert store.open_report.replayed_commands < 20_000 + 2 * during + 100
        assert store.get("before:19999") == b"19999"
        assert store.get(f"during:{during - 1}") == str(during - 1).encode()
        assert store.get("counter") == str(during).encode()
        assert store.execute("LLEN", "after") == 100


def test_two_requests_in_one_turn_get_redis_answers_and_the_scheduled_rewrite_runs(tmp_path) -> None:
    with running_server(tmp_path / "data", save_points="") as server:
        r = client(server)
        r.set("k", "v")
        with RawClient(server.port) as raw:
            raw.send(b"BGSAVE\r\nBGSAVE\r\nBGSAVE SCHEDULE\r\nBGREWRITEAOF\r\nBGREWRITEAOF\r\n")
            replies = raw.replies(5)
        assert [str(reply) if not isinstance(reply, bytes) else reply for reply in replies] == [
            b"Background saving started",
            "ERR Background save already in progress",
            "ERR Background save already in progress",
            b"Background append only file rewriting scheduled",
            b"Background append only file rewriting scheduled",
        ]
        info = wait_until_idle(r)
        assert info["rdb_last_bgsave_status"] == "ok" and info["aof_last_bgrewrite_status"] == "ok"
        assert info["rdb_changes_since_last_save"] == 0
        with RawClient(server.port) as raw:
            raw.send(b"BGREWRITEAOF\r\nBGREWRITEAOF\r\nBGSAVE\r\nBGSAVE SCHEDULE\r\n")
            replies = raw.replies(4)
        assert [str(reply) if not isinstance(reply, bytes) else reply for reply in replies] == [
            b"Background append only file rewriting started",
            "ERR Background append only file rewriting already in progress",
            "ERR Another child process is active (AOF?): can't BGSAVE right now. "
            "Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.",
            b"Background saving scheduled",
        ]
        info = wait_until_idle(r)
        assert info["aof_rewrites"] >= 2 and info["rdb_saves"] >= 2
        assert r.get("k") == b"v"


def test_bgsave_inside_exec_is_scheduled_and_then_runs(tmp_path) -> None:
    """Inside EXEC the block's records are still pending, so the job starts after the turn
    (Redis answers "scheduled" there too)."""
    with running_server(tmp_path / "data", save_points="") as server:
        r = client(server)
        pipe = r.pipeline(transaction=True)
        pipe.set("a", 1)
        pipe.bgsave()
        pipe.incr("a")
        assert pipe.execute() == [True, True, 2]
        wait_until_idle(r)
        with RawClient(server.port) as raw:
            raw.send(b"MULTI\r\nBGSAVE\r\nBGREWRITEAOF\r\nEXEC\r\n")
            assert raw.replies(4) == [b"OK", b"QUEUED", b"QUEUED", [
                b"Background saving scheduled", b"Background append only file rewriting scheduled"]]
        info = wait_until_idle(r)
        assert info["rdb_saves"] >= 1 and info["rdb_last_bgsave_status"] == "ok"


def test_lastsave_moves_after_a_background_save(tmp_path) -> None:
    with running_server(tmp_path / "data", save_points="") as server:
        r = client(server)
        before = r.lastsave()
        while int(time.time()) <= before.timestamp():  # the next second (LASTSAVE's unit)
            time.sleep(0.05)
        r.set("k", "v")
        r.bgsave()
        wait_until_idle(r)
        assert r.lastsave() > before


def test_config_save_points_and_rewrite_settings(tmp_path) -> None:
    with running_server(tmp_path / "data") as server:
        r = client(server)
        assert r.config_get("save") == {"save": "3600 1 300 100 60 10000"}  # Redis's default
        assert r.config_set("save", "100 5 10 1000") is True
        assert r.config_get("save") == {"save": "100 5 10 1000"}
        with pytest.raises(redis.ResponseError, match=r"'save'\) - Invalid save parameters"):
            r.config_set("save", "abc")
        assert r.config_set("save", "") is True and r.config_get("save") == {"save": ""}
        assert r.config_set("auto-aof-rewrite-percentage", 50) is True
        assert r.config_set("auto-aof-rewrite-min-size", "1mb") is True
        assert r.config_get("auto-aof-rewrite-*") == {
            "auto-aof-rewrite-percentage": "50", "auto-aof-rewrite-min-size": "1048576"}
        with pytest.raises(redis.ResponseError, match="must be a memory value"):
            r.config_set("auto-aof-rewrite-min-size", "1x")
        with pytest.raises(redis.ResponseError, match="between 0 and 2147483647"):
            r.config_set("auto-aof-rewrite-percentage", -1)
        with pytest.raises(redis.ResponseError, match="argument must be 'yes' or 'no'"):
            r.config_set("stop-writes-on-bgsave-error", "maybe")
        assert r.config_get("stop-writes-on-bgsave-error") == {"stop-writes-on-bgsave-error": "yes"}


def test_a_due_save_point_starts_a_background_save(tmp_path) -> None:
    with running_server(tmp_path / "data", save_points="") as server:
        r = client(server)
        for index in range(5):
            r.set(f"k{index}", index)
        assert r.info("persistence")["rdb_changes_since_last_save"] == 5
        before = r.info("persistence")["rdb_saves"]
        r.config_set("save", "1 5")  # 5 changes and more than 1 s since the last save
        deadline = time.monotonic() + POLL_LIMIT_S
        while r.info("persistence")["rdb_saves"] == before:
            assert time.monotonic() < deadline, "the save point never fired"
            time.sleep(0.05)
        assert wait_until_idle(r)["rdb_changes_since_last_save"] == 0


def test_shutdown_save_leaves_a_snapshot_the_next_open_loads(tmp_path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir, save_points="") as server:
        r = client(server)
        for index in range(500):
            r.lpush("list", index)
        with RawClient(server.port) as raw:
            raw.send(b"SHUTDOWN SAVE\r\n")
            assert raw.replies(1) == []
        assert server.wait_stopped(15)
    assert (data_dir / "dump-0.rdb").exists()
    with Store.open(StoreConfig(data_dir=str(data_dir), ticker="manual")) as store:
        assert store.open_report.replayed_commands == 0
        assert store.execute("LLEN", "list") == 500


def test_info_persistence_has_redis_fields_in_redis_order(tmp_path, redis_port) -> None:  # noqa: F811
    """Every Redis field kevy reports is one redis-server 7.0 reports, in the same order."""
    reference = redis.Redis(port=redis_port, protocol=2)
    redis_names = list(reference.info("persistence"))
    with running_server(tmp_path / "data", save_points="") as server:
        r = client(server)
        r.set("k", "v")
        info = r.info("persistence")
        for name in ("loading", "rdb_changes_since_last_save", "rdb_bgsave_in_progress", "rdb_last_save_time",
                     "rdb_last_bgsave_status", "rdb_last_bgsave_time_sec", "aof_rewrite_in_progress",
                     "aof_rewrite_scheduled", "aof_last_bgrewrite_status", "aof_last_write_status"):
            assert name in info, name
        assert info["loading"] == 0 and info["rdb_changes_since_last_save"] == 1
        assert info["aof_current_size"] > 0 and "shard0" in info
        ours = [name for name in info if name in redis_names or name in ("aof_current_size", "aof_base_size")]
        reference_order = redis_names + ["aof_current_size", "aof_base_size"]
        assert ours == sorted(ours, key=reference_order.index)
        r.bgsave()
        info = wait_until_idle(r)
        assert info["rdb_last_bgsave_time_sec"] >= 0 and info["rdb_changes_since_last_save"] == 0


def test_a_failed_bgsave_refuses_writes_with_misconf_until_a_save_succeeds(tmp_path) -> None:
    data_dir = tmp_path / "data"
    moved = tmp_path / "moved"
    with running_server(data_dir, save_points="3600 1") as server:
        r = client(server)
        r.set("k", "1")
        os.rename(data_dir, moved)  # the job's temp file cannot be created
        try:
            r.bgsave()
            info = wait_until_idle(r)
            assert info["rdb_last_bgsave_status"] == "err"
            with RawClient(server.port) as raw:
                assert str(raw.call(b"SET k 2\r\n")) == str(MISCONF_BGSAVE)  # Redis's text, checked below
            with pytest.raises(redis.ResponseError, match="^MISCONF"):
                r.ping()
            assert r.get("k") == b"1"  # reads still run
            r.config_set("stop-writes-on-bgsave-error", "no")
            assert r.set("k", "3") is True
            r.config_set("stop-writes-on-bgsave-error", "yes")
            with pytest.raises(redis.ResponseError, match="^MISCONF"):
                r.set("k", "4")
        finally:
            os.rename(moved, data_dir)
        r.bgsave()
        assert wait_until_idle(r)["rdb_last_bgsave_status"] == "ok"
        assert r.set("k", "5") is True and r.ping() is True


def test_loading_is_answered_while_the_data_dir_opens(tmp_path) -> None:
    data_dir = tmp_path / "data"
    with Store.open(StoreConfig(data_dir=str(data_dir), ticker="manual")) as store:
        for index in range(2000):
            store.set(f"key:{index}", "x" * 600)  # 1.2 MB of log: the open reports progress
    server = KevyServer(ServerConfig(port=0, data_dir=str(data_dir)), open_in_background=True)
    release = threading.Event()
    reported = threading.Event()

    def held_open(config, progress):
        def gate(done: int, total: int) -> None:
            progress(done, total)
            if done:
                reported.set()
                release.wait(30)  # the test looks at LOADING here
        return Store.open(config, progress=gate)

    server.loading.open_store = held_open
    server.start()
    try:
        assert reported.wait(30)
        r = redis.Redis(port=server.port, protocol=2)
        with RawClient(server.port) as raw:
            raw.send(b"PING\r\nGET key:1\r\nDBSIZE\r\nCLIENT ID\r\nCONFIG GET appendonly\r\nECHO hi\r\n")
            replies = raw.replies(6)
        assert [str(reply) for reply in replies[:3]] == ["LOADING kevy is loading the dataset in memory"] * 3
        assert isinstance(replies[3], int) and replies[4] == [b"appendonly", b"yes"] and replies[5] == b"hi"
        info = r.info("persistence")
        assert info["loading"] == 1 and info["loading_total_bytes"] > 1_000_000
        assert 0 < float(info["loading_loaded_perc"]) < 100 and info["loading_eta_seconds"] >= 0
        watcher = redis.Redis(port=server.port, protocol=2)
        pipe = watcher.pipeline(transaction=True)
        pipe.watch("key:1")  # watched in the empty placeholder: EXEC must abort after the hand-over
        with pytest.raises(redis.exceptions.BusyLoadingError):
            r.get("key:1")
        release.set()
        deadline = time.monotonic() + POLL_LIMIT_S
        while True:
            try:
                assert r.ping() is True
                break
            except redis.exceptions.BusyLoadingError:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        assert r.get("key:1999") == b"x" * 600 and r.dbsize() == 2000
        assert r.info("persistence")["loading"] == 0
        pipe.multi()
        pipe.set("key:1", "changed")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    finally:
        release.set()
        assert server.shutdown(timeout_s=15)


def test_a_shutdown_while_loading_cancels_the_open(tmp_path) -> None:
    data_dir = tmp_path / "data"
    with Store.open(StoreConfig(data_dir=str(data_dir), ticker="manual")) as store:
        for index in range(2000):
            store.set(f"key:{index}", "x" * 600)
    server = KevyServer(ServerConfig(port=0, data_dir=str(data_dir)), open_in_background=True)
    reported = threading.Event()
    release = threading.Event()

    def held_open(config, progress):
        def gate(done: int, total: int) -> None:
            if done:
                reported.set()
                release.wait(30)
            progress(done, total)  # raises once the shutdown cancelled the open
        return Store.open(config, progress=gate)

    server.loading.open_store = held_open
    server.start()
    assert reported.wait(30)
    with RawClient(server.port) as raw:
        raw.send(b"SHUTDOWN\r\n")
        assert raw.replies(1) == []
    release.set()
    assert server.wait_stopped(15)
    with Store.open(StoreConfig(data_dir=str(data_dir), ticker="manual")) as store:  # the lock was released
        assert store.execute("DBSIZE") == 2000


def test_a_shutdown_without_an_option_lets_the_store_snapshot_a_long_log(tmp_path) -> None:
    """SHUTDOWN (no option) and SIGTERM pass `save=None`: the store saves a shard whose log
    reached its threshold (1 byte here), so the next open replays nothing."""
    data_dir = tmp_path / "data"
    config = ServerConfig(port=0, data_dir=str(data_dir), save_points="")
    store = Store.open(attrs.evolve(config.store_config(), shutdown_snapshot_min_log_bytes=1))
    server = KevyServer(config, store=store)
    server.start()
    r = client(server)
    for index in range(300):
        r.rpush("list", index)
    assert server.shutdown(timeout_s=15)  # what SIGTERM calls
    with Store.open(StoreConfig(data_dir=str(data_dir), ticker="manual")) as reopened:
        assert reopened.open_report.replayed_commands == 0 and reopened.execute("LLEN", "list") == 300
