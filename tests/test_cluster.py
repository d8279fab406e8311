"""Cluster mode over real processes and sockets: `kevy-server --cluster` with 2 shard processes.

Method: one cluster (a supervisor, two shard processes, a data dir) for the module, driven
by the clients operators use -- redis-py's `RedisCluster` (RESP2 and RESP3), `redis-cli -c`,
`redis-benchmark --cluster`, a plain `redis.Redis` on the main port -- and by raw sockets
where the exact bytes matter (MOVED, CROSSSLOT). CLUSTER replies are compared with a real
`redis-server --cluster-enabled yes` owning all 16384 slots: texts where they can be equal,
type skeletons (`cluster_support.skeleton`) where values differ (ids, ports, node count).
The restart test SIGKILLs one shard process and checks that the supervisor logged it and
started a new one that serves the same keys, while the other shard's process and files were
not touched. No timing is asserted; every wait has a deadline.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from cluster_support import Cluster, raw_call, reference_cluster_node, running_cluster, skeleton
from redis.cluster import RedisCluster
from redis_oracle import redis_port  # noqa: F401 -- fixture

from kevy_persist import Store, StoreConfig
from kevy_persist.errors import DataDirInUseError
from kevy_persist.formats.resp import encode_command
from kevy_persist.layout.routing import key_slot, slot_range_for_shard

SHARDS = 2


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster"), SHARDS) as running:
        yield running


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with reference_cluster_node(tmp_path_factory.mktemp("reference")) as port:
        if port is None:
            pytest.skip("redis-server is not on PATH")
        yield port


def key_per_slot() -> dict[int, bytes]:
    """One key for every one of the 16384 slots (deterministic)."""
    found: dict[int, bytes] = {}
    index = 0
    while len(found) < 16384:
        key = b"key:%d" % index
        found.setdefault(key_slot(key), key)
        index += 1
    return found


def test_redis_py_cluster_client_writes_and_reads_every_slot(cluster: Cluster) -> None:
    """RedisCluster (RESP2) sets one key in each of the 16384 slots and reads them back; RESP3
    reads them too; each shard process holds exactly the keys of its own slot range."""
    keys = key_per_slot()
    client = RedisCluster(host="127.0.0.1", port=cluster.shard_ports[0], socket_timeout=10)
    pipeline = client.pipeline()
    for slot, key in keys.items():
        pipeline.set(key, b"v%d" % slot)
    assert all(pipeline.execute())
    resp3 = RedisCluster(host="127.0.0.1", port=cluster.shard_ports[1], protocol=3, socket_timeout=10)
    reads = resp3.pipeline()
    for key in keys.values():
        reads.get(key)
    assert reads.execute() == [b"v%d" % slot for slot in keys]
    for index, port in enumerate(cluster.shard_ports):
        owned = slot_range_for_shard(index, SHARDS)
        plain = redis.Redis(port=port, socket_timeout=10)
        assert plain.dbsize() == len(owned)
        assert plain.execute_command("CLUSTER", "COUNTKEYSINSLOT", owned.start) == 1
        assert plain.execute_command("CLUSTER", "GETKEYSINSLOT", owned.stop - 1, 10) == [keys[owned.stop - 1]]
        other = slot_range_for_shard(1 - index, SHARDS).start
        assert plain.execute_command("CLUSTER", "COUNTKEYSINSLOT", other) == 0  # that slot's key lives elsewhere
    client.close()
    resp3.close()


def test_moved_and_crossslot_replies_are_exact(cluster: Cluster) -> None:
    first, second = cluster.shard_ports
    slot = key_slot(b"foo")  # 12182: the second shard's
    assert slot == 12182
    assert raw_call(first, "GET", "foo") == b"-MOVED 12182 127.0.0.1:%d\r\n" % second
    assert raw_call(first, "SET", "foo", "x", hello3=True) == b"-MOVED 12182 127.0.0.1:%d\r\n" % second
    assert raw_call(second, "SET", "{bar}foo", "x") == b"+OK\r\n" or key_slot(b"bar") < 8192
    # Keys of different slots answer CROSSSLOT even when one process owns both (as Redis does).
    a, b = b"a", b"b"  # 15495 and 3300: both... on different shards; c and e below share shard 0
    assert raw_call(first, "MSET", a, "1", b, "2") == b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    same_shard = [key for key in (b"x1", b"x2", b"x3", b"x4", b"x5") if key_slot(key) < 8192][:2]
    assert len(same_shard) == 2 and key_slot(same_shard[0]) != key_slot(same_shard[1])
    assert raw_call(first, "DEL", *same_shard) == b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    # A server verb's keys are checked too (BLPOP), and keyless commands run anywhere.
    assert raw_call(first, "BLPOP", "foo", "0").startswith(b"-MOVED 12182 ")
    assert raw_call(first, "PING") == b"+PONG\r\n"
    assert raw_call(first, "INFO", "cluster") == b"$30\r\n# Cluster\r\ncluster_enabled:1\r\n\r\n"


def test_moved_inside_multi_aborts_exec(cluster: Cluster, reference: int) -> None:
    """As in Redis Cluster: the foreign key's command answers MOVED when queued and EXEC aborts
    (the same bytes as a Redis node's CROSSSLOT case, whose error also dooms the transaction)."""
    import socket

    def transaction(port: int, *commands: list[bytes]) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"".join(encode_command(argv) for argv in ([b"MULTI"], *commands, [b"EXEC"])))
            data = b""
            while data.count(b"\r\n") < len(commands) + 2:
                chunk = sock.recv(65536)
                assert chunk
                data += chunk
            return data

    first, second = cluster.shard_ports
    assert transaction(first, [b"SET", b"foo", b"1"]) == (
        b"+OK\r\n-MOVED 12182 127.0.0.1:%d\r\n-EXECABORT Transaction discarded because of previous errors.\r\n" % second)
    cross = [b"MSET", b"a", b"1", b"b", b"2"]
    assert transaction(first, cross) == transaction(reference, cross)
    assert raw_call(second, "GET", "foo") == b"$-1\r\n"


