"""Helpers for the kevy-server tests (not a test module).

- `running_server` starts a `KevyServer` in this process on an ephemeral loopback port with a
  temporary data dir and always shuts it down (bounded wait).
- `RawClient` is a socket with a timeout that sends bytes and reads back exactly N RESP
  replies (parsed by hiredis, errors as `hiredis.ReplyError` values), or sees the close.
- `spawn_server` runs `python -m kevy_server` as a child process on port 0 and reads the port
  it logged.

Every socket has a timeout, so a hung server fails a test instead of hanging the suite.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import hiredis
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from kevy_persist import Store
from kevy_server import KevyServer, ServerConfig

TIMEOUT_S = 5.0


@contextlib.contextmanager
def running_server(data_dir: Any, store: Store | None = None, **options: Any) -> Iterator[KevyServer]:
    config = ServerConfig(port=0, data_dir=str(data_dir), **options)
    server = KevyServer(config, store=store)
    server.start()
    try:
        yield server
    finally:
        assert server.shutdown(timeout_s=15), "the server did not stop"


def client(server: KevyServer, **options: Any) -> redis.Redis:
    """A redis-py client (RESP2) that fails at once instead of retrying with backoff."""
    return redis.Redis(port=server.port, protocol=2, socket_timeout=TIMEOUT_S,
                       socket_connect_timeout=TIMEOUT_S, retry=Retry(NoBackoff(), 0), **options)


class RawClient:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self.reader = hiredis.Reader()
        self.closed_by_server = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def replies(self, count: int) -> list[Any]:
        """Exactly `count` replies; fewer only if the server closed the connection first."""
        replies: list[Any] = []
        while len(replies) < count:
            reply = self.reader.gets()
            if reply is not False:
                replies.append(reply)
                continue
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:  # closed with our unread requests in its buffer
                data = b""
            if not data:
                self.closed_by_server = True
                return replies
            self.reader.feed(data)
        return replies

    def call(self, data: bytes) -> Any:
        self.send(data)
        replies = self.replies(1)
        assert replies, "the server closed the connection instead of answering"
        return replies[0]

    def is_closed_by_server(self) -> bool:
        """True if the server closed the connection (reads end-of-stream within the timeout)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def spawn_server(arguments: list[str]) -> tuple[subprocess.Popen, int]:
    """Start `python -m kevy_server --port 0 ...`; the process and the port it listens on."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kevy_server", "--port", "0", *arguments],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 20
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = re.search(r"listening on [^ ]*:(\d+)", line)
        if found:
            return process, int(found.group(1))
    process.kill()
    raise AssertionError(f"kevy-server did not start: {process.stdout.read()}")
