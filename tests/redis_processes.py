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


def start_redis(*arguments: str, port: int | None = None) -> RedisProcess:
    path = shutil.which("redis-server")
    if path is None:
        pytest.skip("redis-server is not on PATH")
    port = port or free_port()
    directory = tempfile.mkdtemp(prefix="kevy-redis-")
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


def keyspace_dump(client: redis.Redis) -> dict[bytes, Any]:
    """Every key's type and value (TTLs as present/absent) over RESP: what a test compares."""
    result: dict[bytes, Any] = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            value: Any = client.get(key)
        elif kind == b"hash":
            value = client.hgetall(key)
        elif kind == b"list":
            value = client.lrange(key, 0, -1)
        elif kind == b"set":
            value = sorted(client.smembers(key))
        elif kind == b"zset":
            value = client.zrange(key, 0, -1, withscores=True)
        elif kind == b"stream":
            value = client.xrange(key)
        else:
            value = None
        result[key] = (kind, value, client.pttl(key) > 0)
    return result