def _reference_and_kevy(cluster: Cluster, reference: int, *argv: str, hello3: bool = False) -> tuple[bytes, bytes]:
    return raw_call(reference, *argv, hello3=hello3), raw_call(cluster.shard_ports[0], *argv, hello3=hello3)


@pytest.mark.parametrize("hello3", [False, True], ids=["resp2", "resp3"])
def test_cluster_replies_have_redis_shapes(cluster: Cluster, reference: int, hello3: bool) -> None:
    """SLOTS / SHARDS entries, MYID, KEYSLOT and INFO / NODES as a Redis 7.0 cluster node shapes them."""
    for sub in ("SLOTS", "SHARDS"):
        theirs, ours = _reference_and_kevy(cluster, reference, "CLUSTER", sub, hello3=hello3)
        their_kind, their_entries = skeleton(theirs)
        our_kind, our_entries = skeleton(ours)
        assert our_kind == their_kind and len(their_entries) == 1 and len(our_entries) == SHARDS
        assert all(entry == their_entries[0] for entry in our_entries), (sub, ours, theirs)
    theirs, ours = _reference_and_kevy(cluster, reference, "CLUSTER", "MYID", hello3=hello3)
    assert skeleton(ours) == skeleton(theirs) and len(ours) == len(theirs)
    for key in ("foo", "{user1}:a", "a{}b", "", "\xff"):
        assert _reference_and_kevy(cluster, reference, "CLUSTER", "KEYSLOT", key, hello3=hello3) == \
            (b":%d\r\n" % key_slot(key.encode()),) * 2
    theirs, ours = _reference_and_kevy(cluster, reference, "CLUSTER", "INFO", hello3=hello3)
    assert ours[:1] == theirs[:1]

    def fields(reply: bytes) -> list[str]:
        return [line.split(":")[0 if not line.startswith("txt:") else 1]
                for line in reply.decode().split("\r\n")[1:] if ":" in line]
    assert fields(ours) == fields(theirs)
    assert b"cluster_state:ok\r\n" in ours and b"cluster_slots_assigned:16384\r\n" in ours
    theirs, ours = _reference_and_kevy(cluster, reference, "CLUSTER", "NODES", hello3=hello3)
    assert ours[:1] == theirs[:1]
    def lines(reply: bytes) -> list[bytes]:
        body = reply[reply.index(b"\r\n") + 2:-2].removeprefix(b"txt:")
        assert body.endswith(b"\n")  # each line ends in "\n", not CRLF, as Redis writes them
        return body[:-1].split(b"\n")
    their_lines, our_lines = lines(theirs), lines(ours)
    assert len(their_lines) == 1 and len(our_lines) == SHARDS
    assert [len(line.split()) for line in our_lines] == [len(their_lines[0].split())] * SHARDS
    assert our_lines[0].split()[2] == b"myself,master" and our_lines[1].split()[2] == b"master"


