"""One owner per data dir: a second store, server or re-shard on a dir in use is refused.

Method: in process, a second `Store.open` of a dir an open store holds (the real file system
and the simulator's), and the lock's release at shutdown and after a refused open; across
processes, a `kevy-server` child holding a dir while a second server, `kevy-persist reshard`,
`dump` and `check` run against it: the first two are refused naming the server's pid (and
touch no file), the readers say the dir is live, and a write acknowledged after the refused
re-shard survives a restart.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest
import redis
from server_support import spawn_server
from store_support import SIM_DATA_DIR, crash, sim_store

from kevy_persist import Store, StoreConfig
from kevy_persist.disk.clock import ManualClock
from kevy_persist.errors import DataDirInUseError
from sim.simfs import SimFileSystem


def _config(directory: pathlib.Path, **options) -> StoreConfig:
    return StoreConfig(data_dir=str(directory), ticker="manual", **options)


def test_a_second_open_of_a_dir_in_use_is_refused_naming_the_holder(tmp_path: pathlib.Path) -> None:
    with Store.open(_config(tmp_path)) as store:
        store.set("k", "v")
        with pytest.raises(DataDirInUseError) as refused:
            Store.open(_config(tmp_path))
        assert refused.value.directory == str(tmp_path)
        assert refused.value.holder_pid == os.getpid()
        assert f"{tmp_path}: data dir in use by process {os.getpid()}" in str(refused.value)
        assert store.get("k") == b"v"  # the refusal did not disturb the owner
    assert (tmp_path / "LOCK").read_text() == f"{os.getpid()}\n"
    with Store.open(_config(tmp_path)) as reopened:  # released at shutdown
        assert reopened.get("k") == b"v"


def test_a_refused_open_releases_the_lock(tmp_path: pathlib.Path) -> None:
    """An open that fails after taking the lock (here: a layout it refuses) gives it back."""
    (tmp_path / "shards.meta").write_bytes(b"2\nkevyhash\n")
    (tmp_path / "dump-2.rdb").write_bytes(b"")  # a file beyond the recorded layout
    with pytest.raises(Exception, match="beyond the recorded layout"):
        Store.open(_config(tmp_path))
    (tmp_path / "dump-2.rdb").unlink()
    with Store.open(_config(tmp_path, shard_count=2)) as store:
        assert store.shard_count == 2


def test_the_simulator_models_the_lock_and_a_crash_frees_it() -> None:
    """Same refusal on `SimFileSystem`; a crash image (a rebooted machine) holds no lock."""
    fs = SimFileSystem()
    clock = ManualClock()
    store = sim_store(fs, clock)
    store.set("k", "v")
    with pytest.raises(DataDirInUseError, match="in use by process 4242"):
        sim_store(fs, clock)
    rebooted = crash(fs)  # the store is abandoned, never shut down
    assert rebooted.exists(SIM_DATA_DIR + "/LOCK") in (True, False)  # a stale LOCK is harmless
    with sim_store(rebooted, clock) as recovered:
        recovered.execute("PING")


def _kevy_persist(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kevy_persist.tools.cli", *arguments],
                          capture_output=True, text=True, timeout=60)


def _data_files(directory: pathlib.Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir()) if path.name != "LOCK"}


@pytest.mark.timeout(120)
def test_a_served_dir_refuses_a_second_server_and_a_reshard(tmp_path: pathlib.Path) -> None:
    """The probe of the issue: `kevy-persist reshard` on a served dir used to succeed, and the
    next SET was acknowledged and then lost. Now it is refused and the SET survives."""
    data_dir = tmp_path / "data"
    process, port = spawn_server(["--dir", str(data_dir), "--appendfsync", "always", "--shards", "2"])
    try:
        client = redis.Redis(port=port, protocol=2, socket_timeout=5)
        for index in range(50):
            client.set(f"k{index}", index)
        before = _data_files(data_dir)
        resharded = _kevy_persist("reshard", str(data_dir), "--shards", "3")
        assert resharded.returncode == 2, resharded
        assert f"in use by process {process.pid}" in resharded.stderr
        assert _data_files(data_dir) == before  # nothing was touched
        second = subprocess.run([sys.executable, "-m", "kevy_server", "--port", "0", "--dir", str(data_dir)],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 2, second
        assert f"in use by process {process.pid}" in second.stderr
        for reader in (("dump", str(data_dir)), ("check", str(data_dir))):
            finished = _kevy_persist(*reader)
            assert finished.returncode == 0, finished
            assert f"in use by process {process.pid}" in finished.stderr
        client.set("after-the-refused-reshard", "kept")
    finally:
        process.kill()
        process.communicate(timeout=10)
    # The kill freed the lock: the dir opens, with every acknowledged write.
    with Store.open(_config(data_dir, shard_count=2)) as store:
        assert store.shard_count == 2
        assert store.get("after-the-refused-reshard") == b"kept"
        assert store.mget(*[f"k{index}" for index in range(50)]) == [str(index).encode() for index in range(50)]
