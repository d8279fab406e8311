"""Real redis-server processes for the MIGRATE and replication tests (not a test module).

`redis_process(*arguments)` starts one `redis-server` on a free loopback port with
persistence off and its own temporary dir, waits until it answers PING, and always stops it
by its own process handle (never by name). `wait_until(predicate)` polls a condition with a
bounded wait: the tests wait for convergence, they never assert on how long it took.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

WAIT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisProcess:
    def __init__(self, process: subprocess.Popen, port: int, directory: str) -> None:
        self.process = process
        self.port = port
        self.directory = directory

    def client(self, **options: Any) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=10, **options)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def start_redis(*arguments: str, port: int | None = None, directory: str | None = None) -> RedisProcess:
    """Start redis-server (in `directory` when given: a restart keeps its dump.rdb)."""
    path = shutil.which("redis-server")
    if path is None:
        pytest.skip("redis-server is not on PATH")
    port = port or free_port()
    directory = directory or tempfile.mkdtemp(prefix="kevy-redis-")
    process = subprocess.Popen(
        [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", directory, *arguments],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    started = RedisProcess(process, port, directory)
    try:
        wait_until(lambda: _answers(port), what="redis-server to answer PING")
    except BaseException:
        started.stop()
        raise
    return started


@contextlib.contextmanager
def redis_process(*arguments: str, port: int | None = None) -> Iterator[RedisProcess]:
    started = start_redis(*arguments, port=port)
    try:
        yield started
    finally:
        started.stop()
        shutil.rmtree(started.directory, ignore_errors=True)


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=2).ping())
    except (redis.ResponseError, redis.AuthenticationError):  # NOAUTH: it answers
        return True
    except redis.RedisError:
        return False


def wait_until(predicate: Callable[[], Any], what: str = "the condition", timeout_s: float = WAIT_S) -> Any:
    """Poll `predicate` until it is truthy (its value is returned); fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def next_message(subscriber: Any) -> dict:
    """A redis-py PubSub's next message (subscribe confirmations skipped), within the wait."""
    return wait_until(lambda: subscriber.get_message(ignore_subscribe_messages=True, timeout=0.1), "a message")


_READERS = {
    b"string": lambda pipe, key: pipe.get(key),
    b"hash": lambda pipe, key: pipe.hgetall(key),
    b"list": lambda pipe, key: pipe.lrange(key, 0, -1),
    b"set": lambda pipe, key: pipe.smembers(key),
    b"zset": lambda pipe, key: pipe.zrange(key, 0, -1, withscores=True),
    b"stream": lambda pipe, key: pipe.xrange(key),
}


def keyspace_dump(client: redis.Redis) -> dict[bytes, Any]:
    """Every key's type and value (TTLs as present/absent) over RESP: what a test compares.
    Pipelined (one round trip per stage), so a few thousand keys take a moment."""
    keys = list(client.scan_iter(count=1000))
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.type(key)
        kinds = pipe.execute()
    with client.pipeline(transaction=False) as pipe:
        for key, kind in zip(keys, kinds):
            reader = _READERS.get(kind)
            if reader is None:
                pipe.exists(key)
            else:
                reader(pipe, key)
            pipe.pttl(key)
        answers = pipe.execute()
    result: dict[bytes, Any] = {}
    for index, (key, kind) in enumerate(zip(keys, kinds)):
        value, ttl = answers[2 * index], answers[2 * index + 1]
        if kind == b"set":
            value = sorted(value)
        result[key] = (kind, value, ttl > 0)
    return result


def write_mix(connection: redis.Redis, seed: int, count: int, prefix: str = "w") -> None:
    """`count` writes of every kind a replica must reproduce exactly: random-looking effects
    (SPOP, XADD *, INCRBYFLOAT), TTLs, transactions, renames, pops; deterministic per seed."""
    import random

    rng = random.Random(seed)
    for number in range(count):
        key = f"{prefix}{rng.randrange(40)}"
        choice = rng.randrange(16)
        try:
            if choice == 0:
                connection.set(f"{key}:s", number, ex=rng.choice([None, 500]))
            elif choice == 1:
                connection.incrbyfloat(f"{key}:f", 0.1)
            elif choice == 2:
                connection.rpush(f"{key}:l", *[f"{number}-{index}" for index in range(3)])
            elif choice == 3:
                connection.lpop(f"{key}:l")
            elif choice == 4:
                connection.sadd(f"{key}:set", *[str(rng.randrange(50)) for _ in range(4)])
            elif choice == 5:
                connection.spop(f"{key}:set", 2)
            elif choice == 6:
                connection.hset(f"{key}:h", mapping={f"f{rng.randrange(8)}": number})
            elif choice == 7:
                connection.hincrby(f"{key}:h", "counter", 3)
            elif choice == 8:
                connection.zadd(f"{key}:z", {f"m{rng.randrange(20)}": rng.random()})
            elif choice == 9:
                connection.zincrby(f"{key}:z", 1.25, "m1")
            elif choice == 10:
                connection.xadd(f"{key}:x", {"n": number}, maxlen=20, approximate=False)
            elif choice == 11:
                with connection.pipeline(transaction=True) as pipe:
                    pipe.incr(f"{key}:tx").append(f"{key}:tx-log", ".").expire(f"{key}:tx", 900)
                    pipe.execute()
            elif choice == 12:
                connection.delete(f"{key}:s")
            elif choice == 13:
                connection.persist(f"{key}:s")
            elif choice == 14:
                if connection.exists(f"{key}:l"):
                    connection.lmove(f"{key}:l", f"{key}:l2", "LEFT", "RIGHT")
            else:
                connection.getdel(f"{key}:f")
        except redis.ResponseError:
            pass  # WRONGTYPE and the like: the same refusal on both sides


def preload(connection: redis.Redis, count: int) -> None:
    """`count` keys of every type, small and large collections, some with a TTL."""
    with connection.pipeline(transaction=False) as pipe:
        for number in range(count):
            kind = number % 6
            key = f"pre:{number}"
            if kind == 0:
                pipe.set(key, f"value-{number}" * (1 + number % 5))
            elif kind == 1:
                pipe.set(key, number, px=3_600_000)
            elif kind == 2:
                pipe.rpush(key, *range(1 + number % 200))
            elif kind == 3:
                pipe.hset(key, mapping={f"f{index}": index for index in range(1 + number % 150)})
            elif kind == 4:
                pipe.sadd(key, *range(1 + number % 600))
            else:
                pipe.zadd(key, {f"m{index}": index / 7 for index in range(1 + number % 180)})
        pipe.xadd("pre:stream", {"a": "1"}, id="5-1")
        pipe.execute()
