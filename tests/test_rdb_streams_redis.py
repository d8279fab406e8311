"""Streams between kevy and a real redis-server 7.0, in RDB files and DUMP payloads.

Method (test_rdb_redis covers streams among every type; these go further):
- kevy 1.23's `streams-n2` data dir, exported at the moment kevy chose its one `*` ID, loads
  in redis-server (and passes `redis-check-rdb`); the keyspace Redis then answers, rendered
  in the fixture's own shape, equals `streams-n2.expected.json`;
- one stream grown under three node configurations in turn (CONFIG SET of
  stream-node-max-entries / stream-node-max-bytes between bursts: nodes of 100, of 3 and of
  a few hundred bytes), a large one (20,000 entries, every 10th deleted, then trimmed
  inside a node), groups with pending rows: SAVEd by Redis and imported (everything but
  node boundaries and read counters, which a kevy snapshot does not keep), and DUMPed /
  RESTOREd both ways, where everything is equal, XINFO STREAM FULL included;
- Hypothesis command sequences (stream_strategies) build streams in kevy whose payloads
  RESTORE into Redis, and in Redis whose payloads RESTORE into kevy: every read of the
  stream must answer the same on both sides (`rdb_support.stream_state`).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from fixture_paths import FIXTURES_DIR
from hypothesis import HealthCheck, given, settings
from rdb_support import RedisServer, keyspace_content, stream_state
from redis_oracle import redis_server_path
from stream_strategies import SETUP, timed_steps

from kevy_persist import Store, StoreConfig
from kevy_persist.commands import CommandContext, execute
from kevy_persist.commands.replies import ErrorReply
from kevy_persist.data.keyspace import Keyspace
from kevy_persist.data.stream import Stream
from kevy_persist.disk.clock import ManualClock, SystemClock
from kevy_persist.disk.os_fs import OsFileSystem
from kevy_persist.errors import CommandError
from kevy_persist.layout.meta import ShardLayout
from kevy_persist.tools.rdb_export import export_rdb
from kevy_persist.tools.rdb_import import import_rdb

pytestmark = [
    pytest.mark.redis,
    pytest.mark.timeout(600),
    pytest.mark.skipif(redis_server_path() is None, reason="redis-server is not on PATH"),
]

KEVY_CHOSE_MS = 1796179442818  # when kevy 1.23 chose the fixture's `*` ID (test_stream_fixture)


def check_with_redis(path: Path) -> None:
    checker = shutil.which("redis-check-rdb")
    if checker is not None:
        checked = subprocess.run([checker, str(path)], capture_output=True, text=True, timeout=120)
        assert "RDB looks OK" in checked.stdout + checked.stderr, checked.stdout[-2000:]


# -- the kevy 1.23 fixture -----------------------------------------------------------------


def _pairs(flat: list) -> dict:
    return dict(zip(flat[0::2], flat[1::2]))


def _text(reply: bytes) -> str:
    return reply.decode()


def fixture_shape(call) -> dict:
    """The keyspace a server answers, in the shape of the fixtures' expected.json (see
    kevy_persist.tools.logical_dump: hex bytes, streams as kevy 1.23 reports them)."""
    keys = {}
    for key in call(b"KEYS", b"*"):
        kind = str(call(b"TYPE", key))
        if kind == "string":
            value = call(b"GET", key).hex()
        elif kind == "hash":
            value = {field.hex(): item.hex() for field, item in sorted(_pairs(call(b"HGETALL", key)).items())}
        else:
            assert kind == "stream", kind
            full = _pairs(call(b"XINFO", b"STREAM", key, b"FULL", b"COUNT", b"0"))
            groups = []
            for group in map(_pairs, full[b"groups"]):
                groups.append({
                    "consumers": {_pairs(c)[b"name"].hex(): _pairs(c)[b"pel-count"] for c in group[b"consumers"]},
                    "last_delivered": _text(group[b"last-delivered-id"]),
                    "name": group[b"name"].hex(),
                    "pending": [[_text(entry_id), owner.hex(), count] for entry_id, owner, _, count in group[b"pending"]],
                })
            value = {
                "entries": [[_text(entry_id), [item.hex() for item in fields]] for entry_id, fields in full[b"entries"]],
                "entries_added": full[b"entries-added"],
                "groups": sorted(groups, key=lambda group: bytes.fromhex(group["name"])),
                "last_id": _text(full[b"last-generated-id"]),
                "max_deleted_id": _text(full[b"max-deleted-entry-id"]),
            }
        keys[key.hex()] = {"has_ttl": call(b"PEXPIRETIME", key) != -1, "type": kind, "value": value}
    return dict(sorted(keys.items()))


def test_the_kevy_1_23_streams_fixture_exported_loads_in_redis_as_expected(tmp_path: Path) -> None:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    report = export_rdb(OsFileSystem(), str(FIXTURES_DIR / "streams-n2"), str(redis_dir / "dump.rdb"),
                        ManualClock(KEVY_CHOSE_MS))
    expected = json.loads((FIXTURES_DIR / "streams-n2.expected.json").read_text())["keys"]
    assert report.key_count == len(expected) and report.shard_count == 2
    check_with_redis(redis_dir / "dump.rdb")
    with RedisServer(redis_dir) as server:
        assert fixture_shape(server.call) == expected


# -- many node shapes and a large stream -----------------------------------------------------


def grow_streams(server: RedisServer) -> None:
    def call(*argv: object) -> None:
        reply = server.call(*argv)
        assert not isinstance(reply, ErrorReply), (argv, reply)

    for index in range(250):
        call("XADD", "mixed", f"{index + 1}-0", "n", index, "pad", "p" * (index % 50))
        if index == 99:
            call("CONFIG", "SET", "stream-node-max-entries", "3")
        if index == 149:
            call("CONFIG", "SET", "stream-node-max-entries", "100", "stream-node-max-bytes", "300")
    call("XDEL", "mixed", "1-0", "50-0", "101-0", "102-0", "103-0", "200-0")
    call("XGROUP", "CREATE", "mixed", "g", "0")
    call("XREADGROUP", "GROUP", "g", "alice", "COUNT", "120", "STREAMS", "mixed", ">")
    call("XDEL", "mixed", "110-0")  # pending: a row for a deleted entry
    call("CONFIG", "SET", "stream-node-max-bytes", "4096")
    for start in range(0, 20_000, 500):
        pipeline = [["XADD", "large", f"{10**12 + index}-{index % 4}", "f", str(index), "v", "x" * (index % 13)]
                    for index in range(start, start + 500)]
        for argv in pipeline:
            call(*argv)
    for start in range(0, 20_000, 1000):
        call("XDEL", "large", *[f"{10**12 + index}-{index % 4}" for index in range(start, start + 1000, 10)])
    call("XTRIM", "large", "MAXLEN", "17950")  # inside a node: entries flagged deleted
    call("XGROUP", "CREATE", "large", "g", "0")
    call("XREADGROUP", "GROUP", "g", "bob", "COUNT", "3000", "STREAMS", "large", ">")
    call("XACK", "large", "g", *[f"{10**12 + index}-{index % 4}" for index in range(100, 2000, 3)])
    call("XGROUP", "CREATECONSUMER", "large", "g", "carol")


def test_redis_streams_of_every_node_shape_import_and_restore(tmp_path: Path) -> None:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with RedisServer(redis_dir, "--rdbcompression", "yes") as server:
        grow_streams(server)
        assert server.call("XINFO", "STREAM", "mixed")[3] > 30  # radix-tree-keys: many nodes
        assert server.call("SAVE") == "OK"
        exact = keyspace_content(server.call)
        inexact = keyspace_content(server.call, exact_streams=False)
        payloads = {key: server.call("DUMP", key) for key in exact}
        report = import_rdb(OsFileSystem(), str(redis_dir / "dump.rdb"), str(tmp_path / "kevy"), ShardLayout(2), SystemClock())
        assert report.key_count == 2
        with Store.open(StoreConfig(data_dir=str(tmp_path / "kevy"), shard_count=2, appendfsync="no", ticker="manual")) as store:
            assert keyspace_content(store.execute, exact_streams=False) == inexact
            for key, payload in payloads.items():  # Redis's payloads into kevy: all of it kept
                assert store.execute("RESTORE", key, "0", payload, "REPLACE") == "OK"
            assert keyspace_content(store.execute) == exact
            server.call("FLUSHALL")
            for key in exact:  # and kevy's payloads back into Redis
                assert server.call("RESTORE", key, "0", store.execute("DUMP", key)) == "OK"
            assert keyspace_content(server.call) == exact


# -- random streams both ways ------------------------------------------------------------------


def _run_kevy(steps: list) -> Keyspace:
    keyspace = Keyspace()
    now_ms = SystemClock().now_ms() - 100_000
    for argvs, advance_ms in [(SETUP, 0), *steps]:
        now_ms += advance_ms
        for argv in argvs:
            execute(keyspace, argv, CommandContext(now_ms, random.Random(1)))
    return keyspace


def _kevy_call(keyspace: Keyspace):
    def call(*argv: bytes) -> object:
        try:
            return execute(keyspace, list(argv), CommandContext(SystemClock().now_ms(), random.Random(0))).reply
        except CommandError as error:
            return ErrorReply(error.message)

    return call


def _nodes_comparable(stream: Stream) -> bool:
    """False when a node holds only deleted entries: no bytes of them are kept here to
    write, so Redis gets one node fewer (rdb_stream_encode's docstring)."""
    return all(live for _, live in stream.node_layout())


def test_random_streams_round_trip_between_kevy_and_redis(tmp_path: Path) -> None:
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with RedisServer(redis_dir) as server:

        @settings(max_examples=120, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(steps=timed_steps)
        def round_trip(steps: list) -> None:
            # kevy -> Redis
            keyspace = _run_kevy(steps)
            ours = _kevy_call(keyspace)
            server.call("FLUSHALL")
            for key, _, value, _ in keyspace.iter_entries():
                if isinstance(value, Stream):
                    assert server.call("RESTORE", key, "0", ours(b"DUMP", key)) == "OK"
                    nodes = _nodes_comparable(value)
                    assert stream_state(server.call, key, nodes) == stream_state(ours, key, nodes), key
            # Redis -> kevy: the same commands run by Redis, its payloads restored here
            server.call("FLUSHALL")
            for argvs, _ in [(SETUP, 0), *steps]:
                for argv in argvs:
                    server.call(*argv)
            target = Keyspace()
            theirs = _kevy_call(target)
            for key in server.call("KEYS", "*"):
                if str(server.call("TYPE", key)) == "stream":
                    assert theirs(b"RESTORE", key, b"0", server.call("DUMP", key)) == "OK"
                    assert stream_state(theirs, key) == stream_state(server.call, key), key

        round_trip()
