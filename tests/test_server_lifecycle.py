"""kevy-server keeps what it acknowledged: fsync before reply, restarts, SHUTDOWN, signals.

Method: in-process servers over a real temporary data dir (one seen through
`CountingFileSystem`, which records bytes written vs bytes fsynced per file), restarted on the
same dir; and `python -m kevy_server` child processes stopped by SIGKILL (no shutdown at all)
and SIGTERM (graceful), then reopened. A kill does not lose the page cache, so the SIGKILL case
shows that a reply is never sent before its record reached the log file; the
`CountingFileSystem` case shows the fsync itself came first.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest
import redis
from server_support import RawClient, client, running_server, spawn_server
from store_support import CountingFileSystem

from kevy_persist import Store
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.errors import StorageIOError
from kevy_server import ServerConfig

pytestmark = pytest.mark.timeout(90)


def test_under_always_every_reply_follows_the_fsync_of_its_record(tmp_path) -> None:
    """After each acknowledged write, the log holds no unsynced byte (one client)."""
    data_dir = tmp_path / "data"
    file_system = CountingFileSystem(OsFileSystem())
    config = ServerConfig(port=0, data_dir=str(data_dir), appendfsync="always")
    store = Store.open(config.store_config(), file_system=file_system)
    log_path = os.path.join(str(data_dir), "aof-0.aof")
    with running_server(data_dir, store=store, appendfsync="always") as server:
        r = client(server)
        for index in range(50):
            assert r.set(f"durable:{index}", index) is True
            assert file_system.unsynced_bytes(log_path) == 0
        pipeline = r.pipeline(transaction=True)
        pipeline.incr("durable:counter").incr("durable:counter")
        assert pipeline.execute() == [1, 2]
        assert file_system.unsynced_bytes(log_path) == 0
        fsyncs_before = file_system.fsync_count[log_path]
        for batch in range(5):  # a 100-deep pipeline: its replies come after one group fsync
            pipeline = r.pipeline(transaction=False)
            for _ in range(100):
                pipeline.incr("durable:pipelined")
            assert pipeline.execute()[-1] == 100 * (batch + 1)
            assert file_system.unsynced_bytes(log_path) == 0
        assert file_system.fsync_count[log_path] - fsyncs_before < 5 * 100  # group commit


def test_restart_keeps_every_acknowledged_write_from_concurrent_clients(tmp_path) -> None:
    """Four clients INCR under `always` (group commit); a new server on the dir has it all."""
    data_dir = tmp_path / "data"
    with running_server(data_dir, appendfsync="always", shard_count=2) as server:
        def work(worker: int) -> None:
            r = client(server)
            for _ in range(100):
                r.incr(f"count:{worker}")
            r.hset(f"hash:{worker}", mapping={"a": "1", "b": "2"})

        threads = [threading.Thread(target=work, args=(worker,)) for worker in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    with running_server(data_dir, appendfsync="always", shard_count=2) as reopened:
        r = client(reopened)
        assert [r.get(f"count:{worker}") for worker in range(4)] == [b"100"] * 4
        assert r.hgetall("hash:3") == {b"a": b"1", b"b": b"2"}


def test_shutdown_command_closes_clients_and_fsyncs(tmp_path) -> None:
    """SHUTDOWN NOSAVE: no reply, every client closed, store shut down, data kept."""
    data_dir = tmp_path / "data"
    with running_server(data_dir, appendfsync="no") as server:
        idle = RawClient(server.port)
        r = client(server)
        r.mset({"a": "1", "b": "2"})
        with pytest.raises(redis.ConnectionError):
            r.execute_command("SHUTDOWN", "NOSAVE")
        assert server.wait_stopped(10)
        assert server.store.closed
        assert idle.is_closed_by_server()
        idle.close()
        assert not os.path.exists(data_dir / "dump-0.rdb")
    with running_server(data_dir) as reopened:
        assert client(reopened).mget("a", "b") == [b"1", b"2"]


def test_shutdown_save_writes_a_snapshot_and_appendonly_no_saves_by_default(tmp_path) -> None:
    """SHUTDOWN SAVE leaves a snapshot; with the log off, plain SHUTDOWN saves too."""
    for options, command in (({}, ("SHUTDOWN", "SAVE")), ({"appendonly": False}, ("SHUTDOWN",))):
        data_dir = tmp_path / f"data-{len(command)}"
        with running_server(data_dir, **options) as server:
            r = client(server)
            r.set("kept", "yes")
            with pytest.raises(redis.ConnectionError):
                r.execute_command(*command)
            assert server.wait_stopped(10)
        assert os.path.exists(data_dir / "dump-0.rdb")
        with running_server(data_dir, **options) as reopened:
            assert client(reopened).get("kept") == b"yes"


def test_a_killed_server_loses_nothing_acknowledged_and_sigterm_exits_cleanly(tmp_path) -> None:
    """SIGKILL under `always`, restart: every acknowledged key; then SIGTERM exits 0."""
    data_dir = str(tmp_path / "data")
    process, port = spawn_server(["--dir", data_dir, "--appendfsync", "always", "--shards", "2"])
    try:
        r = redis.Redis(port=port, protocol=2, socket_timeout=5)
        acknowledged = {}
        for index in range(200):
            r.set(f"k{index}", index)
            acknowledged[f"k{index}".encode()] = str(index).encode()
    finally:
        process.kill()
        process.communicate(timeout=10)
    process, port = spawn_server(["--dir", data_dir, "--appendfsync", "always"])  # layout from shards.meta
    try:
        r = redis.Redis(port=port, protocol=2, socket_timeout=5)
        assert r.info("persistence")["shards"] == 2
        values = r.mget(list(acknowledged))
        assert dict(zip(acknowledged, values)) == acknowledged
        r.set("after-restart", "1")
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert "stopped" in output
    with running_server(data_dir, shard_count=2) as reopened:
        assert client(reopened).get("after-restart") == b"1"


def test_a_drain_answers_every_request_it_applied(tmp_path) -> None:
    """Shutdown while a pipelined batch is in flight: replies received == writes applied.

    Whether the server reads the batch before the drain is a race; either way, every INCR it
    applied is answered before the connection closes (and is on disk after the shutdown),
    and none it did not apply is answered.
    """
    data_dir = tmp_path / "data"
    with running_server(data_dir, appendfsync="always") as server:
        raw = RawClient(server.port)
        raw.send(b"*2\r\n$4\r\nINCR\r\n$5\r\ndrain\r\n" * 300)
        server.request_shutdown()
        answered = raw.replies(300)
        raw.close()
        assert server.wait_stopped(10)
    assert answered == list(range(1, len(answered) + 1))
    with running_server(data_dir) as reopened:
        assert int(client(reopened).get("drain") or 0) == len(answered)


class _FailingWritable:
    """A log handle whose writes or fsyncs fail once the test says so (EIO)."""

    def __init__(self, inner, owner) -> None:
        self._inner = inner
        self._owner = owner

    def write(self, data: bytes) -> None:
        if self._owner.fail_writes:
            raise StorageIOError("aof-0.aof", "write", 5, "Input/output error")
        self._inner.write(data)

    def fsync(self) -> None:
        if self._owner.fail_fsyncs:
            raise StorageIOError("aof-0.aof", "fsync", 5, "Input/output error")
        self._inner.fsync()

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


class _FailingFileSystem:
    def __init__(self, inner) -> None:
        self._inner = inner
        self.fail_writes = False
        self.fail_fsyncs = False

    def open_append(self, path: str):
        handle = self._inner.open_append(path)
        return _FailingWritable(handle, self) if path.endswith("aof-0.aof") else handle

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_a_write_the_log_refused_is_answered_with_misconf_never_ok(tmp_path, failing) -> None:
    """The turn's log write (or, under always, its fsync) fails: the writes of that turn get
    the MISCONF error instead of OK, later writes are refused, reads still work, and INFO says
    the last write failed."""
    data_dir = tmp_path / "data"
    file_system = _FailingFileSystem(OsFileSystem())
    config = ServerConfig(port=0, data_dir=str(data_dir), appendfsync="always")
    store = Store.open(config.store_config(), file_system=file_system)
    with running_server(data_dir, store=store, appendfsync="always") as server:
        r = client(server)
        assert r.set("before", "1") is True
        setattr(file_system, f"fail_{failing}s", True)
        with pytest.raises(redis.ResponseError, match="MISCONF shard 0 refuses writes"):
            r.set("refused", "1")
        setattr(file_system, f"fail_{failing}s", False)
        with pytest.raises(redis.ResponseError, match="MISCONF"):
            r.set("after", "1")
        assert r.get("before") == b"1"
        persistence = r.info("persistence")
        assert persistence["aof_last_write_status"] == "err"
        assert persistence["fsync_errors" if failing == "fsync" else "aof_write_errors"] == 1


def test_sigkill_under_always_with_pipelining_writers_loses_nothing_acknowledged(tmp_path) -> None:
    """20 connections pipeline INCR and RPUSH of unique values (8 deep) into a child server
    under `always` until 2,000 replies are in, then SIGKILL it mid-stream. After a restart
    every acknowledged INCR is counted and every acknowledged RPUSH value is in its list
    exactly once (the group commit never answers before the fsync of its turn)."""
    data_dir = str(tmp_path / "data")
    process, port = spawn_server(["--dir", data_dir, "--appendfsync", "always", "--shards", "2"])
    acknowledged_counts: dict[int, int] = {}
    acknowledged_values: dict[int, list[bytes]] = {}
    enough = threading.Event()
    lock = threading.Lock()
    total = [0]

    def writer(index: int) -> None:
        counts, values = 0, []
        try:
            with RawClient(port) as raw:
                batch = 0
                while not enough.is_set():
                    request = b"".join(
                        b"INCR count:%d\r\nRPUSH list:%d v%d-%d-%d\r\n" % (index, index, index, batch, item)
                        for item in range(8)
                    )
                    raw.send(request)
                    replies = raw.replies(16)
                    for position, reply in enumerate(replies):
                        if position % 2 == 0 and isinstance(reply, int):
                            counts = reply
                        elif isinstance(reply, int):
                            values.append(b"v%d-%d-%d" % (index, batch, position // 2))
                    with lock:
                        total[0] += len(replies)
                        if total[0] >= 2000:
                            enough.set()
                    batch += 1
        except (OSError, AssertionError):
            pass  # the kill cut the connection: only what was answered counts
        finally:
            acknowledged_counts[index] = counts
            acknowledged_values[index] = values

    threads = [threading.Thread(target=writer, args=(index,)) for index in range(20)]
    for thread in threads:
        thread.start()
    assert enough.wait(60), "the writers never got 2,000 replies"
    process.kill()
    process.communicate(timeout=10)
    for thread in threads:
        thread.join(30)
    with running_server(data_dir) as reopened:
        r = client(reopened)
        for index in range(20):
            assert int(r.get(f"count:{index}") or 0) >= acknowledged_counts[index]
            stored = r.lrange(f"list:{index}", 0, -1)
            assert len(stored) == len(set(stored)), "a value applied twice"
            assert set(acknowledged_values[index]) <= set(stored), "an acknowledged RPUSH was lost"
