"""kevy-server as the master of real `redis-server --replicaof` processes (Redis 7.0).

Method: a kevy-server in this process holds a preloaded dataset of every type; a real
redis-server replica is started against it while another thread writes (random-looking
effects, TTLs, transactions, a served BLPOP); once the writers stop, `WAIT n` must count the
replicas (they acknowledged everything written before it), and then the replica's whole
keyspace, read over RESP, must equal kevy's. Live writes after that must follow. A replica
that stops (SHUTDOWN SAVE, restart in its dir) or loses its link (CLIENT KILL TYPE master)
must come back by partial resync: kevy's `sync_partial_ok` grows and `sync_full` does not.
Every wait is bounded; nothing asserts on timing.
"""

from __future__ import annotations

import threading

import pytest
import redis
from redis_processes import free_port, keyspace_dump, next_message, preload, redis_process, start_redis, wait_until, write_mix
from server_support import client, running_server, spawn_server

pytestmark = pytest.mark.redis


def _stats(connection: redis.Redis) -> dict:
    return connection.info("stats")


def _online(kevy: redis.Redis, count: int) -> bool:
    info = kevy.info("replication")
    online = [info[f"slave{index}"] for index in range(info["connected_slaves"])]
    return sum(1 for slave in online if slave["state"] == "online") == count


def test_redis_replica_of_kevy_converges_under_concurrent_writes_and_follows(tmp_path) -> None:
    with running_server(tmp_path / "kevy") as server:
        kevy = client(server)
        preload(kevy, 1200)
        writer = threading.Thread(target=write_mix, args=(client(server), 1, 1000))
        popped: list = []
        popper = threading.Thread(target=lambda: popped.append(client(server).blpop("queue", timeout=20)))
        popper.start()
        writer.start()
        with redis_process("--replicaof", "127.0.0.1", str(server.port)) as replica:
            kevy.rpush("queue", "first", "second")  # the blocked client's pop is sent as LPOP
            writer.join(timeout=60)
            popper.join(timeout=30)
            assert popped == [(b"queue", b"first")]
            wait_until(lambda: _online(kevy, 1), "the replica to be online")
            assert kevy.execute_command("WAIT", 1, 20000) == 1
            theirs = replica.client()
            assert keyspace_dump(theirs) == keyspace_dump(kevy)
            write_mix(kevy, 2, 500, prefix="live")
            assert kevy.execute_command("WAIT", 1, 20000) == 1
            assert keyspace_dump(theirs) == keyspace_dump(kevy)
            assert theirs.execute_command("ROLE")[3] == b"connected"
        assert _stats(kevy)["sync_full"] == 1


def test_a_redis_replica_gets_every_database_in_its_full_sync_and_the_stream(tmp_path) -> None:
    """Keys in databases 0 and 3 before the replica attaches travel in the RDB (one SELECTDB
    section each); later writes in databases 5, 0 and 3 (a transaction among them) travel
    behind the SELECT of their database."""
    with running_server(tmp_path / "kevy") as server:
        databases = {number: client(server, db=number) for number in (0, 3, 5)}
        databases[0].set("zero", "0")
        databases[3].rpush("three", "a", "b")
        with redis_process("--replicaof", "127.0.0.1", str(server.port)) as replica:
            wait_until(lambda: _online(databases[0], 1), "the replica to be online")
            databases[5].set("five", "5")
            databases[0].incr("counter")
            with databases[3].pipeline(transaction=True) as transaction:
                transaction.sadd("set", "x").expire("three", 1000).execute()
            assert databases[0].execute_command("WAIT", 1, 20000) == 1
            for number, kevy in databases.items():
                assert keyspace_dump(replica.client(db=number)) == keyspace_dump(kevy), number
            assert keyspace_dump(replica.client(db=3)).keys() == {b"three", b"set"}


