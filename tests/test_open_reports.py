"""Opens say what they did: the recorded layout is adopted, and every dropped byte is reported.

Method: real data dirs in temp dirs. A multi-shard dir opened with the default config keeps
its layout and its files (no re-shard); an explicit other count re-shards. A torn log tail --
on a plain open, on a re-shard source, and corruption cut by `truncate_corruption` -- shows in
`open_report.dropped_bytes` and `quarantine_paths` and in exactly one WARNING log line naming
the byte count and where the bytes are kept. The server side: `kevy-server --shards N` on a
dir recorded with another count re-shards at start, logging progress lines.
"""

from __future__ import annotations

import logging
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest
import redis
from fixture_paths import FIXTURES_DIR

from kevy_persist import Store, StoreConfig
from kevy_persist.formats.aof_format import encode_record
from kevy_persist.layout.routing import Routing


def _config(directory: pathlib.Path, **options) -> StoreConfig:
    return StoreConfig(data_dir=str(directory), ticker="manual", **options)


def _fill(directory: pathlib.Path, shard_count: int, keys: int = 300) -> dict[bytes, bytes]:
    with Store.open(_config(directory, shard_count=shard_count)) as store:
        for index in range(keys):
            store.set(f"key:{index}", f"value:{index}")
        return {f"key:{index}".encode(): f"value:{index}".encode() for index in range(keys)}


def _values(store: Store, expected: dict[bytes, bytes]) -> dict[bytes, bytes]:
    return dict(zip(expected, store.mget(*expected)))


def test_the_default_config_adopts_the_recorded_layout(tmp_path: pathlib.Path) -> None:
    """kevy 1.23's 4-shard slots fixture opens as 4 shards by slots: no re-shard, no backup."""
    directory = tmp_path / "n4"
    shutil.copytree(FIXTURES_DIR / "n4-slots", directory)
    names_before = sorted(path.name for path in directory.iterdir())
    with Store.open(_config(directory)) as store:
        assert (store.shard_count, store.config.shard_count, store.config.routing) == (4, 4, Routing.SLOTS)
        assert store.open_report.reshard is None
        assert store.open_report.dropped_bytes == 0
    assert not [path for path in directory.iterdir() if ".premigration." in path.name]
    assert sorted(path.name for path in directory.iterdir() if path.name != "LOCK") == names_before


def test_a_multi_shard_dir_keeps_every_key_under_the_default_config(tmp_path: pathlib.Path) -> None:
    expected = _fill(tmp_path, 3)
    with Store.open(_config(tmp_path)) as store:
        assert store.shard_count == 3
        assert _values(store, expected) == expected


def test_only_an_explicit_other_count_reshards(tmp_path: pathlib.Path) -> None:
    expected = _fill(tmp_path, 3)
    with Store.open(_config(tmp_path, shard_count=2)) as store:
        report = store.open_report.reshard
        assert report is not None and (report.source.shard_count, report.target.shard_count) == (3, 2)
        assert _values(store, expected) == expected
    with Store.open(_config(tmp_path)) as store:
        assert store.shard_count == 2 and store.open_report.reshard is None


def test_a_fresh_dir_and_an_in_memory_store_get_one_shard(tmp_path: pathlib.Path) -> None:
    with Store.open(_config(tmp_path / "fresh")) as store:
        assert (store.shard_count, store.config.routing) == (1, Routing.KEVYHASH)
    assert (tmp_path / "fresh" / "shards.meta").read_bytes() == b"1\nkevyhash\n"
    with Store.open(StoreConfig(ticker="manual")) as store:
        assert store.shard_count == 1


