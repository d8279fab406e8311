"""`redis-cli --cluster import` moves a kevy dataset into a real Redis Cluster.

Method: three real `redis-server --cluster-enabled yes` masters joined by `redis-cli --cluster
create` (tests/redis_cluster.py); a kevy-server (two shards, so SCAN's cursor spans shards)
holds keys of every type -- small and large collections, integers, binary-safe values, a
stream with a consumer group -- across all three masters' slots, a third of them with a TTL.
`redis-cli --cluster import <node> --cluster-from <kevy>` then drives kevy exactly as it
drives a Redis source: INFO (`cluster_enabled:0`), DBSIZE, SCAN cursor COUNT 1000 (the cursor
read back with C's `atoi`), and one `MIGRATE host port key 0 timeout [COPY] [REPLACE]` per
key to the master owning the key's slot. Checked after each run:
- every key is on the master its slot maps to (CLUSTER SLOTS) and no other, with kevy's value
  read back by type, and its expiry deadline kept: between kevy's deadline and that deadline
  plus the time the import took (MIGRATE sends the remaining TTL, the target adds its clock);
- `--cluster-copy` leaves kevy's keys; a second copy of changed values fails on BUSYKEY
  without `--cluster-replace` and overwrites with it;
- `--cluster-replace` alone moves over the keys already there; a plain import (a move) into
  the emptied cluster moves everything; both empty kevy's database 0, logged: a restart of
  kevy finds it empty, and database 1, which redis-cli does not import, is untouched;
- with passwords on both sides: refused (NOAUTH) without `--cluster-from-pass`, complete with.
"""

from __future__ import annotations

import subprocess
import time

import pytest
import redis
from redis_cluster import RedisCluster, redis_cli, redis_cluster
from redis_processes import keyspace_dump
from server_support import client, running_server

from kevy_persist.layout.routing import key_slot

pytestmark = pytest.mark.redis

KEYS_PER_KIND = 40
PAGED_KEYS = 2400  # more than one SCAN COUNT 1000 page in each of kevy's two shards


def _fill(kevy: redis.Redis, generation: int) -> None:
    """Keys of every type in slots all over the ring, every third with a TTL."""
    hour_ms = 3_600_000
    with kevy.pipeline(transaction=False) as pipe:
        for number in range(KEYS_PER_KIND):
            tag = f"{number}:{generation}"
            pipe.set(f"s:{number}", f"value-{tag}")
            pipe.set(f"i:{number}", number * 1000 + generation)
            pipe.set(f"b:{number}", bytes([number, 0, 255, generation]) * 40)
            pipe.rpush(f"l:{number}", *[f"{tag}-{item}" for item in range(1 + number * 7)])
            pipe.hset(f"h:{number}", mapping={f"f{item}": f"{tag}-{item}" for item in range(1 + number * 5)})
            pipe.sadd(f"set:{number}", *range(generation, generation + 1 + number * 20))
            pipe.sadd(f"sset:{number}", *[f"m{item}-{tag}" for item in range(1 + number % 5)])
            pipe.zadd(f"z:{number}", {f"m{item}": item / 3 + generation for item in range(1 + number * 6)})
            if number % 3 == 0:
                for kind in ("s", "l", "h", "z"):
                    pipe.pexpire(f"{kind}:{number}", hour_ms + number)
        pipe.mset({f"n:{number}": number + generation for number in range(PAGED_KEYS)})
        pipe.delete("x:0")
        pipe.xadd("x:0", {"generation": generation}, id="1-1")
        pipe.xadd("x:0", {"more": "fields", "n": generation}, id="2-5")
        pipe.xgroup_create("x:0", "readers", id="1-1")
        pipe.execute()


def _import(cluster: RedisCluster, kevy_port: int, *flags: str) -> subprocess.CompletedProcess:
    node = cluster.nodes[0]
    auth = ["-a", cluster.password, "--no-auth-warning"] if cluster.password else []
    return subprocess.run(
        [redis_cli(), *auth, "--cluster", "import", f"127.0.0.1:{node.port}", "--cluster-from", f"127.0.0.1:{kevy_port}",
         *flags], check=False, capture_output=True, text=True, timeout=300)


def _tail(result: subprocess.CompletedProcess) -> str:
    """The end of redis-cli's output (one line per key before it): where it stopped and why."""
    return (result.stdout + result.stderr)[-2000:]


def _deadlines(connection: redis.Redis, keys: list[bytes]) -> dict[bytes, int]:
    with connection.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.execute_command("PEXPIRETIME", key)
        return dict(zip(keys, pipe.execute()))