def test_a_replica_that_restarts_or_loses_its_link_resumes_by_partial_resync(tmp_path) -> None:
    with running_server(tmp_path / "kevy") as server:
        kevy = client(server)
        preload(kevy, 500)
        replica = start_redis("--replicaof", "127.0.0.1", str(server.port))
        try:
            wait_until(lambda: _online(kevy, 1), "the replica to be online")
            write_mix(kevy, 3, 200)
            assert kevy.execute_command("WAIT", 1, 20000) == 1
            replica.client().execute_command("CLIENT", "KILL", "TYPE", "master")
            write_mix(kevy, 4, 200)
            wait_until(lambda: _stats(kevy)["sync_partial_ok"] == 1, "a partial resync after the link loss")
            assert kevy.execute_command("WAIT", 1, 20000) == 1
            assert keyspace_dump(replica.client()) == keyspace_dump(kevy)
            try:
                replica.client().shutdown(save=True)
            except redis.ConnectionError:
                pass
            replica.process.wait(timeout=20)
            wait_until(lambda: kevy.info("replication")["connected_slaves"] == 0, "kevy to see the replica gone")
            write_mix(kevy, 5, 200)  # written while the replica is down: the backlog keeps it
            replica = start_redis("--replicaof", "127.0.0.1", str(server.port), port=replica.port,
                                  directory=replica.directory)
            wait_until(lambda: _stats(kevy)["sync_partial_ok"] == 2, "a partial resync after the restart")
            assert kevy.execute_command("WAIT", 1, 20000) == 1
            assert keyspace_dump(replica.client()) == keyspace_dump(kevy)
            assert _stats(kevy)["sync_full"] == 1
        finally:
            replica.stop()


def test_a_replica_beyond_the_backlog_takes_a_full_resync(tmp_path) -> None:
    with running_server(tmp_path / "kevy", repl_backlog_size_bytes=4096) as server:
        kevy = client(server)
        with redis_process("--replicaof", "127.0.0.1", str(server.port)) as replica:
            wait_until(lambda: _online(kevy, 1), "the replica to be online")
            replica.client().execute_command("CONFIG", "SET", "repl-timeout", "60")
            kevy.set("before", "1")
            assert kevy.execute_command("WAIT", 1, 20000) == 1
            replica.client().execute_command("REPLICAOF", "127.0.0.1", str(free_port()))  # away, nowhere
            kevy.set("big", "x" * 10000)  # more than the backlog holds
            replica.client().execute_command("REPLICAOF", "127.0.0.1", str(server.port))
            wait_until(lambda: _stats(kevy)["sync_full"] == 2, "a second full resync")
            assert kevy.execute_command("WAIT", 1, 20000) == 1
            assert keyspace_dump(replica.client()) == keyspace_dump(kevy)


def test_wait_role_and_info_count_the_replicas(tmp_path) -> None:
    with running_server(tmp_path / "kevy") as server:
        kevy = client(server)
        assert kevy.execute_command("WAIT", 0, 0) == 0
        assert kevy.execute_command("WAIT", 1, 50) == 0  # no replica: the timeout answers 0
        assert kevy.execute_command("ROLE") == [b"master", 0, []]
        with redis_process("--replicaof", "127.0.0.1", str(server.port)) as first, \
                redis_process("--replicaof", "127.0.0.1", str(server.port)) as second:
            wait_until(lambda: _online(kevy, 2), "both replicas online")
            kevy.set("k", "v")
            assert kevy.execute_command("WAIT", 2, 20000) == 2
            assert kevy.execute_command("WAIT", 3, 100) == 2  # timed out: the count so far
            role = kevy.execute_command("ROLE")
            assert role[0] == b"master" and role[1] == kevy.info("replication")["master_repl_offset"]
            assert sorted(int(entry[1]) for entry in role[2]) == sorted([first.port, second.port])
            info = kevy.info("replication")
            assert info["role"] == "master" and info["connected_slaves"] == 2
            assert {info["slave0"]["port"], info["slave1"]["port"]} == {first.port, second.port}
            assert info["repl_backlog_active"] == 1
            assert info["repl_backlog_histlen"] == info["master_repl_offset"] - info["repl_backlog_first_byte_offset"] + 1
            assert first.client().get("k") == second.client().get("k") == b"v"
            with pytest.raises(redis.ResponseError, match="Unrecognized REPLCONF option: bogus"):
                kevy.execute_command("REPLCONF", "bogus", "1")
            assert kevy.execute_command("REPLCONF", "listening-port", "1") == b"OK"


