"""kevy-server as a replica of a real redis-server 7.0 master (REPLICAOF / --replicaof).

Method: a redis-server master holds a preloaded dataset of every type and encoding (small
and large collections, integers, TTLs, a stream); kevy is told `REPLICAOF` while a thread
writes to the master; once the writer stops, the master's `WAIT 1` must count kevy (it
acknowledged everything), and kevy's keyspace over RESP must equal the master's. Then:
clients' writes to kevy are refused with Redis's READONLY text, reads are served; the data
survives a restart of kevy (the full sync was saved, the stream logged); `REPLICAOF NO ONE`
promotes kevy (writes accepted, ROLE master) and keeps the data. Bounded waits only.
"""

from __future__ import annotations

import threading

import pytest
import redis
from redis_processes import keyspace_dump, next_message, preload, redis_process, wait_until, write_mix
from server_support import client, running_server, spawn_server

pytestmark = pytest.mark.redis

MASTER_OPTIONS = ("--repl-diskless-sync-delay", "0")


def _connected(kevy: redis.Redis) -> bool:
    return kevy.execute_command("ROLE")[3] == b"connected"


def test_kevy_replica_of_redis_holds_every_database_of_its_master(tmp_path) -> None:
    """The master's RDB carries databases 0 and 2 (kevy's database 4 held a key the master does
    not have: emptied by the full sync); its stream then writes in databases 2 and 7."""
    with redis_process(*MASTER_OPTIONS) as master:
        upstream = {number: master.client(db=number) for number in (0, 2, 4, 7)}
        upstream[0].set("zero", "0")
        upstream[2].hset("two", mapping={"f": "v"})
        with running_server(tmp_path / "kevy") as server:
            kevy = {number: client(server, db=number) for number in (0, 2, 4, 7)}
            kevy[4].set("stale", "dropped by the full sync")
            assert kevy[0].execute_command("REPLICAOF", "127.0.0.1", str(master.port)) == b"OK"
            wait_until(lambda: _connected(kevy[0]), "kevy to finish its sync")
            upstream[2].rpush("list", "a")
            upstream[7].set("seven", "7")
            assert upstream[0].execute_command("WAIT", 1, 20000) == 1
            for number in (0, 2, 4, 7):
                assert keyspace_dump(kevy[number]) == keyspace_dump(upstream[number]), number
            assert kevy[4].dbsize() == 0 and kevy[2].dbsize() == 2


def test_kevy_replica_of_redis_converges_refuses_writes_and_survives_a_restart(tmp_path) -> None:
    with redis_process(*MASTER_OPTIONS) as master:
        upstream = master.client()
        preload(upstream, 1200)
        with running_server(tmp_path / "kevy") as server:
            kevy = client(server)
            kevy.set("stale", "dropped by the full sync")
            writer = threading.Thread(target=write_mix, args=(master.client(), 7, 1000))
            writer.start()
            assert kevy.execute_command("REPLICAOF", "127.0.0.1", str(master.port)) == b"OK"
            assert kevy.execute_command("REPLICAOF", "127.0.0.1", str(master.port)) == \
                b"OK Already connected to specified master"
            writer.join(timeout=60)
            wait_until(lambda: _connected(kevy), "kevy to finish its sync")
            assert upstream.execute_command("WAIT", 1, 20000) == 1
            assert keyspace_dump(kevy) == keyspace_dump(upstream)
            write_mix(upstream, 8, 500, prefix="live")
            assert upstream.execute_command("WAIT", 1, 20000) == 1
            assert keyspace_dump(kevy) == keyspace_dump(upstream)
            with pytest.raises(redis.ReadOnlyError, match="You can't write against a read only replica."):
                kevy.set("x", "1")
            with pytest.raises(redis.ReadOnlyError):
                kevy.blpop("queue", timeout=0.1)
            assert kevy.get("pre:0") == upstream.get("pre:0")
            info = kevy.info("replication")
            assert info["role"] == "slave" and info["master_link_status"] == "up"
            assert info["master_port"] == master.port and info["master_sync_in_progress"] == 0
            assert info["slave_repl_offset"] == upstream.info("replication")["master_repl_offset"]
            role = kevy.execute_command("ROLE")
            assert role[:4] == [b"slave", b"127.0.0.1", master.port, b"connected"]
            expected = keyspace_dump(upstream)
        with running_server(tmp_path / "kevy") as server:  # no REPLICAOF: what it saved and logged
            assert keyspace_dump(client(server)) == expected


