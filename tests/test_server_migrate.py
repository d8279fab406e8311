"""MIGRATE from kevy-server into a real redis-server 7.0 (and Redis's own replies beside ours).

Method: one redis-server is the target; the same MIGRATE calls are made from kevy and from a
second redis-server holding the same keys, and the replies must be equal -- NOKEY, OK, the
target's BUSYKEY error, a refused AUTH, a dead port (IOERR), the option errors. Then the
target's keys are compared with what was sent (values and TTLs), and kevy's log must hold
the deletions (a restart shows the keys gone) unless COPY was given.
"""

from __future__ import annotations

import pytest
import redis
from redis_processes import free_port, keyspace_dump, redis_process
from server_support import client, running_server

pytestmark = pytest.mark.redis


def _fill(connection: redis.Redis) -> None:
    connection.set("s", "v")
    connection.set("t", "with-ttl", ex=1000)
    connection.rpush("l", *[str(number) for number in range(300)])
    connection.hset("h", mapping={"a": "1", "b": "2"})
    connection.zadd("z", {"x": 1.5, "y": -2})
    connection.sadd("set", "m1", "m2")
    connection.xadd("st", {"f": "v"}, id="1-1")


CALLS = [
    ["MIGRATE", "{host}", "{port}", "missing", "0", "1000"],
    ["MIGRATE", "{host}", "{port}", "s", "0", "1000", "COPY"],
    ["MIGRATE", "{host}", "{port}", "s", "0", "1000"],  # BUSYKEY on the target
    ["MIGRATE", "{host}", "{port}", "s", "0", "1000", "REPLACE"],
    ["MIGRATE", "{host}", "{port}", "", "0", "1000", "KEYS", "t", "l", "h", "z", "set", "st", "nothere"],
    ["MIGRATE", "{host}", "{port}", "x", "0", "1000", "KEYS", "s"],
    ["MIGRATE", "{host}", "{port}", "s", "0", "1000", "BOGUS"],
    ["MIGRATE", "{host}", "{port}", "s", "0", "1000", "AUTH"],
    ["MIGRATE", "{host}", "{port}", "s", "0", "1000", "AUTH2", "u"],
    ["MIGRATE", "{host}", "{port}", "s", "0", "notanumber"],
    ["MIGRATE", "{host}", "{port}", "s", "0"],
]


def _run(connection: redis.Redis, call: list[str], host: str, port: int) -> object:
    argv = [argument.format(host=host, port=port) for argument in call]
    try:
        return connection.execute_command(*argv)
    except redis.ResponseError as error:
        return ("error", str(error))


def test_migrate_answers_and_moves_keys_like_redis(tmp_path) -> None:
    with redis_process() as target_for_kevy, redis_process() as target_for_redis, redis_process() as source:
        with running_server(tmp_path / "kevy") as server:
            kevy = client(server)
            reference = source.client()
            _fill(kevy)
            _fill(reference)
            ours_target, theirs_target = target_for_kevy.client(), target_for_redis.client()
            for call in CALLS:
                ours = _run(kevy, call, "127.0.0.1", target_for_kevy.port)
                theirs = _run(reference, call, "127.0.0.1", target_for_redis.port)
                assert ours == theirs, call
            assert keyspace_dump(ours_target) == keyspace_dump(theirs_target)
            assert ours_target.pttl("t") > 900_000
            assert keyspace_dump(kevy) == keyspace_dump(reference)
            assert sorted(kevy.keys()) == []  # everything moved (COPY only for the first call)
        with running_server(tmp_path / "kevy") as server:
            assert client(server).dbsize() == 0, "the deletions were logged"


def test_migrate_errors_from_the_target_and_the_network_are_redis_texts(tmp_path) -> None:
    with redis_process("--requirepass", "secret") as locked, redis_process() as source, \
            running_server(tmp_path / "kevy") as server:
        kevy = client(server)
        reference = source.client()
        for connection in (kevy, reference):
            connection.set("k", "v")
        dead_port = free_port()
        cases = [
            ["MIGRATE", "127.0.0.1", str(locked.port), "k", "0", "1000"],  # NOAUTH on SELECT
            ["MIGRATE", "127.0.0.1", str(locked.port), "k", "0", "1000", "COPY", "AUTH", "wrong"],
            ["MIGRATE", "127.0.0.1", str(locked.port), "k", "0", "1000", "COPY", "AUTH2", "default", "wrong"],
            ["MIGRATE", "127.0.0.1", str(locked.port), "k", "99", "1000", "COPY", "AUTH", "secret"],
            ["MIGRATE", "127.0.0.1", str(dead_port), "k", "0", "1000"],
            ["MIGRATE", "127.0.0.1", str(locked.port), "k", "0", "1000", "COPY", "AUTH2", "default", "secret"],
            ["MIGRATE", "127.0.0.1", str(locked.port), "k", "0", "1000", "AUTH", "secret", "REPLACE"],
        ]
        for call in cases:
            assert _run(kevy, call, "", 0) == _run(reference, call, "", 0), call
        assert locked.client(password="secret").get("k") == b"v"
        assert kevy.exists("k") == 0


def test_restore_asking_is_restore(tmp_path) -> None:
    with running_server(tmp_path / "kevy") as server:
        kevy = client(server)
        kevy.set("k", "v")
        payload = kevy.dump("k")
        assert kevy.execute_command("RESTORE-ASKING", "k2", "0", payload) == b"OK"
        assert kevy.get("k2") == b"v"
        with pytest.raises(redis.ResponseError, match="BUSYKEY"):
            kevy.execute_command("RESTORE-ASKING", "k2", "0", payload)