def _tear(log: pathlib.Path) -> int:
    """Append the first half of one more record (a crash during an append); its size."""
    record = encode_record(2, [b"SET", b"torn", b"x" * 40])
    torn = record[: len(record) // 2]
    with log.open("ab") as handle:
        handle.write(torn)
    return len(torn)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


def test_a_torn_tail_is_reported_and_logged_once(tmp_path: pathlib.Path, caplog) -> None:
    expected = _fill(tmp_path, 1, keys=20)
    torn_bytes = _tear(tmp_path / "aof-0.aof")
    with caplog.at_level(logging.WARNING), Store.open(_config(tmp_path)) as store:
        assert store.open_report.dropped_bytes == torn_bytes
        (quarantine,) = store.open_report.quarantine_paths
        assert ".corrupt-quarantine." in quarantine
        assert pathlib.Path(quarantine).stat().st_size == torn_bytes
        assert _values(store, expected) == expected
    (warning,) = _warnings(caplog)
    assert f"dropped {torn_bytes} bytes" in warning and quarantine in warning


def test_a_torn_tail_of_a_reshard_source_is_reported_and_logged(tmp_path: pathlib.Path, caplog) -> None:
    """The issue's probe: a torn source tail on the re-shard path used to report 0 bytes."""
    expected = _fill(tmp_path, 2)
    torn_bytes = _tear(tmp_path / "aof-1.aof")
    with caplog.at_level(logging.WARNING), Store.open(_config(tmp_path, shard_count=3)) as store:
        report = store.open_report
        assert report.dropped_bytes == torn_bytes
        assert report.reshard is not None and report.reshard.dropped_bytes == torn_bytes
        (kept_in,) = report.quarantine_paths
        assert ".premigration." in kept_in and pathlib.Path(kept_in).is_file()
        assert _values(store, expected) == expected  # every acknowledged key is there
    (warning,) = _warnings(caplog)
    assert f"dropped {torn_bytes} bytes" in warning and kept_in in warning


def test_truncated_corruption_is_reported_and_logged(tmp_path: pathlib.Path, caplog) -> None:
    _fill(tmp_path, 1, keys=20)
    log = tmp_path / "aof-0.aof"
    data = bytearray(log.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0xFF  # damage followed by valid records
    log.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING), Store.open(_config(tmp_path, truncate_corruption=True)) as store:
        report = store.open_report
        assert report.corruption_found
        assert report.dropped_bytes > len(data) - middle - 1
        (quarantine,) = report.quarantine_paths
    (warning,) = _warnings(caplog)
    assert f"dropped {report.dropped_bytes} bytes" in warning and "corruption" in warning and quarantine in warning


@pytest.mark.timeout(180)
def test_the_server_reshards_at_start_when_asked_for_another_count(tmp_path: pathlib.Path) -> None:
    """`--shards 3` on a 2-shard dir: progress lines in the log, every key kept, 3 shards
    recorded; without `--shards` the next start adopts the 3."""
    data_dir = tmp_path / "data"
    value = "v" * 1000
    with Store.open(_config(data_dir, shard_count=2)) as store:
        for index in range(1500):  # > 1 MiB of source files: the progress lines appear
            store.set(f"key:{index}", value)
    process = subprocess.Popen(
        [sys.executable, "-m", "kevy_server", "--port", "0", "--dir", str(data_dir), "--shards", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    port = None
    try:
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while time.monotonic() < deadline and port is None:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"listening on [^ ]*:(\d+)", line)
            port = int(found.group(1)) if found else None
        assert port is not None, "".join(lines)
        client = redis.Redis(port=port, protocol=2, socket_timeout=5)
        assert client.info("persistence")["shards"] == 3
        assert client.dbsize() == 1500
        assert client.get("key:1499") == value.encode()
    finally:
        process.kill()
        process.communicate(timeout=10)
    log = "".join(lines)
    assert "re-sharding 2 shards (kevyhash) -> 3 shards (kevyhash)" in log
    assert re.search(r"re-sharding: [1-9]\d?% \(\d+\.\d of 1\.5 MiB of source files\)", log), log
    assert "re-sharding: 100% (1.5 of 1.5 MiB of source files)" in log
    assert "re-sharded 2 shards (kevyhash) -> 3 shards (kevyhash): 1500 keys" in log
    assert (data_dir / "shards.meta").read_bytes() == b"3\nkevyhash\n"