def test_replicaof_no_one_promotes_and_a_sibling_replica_resumes_from_kevy(tmp_path) -> None:
    with redis_process(*MASTER_OPTIONS) as master:
        upstream = master.client()
        preload(upstream, 300)
        with running_server(tmp_path / "kevy") as server, \
                redis_process("--replicaof", "127.0.0.1", str(master.port)) as sibling:
            kevy = client(server)
            kevy.execute_command("REPLICAOF", "127.0.0.1", str(master.port))
            wait_until(lambda: _connected(kevy), "kevy to finish its sync")
            upstream.set("last", "1")
            assert upstream.execute_command("WAIT", 2, 20000) == 2
            offset = upstream.info("replication")["master_repl_offset"]
            master_replid = upstream.info("replication")["master_replid"]
            assert kevy.execute_command("REPLICAOF", "NO", "ONE") == b"OK"
            info = kevy.info("replication")
            assert info["role"] == "master"
            assert info["master_replid2"] == master_replid and info["second_repl_offset"] == offset + 1
            assert kevy.execute_command("ROLE")[0] == b"master"
            # The sibling followed the same master to the same point: it resumes here.
            sibling.client().execute_command("REPLICAOF", "127.0.0.1", str(server.port))
            wait_until(lambda: kevy.info("stats")["sync_partial_ok"] == 1, "the sibling's partial resync")
            assert kevy.info("stats")["sync_full"] == 0
            assert kevy.set("mine", "1")
            assert kevy.get("last") == b"1"
            assert kevy.execute_command("WAIT", 1, 20000) == 1
            assert keyspace_dump(sibling.client()) == keyspace_dump(kevy)


def test_the_replicaof_option_follows_from_the_start(tmp_path) -> None:
    with redis_process(*MASTER_OPTIONS) as master:
        master.client().set("from-master", "1")
        process, port = spawn_server(["--dir", str(tmp_path / "kevy"), "--replicaof", f"127.0.0.1 {master.port}"])
        try:
            kevy = redis.Redis(port=port, socket_timeout=10)
            wait_until(lambda: _connected(kevy), "kevy to finish its sync")
            assert kevy.get("from-master") == b"1"
            with pytest.raises(redis.ReadOnlyError):
                kevy.set("x", "1")
        finally:
            process.terminate()
            process.wait(timeout=20)


def test_a_publish_on_the_redis_master_reaches_kevys_subscribers(tmp_path) -> None:
    """A Redis master streams PUBLISH to its replicas; kevy delivers it to its own subscribers
    (channel and pattern); a PUBLISH by kevy's own client is delivered here as well."""
    with redis_process(*MASTER_OPTIONS) as master, running_server(tmp_path / "kevy") as server:
        kevy = client(server)
        assert kevy.execute_command("REPLICAOF", "127.0.0.1", str(master.port)) == b"OK"
        wait_until(lambda: _connected(kevy), "kevy to finish its sync")
        subscriber = client(server).pubsub()
        subscriber.subscribe("news")
        subscriber.psubscribe("n*")
        assert kevy.execute_command("PUBSUB", "NUMSUB", "news") == [b"news", 1]
        upstream = master.client()
        assert upstream.publish("news", "from the master") == 0
        received = [next_message(subscriber), next_message(subscriber)]
        assert sorted((entry["type"], entry["channel"], entry["data"]) for entry in received) == [
            ("message", b"news", b"from the master"), ("pmessage", b"news", b"from the master"),
        ]
        assert kevy.publish("news", "local") == 2  # delivered here ...
        assert next_message(subscriber)["data"] == b"local"
        upstream.set("after", "1")
        assert upstream.execute_command("WAIT", 1, 20000) == 1
        assert kevy.get("after") == b"1"
        subscriber.close()
