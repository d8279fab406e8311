"""A refused write leaves no trace: answered MISCONF means not applied, in memory as on disk.

Method: a store over a real data dir whose file system can be told to fail the next log
write (ENOSPC, as a full disk does) or the next log fsync (EIO). Each case checks the reply
(MISCONF), what reads see right after it (the value from before the refused write), what a
later SAVE keeps, and what a reopen loads -- and that writes acknowledged before the failure
are all still there. The server's INFO reports the refusal while it lasts.
"""

from __future__ import annotations

import errno
import pathlib
from typing import Any

import pytest
from server_support import client, running_server

from kevy_persist import Store, StoreConfig
from kevy_persist.disk.clock import ManualClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.errors import CommandError, StorageIOError


class FailingLog:
    def __init__(self, owner: FailingFileSystem, inner: Any) -> None:
        self._owner = owner
        self._inner = inner
        self.path = inner.path

    def write(self, data: bytes) -> None:
        if self._owner.fail_next_write:
            self._owner.fail_next_write = False
            self._inner.write(data[: len(data) // 2])  # a short write, then the disk is full
            raise StorageIOError(self.path, "write", errno.ENOSPC, "No space left on device")
        self._inner.write(data)

    def fsync(self) -> None:
        if self._owner.fail_next_fsync:
            self._owner.fail_next_fsync = False
            raise StorageIOError(self.path, "fsync", errno.EIO, "Input/output error")
        self._inner.fsync()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class FailingFileSystem(OsFileSystem):
    """The real file system; the logs' next write or fsync can be made to fail once."""

    def __init__(self) -> None:
        self.fail_next_write = False
        self.fail_next_fsync = False

    def open_append(self, path: str) -> Any:
        handle = super().open_append(path)
        return FailingLog(self, handle) if path.endswith(".aof") else handle


def _open(directory: pathlib.Path, fs: Any = None, **options: Any) -> Store:
    return Store.open(StoreConfig(data_dir=str(directory), ticker="manual", **options), file_system=fs)


@pytest.mark.parametrize("policy", ["always", "everysec", "no"])
def test_a_write_whose_append_failed_is_not_applied(tmp_path: pathlib.Path, policy: str) -> None:
    fs = FailingFileSystem()
    with _open(tmp_path, fs, appendfsync=policy) as store:
        store.set("k", "before")
        store.rpush("list", "a")
        fs.fail_next_write = True
        with pytest.raises(CommandError, match="MISCONF"):
            store.set("k", "refused")
        assert store.get("k") == b"before"  # not applied in memory
        with pytest.raises(CommandError, match="MISCONF"):
            store.rpush("list", "b")  # refused before it runs
        assert store.lrange("list", 0, -1) == [b"a"]
        store.save()  # fresh files: the shard accepts writes again, and keeps no refused write
        store.set("after", "1")
    with _open(tmp_path) as reopened:
        assert reopened.get("k") == b"before"
        assert reopened.lrange("list", 0, -1) == [b"a"]
        assert reopened.get("after") == b"1"


def test_a_refused_write_is_gone_after_a_restart_without_save(tmp_path: pathlib.Path) -> None:
    """No SAVE: the partial record is a torn tail, and memory already agreed with that."""
    fs = FailingFileSystem()
    store = _open(tmp_path, fs, appendfsync="always")
    store.incr("counter")
    fs.fail_next_write = True
    with pytest.raises(CommandError, match="MISCONF"):
        store.incr("counter")
    assert store.get("counter") == b"1"
    with pytest.raises(Exception, match="refuses writes"):
        store.shutdown()  # a shard that refused writes says so at shutdown
    with _open(tmp_path) as reopened:
        assert reopened.get("counter") == b"1"
        assert reopened.open_report.dropped_bytes > 0  # the half record, quarantined


def test_under_always_a_write_whose_fsync_failed_is_not_applied(tmp_path: pathlib.Path) -> None:
    fs = FailingFileSystem()
    with _open(tmp_path, fs, appendfsync="always") as store:
        store.hset("h", {"f": "1"})
        fs.fail_next_fsync = True
        with pytest.raises(CommandError, match="MISCONF"):
            store.hset("h", {"f": "2", "g": "3"})
        assert store.hgetall("h") == {b"f": b"1"}
        store.save()  # a later SAVE must not keep it either
    with _open(tmp_path) as reopened:
        assert reopened.hgetall("h") == {b"f": b"1"}


def test_under_everysec_a_failed_fsync_keeps_what_was_acknowledged(tmp_path: pathlib.Path) -> None:
    """Those writes were answered OK before the fsync ran: they stay; later ones are refused."""
    fs = FailingFileSystem()
    clock = ManualClock()
    config = StoreConfig(data_dir=str(tmp_path), ticker="manual", appendfsync="everysec")
    with Store.open(config, file_system=fs, clock=clock) as store:
        store.set("k", "acknowledged")
        fs.fail_next_fsync = True
        clock.advance(1000)
        store.tick()  # the everysec fsync fails
        assert store.write_status()[0].fsync_errors == 1
        assert store.get("k") == b"acknowledged"
        with pytest.raises(CommandError, match="MISCONF"):
            store.set("k", "refused")
        assert store.get("k") == b"acknowledged"
        store.save()
    with _open(tmp_path) as reopened:
        assert reopened.get("k") == b"acknowledged"


def test_a_transaction_whose_append_failed_applies_nothing(tmp_path: pathlib.Path) -> None:
    """EXEC's form (`atomic=False`): no command of the refused block stays in memory."""
    fs = FailingFileSystem()
    with _open(tmp_path, fs, appendfsync="everysec") as store:
        store.set("a", "0")
        fs.fail_next_write = True
        reply = store.execute_transaction([[b"SET", b"a", b"1"], [b"SET", b"b", b"2"]])
        assert "MISCONF" in str(reply)
        assert store.mget("a", "b") == [b"0", None]
        store.save()
    with _open(tmp_path) as reopened:
        assert reopened.mget("a", "b") == [b"0", None]


def test_info_reports_the_refusal_while_it_lasts(tmp_path: pathlib.Path) -> None:
    fs = FailingFileSystem()
    store = _open(tmp_path / "data", fs, appendfsync="always")
    with running_server(tmp_path / "data", store=store) as server:
        redis_client = client(server)
        redis_client.set("k", "1")
        assert redis_client.info("persistence")["aof_last_write_status"] == "ok"
        fs.fail_next_write = True
        with pytest.raises(Exception, match="MISCONF"):
            redis_client.set("k", "2")
        info = redis_client.info("persistence")
        assert (info["aof_last_write_status"], info["aof_write_errors"], info["fsync_errors"]) == ("err", 1, 0)
        assert redis_client.get("k") == b"1"
        redis_client.save()  # fresh files: writes are accepted again
        assert redis_client.info("persistence")["aof_last_write_status"] == "ok"
        fs.fail_next_fsync = True
        with pytest.raises(Exception, match="MISCONF"):
            redis_client.set("k", "3")
        info = redis_client.info("persistence")
        assert (info["aof_last_write_status"], info["aof_write_errors"], info["fsync_errors"]) == ("err", 1, 1)
        assert info["aof_refusing_shards"] in (0, "0")
        assert redis_client.get("k") == b"1"