def test_a_failover_to_the_redis_replica_loses_nothing_wait_acknowledged(tmp_path) -> None:
    """kevy (a child process, `appendfsync always`) is killed with SIGKILL while a writer
    runs; the Redis replica is promoted; every write whose WAIT 1 answered 1 is there."""
    process, port = spawn_server(["--dir", str(tmp_path / "kevy"), "--appendfsync", "always"])
    try:
        kevy = redis.Redis(port=port, socket_timeout=20)
        with redis_process("--replicaof", "127.0.0.1", str(port)) as replica:
            wait_until(lambda: _online(kevy, 1), "the replica to be online")
            acknowledged: list[int] = []

            def write() -> None:
                writer = redis.Redis(port=port, socket_timeout=20)
                try:
                    for number in range(100_000):
                        writer.incr("counter")
                        writer.rpush("log", number)
                        if writer.execute_command("WAIT", 1, 5000) == 1:
                            acknowledged.append(number)
                except redis.ConnectionError:
                    return  # the master was killed under it

            thread = threading.Thread(target=write)
            thread.start()
            wait_until(lambda: len(acknowledged) >= 100, "a hundred acknowledged writes")
            process.kill()
            thread.join(timeout=30)
            process.wait(timeout=20)
            promoted = replica.client()
            promoted.execute_command("REPLICAOF", "NO", "ONE")
            log = [int(item) for item in promoted.lrange("log", 0, -1)]
            assert log == list(range(len(log))), "a prefix of the writes, in order"
            assert acknowledged[-1] < len(log), "every write WAIT acknowledged survived the failover"
            assert int(promoted.get("counter")) >= len(acknowledged)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=20)


@pytest.mark.parametrize("failure", ["write", "fsync"])
def test_a_write_the_master_refused_never_reaches_a_replica(tmp_path, failure) -> None:
    """Under `always` a refused write is undone on the master: its replicas are dropped before
    the stream that holds it leaves, and come back by a full resync of the undone state."""
    from test_refused_writes import FailingFileSystem, _open

    fs = FailingFileSystem()
    store = _open(tmp_path / "kevy", fs, appendfsync="always")
    with running_server(tmp_path / "kevy", store=store) as server:
        kevy = client(server)
        kevy.set("k", "before")
        with redis_process("--replicaof", "127.0.0.1", str(server.port)) as replica:
            wait_until(lambda: _online(kevy, 1), "the replica to be online")
            assert kevy.execute_command("WAIT", 1, 20000) == 1
            setattr(fs, f"fail_next_{failure}", True)
            with pytest.raises(redis.ResponseError, match="MISCONF"):
                kevy.set("k", "refused")
            assert replica.client().get("k") == b"before"
            kevy.save()  # fresh files: the shard takes writes again
            kevy.set("after", "1")
            wait_until(lambda: _stats(kevy)["sync_full"] == 2 and _online(kevy, 1), "the replica's new full sync")
            assert kevy.execute_command("WAIT", 1, 20000) == 1
            assert keyspace_dump(replica.client()) == keyspace_dump(kevy)
            assert replica.client().get("k") == b"before"


def test_publish_on_kevy_reaches_the_subscribers_of_a_redis_replica(tmp_path) -> None:
    """Redis propagates PUBLISH to its replicas outside cluster mode; kevy's stream carries it,
    so a subscriber on the Redis replica gets the message (and the replica stays in step)."""
    with running_server(tmp_path / "kevy") as server:
        kevy = client(server)
        with redis_process("--replicaof", "127.0.0.1", str(server.port)) as replica:
            wait_until(lambda: _online(kevy, 1), "the replica to be online")
            subscriber = replica.client().pubsub()
            subscriber.subscribe("news")
            subscriber.psubscribe("n*")
            assert kevy.publish("news", "hello") == 0  # nobody subscribes on kevy itself
            received = [next_message(subscriber), next_message(subscriber)]
            assert sorted((entry["type"], entry["channel"], entry["data"]) for entry in received) == [
                ("message", b"news", b"hello"), ("pmessage", b"news", b"hello"),
            ]
            kevy.set("after", "1")
            assert kevy.execute_command("WAIT", 1, 20000) == 1
            assert replica.client().get("after") == b"1"
            subscriber.close()