@pytest.mark.parametrize("argv", [
    ["CLUSTER"], ["CLUSTER", "FOO"], ["CLUSTER", "KEYSLOT"], ["CLUSTER", "SLOTS", "x"],
    ["CLUSTER", "COUNTKEYSINSLOT", "16384"], ["CLUSTER", "COUNTKEYSINSLOT", "-1"],
    ["CLUSTER", "COUNTKEYSINSLOT", "x"], ["CLUSTER", "GETKEYSINSLOT", "5", "-1"],
    ["CLUSTER", "GETKEYSINSLOT", "16384", "1"], ["CLUSTER", "GETKEYSINSLOT", "x", "1"],
    ["CLUSTER", "GETKEYSINSLOT", "1"], ["CLUSTER", "GETKEYSINSLOT", "0", "0"], ["ASKING"], ["READONLY"],
    ["READWRITE"], ["ASKING", "x"], ["MSET", "a", "1", "b", "2"],
])
def test_cluster_errors_and_acknowledgements_match_redis(cluster: Cluster, reference: int, argv: list[str]) -> None:
    theirs, ours = _reference_and_kevy(cluster, reference, *argv)
    assert ours == theirs


def test_without_cluster_mode_cluster_commands_are_refused_as_redis_does(redis_port: int, tmp_path: Path) -> None:  # noqa: F811
    from server_support import running_server

    with running_server(tmp_path) as server:
        for argv in (["CLUSTER", "INFO"], ["CLUSTER", "KEYSLOT", "foo"], ["ASKING"], ["READONLY"], ["CLUSTER", "FOO"]):
            assert raw_call(server.port, *argv) == raw_call(redis_port, *argv)


def test_redis_cli_follows_moved(cluster: Cluster) -> None:
    cli = shutil.which("redis-cli")
    if cli is None:
        pytest.skip("redis-cli is not on PATH")
    for port in cluster.shard_ports:
        run = subprocess.run([cli, "-c", "-p", str(port), "SET", "cli:foo", f"from-{port}"],
                             capture_output=True, text=True, timeout=30)
        assert run.stdout.strip() == "OK"
        run = subprocess.run([cli, "-c", "-p", str(port), "GET", "cli:foo"], capture_output=True, text=True, timeout=30)
        assert run.stdout.strip() == f"from-{port}"
    unfollowed = subprocess.run([cli, "-p", str(cluster.shard_ports[0]), "GET", "foo"],
                                capture_output=True, text=True, timeout=30)
    assert unfollowed.stdout.strip() == f"MOVED 12182 127.0.0.1:{cluster.shard_ports[1]}"