def _assert_arrived(cluster: RedisCluster, expected: dict[bytes, object], deadlines: dict[bytes, int],
                    started_ms: int, finished_ms: int) -> None:
    """Every expected key on the master owning its slot, nowhere else, value and deadline kept."""
    held = {node.port: keyspace_dump(node.client(password=cluster.password)) for node in cluster.nodes}
    for key, value in expected.items():
        owner = cluster.slot_owner[key_slot(key)]
        assert held[owner].get(key) == value, key
        for port, keys in held.items():
            assert port == owner or key not in keys, (key, port)
    assert sum(len(keys) for keys in held.values()) == len(expected)
    for node in cluster.nodes:
        arrived = _deadlines(node.client(password=cluster.password), list(held[node.port]))
        for key, deadline in arrived.items():
            if deadlines[key] < 0:
                assert deadline == -1, key
            else:  # the TTL left at kevy's MIGRATE, counted again from the target's clock
                assert deadlines[key] <= deadline <= deadlines[key] + (finished_ms - started_ms) + 1, key
                assert started_ms < deadline


def _snapshot(kevy: redis.Redis) -> tuple[dict[bytes, object], dict[bytes, int]]:
    expected = keyspace_dump(kevy)
    return expected, _deadlines(kevy, list(expected))


def _timed_import(cluster: RedisCluster, kevy_port: int, *flags: str) -> tuple[subprocess.CompletedProcess, int, int]:
    started_ms = time.time_ns() // 1_000_000
    result = _import(cluster, kevy_port, *flags)
    return result, started_ms, time.time_ns() // 1_000_000


def test_redis_cli_cluster_import_copies_replaces_and_moves_a_kevy_dataset(tmp_path) -> None:
    with redis_cluster() as cluster:
        with running_server(tmp_path / "kevy", shard_count=2) as server:
            kevy = client(server)
            _fill(kevy, generation=1)
            kevy.execute_command("SELECT", "1")
            kevy.set("other-database", "stays")
            kevy.execute_command("SELECT", "0")
            expected, deadlines = _snapshot(kevy)
            assert len(expected) == 8 * KEYS_PER_KIND + PAGED_KEYS + 1
            assert len({cluster.slot_owner[key_slot(key)] for key in expected}) == 3

            result, started, finished = _timed_import(cluster, server.port, "--cluster-copy")
            assert result.returncode == 0, _tail(result)
            _assert_arrived(cluster, expected, deadlines, started, finished)
            assert keyspace_dump(kevy) == expected, "COPY keeps kevy's keys"

            _fill(kevy, generation=2)
            refused = _import(cluster, server.port, "--cluster-copy")
            assert refused.returncode != 0, _tail(refused)
            assert "ERR Target instance replied with error: BUSYKEY Target key name already exists." in refused.stdout
            changed, deadlines = _snapshot(kevy)
            assert changed != expected
            result, started, finished = _timed_import(cluster, server.port, "--cluster-copy", "--cluster-replace")
            assert result.returncode == 0, _tail(result)
            _assert_arrived(cluster, changed, deadlines, started, finished)
            assert keyspace_dump(kevy) == changed

            _fill(kevy, generation=3)
            changed, deadlines = _snapshot(kevy)
            result, started, finished = _timed_import(cluster, server.port, "--cluster-replace")
            assert result.returncode == 0, _tail(result)
            _assert_arrived(cluster, changed, deadlines, started, finished)
            assert kevy.dbsize() == 0, "a move (REPLACE without COPY) deletes what the cluster took"

            for node in cluster.nodes:
                node.client().flushall()
            _fill(kevy, generation=4)
            changed, deadlines = _snapshot(kevy)
            result, started, finished = _timed_import(cluster, server.port)
            assert result.returncode == 0, _tail(result)
            _assert_arrived(cluster, changed, deadlines, started, finished)
            assert kevy.dbsize() == 0, "a move deletes what the cluster took"
        with running_server(tmp_path / "kevy") as server:
            kevy = client(server)
            assert kevy.dbsize() == 0, "the deletions were logged"
            kevy.execute_command("SELECT", "1")
            assert kevy.get("other-database") == b"stays"


def test_cluster_import_with_passwords_on_both_sides(tmp_path) -> None:
    """A kevy with `requirepass` (`--cluster-from-pass`) into a cluster that requires a
    password (`-a`: redis-cli adds `AUTH pw` to each MIGRATE, which kevy sends the target)."""
    with redis_cluster(password="cluster-secret") as cluster, \
            running_server(tmp_path / "kevy", requirepass="kevy-secret") as server:
        kevy = client(server, password="kevy-secret")
        _fill(kevy, generation=1)
        expected, deadlines = _snapshot(kevy)
        refused = _import(cluster, server.port, "--cluster-copy")
        assert refused.returncode != 0
        assert "NOAUTH Authentication required." in refused.stdout + refused.stderr, _tail(refused)
        result, started, finished = _timed_import(cluster, server.port, "--cluster-copy",
                                                  "--cluster-from-pass", "kevy-secret")
        assert result.returncode == 0, _tail(result)
        _assert_arrived(cluster, expected, deadlines, started, finished)
