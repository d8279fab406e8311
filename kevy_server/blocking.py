"""Blocked clients: who waits on which key, served first come first served, or timed out.

A blocking command that cannot be served at once parks its client as a `Waiter`: the keys it
waits on, an absolute deadline (None: forever), `attempt(key)` -- a function that tries to
serve the waiter from that key now and returns the reply (having done the pop, which logs as
the non-blocking command it ran: LPOP, LMOVE, ZPOPMIN...) or `NOT_READY` -- and the reply to
send on timeout. This is the whole contract, so XREAD / XREADGROUP BLOCK join by giving
their own `attempt` (read the stream after the last id) and timeout reply.

How a waiter is woken (Redis 7.0's model):
- every change to a key that someone waits on marks the key ready (`signal`, from the
  store's change observer: writes from any connection, inside MULTI/EXEC too, pops that push
  elsewhere, expiry);
- after each command (after EXEC as a whole) the loop calls `serve_ready`: for each ready
  key, its waiters in the order they blocked are attempted, and each served waiter is
  unblocked with its reply; serving may make other keys ready (BLMOVE pushes), so it
  repeats until no key is ready. A pop's waiter is *exclusive*: once one is not served the
  key ran dry and the pops behind it are not tried. A stream reader is not (XREAD takes
  nothing away, and an XREADGROUP of another group may still find entries), so readers
  behind a failed attempt are still tried;
- a waiter whose deadline passed gets its timeout reply (`expire_waiters`, run by the loop);
  CLIENT UNBLOCK answers it the timeout reply or an `UNBLOCKED` error.
An unblocked client then runs the requests it sent meanwhile (`EventLoop.resume`).

Durability: the pop that serves a waiter is logged in the same turn and its reply travels
with that turn's replies, so under `appendfsync always` the served client sees its element
only after the fsync that made the pop durable.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable
from typing import Any

from kevy_persist.commands import ErrorReply

from .database_keys import database_of, raw_key, scoped

__all__ = ["NOT_READY", "UNBLOCKED", "Blocking", "Waiter"]

NOT_READY = object()
UNBLOCKED = ErrorReply("UNBLOCKED client unblocked via CLIENT UNBLOCK")


class Waiter:
    __slots__ = ("client", "keys", "deadline_ms", "attempt", "timeout_reply", "exclusive", "active")

    def __init__(
        self, client: Any, keys: list[bytes], deadline_ms: int | None,
        attempt: Callable[[bytes], Any], timeout_reply: Any, exclusive: bool = True,
    ) -> None:
        self.client = client
        self.keys = keys
        self.deadline_ms = deadline_ms
        self.attempt = attempt
        self.timeout_reply = timeout_reply
        self.exclusive = exclusive  # a failed attempt means the key ran dry for those behind
        self.active = True


class Blocking:
    def __init__(self, server: Any) -> None:
        self.server = server
        self._by_key: dict[bytes, deque[Waiter]] = {}
        self.ready_keys: dict[bytes, None] = {}
        self._deadlines: list[tuple[int, int, Waiter]] = []
        self._sequence = 0
        self._count = 0
        self._shared_count = 0  # waiters that are not exclusive (stream readers)

    @property
    def active(self) -> bool:
        return bool(self._by_key)

    def blocked_count(self) -> int:
        return self._count

    def block(
        self, client: Any, keys: list[bytes], deadline_ms: int | None,
        attempt: Callable[[bytes], Any], timeout_reply: Any, exclusive: bool = True,
    ) -> None:
        """Park `client` until one of `keys` serves it or `deadline_ms` (monotonic) passes."""
        assert client.blocked is None
        # Registered as keys of the client's database (`database_keys`): a write to the same
        # name in another database does not wake it.
        keys = [scoped(client.database, key) for key in keys]
        waiter = Waiter(client, list(dict.fromkeys(keys)), deadline_ms, attempt, timeout_reply, exclusive)
        if not exclusive:
            self._shared_count += 1
        client.blocked = waiter
        for key in waiter.keys:
            self._by_key.setdefault(key, deque()).append(waiter)
        if deadline_ms is not None:
            self._sequence += 1
            heapq.heappush(self._deadlines, (deadline_ms, self._sequence, waiter))
        self._count += 1
        self.server.refresh_observer()

    def signal_database(self, database: int) -> None:
        """Every waited key of `database` may have changed (SWAPDB, FLUSHALL)."""
        for key in self._by_key:
            if database_of(key) == database:
                self.ready_keys[key] = None

    def signal(self, key: Any) -> None:
        if key in self._by_key:
            self.ready_keys[key] = None

    def serve_ready(self) -> None:
        """Serve the waiters of every ready key, in blocking order, until none is ready."""
        while self.ready_keys:
            keys = list(self.ready_keys)
            self.ready_keys.clear()
            for key in keys:
                queue = self._by_key.get(key)
                if not queue:
                    continue
                dry = False
                for waiter in list(queue):
                    if not waiter.active or (dry and waiter.exclusive):
                        continue
                    reply = self.server.loop.attempt_for(waiter.client, waiter.attempt, raw_key(key))
                    if reply is NOT_READY:
                        if waiter.exclusive:
                            dry = True
                            if not self._shared_count:
                                break  # only pops wait: none behind can be served either
                        continue
                    self._release(waiter, reply, attempted=True)

    def _release(self, waiter: Waiter, reply: Any, attempted: bool = False) -> None:
        if not waiter.active:
            return
        self._deactivate(waiter)
        for key in waiter.keys:
            queue = self._by_key.get(key)
            if queue is None:
                continue
            try:
                queue.remove(waiter)
            except ValueError:
                pass
            if not queue:
                del self._by_key[key]
        client = waiter.client
        client.blocked = None
        self._count -= 1
        loop = self.server.loop
        if not attempted:
            loop.emit(client, client.encode(reply))
        loop.resume(client)
        self.server.refresh_observer()

    def _deactivate(self, waiter: Waiter) -> None:
        waiter.active = False
        if not waiter.exclusive:
            self._shared_count -= 1

    def next_deadline_ms(self) -> int | None:
        deadlines = self._deadlines
        while deadlines and not deadlines[0][2].active:
            heapq.heappop(deadlines)
        return deadlines[0][0] if deadlines else None

    def expire_waiters(self, now_ms: int) -> bool:
        """Answer every waiter whose deadline passed; True if any was."""
        expired = False
        deadlines = self._deadlines
        while deadlines and (deadlines[0][0] <= now_ms or not deadlines[0][2].active):
            _, _, waiter = heapq.heappop(deadlines)
            if waiter.active:
                self._release(waiter, waiter.timeout_reply)
                expired = True
        return expired

    def unblock_by_id(self, client_id: int, as_error: bool) -> bool:
        """CLIENT UNBLOCK: True when that client was blocked (and is now answered)."""
        client = self.server.client_by_id(client_id)
        if client is None or client.blocked.__class__ is not Waiter:
            return False  # not blocked, or held by CLIENT PAUSE (which CLIENT UNBLOCK leaves alone)
        waiter = client.blocked
        self._release(waiter, UNBLOCKED if as_error else waiter.timeout_reply)
        return True

    def forget(self, client: Any) -> None:
        """The client is gone: drop its waiter without answering."""
        waiter = client.blocked
        if waiter.__class__ is not Waiter or not waiter.active:
            return  # not blocked, or held by CLIENT PAUSE (`client_admin.Pause.forget`)
        self._deactivate(waiter)
        for key in waiter.keys:
            queue = self._by_key.get(key)
            if queue is not None:
                try:
                    queue.remove(waiter)
                except ValueError:
                    pass
                if not queue:
                    del self._by_key[key]
        client.blocked = None
        self._count -= 1
        self.server.refresh_observer()