def test_redis_benchmark_cluster_runs(cluster: Cluster) -> None:
    benchmark = shutil.which("redis-benchmark")
    if benchmark is None:
        pytest.skip("redis-benchmark is not on PATH")
    run = subprocess.run([benchmark, "--cluster", "-p", str(cluster.shard_ports[0]), "-t", "set,get", "-n", "2000",
                          "-r", "1000", "-c", "4", "-q"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Cluster has 2 master nodes" in run.stdout
    assert "SET:" in run.stdout and "GET:" in run.stdout and "error" not in run.stdout.lower()


@pytest.mark.parametrize("protocol", [2, 3])
def test_main_port_serves_plain_clients(cluster: Cluster, protocol: int) -> None:
    """A client that knows nothing of the cluster: keys of both shards, whole-keyspace
    commands answered for every shard, one-shard transactions, pub/sub, CROSSSLOT across shards."""
    client = redis.Redis(port=cluster.port, protocol=protocol, socket_timeout=10)
    client.delete("{tx}n")
    keys = [b"plain:%d" % index for index in range(40)]
    for key in keys:
        client.set(key, key)
    assert client.mget(keys[:1]) == [keys[0]]
    assert [client.get(key) for key in keys] == keys
    shards = {key_slot(key) * SHARDS >> 14 for key in keys}
    assert shards == {0, 1}
    total = sum(redis.Redis(port=port, socket_timeout=10).dbsize() for port in cluster.shard_ports)
    assert client.dbsize() == total
    assert set(keys) <= set(client.keys("plain:*"))
    pipeline = client.pipeline(transaction=True)
    pipeline.incr("{tx}n").incr("{tx}n").get("{tx}n")
    assert pipeline.execute() == [1, 2, b"2"]
    assert client.execute_command("PING") in (True, b"PONG")
    with pytest.raises(redis.exceptions.ClusterCrossSlotError):
        client.delete(*keys)
    subscriber = client.pubsub()
    subscriber.subscribe("news")
    assert subscriber.get_message(timeout=5)["type"] == "subscribe"
    assert redis.Redis(port=cluster.port, protocol=protocol, socket_timeout=10).publish("news", "hi") == 1
    message = subscriber.get_message(timeout=5)
    assert message is not None and message["data"] == b"hi"
    subscriber.close()
    with pytest.raises(redis.exceptions.ClusterCrossSlotError):  # one shard, two slots: the shard refuses
        client.delete(*[key for key in keys if key_slot(key) * SHARDS >> 14 == 0])
    assert sum(client.delete(key) for key in keys) == len(keys)
    client.close()


def test_the_data_dir_is_held_while_the_cluster_runs(cluster: Cluster) -> None:
    with pytest.raises(DataDirInUseError):
        Store.open(StoreConfig(data_dir=str(cluster.data_dir)))
    with pytest.raises(DataDirInUseError):  # a stray shard process under a supervisor that is not the holder
        Store.open_member(StoreConfig(data_dir=str(cluster.data_dir), shard_count=SHARDS), 0, os.getpid())
    with pytest.raises(DataDirInUseError):  # the right supervisor, but the shard is served already
        Store.open_member(StoreConfig(data_dir=str(cluster.data_dir), shard_count=SHARDS), 0, cluster.process.pid)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


def test_a_killed_shard_process_is_restarted_with_its_data(cluster: Cluster) -> None:
    """SIGKILL shard 1's process: the supervisor logs it and starts a new one on the same port
    serving the same keys; shard 0's process and files are untouched."""
    keys = [key for key in (b"restart:%d" % index for index in range(60)) if key_slot(key) >= 8192]
    client = RedisCluster(host="127.0.0.1", port=cluster.shard_ports[0], socket_timeout=10)
    for key in keys:
        client.set(key, key)
    untouched = {name: _digest(cluster.data_dir / name) for name in ("aof-0.aof", "dump-0.rdb")}
    first_pid, killed_pid = cluster.shard_pid(0), cluster.shard_pid(1)
    os.kill(killed_pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if cluster.shard_pid(1) != killed_pid:
                break
        except (OSError, AssertionError, IndexError):
            pass
        assert time.monotonic() < deadline, "shard 1 was not restarted"
        time.sleep(0.05)
    assert f"shard 1: process {killed_pid} died (signal SIGKILL)" in cluster.log_text()
    second = redis.Redis(port=cluster.shard_ports[1], socket_timeout=10)
    assert [second.get(key) for key in keys] == keys
    assert cluster.shard_pid(0) == first_pid
    assert {name: _digest(cluster.data_dir / name) for name in untouched} == untouched
    client.close()
