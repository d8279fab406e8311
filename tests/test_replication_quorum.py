"""min-replicas-to-write / min-replicas-max-lag on kevy as a master, beside a real redis-server.

Method: (1) the same requests, byte for byte, to a kevy-server and a redis-server 7.0 that
both require one good replica and have none: the replies must be equal -- NOREPLICAS for
writes (plain, inside MULTI, an EXEC whose queue writes), reads / PING / PUBLISH served, the
CONFIG SET checks, `min_slaves_good_slaves` in INFO, writes accepted again once the setting
is lifted. (2) A real `redis-server --replicaof kevy`: writes are accepted once it is online
and acknowledging; frozen (SIGSTOP) it stops acknowledging and, past `min-replicas-max-lag`,
writes are refused; thawed, accepted again; killed, refused at once. Bounded waits only.
"""

from __future__ import annotations

import signal

import hiredis
import pytest
import redis
from redis_processes import redis_process, wait_until
from server_support import RawClient, client, running_server

from kevy_persist.formats.resp import encode_command

pytestmark = pytest.mark.redis

NOREPLICAS = "NOREPLICAS Not enough good replicas to write."


def _calls(port: int) -> list[object]:
    """The replies of one fixed session (two connections) that starts with to-write 1."""
    replies: list[object] = []
    with RawClient(port) as first, RawClient(port) as second:
        def call(connection: RawClient, *argv: str) -> None:
            reply = connection.call(encode_command([argument.encode() for argument in argv]))
            replies.append(("error", str(reply)) if isinstance(reply, hiredis.ReplyError) else reply)

        call(second, "CONFIG", "SET", "min-replicas-to-write", "0")
        call(first, "MULTI")
        call(first, "SET", "queued", "before")  # queued while writes are accepted
        call(second, "CONFIG", "SET", "min-replicas-to-write", "1")
        call(first, "EXEC")  # its queue writes: discarded with NOREPLICAS
        call(first, "EXISTS", "queued")
        for argv in (["SET", "k", "v"], ["GET", "k"], ["PING"], ["PUBLISH", "channel", "m"], ["DEL", "k"],
                     ["INCR", "n"], ["FLUSHALL"], ["LPUSH", "l", "a"], ["EXPIRE", "k", "10"]):
            call(first, *argv)
        call(first, "MULTI")
        call(first, "GET", "k")
        call(first, "EXEC")
        call(first, "MULTI")
        call(first, "SET", "k", "v")
        call(first, "EXEC")
        pairs = second.call(encode_command([b"CONFIG", b"GET", b"min-replicas-*"]))
        replies.append(dict(zip(pairs[::2], pairs[1::2])))  # Redis lists them in its dict's order
        for value in ("-1", "abc", "2147483648"):
            call(second, "CONFIG", "SET", "min-replicas-max-lag", value)
            call(second, "CONFIG", "SET", "min-replicas-to-write", value)
        info = second.call(encode_command([b"INFO", b"replication"]))
        replies.append([line for line in info.split(b"\r\n") if line.startswith((b"connected", b"min_slaves"))])
        call(second, "CONFIG", "SET", "min-replicas-max-lag", "0")  # 0: the check is off
        call(first, "SET", "k", "accepted")
        call(second, "CONFIG", "SET", "min-replicas-max-lag", "10", "min-replicas-to-write", "0")
        call(first, "SET", "k", "accepted again")
    return replies


def test_noreplicas_replies_are_redis_replies(tmp_path) -> None:
    with redis_process() as reference, running_server(tmp_path / "kevy") as server:
        ours, theirs = _calls(server.port), _calls(reference.port)
        assert ours == theirs
        assert ("error", NOREPLICAS) in ours
        assert ("error", f"EXECABORT Transaction discarded because of: {NOREPLICAS}") in ours


def _writable(kevy: redis.Redis) -> bool:
    try:
        return bool(kevy.set("probe", "1"))
    except redis.ResponseError as error:
        assert str(error) == NOREPLICAS
        return False


def test_writes_need_a_replica_that_acknowledges_within_the_lag(tmp_path) -> None:
    with running_server(tmp_path / "kevy", min_replicas_to_write=1, min_replicas_max_lag_s=2) as server:
        kevy = client(server)
        assert not _writable(kevy)
        with redis_process("--replicaof", "127.0.0.1", str(server.port)) as replica:
            wait_until(lambda: _writable(kevy), "the replica to come online and count")
            assert kevy.info("replication")["min_slaves_good_slaves"] == 1
            assert kevy.set("k", "v") and kevy.execute_command("WAIT", 1, 20000) == 1
            replica.process.send_signal(signal.SIGSTOP)  # connected, but no more ACKs
            try:
                wait_until(lambda: not _writable(kevy), "the silent replica to stop counting")
                assert kevy.info("replication")["connected_slaves"] == 1
                assert kevy.info("replication")["min_slaves_good_slaves"] == 0
            finally:
                replica.process.send_signal(signal.SIGCONT)
            wait_until(lambda: _writable(kevy), "the thawed replica to count again")
            replica.stop()
            wait_until(lambda: kevy.info("replication")["connected_slaves"] == 0, "kevy to see the replica gone")
            assert not _writable(kevy), "a replica that left stops counting at once"
        assert kevy.get("k") == b"v"
